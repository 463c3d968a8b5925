"""The learning-rate range test in the background: it finishes with a suggestion, reports its stages,
stops within a step of a cancel, and says in a sentence why a dataset cannot be tested."""
from __future__ import annotations

import dataclasses
import threading

import pytest

import resnet_core.advice.lr_job as lr_job
from resnet_core.advice.lr_check import RANGE_STAGE
from resnet_core.advice.lr_job import CANCELLED, DONE, FAILED, RUNNING, LRJob, current_job, forget_job, start_job
from resnet_core.advice.recommend import recommend
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.training.callbacks import CancelTraining

JOIN_S = 120  # a bound for a hung thread, never a measured time


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


@pytest.fixture
def dataset(image_folder, workspace) -> str:
    return register_folder(image_folder, workspace, name="imgs").name


@pytest.fixture
def rec():
    """The cards' pick for the tiny dataset, with batches of 16 and no augmentation: on 60 images a
    less noisy loss, so the range test finds where it falls."""
    return dataclasses.replace(recommend(60, 3, None, weights="none", image_size=32), batch_size=16,
                               augmentation="none")


class RecordingJob(LRJob):
    """Records every progress report in order; cancels itself at the report `cancel_at` names."""

    def __init__(self, *args, cancel_at: tuple[str, int] | None = None, **kw):
        super().__init__(*args, **kw)
        self.events: list[tuple[str, int, int]] = []
        self.cancel_at = cancel_at

    def _progress(self, stage: str, done: int, total: int) -> None:
        self.events.append((stage, done, total))
        super()._progress(stage, done, total)
        if self.cancel_at in ((stage, done), (stage, -1)):  # -1: the stage's first report
            self.cancel()


def run(job: LRJob) -> LRJob:
    job.thread.start()
    job.thread.join(JOIN_S)
    assert not job.thread.is_alive()
    return job


def steps_of(job: RecordingJob) -> list[int]:
    return [done for stage, done, _ in job.events if stage == RANGE_STAGE]


def test_the_job_decodes_then_steps_and_keeps_a_suggested_rate(workspace, dataset, rec):
    job = run(RecordingJob(workspace, dataset, rec, device="cpu", steps=40))
    snap = job.snapshot()
    assert snap.state == DONE and not snap.error
    check = snap.result
    assert check.result.suggestion is not None and "The loss falls fastest near" in check.verdict()
    stages = [stage for stage, _, _ in job.events]
    assert "decoding" in stages and stages.index("decoding") < stages.index(RANGE_STAGE)
    steps = steps_of(job)
    assert steps == list(range(1, len(check.result.rates) + 1))  # one report per step, in order
    assert {total for stage, _, total in job.events if stage == RANGE_STAGE} == {40}
    assert snap.stage == RANGE_STAGE and snap.done == len(check.result.rates) and snap.total == 40


def test_a_cancel_stops_the_test_within_one_step(workspace, dataset, rec):
    job = run(RecordingJob(workspace, dataset, rec, device="cpu", steps=40, cancel_at=(RANGE_STAGE, 3)))
    snap = job.snapshot()
    assert snap.state == CANCELLED and snap.result is None and not snap.error
    assert steps_of(job) == [1, 2, 3]  # the cancel came after step 3: no fourth step ran


def test_a_cancel_while_decoding_runs_no_step(workspace, dataset, rec):
    job = run(RecordingJob(workspace, dataset, rec, device="cpu", steps=40, cancel_at=("decoding", -1)))
    assert job.snapshot().state == CANCELLED
    assert any(stage == "decoding" for stage, _, _ in job.events) and steps_of(job) == []


def test_a_dataset_that_cannot_train_fails_with_a_plain_sentence(workspace, tmp_path, rec):
    one_class = register_folder(make_image_folder(tmp_path / "one", num_classes=1, per_class=12), workspace,
                                name="one").name
    snap = run(LRJob(workspace, one_class, rec, device="cpu", steps=10)).snapshot()
    assert snap.state == FAILED and snap.result is None
    assert "only one class with images" in snap.error and "training needs at least 2" in snap.error
    assert "Traceback" not in snap.error and "Error" not in snap.error


@pytest.mark.parametrize("raised, said, hidden", [
    (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "ran out of memory", "Tried to allocate"),
    (RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR"), "stopped unexpectedly (RuntimeError)", "CUDNN"),
    (PermissionError(13, "Permission denied", "cache/x.bin"), "no permission to read or write 'cache/x.bin'",
     "Errno"),
    (FileNotFoundError("gone"), "a file of the dataset is gone; rescan", "None"),  # raised without a file name
])
def test_library_failures_are_told_without_the_library_text(workspace, dataset, rec, monkeypatch, raised, said,
                                                            hidden):
    def failing(*args, **kw):
        raise raised

    monkeypatch.setattr(lr_job, "lr_check_on_data", failing)
    snap = run(LRJob(workspace, dataset, rec)).snapshot()
    assert snap.state == FAILED and said in snap.error and hidden not in snap.error


def test_one_job_per_recommendation_until_it_ends(workspace, dataset, rec, monkeypatch):
    started, release = threading.Event(), threading.Event()

    def held(*args, cancel, progress, **kw):
        progress(RANGE_STAGE, 1, 10)
        started.set()
        release.wait(JOIN_S)
        if cancel.is_set():
            raise CancelTraining("cancelled")

    monkeypatch.setattr(lr_job, "lr_check_on_data", held)
    key = ("imgs", "why", None)
    try:
        job = start_job(workspace, dataset, key, rec)
        assert started.wait(JOIN_S)
        assert start_job(workspace, dataset, key, rec) is job  # a second click joins the running test
        assert current_job(workspace, dataset, key) is job
        assert current_job(workspace, dataset, ("imgs", "another why", None)) is None
        snap = job.snapshot()
        assert snap.state == RUNNING and (snap.stage, snap.done, snap.total) == (RANGE_STAGE, 1, 10)
        job.cancel()
        release.set()
        job.thread.join(JOIN_S)
        assert current_job(workspace, dataset, key).snapshot().state == CANCELLED  # kept for the page to tell
    finally:
        release.set()
        forget_job(workspace, dataset, key)
