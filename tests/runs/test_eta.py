"""The time left in a run: measured, smoothed, and steady from the first estimate on."""
from __future__ import annotations

import pytest

from resnet_core.config import TrainConfig
from resnet_core.runs import jobs as jobs_module
from resnet_core.runs.eta import RunPace
from resnet_core.runs.jobs import JobManager, JobSnapshot
from resnet_core.runs.store import RunStore
from resnet_core.training.callbacks import FitState

EPOCHS, BATCHES = 3, 40
PREFETCHED_S, BATCH_S, EVAL_S, LOADER_S = 0.1, 1.0, 2.0, 1.0  # 40 validation images: 5 batches


def publisher_with_clock(workspace, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(jobs_module.time, "monotonic", lambda: clock[0])
    jm = JobManager(workspace, RunStore(workspace), runner=lambda *a, **k: "completed")
    cfg = TrainConfig(dataset="x", epochs=EPOCHS)
    job = jobs_module._Job(1, cfg, "cpu", resume=False)
    job.snapshot = JobSnapshot(run_id=1, status="running", description="", dataset="x", device="cpu",
                               epochs=EPOCHS)
    state = FitState(config=cfg, classes=["a", "b"], num_train=BATCHES * 8, num_val=40, num_test=40,
                     device="cpu", batch_size=8)
    return jobs_module._SnapshotPublisher(jm, job), job, state, clock


def test_the_estimate_is_steady_from_the_first_one_shown(workspace, monkeypatch):
    # The data loader starts, the first batches come prefetched, then every batch takes a second,
    # and each epoch ends with an evaluation. The old average since the start showed 20 s after the
    # first batch and then climbed for the whole first epoch.
    publisher, job, state, clock = publisher_with_clock(workspace, monkeypatch)
    finish_times = []
    publisher.before_fit(state)
    state.num_batches = BATCHES
    for epoch in range(1, EPOCHS + 1):
        state.epoch, state.batch = epoch, 0
        publisher.before_epoch(state)
        clock[0] += LOADER_S
        for batch in range(1, BATCHES + 1):
            clock[0] += PREFETCHED_S if epoch == 1 and batch <= 3 else BATCH_S
            state.batch = batch
            publisher.after_batch(state)
            if job.snapshot.eta_s is not None:
                finish_times.append(clock[0] + job.snapshot.eta_s)
        clock[0] += EVAL_S
        state.history.append({"epoch": epoch})
        publisher.after_epoch(state)
        finish_times.append(clock[0] + job.snapshot.eta_s)
    end = clock[0]
    assert job.snapshot.eta_s == pytest.approx(0.0)
    assert len(finish_times) > EPOCHS * (BATCHES - 5)  # an estimate from the fifth batch or so on
    # Every estimate put the end within 10% of the run's length of when it really came.
    length = end - 1000.0
    worst = max(abs(t - end) for t in finish_times)
    assert worst < 0.1 * length, (worst, length)


def test_one_slow_batch_moves_the_estimate_a_little():
    pace = RunPace()
    now = 0.0
    pace.epoch_started(now)
    for batch in range(1, 21):
        now += 1.0
        pace.batches_done(now, batch)
    before = pace.seconds_left(5, 20, 40)
    now += 10.0  # one batch ten times slower (another program took the CPU for a moment)
    pace.batches_done(now, 21)
    after = pace.seconds_left(5, 19, 40)
    assert before == pytest.approx(20 + 5 * 40)
    assert after < before * 1.25  # a plain per-batch rate would have said ten times as long


def test_nothing_is_estimated_before_anything_was_measured():
    pace = RunPace()
    pace.epoch_started(0.0)
    pace.batches_done(0.5, 1)
    assert pace.seconds_left(3, 39, 40) is None
