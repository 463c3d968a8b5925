"""'Check on my data' in the background: the race finishes with a winner, reports reading the images
then each trial, keeps what it measured when cancelled, and says in a sentence why a dataset cannot race."""
from __future__ import annotations

import threading

import pytest

import resnet_core.advice.race_job as race_job
from resnet_core.advice.race import RaceCancelled, RaceResult
from resnet_core.advice.race_job import (
    CANCELLED,
    DONE,
    FAILED,
    MEASURING_STAGE,
    RACE_STAGE,
    RUNNING,
    RaceJob,
    current_job,
    forget_job,
    start_job,
)
from resnet_core.advice.recommend import recommend
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder

JOIN_S = 300  # a bound for a hung thread, never a measured time
BUDGET_S = 40.0  # a few trials: the race stops by its budget, the winner is the best so far
LONG_BUDGET_S = 120.0  # far from spent after one trial: a test that cancels must not see the budget end the race


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


@pytest.fixture
def dataset(image_folder, workspace) -> str:
    return register_folder(image_folder, workspace, name="imgs").name


@pytest.fixture
def rec():
    return recommend(60, 3, None, weights="none", image_size=32)


class RecordingJob(RaceJob):
    """Records every report in order; cancels itself at the trial report `cancel_after` names (the
    report made before the next trial starts, once that many trials are done) or at the first report
    of `cancel_at_stage`."""

    def __init__(self, *args, cancel_after: int | None = None, cancel_at_stage: str | None = None, **kw):
        super().__init__(*args, **kw)
        self.events: list[tuple[str, int, int]] = []
        self.stages: list[str] = []  # every stage the snapshot went through, in order
        self.cancel_after, self.cancel_at_stage = cancel_after, cancel_at_stage

    def _publish(self, **changes) -> None:
        super()._publish(**changes)
        if not self.stages or self.stages[-1] != self.snapshot().stage:
            self.stages.append(self.snapshot().stage)

    def _on_prepare(self, stage: str, done: int, total: int) -> None:
        self.events.append((stage, done, total))
        if stage == self.cancel_at_stage:
            self.cancel()
        super()._on_prepare(stage, done, total)

    def _on_trial(self, done: int, planned: int, what: str) -> None:
        self.events.append((RACE_STAGE, done, planned))
        super()._on_trial(done, planned, what)
        if done == self.cancel_after and what != "done":
            self.cancel()


def run(job: RaceJob) -> RaceJob:
    job.thread.start()
    job.thread.join(JOIN_S)
    assert not job.thread.is_alive()
    return job


def trials_reported(job: RecordingJob) -> list[int]:
    return [done for stage, done, _ in job.events if stage == RACE_STAGE]


def test_the_race_reads_the_images_then_reports_each_trial_and_names_a_winner(workspace, dataset, rec):
    job = run(RecordingJob(workspace, dataset, rec, budget_s=BUDGET_S, device="cpu"))
    snap = job.snapshot()
    assert snap.state == DONE and not snap.error and snap.partial is None
    race = snap.result.result
    assert race.winner_key is not None and race.winning is not None and snap.result.verdict
    assert race.budget_s == BUDGET_S and snap.budget_s == BUDGET_S
    assert job.stages[-3:] == ["decoding", MEASURING_STAGE, RACE_STAGE]
    assert trials_reported(job) == list(range(len(race.trials))) + [len(race.trials)]  # before each, then done
    assert snap.stage == RACE_STAGE and snap.done == snap.total == len(race.trials) and snap.fraction == 1.0


def test_a_cancel_after_the_first_trial_keeps_that_trial(workspace, dataset, rec):
    job = run(RecordingJob(workspace, dataset, rec, budget_s=LONG_BUDGET_S, device="cpu", cancel_after=1))
    snap = job.snapshot()
    assert snap.state == CANCELLED and snap.result is None and not snap.error
    assert trials_reported(job) == [0, 1]  # the second trial was stopped: no third one began
    partial = snap.partial
    assert partial is not None and partial.cancelled
    first = partial.trials[0]
    assert first.val_loss is not None and partial.winner_key == first.key  # the one trial that finished
    assert all(t.val_loss is None for t in partial.trials[1:])


def test_a_cancel_while_the_images_are_read_keeps_nothing(workspace, dataset, rec):
    job = run(RecordingJob(workspace, dataset, rec, budget_s=LONG_BUDGET_S, device="cpu",
                           cancel_at_stage="decoding"))
    snap = job.snapshot()
    assert snap.state == CANCELLED and snap.partial is None and trials_reported(job) == []


def test_a_dataset_that_cannot_race_fails_with_a_plain_sentence(workspace, tmp_path, rec):
    one_class = register_folder(make_image_folder(tmp_path / "one", num_classes=1, per_class=12), workspace,
                                name="one").name
    snap = run(RaceJob(workspace, one_class, rec, budget_s=BUDGET_S, device="cpu")).snapshot()
    assert snap.state == FAILED and snap.result is None
    assert "only one class with images" in snap.error and "training needs at least 2" in snap.error
    assert "Traceback" not in snap.error and "Error" not in snap.error


def test_an_unexpected_failure_names_the_race_without_the_library_text(workspace, dataset, rec, monkeypatch):
    def failing(*args, **kw):
        raise RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR")

    monkeypatch.setattr(race_job, "check_on_data", failing)
    snap = run(RaceJob(workspace, dataset, rec, budget_s=BUDGET_S)).snapshot()
    assert snap.state == FAILED and "the race stopped unexpectedly (RuntimeError)" in snap.error
    assert "CUDNN" not in snap.error


def test_one_race_per_recommendation_until_it_ends(workspace, dataset, rec, monkeypatch):
    started, release = threading.Event(), threading.Event()

    def held(*args, cancel, progress, **kw):
        progress(1, 5, "round 1: ResNet18")
        started.set()
        release.wait(JOIN_S)
        if cancel.is_set():
            raise RaceCancelled(RaceResult(candidates=[], cancelled=True))

    monkeypatch.setattr(race_job, "check_on_data", held)
    key = ("imgs", "why")
    try:
        job = start_job(workspace, dataset, key, rec, budget_s=60)
        assert started.wait(JOIN_S)
        assert start_job(workspace, dataset, key, rec, budget_s=60) is job  # a second click joins it
        assert current_job(workspace, dataset, ("imgs", "another why")) is None
        snap = job.snapshot()
        assert snap.state == RUNNING and (snap.stage, snap.done, snap.total) == (RACE_STAGE, 1, 5)
        assert snap.now == "round 1: ResNet18"
        job.cancel()
        release.set()
        job.thread.join(JOIN_S)
        assert current_job(workspace, dataset, key).snapshot().state == CANCELLED  # kept for the page
    finally:
        release.set()
        forget_job(workspace, dataset, key)
