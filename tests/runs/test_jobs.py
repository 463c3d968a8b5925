"""The job manager: queueing in order, one run per device, live snapshots, cancel — with real training."""
from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from resnet_core.config import TrainConfig
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.jobs import JobManager
from resnet_core.runs.store import RunStore


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


@pytest.fixture
def manager(workspace):
    store = RunStore(workspace)
    jm = JobManager(workspace, store)
    yield jm
    jm.shutdown()


def _config(folder, **kw):
    base = dict(dataset=str(folder), weights="none", image_size=32, epochs=2, batch_size=8,
                learning_rate=1e-3, augmentation="none", patience=2, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def test_two_jobs_queue_in_order_and_both_finish(manager, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=10, size=32)
    overlap = []

    first = manager.submit(_config(folder))
    second = manager.submit(_config(folder, augmentation="light"))
    snap = manager.snapshot(second)
    assert snap.status == "queued" and snap.queue_position == 1
    # Watch both through their snapshots while they run: never two running at once on the CPU.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        a, b = manager.snapshot(first), manager.snapshot(second)
        if a.status == "running" and b.status == "running":
            overlap.append((first, second))
        if not a.is_active and not b.is_active:
            break
        time.sleep(0.02)
    a, b = manager.snapshot(first), manager.snapshot(second)
    assert a.status == b.status == "completed"
    assert not overlap
    store = manager.store
    r1, r2 = store.get_run(first), store.get_run(second)
    assert r1.started_at <= r2.started_at and r1.finished_at <= r2.started_at
    assert len(store.epochs(first)) == len(store.epochs(second)) == 2
    assert a.final["test_acc"] is not None and len(a.history) == 2
    assert a.progress == 1.0 and a.eta_s == 0.0


def test_snapshot_shows_live_progress_with_eta(manager, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=16, size=32)
    run_id = manager.submit(_config(folder, epochs=3, batch_size=4))
    seen = []
    while True:
        s = manager.snapshot(run_id)
        seen.append(s)
        if not s.is_active:
            break
        time.sleep(0.05)
    running = [s for s in seen if s.status == "running" and s.batch > 0]
    assert running, "no batch-level progress was published"
    assert any(s.eta_s is not None and s.eta_s > 0 for s in running)
    progress = [s.progress for s in seen]
    assert progress == sorted(progress)  # never goes backwards
    epochs_seen = [len(s.history) for s in seen]
    assert epochs_seen == sorted(epochs_seen) and epochs_seen[-1] == 3


def test_snapshots_are_immutable_and_consistent_across_readers(manager, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=10, size=32)
    run_id = manager.submit(_config(folder))
    errors = []

    def reader():
        last_epochs = 0
        while True:
            s = manager.snapshot(run_id)
            if len(s.history) < last_epochs:
                errors.append("history shrank")
            last_epochs = len(s.history)
            if any(h["epoch"] != i + 1 for i, h in enumerate(s.history)):
                errors.append("history out of order")
            if not s.is_active:
                return
            time.sleep(0.01)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    snap = manager.snapshot(run_id)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.status = "hacked"  # frozen dataclass


def test_cancel_a_queued_run_removes_it_and_stores_it_cancelled(manager, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=10, size=32)
    first = manager.submit(_config(folder, epochs=3))
    second = manager.submit(_config(folder))
    third = manager.submit(_config(folder))
    assert manager.snapshot(third).queue_position == 2
    assert manager.cancel(second)
    assert manager.snapshot(second).status == "cancelled"
    assert manager.snapshot(third).queue_position == 1
    manager.wait(third, timeout=120)
    record = manager.store.get_run(second)
    assert record.status == "cancelled" and record.started_at is None
    assert any("never started" in n for n in record.notes)
    assert manager.store.get_run(first).status == manager.store.get_run(third).status == "completed"


def test_cancel_a_running_run(manager, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=16, size=32)
    run_id = manager.submit(_config(folder, epochs=30, batch_size=4))
    while manager.snapshot(run_id).epoch < 2:
        time.sleep(0.02)
    assert manager.cancel(run_id)
    snap = manager.wait(run_id, timeout=60)
    assert snap.status == "cancelled"
    record = manager.store.get_run(run_id)
    assert record.status == "cancelled" and record.epoch_ended < 30


def test_failed_run_reports_its_message(manager, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=10, size=32)
    # A missing file is refused before a run exists (test_checks_before_run.py); one that is there
    # but is not a weights file fails the run when it starts.
    (tmp_path / "broken.pth").write_bytes(b"not a weights file")
    run_id = manager.submit(_config(folder, weights="file", weights_path=str(tmp_path / "broken.pth")))
    snap = manager.wait(run_id, timeout=60)
    assert snap.status == "failed"
    assert snap.message and "broken.pth" in snap.message
    assert manager.store.get_run(run_id).status == "failed"


def test_parallel_per_device_allows_two_when_asked(workspace, tmp_path):
    store = RunStore(workspace)
    release = threading.Event()
    active, peak = [], []

    def runner(run_id, config, callbacks, cancel_event, resume):
        active.append(run_id)
        peak.append(len(active))
        release.wait(10)
        active.remove(run_id)
        store.finish_run(run_id, "completed", {})
        return "completed"

    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=6, size=32)
    jm = JobManager(workspace, store, runner=runner, parallel_per_device=2)
    ids = [jm.submit(_config(folder)) for _ in range(3)]
    time.sleep(0.3)
    assert max(peak) == 2 and jm.snapshot(ids[2]).status == "queued"
    release.set()
    for i in ids:
        assert jm.wait(i, timeout=10).status == "completed"


def test_eta_of_a_resumed_run_uses_only_this_process_pace(workspace, monkeypatch):
    from resnet_core.runs import jobs as jobs_module
    from resnet_core.training.callbacks import FitState

    clock = [100.0]
    monkeypatch.setattr(jobs_module.time, "monotonic", lambda: clock[0])
    jm = JobManager(workspace, RunStore(workspace), runner=lambda *a, **k: "completed")
    cfg = TrainConfig(dataset="x", epochs=30)
    job = jobs_module._Job(1, cfg, "cpu", resume=True)
    job.snapshot = jobs_module.JobSnapshot(run_id=1, status="running", description="", dataset="x",
                                           device="cpu", epochs=30)
    publisher = jobs_module._SnapshotPublisher(jm, job)
    state = FitState(config=cfg, classes=["a", "b"], num_train=10, num_val=2, num_test=2, device="cpu",
                     batch_size=2)
    state.history = [{"epoch": e} for e in range(1, 7)]  # six epochs trained before the restart
    publisher.before_fit(state)
    clock[0] += 60.0  # epoch 7 took a minute here
    state.epoch = 7
    state.history.append({"epoch": 7})
    publisher.after_epoch(state)
    # 23 epochs left at a minute each, not the 23 × 60 / 7 seconds the old estimate gave.
    assert job.snapshot.eta_s == pytest.approx(23 * 60.0)


def test_runs_pinned_to_two_devices_train_at_once_each_on_its_own(workspace, tmp_path):
    store = RunStore(workspace)
    both_running = threading.Barrier(2, timeout=10)
    devices = {}

    def runner(run_id, config, callbacks, cancel_event, resume, device=None):
        devices[run_id] = device
        both_running.wait()  # breaks (and fails the runs) unless the two train at the same time
        store.finish_run(run_id, "completed", {})
        return "completed"

    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=6, size=32)
    jm = JobManager(workspace, store, runner=runner)
    try:
        first = jm.submit(_config(folder), device="cuda:0")
        second = jm.submit(_config(folder, seed=1), device="cuda:1")
        unpinned = jm.submit(_config(folder, seed=2))
        for run_id in (first, second):
            assert jm.wait(run_id, timeout=15).status == "completed"
        assert devices[first] == "cuda:0" and devices[second] == "cuda:1"
        assert jm.snapshot(second).device == "cuda:1"
        # A run nobody pinned trains where its settings say, and the runner is not told otherwise.
        jm.wait(unpinned, timeout=15)
        assert devices[unpinned] is None
    finally:
        jm.shutdown(timeout=2)


def test_a_run_pinned_to_a_device_trains_with_the_default_runner(manager, tmp_path):
    """The pin reaches the real runner (one process or a group) and the run trains there."""
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=6, size=32)
    run_id = manager.submit(_config(folder, epochs=1), device="cpu")
    final = manager.wait(run_id, timeout=120)
    assert final.status == "completed", final.message
    assert manager.store.get_run(run_id).status == "completed"


def test_resume_on_devices_this_machine_lacks_is_refused_and_the_run_stays_as_it_was(manager, tmp_path,
                                                                                    monkeypatch):
    from types import SimpleNamespace

    import torch

    from resnet_core.runs import group
    from resnet_core.runs import jobs as jobs_module

    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=6, size=32)
    store = manager.store
    run_id = store.create_run(_config(folder, device="auto"), str(folder), 12, 8, 2, 2)
    store.finish_run(run_id, "interrupted", {})
    monkeypatch.setattr(jobs_module, "resume_problem", lambda record, workspace: None)  # a saved epoch
    for bad in (0, 65):
        with pytest.raises(ValueError, match="--devices must be a whole number"):
            manager.resume(run_id, devices=bad)
    # Two GPUs here: four are refused before the run is queued again.
    monkeypatch.setattr(group, "detect_hardware", lambda: SimpleNamespace(device="cuda"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match="this machine has 2 GPU"):
        manager.resume(run_id, devices=4)
    record = store.get_run(run_id)
    assert record.status == "interrupted" and record.config.devices == 1
    assert manager.snapshot(run_id) is None  # nothing queued
