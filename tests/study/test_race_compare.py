"""The race's pick against the study's best on the same dataset."""
from __future__ import annotations

import pytest

from resnet_core.advice.dataset_profile import DatasetProfile
from resnet_core.advice.race import Candidate, RaceResult, Trial
from resnet_core.advice.race_records import save_race
from resnet_core.config import TrainConfig
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.store import RunStore
from resnet_core.study.plan import plan_study
from resnet_core.study.race_compare import race_against_study
from resnet_core.study.summary import study_tables


@pytest.fixture
def studied(workspace, offline_torch_home, tmp_path, monkeypatch):
    """A finished study on 'images' at 12 training images: no augmentation 90%, standard 80%."""
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")
    folder = make_image_folder(tmp_path / "images", num_classes=3, per_class=8, size=32)
    plan = plan_study(str(folder), (12,), models=("resnet18",), augmentations=("none", "standard"),
                      workspace=workspace, weights="none", device="cpu", gpu_mem_gb=None)
    store = RunStore(workspace)
    seconds = {"none": 20.0, "standard": 60.0}
    for e in plan.entries:
        acc = 0.9 if e.config.augmentation == "none" else 0.8
        run_id = store.create_run(e.config, "unused", 24, e.num_images, 6, 6)
        store.finish_run(run_id, "completed", {"test_acc": acc, "val_acc": acc, "val_loss": 1 - acc,
                                               "train_time_s": seconds[e.config.augmentation], "epoch_ended": 1})
    yield plan, store
    store.close()


def keep_race(workspace, dataset: str, winner_aug: str, complete: bool = True) -> None:
    base = TrainConfig(dataset=dataset, weights="none")
    cands = [Candidate(f"ResNet18 · {a} augmentation", {}, "card", base.replace(augmentation=a))
             for a in ("heavy", "standard", "none")]
    trials = [Trial(c.name, c.key, 0, 8, 3, 0.4 if c.config.augmentation == winner_aug else 0.9, 0.7, 2.0)
              for c in cands]
    win = next(c for c in cands if c.config.augmentation == winner_aug)
    result = RaceResult(candidates=cands, trials=trials, winner_key=win.key, budget_s=30, used_s=8.0)
    save_race(workspace, dataset, DatasetProfile(16, 3, 32, "colour"), result, complete=complete)


def test_a_pick_that_is_the_studys_best_costs_a_share_of_the_study(studied, workspace):
    plan, store = studied
    tables = study_tables(plan, store)
    assert race_against_study(plan.dataset, tables, workspace) is None  # no race yet
    keep_race(workspace, plan.dataset, "none")
    c = race_against_study(plan.dataset, tables, workspace)
    assert (c.num_images, c.race_pick, c.pick_rank, c.ranked) == (12, "ResNet18 + fine-tuning", 1, 2)
    assert c.gap_points == pytest.approx(0.0) and c.study_s == 80.0
    assert c.share == pytest.approx((8.0 + 20.0) / 80.0)
    first, cost = c.sentences()
    assert "ranked 1st of 2 at 12 training images: the study's best" in first
    assert "took 35% of the study's" in cost


def test_a_pick_behind_the_best_gives_the_gap_and_one_the_study_did_not_run_is_said(studied, workspace):
    plan, store = studied
    tables = study_tables(plan, store)
    keep_race(workspace, plan.dataset, "standard")
    c = race_against_study(plan.dataset, tables, workspace)
    assert c.pick_rank == 2 and c.gap_points == pytest.approx(10.0)
    assert "10.0 points behind the study's best, ResNet18 + fine-tuning (90.0%)" in c.sentences()[0]
    keep_race(workspace, plan.dataset, "heavy")
    c = race_against_study(plan.dataset, tables, workspace)  # the latest race counts
    assert c.pick_acc is None and c.gap_points is None and c.share is None
    assert "which this study did not run" in c.sentences()[0]
    keep_race(workspace, plan.dataset, "none", complete=False)  # a cancelled race does not count
    assert race_against_study(plan.dataset, tables, workspace).race_pick.endswith("heavy augmentation")
    assert race_against_study("other", tables, workspace) is None
