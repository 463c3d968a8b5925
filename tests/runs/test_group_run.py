"""One run over two Gloo processes on the CPU, launched by the job manager as a torchrun subprocess:
live snapshots as for one process, the accuracy of one process, cancel, and a rank killed."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest
import torch
from group_processes import group_processes

from resnet_core.config import TrainConfig
from resnet_core.data.prepare import prepare_data
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.ddp_worker import pid_file
from resnet_core.runs.jobs import JobManager
from resnet_core.runs.recovery import resume_problem
from resnet_core.runs.store import RunStore
from resnet_core.training.engine import fit

WAIT_S = 240  # only how long a broken test may hang; nothing asserts a duration


@pytest.fixture(autouse=True)
def _ddp_environment(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # two ranks on two cores


@pytest.fixture
def manager(workspace):
    jm = JobManager(workspace, RunStore(workspace))
    yield jm
    jm.shutdown(timeout=60)


def _config(folder, **kw) -> TrainConfig:
    base = dict(dataset=str(folder), weights="none", image_size=32, epochs=2, batch_size=4,
                learning_rate=1e-3, augmentation="none", patience=5, device="cpu", devices=2)
    base.update(kw)
    return TrainConfig(**base)


def _watch(manager, run_id, until=lambda snap: not snap.is_active) -> list:
    """The run's snapshots as the dashboard polls them, until `until` holds (or the run ends)."""
    seen, deadline = [], time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        snap = manager.snapshot(run_id)
        if not seen or snap != seen[-1]:
            seen.append(snap)
        if until(snap) or not snap.is_active:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} still {seen[-1].status} after {WAIT_S}s")


def _rank_pids(run_dir) -> set[int]:
    """The two ranks' process ids, as each wrote it when it started."""
    return {int(pid_file(run_dir, rank).read_text()) for rank in (0, 1)}


def test_two_process_run_is_shown_live_and_learns_as_well_as_one_process(manager, workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=3, per_class=20, size=32)
    two = _config(folder, epochs=2, batch_size=4)  # global batch 8
    run_id = manager.submit(two)
    snaps = _watch(manager, run_id)
    final = snaps[-1]
    assert final.status == "completed", final.message
    running = [s for s in snaps if s.status == "running"]
    assert running and any(0 < s.batch for s in running)  # batches replayed while it trained
    assert [len(s.history) for s in snaps] == sorted(len(s.history) for s in snaps)
    assert len(final.history) == 2 and final.progress == 1.0 and final.final["test_acc"] is not None
    record = manager.store.get_run(run_id)
    assert record.status == "completed" and len(manager.store.epochs(run_id)) == 2
    assert any("2 processes" in note and "8 in all" in note for note in record.notes)
    progress = [json.loads(line) for line in (workspace.run_dir(run_id) / "progress.jsonl").open()]
    assert not [p for p in progress if p["event"] == "on_prepare" and p["stage"] == "decoding"]  # built before
    assert not group_processes(workspace)

    one = _config(folder, epochs=2, batch_size=8, devices=1)  # the same global batch, one process
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank had (and far quicker on a busy machine than two)
    try:
        alone = fit(one, prepare_data(one, workspace))
    finally:
        torch.set_num_threads(threads)
    assert record.val_acc >= 0.8 and alone.val_acc >= 0.8
    assert abs(record.val_acc - alone.val_acc) <= 0.15


def test_cancel_mid_epoch_stops_every_rank_and_keeps_what_was_learned(manager, workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=12, size=32)
    run_id = manager.submit(_config(folder, epochs=50, batch_size=2))
    _watch(manager, run_id, until=lambda s: len(s.history) >= 1 and s.batch >= 1)
    assert _rank_pids(workspace.run_dir(run_id)) <= set(group_processes(workspace))  # the orphan checks see ranks
    assert manager.cancel(run_id)
    final = _watch(manager, run_id)[-1]
    assert final.status == "cancelled"
    record = manager.store.get_run(run_id)
    assert record.status == "cancelled" and record.val_acc is not None  # scored on what it learned
    assert 1 <= record.epoch_ended < 50
    assert not group_processes(workspace)

    # Resumed on the same two processes: rank 0 reads last.pt and hands it to the other.
    manager.resume(run_id)
    _watch(manager, run_id, until=lambda s: s.status == "running" and s.batch >= 1)
    manager.cancel(run_id)
    assert _watch(manager, run_id)[-1].status == "cancelled"
    after = manager.store.get_run(run_id)
    assert after.config.devices == 2
    assert any(note.startswith("Resumed after epoch") for note in after.notes), after.notes
    assert not group_processes(workspace)


def test_a_killed_rank_leaves_the_run_interrupted_resumable_and_no_process(manager, workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=12, size=32)
    config = _config(folder, epochs=50, batch_size=2)
    run_id = manager.submit(config)
    _watch(manager, run_id, until=lambda s: len(s.history) >= 1 and s.batch >= 1)
    run_dir = workspace.run_dir(run_id)
    rank1 = int(pid_file(run_dir, 1).read_text())
    os.kill(rank1, signal.SIGKILL)
    final = _watch(manager, run_id)[-1]
    assert final.status == "interrupted"
    record = manager.store.get_run(run_id)
    assert record.status == "interrupted"
    assert any("resume continues from the last saved epoch" in n.lower() and
               f"process {rank1} was killed (SIGKILL)" in n for n in record.notes), record.notes
    assert (run_dir / "last.pt").is_file() and resume_problem(record, workspace) is None
    assert not group_processes(workspace)

    # Resumable on another number of devices: here one process continues it (cancelled once it has).
    manager.resume(run_id, devices=1)
    _watch(manager, run_id, until=lambda s: s.status == "running" and s.batch >= 1)
    manager.cancel(run_id)
    _watch(manager, run_id)
    after = manager.store.get_run(run_id)
    assert after.config.devices == 1
    assert any(note.startswith("Resumed after epoch") for note in after.notes)


def test_a_group_that_cannot_start_fails_the_run_with_a_message(workspace, tmp_path, monkeypatch):
    from resnet_core.runs import group
    from resnet_core.runs.runner import create_run, error_log_path

    monkeypatch.setattr(group, "WORKER_MODULE", "resnet_core.runs.no_such_worker")  # as a broken install
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=6, size=32)
    store = RunStore(workspace)
    run_id = create_run(_config(folder), workspace, store)
    assert group.execute_group_run(run_id, _config(folder), workspace, store) == "failed"
    record = store.get_run(run_id)
    assert "stopped before training began" in record.error and "group.log" in record.error
    assert "no_such_worker" in error_log_path(workspace, run_id).read_text()
    assert not group_processes(workspace)


def test_a_killed_launcher_takes_its_group_with_it(workspace, tmp_path):
    """The dashboard's server (here a `train` process) killed: its ranks stop by themselves, and the
    next start-up finds the run interrupted."""
    import subprocess
    import sys

    from resnet_core.runs.recovery import startup

    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=12, size=32)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "resnet_core", "train", str(folder), "--devices", "2", "--device", "cpu",
         "--weights", "none", "--epochs", "50", "--patience", "50", "--batch-size", "2", "--image-size", "32",
         "--augment", "none", "--lr", "1e-3"],
        env={**os.environ, "RESNET_PILOT_HOME": str(workspace.root)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    store = RunStore(workspace)
    deadline = time.monotonic() + WAIT_S
    while not any(store.epochs(r.id) for r in store.list_runs()):
        assert launcher.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    assert _rank_pids(workspace.run_dir(store.list_runs()[0].id)) <= set(group_processes(workspace))
    launcher.kill()
    launcher.wait()
    while group_processes(workspace):
        assert time.monotonic() < deadline, group_processes(workspace)
        time.sleep(0.2)
    run_id = store.list_runs()[0].id
    assert startup(workspace, store).interrupted == [run_id]
    assert resume_problem(store.get_run(run_id), workspace) is None


def test_the_server_stopping_ends_the_group_and_leaves_the_run_interrupted(manager, workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=12, size=32)
    run_id = manager.submit(_config(folder, epochs=50, batch_size=2))
    _watch(manager, run_id, until=lambda s: len(s.history) >= 1 and s.batch >= 1)
    assert manager.stop_for_exit()  # what the server does at exit
    record = manager.store.get_run(run_id)
    assert record.status == "interrupted", (record.status, record.notes)
    assert any(n.startswith("Stopped when the server stopped; Resume continues") for n in record.notes)
    assert resume_problem(record, workspace) is None
    assert not group_processes(workspace)


def test_a_rank_that_stopped_on_a_user_problem_fails_the_run_with_its_message(workspace, tmp_path):
    from types import SimpleNamespace

    from resnet_core.runs import group
    from resnet_core.runs.ddp_worker import error_file
    from resnet_core.runs.runner import create_run

    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=6, size=32)
    store = RunStore(workspace)
    run_id = create_run(_config(folder), workspace, store)
    store.mark_running(run_id)
    run_dir = workspace.run_dir(run_id)
    error_file(run_dir, 1).parent.mkdir(parents=True, exist_ok=True)
    error_file(run_dir, 1).write_text("the loss became nan in epoch 2, batch 3: training diverged. Try a "
                                      "lower learning rate (now 1).")
    ended = SimpleNamespace(how_it_ended=lambda: "process 123 exited with 1", log_tail=lambda: "traceback")
    assert group._settle(store, run_id, run_dir, ended, SimpleNamespace(started=True)) == "failed"
    record = store.get_run(run_id)
    assert record.status == "failed" and record.error.startswith("the loss became nan")


def test_ranks_left_waiting_after_the_outcome_is_stored_are_ended(workspace, tmp_path, monkeypatch):
    """Rank 0 stored a failure while the other ranks still wait for it in a collective (as NCCL does
    for minutes): the launcher ends the group after a short grace instead of waiting with it."""
    import sys
    import threading

    from resnet_core.runs import group
    from resnet_core.runs.runner import create_run

    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=6, size=32)
    store = RunStore(workspace)
    run_id = create_run(_config(folder), workspace, store)
    monkeypatch.setattr(group, "OUTCOME_GRACE_S", 0.5)
    monkeypatch.setattr(group, "worker_command",  # a rank that never returns
                        lambda *args: [sys.executable, "-c", "import time; time.sleep(600)"])

    def rank0_fails_after_a_while():
        while store.get_run(run_id).status != "running":
            time.sleep(0.05)
        store.finish_run(run_id, "failed", {})
    threading.Thread(target=rank0_fails_after_a_while, daemon=True).start()
    result = {}
    launcher = threading.Thread(target=lambda: result.update(
        status=group.execute_group_run(run_id, _config(folder), workspace, store)), daemon=True)
    launcher.start()
    launcher.join(WAIT_S)
    assert not launcher.is_alive(), "the launcher waited on a group whose run had already ended"
    assert result["status"] == "failed"


def test_batch_lines_of_the_progress_file_stay_small(tmp_path):
    """Class names, notes and the history go into fit- and epoch-level lines only; the replay keeps
    them across the batch lines in between."""
    from resnet_core.runs.group_progress import ProgressReplay, ProgressWriter
    from resnet_core.training.callbacks import Callback, FitState

    config = TrainConfig(dataset="x", epochs=2, batch_size=4)
    state = FitState(config=config, classes=[f"a long class name {i}" for i in range(200)], num_train=8,
                     num_val=2, num_test=2, device="cpu", batch_size=4)
    state.history = [{"epoch": 1, "train_loss": 1.0}]
    state.notes = ["a note"]
    writer = ProgressWriter(tmp_path / "progress.jsonl")
    writer.before_fit(state)
    for batch in range(1, 3):
        state.batch, state.num_batches = batch, 2
        writer.after_batch(state)
    lines = [json.loads(line) for line in (tmp_path / "progress.jsonl").open()]
    batch_lines = [line for line in lines if line["event"] == "after_batch"]
    assert batch_lines and all("classes" not in line and "history" not in line for line in batch_lines)

    seen = []

    class Keep(Callback):
        def after_batch(self, state):
            seen.append((len(state.classes), state.notes, state.batch))
    replay = ProgressReplay(tmp_path / "progress.jsonl", config, [Keep()])
    replay.poll()
    assert seen and all(n == 200 and notes == ["a note"] for n, notes, _ in seen)
