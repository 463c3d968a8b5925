"""The wizard's race: candidates from the cards, successive halving within a budget, cancel, a real pick."""
from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from resnet_core.advice.race import (
    MAX_CANDIDATES,
    Candidate,
    RaceCancelled,
    first_rung_images,
    race_candidates,
    run_race,
    stratified_subset,
)
from resnet_core.advice.recommend import recommend
from resnet_core.config import TrainConfig
from resnet_core.data.prepare import prepare_data
from resnet_core.data.synthetic import make_image_folder
from resnet_core.training.engine import FitResult


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


def test_candidates_are_the_recommendation_and_the_alternatives_the_cards_leave_open():
    rec = recommend(800, 5, 16.0, weights="imagenet", weights_available=True)
    candidates = race_candidates(rec, "flowers")
    assert candidates[0].changes == {} and candidates[0].config.model == rec.model
    assert 4 <= len(candidates) <= MAX_CANDIDATES
    assert len({c.name for c in candidates}) == len(candidates)
    assert len({c.config for c in candidates}) == len(candidates)
    changed = {key for c in candidates for key in c.changes}
    assert {"model", "augmentation", "fine_tune", "learning_rate"} <= changed
    assert all(c.source for c in candidates)
    assert any("card" in c.source for c in candidates[1:])


def test_no_augmentation_always_races_as_the_study_measures_it():
    rec = recommend(833, 10, None, weights="none")
    assert rec.augmentation == "heavy"  # its neighbour is standard; none is two levels away
    (plain,) = [c for c in race_candidates(rec, "fashion") if c.changes == {"augmentation": "none"}]
    assert "cost-performance study" in plain.source and "without data augmentation" in plain.source


def test_without_imagenet_weights_no_frozen_random_backbone_is_offered():
    rec = recommend(800, 5, None, weights="none")
    candidates = race_candidates(rec, "flowers")
    assert all(c.config.fine_tune for c in candidates)


def test_a_stratified_subset_keeps_every_class():
    import torch
    labels = torch.tensor([0] * 40 + [1] * 10)
    subset = stratified_subset(torch.arange(50), labels, 10)
    assert len(subset) == 10 and set(labels[subset].tolist()) == {0, 1}
    assert (labels[subset] == 1).sum() == 2


def test_the_first_round_is_sized_to_the_budget():
    small = first_rung_images(10_000, 10, 8, budget_s=60, images_per_s=100)
    large = first_rung_images(10_000, 10, 8, budget_s=600, images_per_s=100)
    assert 40 <= small < large <= 10_000
    assert first_rung_images(10_000, 10, 8, budget_s=60, images_per_s=None) == 40


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_trainer(clock: FakeClock, losses: dict[float, float], seconds_per_image: float = 0.01):
    """Trains nothing: advances the clock batch by batch (so the budget can cut it) and reports a loss
    set by the candidate's learning rate, lower for more images."""
    from resnet_core.training.callbacks import CancelTraining, FitState

    def train(config: TrainConfig, data, callbacks) -> FitResult:
        state = FitState(config=config, classes=list(data.classes), num_train=len(data.train_idx), num_val=0,
                         num_test=0, device="cpu", batch_size=config.batch_size, model=None)
        status, evaluated = "completed", False
        try:
            for _epoch in range(config.epochs):
                for _ in range(0, len(data.train_idx), config.batch_size):
                    clock.now += config.batch_size * seconds_per_image
                    for cb in callbacks:
                        cb.after_batch(state)
                evaluated = True
        except CancelTraining:
            status = "cancelled"
        loss = losses[config.learning_rate] / len(data.train_idx) ** 0.1 if evaluated else None
        return FitResult(status=status, stop_reason=None, classes=list(data.classes), history=[], best_epoch=1,
                         epoch_ended=config.epochs, stopped_early=False, val_loss=loss,
                         val_acc=None if loss is None else 1 / (1 + loss), test_loss=None, test_acc=None,
                         train_time_s=0.0, peak_memory_mb=None, batch_size=config.batch_size)
    return train


@dataclasses.dataclass
class FakeData:
    train_idx: object
    labels: object
    classes: list
    val_idx: object
    image_size: int = 32
    test_idx: object = None


def fake_data(n=400, classes=4, val=40):
    import torch
    return FakeData(train_idx=torch.arange(n), labels=torch.arange(n + val) % classes,
                    classes=[f"c{i}" for i in range(classes)], val_idx=torch.arange(n, n + val))


def candidates_with_rates(rates):
    base = TrainConfig(dataset="d", weights="none", batch_size=8, epochs=3)
    return [Candidate(f"lr {r:g}", {"learning_rate": r}, "test", dataclasses.replace(base, learning_rate=r))
            for r in rates]


def test_successive_halving_keeps_the_better_half_until_one_is_left():
    clock = FakeClock()
    rates = [1e-5, 1e-4, 1e-3, 1e-2]
    losses = {1e-5: 2.0, 1e-4: 1.5, 1e-3: 0.5, 1e-2: 1.0}
    result = run_race(candidates_with_rates(rates), fake_data(), budget_s=10_000, images_per_s=None,
                      trainer=fake_trainer(clock, losses), clock=clock)
    assert result.winner == "lr 0.001"
    rounds = [sorted(t.candidate for t in result.trials if t.rung == r) for r in range(3)]
    assert len(rounds[0]) == 4 and rounds[1] == ["lr 0.001", "lr 0.01"] and rounds[2] == []
    sizes = [next(t.train_images for t in result.trials if t.rung == r) for r in range(2)]
    assert sizes[0] < sizes[1]
    payload = json.loads(json.dumps(result.to_dict()))
    assert {c["name"] for c in payload["candidates"]} == {f"lr {r:g}" for r in rates}
    assert all(c["val_loss"] is not None for c in payload["candidates"])
    assert payload["winner"] == "lr 0.001" and payload["budget_s"] == 10_000


def test_candidates_that_share_a_name_are_scored_apart_by_their_settings():
    """Results are filed under the configuration, not the name: two candidates named alike that differ
    only in learning rate keep their own scores, and the better one wins."""
    clock = FakeClock()
    losses = {1e-5: 2.0, 1e-3: 0.5}
    alike = [dataclasses.replace(c, name="ResNet18 · same words") for c in candidates_with_rates(list(losses))]
    result = run_race(alike, fake_data(), budget_s=10_000, images_per_s=None,
                      trainer=fake_trainer(clock, losses), clock=clock)
    scores = result.scores()
    assert len(scores) == 2
    assert scores[alike[1].key].val_loss < scores[alike[0].key].val_loss
    assert result.winning is alike[1]
    payload = result.to_dict()["candidates"]
    assert [c["winner"] for c in payload] == [False, True]
    assert payload[0]["val_loss"] != payload[1]["val_loss"]


def test_every_trial_is_judged_on_the_same_stratified_validation_subset():
    from resnet_core.advice.race import RACE_VAL_IMAGES

    clock = FakeClock()
    losses = {1e-5: 2.0, 1e-3: 0.5}
    trainer = fake_trainer(clock, losses)
    seen = []

    def recording(config, data, callbacks):
        seen.append(data.val_idx)
        return trainer(config, data, callbacks)

    data = fake_data(n=200, val=3 * RACE_VAL_IMAGES)
    run_race(candidates_with_rates(list(losses)), data, budget_s=10_000, trainer=recording, clock=clock)
    assert len(seen) == 2 and len(seen[0]) == RACE_VAL_IMAGES and bool((seen[0] == seen[1]).all())
    counts = data.labels[seen[0]].bincount()
    assert counts.max() - counts.min() <= 1  # every class in its share


def test_the_race_respects_its_budget():
    clock = FakeClock()
    rates = [1e-5, 1e-4, 1e-3, 1e-2, 3e-2, 3e-4]
    losses = {r: 1.0 + i / 10 for i, r in enumerate(rates)}
    budget = 3.0  # two rounds fit (16 then 32 images a candidate), the third (64) does not
    result = run_race(candidates_with_rates(rates), fake_data(n=2000), budget_s=budget, images_per_s=None,
                      trainer=fake_trainer(clock, losses, seconds_per_image=0.005), clock=clock)
    assert result.stopped_by_budget
    assert result.used_s <= budget
    assert {t.rung for t in result.trials} == {0, 1}
    assert result.winner == "lr 1e-05"  # the best of what was measured in time


def test_a_round_the_budget_ends_part_way_has_run_its_leader_first():
    """The round-1 leader is listed last; the budget leaves room for one trial of round 2. It must be
    the leader's: otherwise the race names the runner-up for having run further."""
    clock = FakeClock()
    losses = {1e-5: 2.0, 1e-4: 1.5, 1e-3: 1.0, 1e-2: 0.5}
    budget = 4 * 0.48 + 0.96 + 0.5  # round 1: four trials of 0.48 s; round 2: one of 0.96 s, not two
    result = run_race(candidates_with_rates(list(losses)), fake_data(n=2000), budget_s=budget, images_per_s=None,
                      trainer=fake_trainer(clock, losses), clock=clock)
    second = [t.candidate for t in result.trials if t.rung == 1]
    assert result.stopped_by_budget and second == ["lr 0.01"]
    assert result.winner == "lr 0.01"


def test_a_trial_longer_than_the_budget_is_cut_and_the_race_says_it_measured_nothing():
    clock = FakeClock()
    losses = {1e-5: 2.0, 1e-4: 1.5}
    # A rate far too optimistic sizes the first round to every image; the deadline cuts the trial.
    result = run_race(candidates_with_rates(list(losses)), fake_data(n=2000), budget_s=5.0, images_per_s=1e9,
                      trainer=fake_trainer(clock, losses, seconds_per_image=0.005), clock=clock)
    assert result.stopped_by_budget and len(result.trials) == 1 and result.trials[0].cut_by_budget
    assert result.used_s <= 5.0 + 8 * 0.005  # at most one batch past the budget
    assert result.winner is None and "measured nothing" in result.verdict("any")


def test_cancel_stops_the_race_and_keeps_what_it_measured():
    clock = FakeClock()
    cancel = threading.Event()
    losses = {1e-5: 2.0, 1e-4: 1.5, 1e-3: 0.5, 1e-2: 1.0}
    trainer = fake_trainer(clock, losses)
    calls = []

    def cancelling_trainer(config, data, callbacks):
        calls.append(config.learning_rate)
        if len(calls) == 2:
            cancel.set()
        return trainer(config, data, callbacks)

    with pytest.raises(RaceCancelled) as e:
        run_race(candidates_with_rates(list(losses)), fake_data(), budget_s=10_000, cancel=cancel,
                 trainer=cancelling_trainer, clock=clock)
    assert len(calls) == 2
    assert len(e.value.result.trials) == 2


def test_a_real_race_picks_the_clearly_better_candidate(workspace, tmp_path):
    """Frozen random backbone, head only: a rate of 1e-6 cannot learn in three epochs, 3e-2 can."""
    folder = make_image_folder(tmp_path / "imgs", num_classes=3, per_class=20, size=32)
    base = TrainConfig(dataset=str(folder), weights="none", fine_tune=False, augmentation="none", image_size=32,
                       batch_size=8, epochs=3, device="cpu")
    data = prepare_data(base, workspace)
    candidates = [Candidate(f"lr {r:g}", {"learning_rate": r}, "test", dataclasses.replace(base, learning_rate=r))
                  for r in (1e-6, 3e-2)]
    result = run_race(candidates, data, budget_s=600)
    scores = result.scores()
    assert result.winner == "lr 0.03"
    assert scores[candidates[1].key].val_loss < scores[candidates[0].key].val_loss
    by_name = {c.name: c.key for c in candidates}
    assert "disagrees" in result.verdict(by_name["lr 1e-06"]) and "agrees" in result.verdict(by_name["lr 0.03"])


def test_recommend_race_on_a_folder_prints_every_candidate_with_its_score(workspace, tmp_path, capsys):
    from resnet_core.cli import main

    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=14, size=32)
    code = main(["recommend", "--data", str(folder), "--cpu", "--weights", "none", "--image-size", "32",
                 "--race", "--budget", "2", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    race = out["race"]
    assert race["budget_s"] == 120
    names = [c["name"] for c in race["candidates"]]
    assert len(names) >= 3 and race["winner"] in names
    assert all({"name", "changes", "source", "val_loss", "val_acc", "rung"} <= set(c) for c in race["candidates"])
    assert any(c["val_loss"] is not None for c in race["candidates"])
    assert race["verdict"] and race["trials"]
    assert [c["name"] for c in race["candidates"] if c["winner"]] == [race["winner"]]
    assert race["used_s"] > 0 and race["cancelled"] is False
    assert all(c["config"]["model"] for c in race["candidates"])
    from resnet_core.advice.race_records import list_races
    (kept,) = list_races(workspace)
    assert kept.complete and kept.race["winner"] == race["winner"]


def test_a_cancelled_race_is_kept_marked_partial_and_not_learned_from(workspace, tmp_path):
    import threading

    from resnet_core.advice.check_on_data import check_on_data
    from resnet_core.advice.race_records import list_races
    from resnet_core.data.registry import register_folder

    register_folder(make_image_folder(tmp_path / "imgs", num_classes=2, per_class=14, size=32), workspace,
                    name="imgs")
    rec = recommend(20, 2, None, weights="none", image_size=32)
    cancel = threading.Event()
    with pytest.raises(RaceCancelled) as stopped:
        check_on_data("imgs", workspace, rec, budget_s=600, device="cpu", cancel=cancel,
                      progress=lambda done, total, what: cancel.set())
    assert stopped.value.result.cancelled
    assert list_races(workspace) == []
    (kept,) = list_races(workspace, complete_only=False)
    assert kept.finished == "partial" and kept.race["cancelled"] is True and kept.dataset == "imgs"


def test_recommend_race_needs_the_data(capsys):
    from resnet_core.cli import main

    assert main(["recommend", "--images", "500", "--classes", "5", "--cpu", "--race"]) != 0
    assert "--data" in capsys.readouterr().err


def augmentation_trainer(clock: FakeClock, losses: dict[str, float], high_rate_factor: float):
    """fake_trainer's clock and cuts, with the loss set by the candidate's augmentation level (times
    high_rate_factor for the candidate with the higher learning rate)."""
    inner = fake_trainer(clock, {1e-3: 1.0, 1e-2: 1.0})

    def train(config, data, callbacks):
        result = inner(config, data, callbacks)
        factor = 1.0 if config.learning_rate == 1e-3 else high_rate_factor
        return dataclasses.replace(result, val_loss=losses[config.augmentation] * factor)
    return train


def augmentation_race(losses, high_rate_factor=2.0):
    base = TrainConfig(dataset="d", weights="none", batch_size=8, epochs=3, augmentation="heavy", learning_rate=1e-3)
    candidates = [Candidate(f"{level} augmentation", {"augmentation": level}, "test",
                            dataclasses.replace(base, augmentation=level)) for level in ("heavy", "standard", "none")]
    candidates.append(Candidate("lr 0.01", {"learning_rate": 1e-2}, "test", dataclasses.replace(base, learning_rate=1e-2)))
    clock = FakeClock()
    result = run_race(candidates, fake_data(), budget_s=10_000, trainer=augmentation_trainer(clock, losses, high_rate_factor),
                      clock=clock)
    return result, candidates[0].key


def test_a_race_that_drops_the_cards_augmentation_says_short_trials_favour_less_of_it():
    result, recommended = augmentation_race({"heavy": 1.2, "standard": 1.0, "none": 0.8})
    assert result.winner == "none augmentation"
    verdict = result.verdict(recommended)
    assert "disagrees" in verdict
    assert "Trials of 3 epochs on" in verdict and "favour less augmentation" in verdict
    assert "train both in full" in verdict


def test_no_augmentation_caveat_when_the_race_prefers_more_augmentation_or_another_setting():
    more, recommended = augmentation_race({"heavy": 1.0, "standard": 1.1, "none": 1.2})
    assert more.winner == "heavy augmentation" and "favour less augmentation" not in more.verdict(recommended)
    # The winner changes the learning rate, not the augmentation: the caveat does not apply.
    other, recommended = augmentation_race({"heavy": 1.0, "standard": 1.1, "none": 1.2}, high_rate_factor=0.5)
    assert other.winner == "lr 0.01"
    assert "disagrees" in other.verdict(recommended) and "favour less augmentation" not in other.verdict(recommended)


def test_the_default_budget_is_15_percent_of_the_recommended_run_never_under_the_floor():
    from resnet_core.advice.check_on_data import MIN_BUDGET_S, default_budget_s

    assert default_budget_s(1000.0) == pytest.approx(150.0)
    assert default_budget_s(3600.0) == pytest.approx(540.0)
    assert MIN_BUDGET_S == 30.0
    assert default_budget_s(100.0) == MIN_BUDGET_S  # 15 s could not finish one round
    assert default_budget_s(0.0) == MIN_BUDGET_S


def test_recommend_race_says_its_budget_on_stderr_before_the_first_trial(workspace, tmp_path, capsys, monkeypatch):
    """Without --budget: 15% of the recommended run's estimate, said before the race starts and kept out of
    the JSON on stdout. The race itself and the speed probes stand in (the real race runs above)."""
    from resnet_core.advice import check_on_data as check
    from resnet_core.advice.race import RaceResult, Trial
    from resnet_core.cli import main

    seen_before_race = []

    def race(candidates, data, budget_s, **kw):
        seen_before_race.append(capsys.readouterr())
        trials = [Trial(c.name, c.key, 0, 8, 3, 0.5 + i / 10, 0.5, 1.0) for i, c in enumerate(candidates)]
        return RaceResult(candidates=candidates, budget_s=budget_s, used_s=3.0, trials=trials,
                          winner_key=candidates[0].key)

    monkeypatch.setattr(check, "run_race", race)
    monkeypatch.setattr(check, "recommended_run_seconds", lambda *a, **k: 1000.0)
    monkeypatch.setattr(check, "probe_throughput", lambda *a, **k: 100.0)
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=14, size=32)
    assert main(["recommend", "--data", str(folder), "--cpu", "--weights", "none", "--image-size", "32",
                 "--race", "--json"]) == 0
    (before,) = seen_before_race
    said = "race budget: about 2m 30s (15% of the recommended run's estimated 16m 40s)"
    assert said in before.err and before.out == ""
    after = capsys.readouterr()
    race = json.loads(after.out)["race"]  # stdout is the JSON alone
    assert race["budget_s"] == 150.0 and race["budget"] == said.removeprefix("race budget: ")
    assert "race budget" not in after.err  # said once, before the race


def test_recommend_race_with_a_budget_says_it_without_a_share(workspace, tmp_path, capsys, monkeypatch):
    from resnet_core.advice import check_on_data as check
    from resnet_core.advice.race import RaceCancelled, RaceResult
    from resnet_core.cli import main

    def race(candidates, data, budget_s, **kw):
        raise RaceCancelled(RaceResult(candidates=candidates, budget_s=budget_s, cancelled=True))

    monkeypatch.setattr(check, "run_race", race)
    monkeypatch.setattr(check, "probe_throughput", lambda *a, **k: 100.0)
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=14, size=32)
    assert main(["recommend", "--data", str(folder), "--cpu", "--weights", "none", "--image-size", "32",
                 "--race", "--budget", "2"]) != 0
    err = capsys.readouterr().err
    assert "race budget: about 2m 0s\n" in err
    assert err.index("race budget") < err.index("interrupted")
