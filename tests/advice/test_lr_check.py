"""The range test on the user's data for the leading candidate, and what the Wizard says about it."""
from __future__ import annotations

import dataclasses

import pytest

from resnet_core.advice.lr_check import LRCheck, leading_config, lr_check_on_data
from resnet_core.advice.race import Candidate, RaceResult
from resnet_core.advice.recommend import recommend
from resnet_core.config import TrainConfig
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.training.lr_range import LRRange


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


def check(suggestion, planned=1e-3) -> LRCheck:
    return LRCheck(TrainConfig(dataset="d", learning_rate=planned), "the cards' pick",
                   LRRange([1e-5, 1e-4], [1.0, 0.5], [1.0, 0.5], suggestion))


def test_the_verdict_compares_the_suggestion_with_the_planned_rate():
    assert "suits your data" in check(2e-3).verdict()
    assert "10× higher than the planned 1e-3; consider a learning rate nearer 0.01" in check(1e-2).verdict()
    assert "100× lower" in check(1e-5).verdict()
    assert "suggests no rate; keep 1e-3" in check(None).verdict()


def test_the_leading_candidate_is_the_race_winner_else_the_cards_pick():
    rec = recommend(300, 3, None, weights="none")
    config, words = leading_config(rec, "d")
    assert words == "the cards' pick" and config.model == rec.model
    other = Candidate("lr 0.03", {"learning_rate": 0.03}, "card", dataclasses.replace(config, learning_rate=0.03))
    race = RaceResult(candidates=[other], winner_key=other.key)
    config, words = leading_config(rec, "d", race)
    assert config.learning_rate == 0.03 and "race's winner" in words


def test_on_a_dataset_the_leading_candidate_is_tested_without_the_test_split(workspace, tmp_path, monkeypatch):
    """The wiring; the range test itself trains for real in tests/training/test_lr_range.py."""
    import resnet_core.advice.lr_check as lr_check
    from resnet_core.training.lr_range import rate_schedule, sweep

    seen = {}

    def fake_range_test(config, data, steps, start, end, cancel, on_step):
        seen.update(config=config, test=len(data.test_idx), train=len(data.train_idx), steps=steps)
        return sweep(lambda rate: 1.0 / (1.0 + rate), rate_schedule(start, end, steps))

    monkeypatch.setattr(lr_check, "lr_range_test", fake_range_test)
    folder = make_image_folder(tmp_path / "imgs", num_classes=3, per_class=12, size=32)
    register_folder(folder, workspace, name="imgs")
    rec = recommend(25, 3, None, weights="none", image_size=32)
    result = lr_check_on_data("imgs", workspace, rec, device="cpu", steps=30)
    assert seen["test"] == 0 and seen["train"] > 0 and seen["steps"] == 30
    assert seen["config"].model == rec.model and seen["config"].image_size == 32
    assert seen["config"].learning_rate == rec.learning_rate
    assert result.candidate == "the cards' pick" and result.result.suggestion is not None
    assert result.to_dict()["planned_rate"] == rec.learning_rate and result.to_dict()["verdict"]
