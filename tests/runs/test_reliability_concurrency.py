"""Many readers, several sessions, deletions while a job runs: one consistent picture, nothing lost."""
from __future__ import annotations

import copy
import subprocess
import sys
import threading
import time

import pytest

from resnet_core.config import TrainConfig
from resnet_core.data.importing import import_dataset
from resnet_core.data.registry import get_dataset, list_datasets, register_folder
from resnet_core.data.scan import DatasetError
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.jobs import JobManager
from resnet_core.runs.recovery import DatasetInUseError, delete_dataset_checked
from resnet_core.runs.runner import execute_run
from resnet_core.runs.store import RunInUseError, RunStore
from resnet_core.training.callbacks import Callback

READERS = 8


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


@pytest.fixture
def store(workspace):
    s = RunStore(workspace)
    yield s
    s.close()


def config(dataset: str, **kw) -> TrainConfig:
    base = dict(dataset=dataset, weights="none", fine_tune=False, augmentation="none", epochs=3,
                batch_size=4, learning_rate=1e-3, image_size=32, patience=5, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


class PauseAfterEpoch(Callback):
    """Holds the training loop after an epoch until released (the snapshot is published by then)."""

    def __init__(self, epoch: int):
        self.epoch = epoch
        self.paused, self.release = threading.Event(), threading.Event()

    def after_epoch(self, state) -> None:
        if state.epoch == self.epoch:
            self.paused.set()
            assert self.release.wait(60), "never released"


def real_runner(workspace, store, extra: list[Callback]):
    """The job manager's usual runner, with extra callbacks after its own."""
    def runner(run_id, cfg, callbacks, cancel_event, resume):
        return execute_run(run_id, cfg, workspace, store, callbacks=[*callbacks, *extra],
                           cancel_event=cancel_event, resume=resume)
    return runner


def test_readers_of_one_running_job_see_one_consistent_story(workspace, store, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=8, size=32)
    pause = PauseAfterEpoch(2)
    jm = JobManager(workspace, store, runner=real_runner(workspace, store, [pause]))
    run_id = jm.submit(config(str(folder)))
    seen: list[list] = [[] for _ in range(READERS)]
    deadline = time.monotonic() + 180

    def watch(i: int) -> None:
        while time.monotonic() < deadline:
            snap = jm.snapshot(run_id)
            seen[i].append((snap, copy.deepcopy(snap)))
            if not snap.is_active:
                return
            time.sleep(0.005)

    watchers = [threading.Thread(target=watch, args=(i,)) for i in range(READERS)]
    for t in watchers:
        t.start()
    try:
        assert pause.paused.wait(120)
        # Everyone asking at the same moment gets the very same frozen object.
        barrier, at_pause = threading.Barrier(READERS), [None] * READERS

        def read_together(i: int) -> None:
            barrier.wait(10)
            at_pause[i] = jm.snapshot(run_id)

        together = [threading.Thread(target=read_together, args=(i,)) for i in range(READERS)]
        for t in together:
            t.start()
        for t in together:
            t.join(10)
        assert all(s is at_pause[0] for s in at_pause)
        assert at_pause[0].epoch == 2 and [h["epoch"] for h in at_pause[0].history] == [1, 2]
    finally:
        pause.release.set()
    final = jm.wait(run_id, timeout=120)
    for t in watchers:
        t.join(10)
    jm.shutdown()

    assert final.status == "completed"
    for story in seen:
        snaps = [s for s, _ in story]
        epochs = [s.epoch for s in snaps]
        assert epochs == sorted(epochs), "the epoch went backwards"
        progress = [s.progress for s in snaps]
        assert progress == sorted(progress)
        # A snapshot once handed out never changes afterwards.
        for snap, copied in story:
            assert snap == copied
        assert snaps[-1] is final
    assert [h["epoch"] for h in final.history] == [1, 2, 3]
    assert [e["epoch"] for e in store.epochs(run_id)] == [1, 2, 3]


def test_two_sessions_submitting_at_once_are_queued_in_order_one_at_a_time(workspace, store, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=6, size=32)
    name = register_folder(folder, workspace).name
    lock, running, started, peak = threading.Lock(), [], [], [0]
    go = threading.Event()

    def runner(run_id, cfg, callbacks, cancel_event, resume):
        store.mark_running(run_id)
        with lock:
            running.append(run_id)
            started.append(run_id)
            peak[0] = max(peak[0], len(running))
        go.wait(30)
        time.sleep(0.02)
        with lock:
            running.remove(run_id)
        store.finish_run(run_id, "completed", {"test_acc": 0.5})
        return "completed"

    jm = JobManager(workspace, store, runner=runner)
    barrier = threading.Barrier(2)
    submitted: list[list[int]] = [[], []]

    def session(i: int) -> None:
        barrier.wait(10)
        for _ in range(3):
            submitted[i].append(jm.submit(config(name)))

    sessions = [threading.Thread(target=session, args=(i,)) for i in range(2)]
    for t in sessions:
        t.start()
    for t in sessions:
        t.join(60)
    ids = sorted(submitted[0] + submitted[1])
    assert len(ids) == 6
    waiting = sorted(ids, key=lambda i: jm.snapshot(i).queue_position or 0)
    positions = [jm.snapshot(i).queue_position for i in waiting]
    assert positions == [None, 1, 2, 3, 4, 5]  # the first runs, the rest wait in id order
    assert waiting == ids
    for run_id in ids[1:]:
        assert store.get_run(run_id).status == "queued"
    go.set()
    for run_id in ids:
        assert jm.wait(run_id, timeout=60).status == "completed"
    jm.shutdown()
    assert started == ids and peak[0] == 1  # in order, never two at once on one device
    assert [r.status for r in store.list_runs()] == ["completed"] * 6


def test_a_dataset_or_run_in_use_cannot_be_deleted(workspace, store, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=8, size=32)
    info = import_dataset(folder, "fleurs", workspace)
    pause = PauseAfterEpoch(1)
    jm = JobManager(workspace, store, runner=real_runner(workspace, store, [pause]))
    running = jm.submit(config("fleurs", epochs=1))
    queued = jm.submit(config("fleurs", epochs=1))
    try:
        assert pause.paused.wait(120)
        cache_files = list(workspace.cache_dir.glob("ds*"))
        assert cache_files  # the decoded images of the dataset, in use

        with pytest.raises(DatasetInUseError) as refused:
            delete_dataset_checked("fleurs", workspace, store)
        message = str(refused.value)
        assert f"{running} (running)" in message and f"{queued} (queued)" in message
        assert "cancel" in message
        assert get_dataset("fleurs", workspace).root == info.root
        assert len(list(info.root.rglob("*.png"))) == 16 and all(f.exists() for f in cache_files)

        with pytest.raises(RunInUseError, match="cancel it first"):
            store.delete_run(running)
        with pytest.raises(RunInUseError):
            store.delete_run(queued)
        assert workspace.run_dir(running).is_dir() and store.get_run(queued) is not None
    finally:
        pause.release.set()
    for run_id in (running, queued):
        assert jm.wait(run_id, timeout=120).status == "completed"
    jm.shutdown()

    delete_dataset_checked("fleurs", workspace, store)
    assert list_datasets(workspace) == [] and not info.root.exists()
    assert not any(f.exists() for f in cache_files)  # no orphaned cache left behind
    assert store.get_run(running).test_acc is not None  # runs on it keep their results
    with pytest.raises(DatasetError, match="No dataset named"):
        delete_dataset_checked("fleurs", workspace, store)


def test_a_run_of_a_dead_process_does_not_block_deleting_its_dataset(workspace, store, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=4, size=32)
    name = register_folder(folder, workspace).name
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    from resnet_core.runs.runner import create_run

    run_id = create_run(config(name), workspace, store)
    store.mark_running(run_id)
    # As if the process running it had died: it is another, finished process's run now.
    store._conn().execute("UPDATE runs SET owner_pid = ?, owner_token = NULL WHERE id = ?",
                          (child.pid, run_id))
    delete_dataset_checked(name, workspace, store)
    assert list_datasets(workspace) == []
    assert store.get_run(run_id).status == "interrupted"
    assert folder.is_dir() and len(list(folder.rglob("*.png"))) == 8  # a registered folder is never touched


def test_two_resumes_of_one_run_cannot_both_win(workspace, store, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=4, size=32)
    from resnet_core.runs.runner import create_run

    run_id = create_run(config(str(folder)), workspace, store)
    store.finish_run(run_id, "interrupted")
    barrier, outcomes = threading.Barrier(4), []

    def resume() -> None:
        barrier.wait(10)
        try:
            store.requeue_run(run_id)
            outcomes.append("queued")
        except RunInUseError:
            outcomes.append("refused")

    threads = [threading.Thread(target=resume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["queued", "refused", "refused", "refused"]
    assert store.get_run(run_id).status == "queued"
