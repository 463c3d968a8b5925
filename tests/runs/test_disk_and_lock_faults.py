"""Disk full while writing a checkpoint, and a database another process holds: both injected.

A full disk stops the run as failed with a message that says so (and how much is free), keeps the
previous best checkpoint intact and loadable, and leaves the store consistent. A database held by
another process for a few seconds makes reads and writes wait, not fail.
"""
from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from resnet_core.config import TrainConfig
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.runs.store import RunStore
from resnet_core.training.callbacks import Callback
from resnet_core.training.checkpoints import load_checkpoint


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


class DiskFillsAfterFirstEpoch(Callback):
    """Arms the fault once the first epoch's checkpoints are on disk."""

    def __init__(self):
        self.armed = False

    def after_epoch(self, state) -> None:
        self.armed = True


def test_disk_full_while_writing_a_checkpoint(workspace, tmp_path, monkeypatch):
    folder = make_image_folder(tmp_path / "pets", num_classes=2, per_class=10, size=32)
    store = RunStore(workspace)
    config = TrainConfig(dataset=str(folder), weights="none", image_size=32, epochs=3, batch_size=4,
                         learning_rate=1e-3, augmentation="none", device="cpu", patience=5)
    run_id = create_run(config, workspace, store)
    fault = DiskFillsAfterFirstEpoch()
    real_fsync = os.fsync

    def fsync(fd):
        # A checkpoint's bytes are written, then flushed: that is where a full disk shows (ENOSPC).
        if fault.armed and os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp") \
                and ".pt." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    status = execute_run(run_id, config, workspace, store, callbacks=[fault])
    monkeypatch.setattr(os, "fsync", real_fsync)

    assert status == "failed"
    record = store.get_run(run_id)
    assert record.status == "failed" and not record.is_active
    assert record.error.startswith("the disk is full: ")
    assert f"MB free in {workspace.root}" in record.error
    # The best checkpoint of the first epoch is still there, whole, and loads.
    run_dir = workspace.run_dir(run_id)
    model, meta = load_checkpoint(run_dir / "best.pt")
    assert meta["epoch"] == 1 and meta["classes"] == ["class_0", "class_1"]
    assert not list(run_dir.glob(".*.tmp")), "a half-written checkpoint was left behind"
    # The store agrees with itself: the epochs trained are recorded, the database is sound.
    assert [e["epoch"] for e in store.epochs(run_id)] == [1, 2] or \
        [e["epoch"] for e in store.epochs(run_id)] == [1]
    assert store.integrity_check() == "ok"


HOLDER = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("UPDATE runs SET description = description")
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    conn.execute("COMMIT")
    conn.close()
""")


def test_a_database_held_by_another_process_makes_reads_and_writes_wait(workspace):
    store = RunStore(workspace)
    config = TrainConfig(dataset="pets", weights="none", image_size=32, epochs=1)
    run_id = store.create_run(config, "unused", 10, 6, 2, 2)
    store.close()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(workspace.db_path), "3"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        # A fresh store (as a new process would open it) reads and writes while the lock is held.
        store = RunStore(workspace)
        assert store.get_run(run_id).status == "queued"
        store.add_note(run_id, "written while another process held the database")
        assert [r.id for r in store.list_runs()] == [run_id]
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=60)
    assert holder.returncode == 0
    assert "written while another process held the database" in store.get_run(run_id).notes
    assert waited > 0  # it waited for the holder instead of failing; how long is the holder's business
    store.close()


def test_a_database_locked_for_longer_than_the_wait_says_so_plainly(workspace, monkeypatch):
    import resnet_core.runs.store as store_module

    store = RunStore(workspace)
    run_id = store.create_run(TrainConfig(dataset="pets", weights="none"), "unused", 10, 6, 2, 2)
    store.close()
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 200)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(workspace.db_path), "5"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(store_module.StoreError) as caught:
            RunStore(workspace).add_note(run_id, "never written")
    finally:
        holder.wait(timeout=60)
    message = str(caught.value)
    assert "busy" in message and str(workspace.db_path) in message
    assert not isinstance(caught.value, sqlite3.Error)
    assert Path(workspace.db_path).is_file()
