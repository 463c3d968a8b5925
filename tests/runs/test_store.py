"""The run store: round trips, concurrency across threads and processes, recovery, deletion."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from resnet_core.config import TrainConfig
from resnet_core.runs.store import (
    _MIGRATIONS,
    MAX_NAME_CHARS,
    NOTE_NEVER_STARTED,
    NOTE_OWNER_GONE,
    SCHEMA_VERSION,
    RunInUseError,
    RunNotFoundError,
    RunStore,
    StoreError,
)
from resnet_core.workspace import ENV_VAR

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(workspace):
    s = RunStore(workspace)
    yield s
    s.close()


def new_run(store: RunStore, dataset: str = "flowers", model: str = "resnet18", **kwargs) -> int:
    config = TrainConfig(dataset=dataset, model=model, **kwargs)
    return store.create_run(config, dataset_root="datasets/" + dataset, num_images=60, num_train=42,
                            num_val=9, num_test=9)


def python_child(code: str, workspace) -> subprocess.Popen:
    """A separate Python process using the same workspace (and this checkout of resnet_core)."""
    env = {**os.environ, ENV_VAR: str(workspace.root),
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=REPO_ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_round_trip_decodes_every_field(store, workspace):
    config = TrainConfig(dataset="flowers", model="resnet50", augmentation="heavy", fine_tune=False,
                         epochs=7, recommended=("model", "epochs"))
    run_id = store.create_run(config, "datasets/flowers", 60, 42, 9, 9)

    queued = store.get_run(run_id)
    assert queued.status == "queued" and queued.is_active and not queued.is_ranked
    assert queued.config == config
    assert queued.description == "ResNet50 + heavy augmentation"
    assert (queued.num_images, queued.num_train, queued.num_val, queued.num_test) == (60, 42, 9, 9)
    assert queued.started_at is None and queued.created_at.endswith("+00:00")
    assert json.loads((workspace.run_dir(run_id) / "config.json").read_text()) == config.to_dict()

    store.mark_running(run_id)
    store.add_epoch(run_id, {"epoch": 1, "train_loss": 1.5, "train_acc": 0.4, "lr": 1e-3,
                             "epoch_time_s": 2.0, "images_per_s": 21.0})
    store.add_epoch(run_id, {"epoch": 2, "train_loss": 0.9, "train_acc": 0.7, "val_loss": 0.8,
                             "val_acc": 0.75, "lr": 5e-4, "epoch_time_s": 2.1, "images_per_s": 20.0})
    store.add_note(run_id, "batch size lowered to fit memory")
    store.finish_run(run_id, "completed", {
        "val_loss": 0.8, "val_acc": 0.75, "test_acc": 0.7778, "train_time_s": 4.1, "epoch_ended": 2,
        "best_epoch": 2, "stopped_early": True, "peak_memory_mb": 512.5,
        "final_metrics": {"class_names": ["a", "b"], "confusion_matrix": [[4, 1], [1, 3]]}})

    run = store.get_run(run_id)
    assert run.status == "completed" and run.is_ranked and not run.is_active
    assert run.started_at is not None and run.finished_at is not None
    assert run.owner_pid == os.getpid()
    assert (run.val_loss, run.val_acc, run.test_acc) == (0.8, 0.75, 0.7778)
    assert (run.train_time_s, run.epoch_ended, run.best_epoch) == (4.1, 2, 2)
    assert run.stopped_early is True and run.peak_memory_mb == 512.5
    assert run.final_metrics == {"class_names": ["a", "b"], "confusion_matrix": [[4, 1], [1, 3]]}
    assert run.notes == ("batch size lowered to fit memory",)
    assert run.config.recommended == ("model", "epochs")

    epochs = store.epochs(run_id)
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[0]["val_loss"] is None and epochs[0]["train_loss"] == 1.5
    assert epochs[1]["val_acc"] == 0.75 and epochs[1]["images_per_s"] == 20.0


def test_rewriting_an_epoch_replaces_it(store):
    run_id = new_run(store)
    store.add_epoch(run_id, {"epoch": 3, "train_loss": 2.0, "val_loss": 1.0})
    store.add_epoch(run_id, {"epoch": 3, "train_loss": 0.5, "val_loss": 0.4})
    assert [(e["epoch"], e["train_loss"], e["val_loss"]) for e in store.epochs(run_id)] == [(3, 0.5, 0.4)]


def test_requeue_keeps_epochs_and_takes_ownership(store):
    run_id = new_run(store)
    store.mark_running(run_id)
    store.add_epoch(run_id, {"epoch": 1, "train_loss": 1.0})
    with pytest.raises(RunInUseError, match="running"):
        store.requeue_run(run_id)
    store._conn().execute("UPDATE runs SET owner_pid = 0 WHERE id = ?", (run_id,))
    store.finish_run(run_id, "interrupted", error="stopped")
    store.requeue_run(run_id)
    run = store.get_run(run_id)
    assert run.status == "queued" and run.error is None and run.finished_at is None
    assert run.owner_pid == os.getpid() and len(store.epochs(run_id)) == 1
    assert store.recover_interrupted() == []  # queued by this live process: left alone
    with pytest.raises(RunNotFoundError):
        store.requeue_run(999)


def test_cancelled_with_test_acc_is_ranked_and_without_is_not(store):
    with_eval, without = new_run(store), new_run(store)
    store.finish_run(with_eval, "cancelled", {"test_acc": 0.5})
    store.finish_run(without, "cancelled")
    assert store.get_run(with_eval).is_ranked
    assert not store.get_run(without).is_ranked


def test_list_runs_newest_first_and_filters(store):
    a = new_run(store, dataset="flowers")
    b = new_run(store, dataset="birds")
    c = new_run(store, dataset="flowers")
    store.finish_run(c, "failed", error="out of memory")
    assert [r.id for r in store.list_runs()] == [c, b, a]
    assert [r.id for r in store.list_runs(dataset="flowers")] == [c, a]
    assert [r.id for r in store.list_runs(statuses=["failed"])] == [c]
    assert [r.id for r in store.list_runs(statuses="queued")] == [b, a]
    assert store.get_run(c).error == "out of memory"
    assert [r.id for r in store.runs_using_dataset("flowers")] == [a]
    assert store.list_runs(statuses=[]) == []


def test_bad_input_gets_clear_errors(store):
    run_id = new_run(store)
    with pytest.raises(RunNotFoundError, match="no run with id 999"):
        store.add_epoch(999, {"epoch": 1})
    with pytest.raises(ValueError, match="'epoch'"):
        store.add_epoch(run_id, {"train_loss": 1.0})
    with pytest.raises(ValueError, match="finishes as one of"):
        store.finish_run(run_id, "running")
    with pytest.raises(ValueError, match="unknown final fields"):
        store.finish_run(run_id, "completed", {"tset_acc": 0.9})
    with pytest.raises(ValueError, match="status must be one of"):
        store.list_runs(statuses=["done"])
    assert store.get_run(999) is None
    assert store.get_run(run_id).status == "queued"  # the refused finish changed nothing


def test_schema_version_is_recorded_and_reopen_keeps_data(store, workspace):
    run_id = new_run(store)
    store.close()
    reopened = RunStore(workspace)
    try:
        assert reopened._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert reopened._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert reopened._conn().execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert reopened.get_run(run_id).dataset == "flowers"
    finally:
        reopened.close()


def test_a_database_of_the_previous_schema_is_migrated_and_keeps_its_runs(workspace):
    # The database as the version before run names wrote it: schema 3, one finished run with epochs.
    workspace.db_path.parent.mkdir(parents=True, exist_ok=True)
    old = sqlite3.connect(workspace.db_path)
    for script in _MIGRATIONS[:3]:
        old.executescript(script)
    config = TrainConfig(dataset="flowers", epochs=3)
    old.execute("INSERT INTO runs (dataset, model, description, config, status, created_at, test_acc, notes, "
                "repeat_of) VALUES ('flowers', 'resnet18', 'ResNet18', ?, 'completed', '2026-01-01T00:00:00+00:00', "
                "0.75, '[\"stopped early\"]', NULL)", (json.dumps(config.to_dict()),))
    old.execute("INSERT INTO epochs (run_id, epoch, train_loss) VALUES (1, 1, 0.5)")
    old.execute("PRAGMA user_version = 3")
    old.commit()
    old.close()

    store = RunStore(workspace)
    try:
        assert store._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        run = store.get_run(1)
        assert (run.status, run.test_acc, run.notes, run.config) == ("completed", 0.75, ("stopped early",), config)
        assert (run.name, run.user_note) == ("", "")
        assert store.epochs(1)[0]["train_loss"] == 0.5
        store.label_run(1, name="first try", note="before the new photos")
        assert (store.get_run(1).name, store.get_run(1).user_note) == ("first try", "before the new photos")
    finally:
        store.close()


def test_a_run_is_named_at_creation_and_renamed_later(store, workspace):
    config = TrainConfig(dataset="flowers")
    run_id = store.create_run(config, "datasets/flowers", 60, 42, 9, 9, name="  baseline\n 18 ", note=" first ")
    assert (store.get_run(run_id).name, store.get_run(run_id).user_note) == ("baseline 18", "first")
    store.label_run(run_id, name="small images")  # the note stays
    assert (store.get_run(run_id).name, store.get_run(run_id).user_note) == ("small images", "first")
    store.label_run(run_id, note="")  # cleared; the name stays
    assert (store.get_run(run_id).name, store.get_run(run_id).user_note) == ("small images", "")
    # The label is kept in the run folder too, so `repair` brings it back.
    assert json.loads((workspace.run_dir(run_id) / "run.json").read_text())["run"]["name"] == "small images"
    with pytest.raises(ValueError, match=f"keep it to {MAX_NAME_CHARS}"):
        store.label_run(run_id, name="x" * (MAX_NAME_CHARS + 1))
    with pytest.raises(RunNotFoundError, match="no run with id 999"):
        store.label_run(999, name="ghost")
    assert store.get_run(run_id).name == "small images"


def test_newer_schema_is_refused_with_a_message(store, workspace):
    store._conn().execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store.close()
    with pytest.raises(StoreError, match="newer version"):
        RunStore(workspace)


def test_damaged_database_file_is_reported(workspace):
    workspace.db_path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="resnet_core repair"):
        RunStore(workspace)


def test_threads_write_at_once_without_lock_errors(store):
    run_ids = [new_run(store) for _ in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(run_ids))

    def write(run_id: int) -> None:
        try:
            start.wait()
            store.mark_running(run_id)
            for epoch in range(1, 51):
                store.add_epoch(run_id, {"epoch": epoch, "train_loss": 1.0 / epoch, "lr": 0.01})
                if epoch % 10 == 0:
                    store.add_note(run_id, f"epoch {epoch}")
            store.finish_run(run_id, "completed", {"test_acc": 0.5, "epoch_ended": 50})
        except BaseException as e:  # collected: an exception in a thread would not fail the test
            errors.append(e)

    threads = [threading.Thread(target=write, args=(run_id,)) for run_id in run_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for run_id in run_ids:
        assert len(store.epochs(run_id)) == 50
        run = store.get_run(run_id)
        assert run.status == "completed" and len(run.notes) == 5
    assert store.integrity_check() == "ok"


def test_connections_of_finished_threads_are_closed(store):
    def touch() -> None:
        store.list_runs()

    for _ in range(6):
        t = threading.Thread(target=touch)
        t.start()
        t.join()
    # Each new thread's connection closed those of the threads that had ended: this thread's and
    # the last one's remain, not seven.
    assert len(store._connections) == 2


def test_another_process_reads_and_writes_while_this_one_writes(store, workspace):
    run_id = new_run(store)
    child = python_child(f"""
        import sys
        from resnet_core.runs.store import RunStore
        from resnet_core.workspace import Workspace
        from resnet_core.config import TrainConfig
        store = RunStore(Workspace.default())
        own = store.create_run(TrainConfig(dataset="other"), "x", 10, 6, 2, 2)
        print("ready", flush=True)
        reads, seen = 0, set()
        while True:
            n = len(store.epochs({run_id}))
            seen.add(n)
            store.add_epoch(own, {{"epoch": reads, "train_loss": 1.0}})
            reads += 1
            if n == 100:
                break
        print(reads, len(seen), own, flush=True)
    """, workspace)
    try:
        assert child.stdout.readline().strip() == "ready"
        for epoch in range(1, 101):
            store.add_epoch(run_id, {"epoch": epoch, "train_loss": 0.1})
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    reads, distinct_counts, own = map(int, out.split())
    assert reads >= 1 and distinct_counts >= 1
    assert len(store.epochs(own)) == reads  # the other process's writes arrived, none lost
    assert store.integrity_check() == "ok"


def test_recover_marks_runs_of_a_killed_process_and_leaves_others(store, workspace):
    child = python_child("""
        import time
        from resnet_core.runs.store import RunStore
        from resnet_core.workspace import Workspace
        from resnet_core.config import TrainConfig
        store = RunStore(Workspace.default())
        running = store.create_run(TrainConfig(dataset="flowers"), "x", 10, 6, 2, 2)
        store.mark_running(running)
        store.add_epoch(running, {"epoch": 1, "train_loss": 1.0})
        waiting = store.create_run(TrainConfig(dataset="flowers"), "x", 10, 6, 2, 2)
        print(running, waiting, flush=True)
        time.sleep(600)
    """, workspace)
    try:
        dead_running, dead_queued = map(int, child.stdout.readline().split())
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
    mine_queued = new_run(store)
    mine_running = new_run(store)
    store.mark_running(mine_running)
    done = new_run(store)
    store.finish_run(done, "completed", {"test_acc": 0.9})

    assert sorted(store.recover_interrupted()) == sorted([dead_running, dead_queued])

    running = store.get_run(dead_running)
    assert running.status == "interrupted" and running.notes == (NOTE_OWNER_GONE,)
    assert running.finished_at is not None and len(store.epochs(dead_running)) == 1
    queued = store.get_run(dead_queued)
    assert queued.status == "interrupted" and queued.notes == (NOTE_NEVER_STARTED,)
    assert store.get_run(mine_queued).status == "queued"
    assert store.get_run(mine_running).status == "running"
    assert store.get_run(done).status == "completed"
    assert store.recover_interrupted() == []  # nothing left to recover


def test_recover_sees_a_reused_pid_as_gone(store):
    run_id = new_run(store)
    store.mark_running(run_id)
    # This process's pid with another process's start token: the pid was reused by someone else.
    store._conn().execute("UPDATE runs SET owner_token = 'another-boot:1' WHERE id = ?", (run_id,))
    if store._token is None:
        pytest.skip("process start times are not available on this system")
    assert store.recover_interrupted() == [run_id]
    assert store.get_run(run_id).notes == (NOTE_OWNER_GONE,)


def test_delete_removes_row_epochs_and_folder_and_refuses_active_runs(store, workspace):
    run_id = new_run(store)
    store.mark_running(run_id)
    store.add_epoch(run_id, {"epoch": 1, "train_loss": 1.0})
    (workspace.run_dir(run_id) / "best.pt").write_bytes(b"weights")

    with pytest.raises(RunInUseError, match="cancel it first"):
        store.delete_run(run_id)
    assert store.get_run(run_id) is not None and workspace.run_dir(run_id).is_dir()

    store.finish_run(run_id, "cancelled")
    assert store.delete_run(run_id) is True
    assert store.get_run(run_id) is None
    assert store.epochs(run_id) == []
    assert store._conn().execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 0
    assert not workspace.run_dir(run_id).exists()
    assert store.delete_run(run_id) is False


def test_delete_with_force_removes_an_active_run(store, workspace):
    run_id = new_run(store)
    assert store.delete_run(run_id, force=True)
    assert store.get_run(run_id) is None and not workspace.run_dir(run_id).exists()


def test_integrity_check_ok(store):
    new_run(store)
    assert store.integrity_check() == "ok"
