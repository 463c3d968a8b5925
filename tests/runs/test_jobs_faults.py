"""The job manager under faults: a store error never wedges a device queue; cancel works while preparing."""
from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest

from resnet_core.config import TrainConfig
from resnet_core.data import imagecache
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.jobs import JobManager
from resnet_core.runs.store import RunStore


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


def _config(folder, **kw):
    base = dict(dataset=str(folder), weights="none", image_size=32, epochs=2, batch_size=8,
                learning_rate=1e-3, augmentation="none", patience=2, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


class _LockedOnceAfterArming:
    """The run store, except that its next `get_run` after `arm()` fails as SQLite does under a writer."""

    def __init__(self, store: RunStore):
        self._store = store
        self._armed = False
        self.failures = 0

    def arm(self) -> None:
        self._armed = True

    def get_run(self, run_id):
        if self._armed:
            self._armed = False
            self.failures += 1
            raise sqlite3.OperationalError("database is locked")
        return self._store.get_run(run_id)

    def __getattr__(self, name):
        return getattr(self._store, name)


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_store_error_after_a_run_still_releases_its_device(workspace, image_folder):
    store = _LockedOnceAfterArming(RunStore(workspace))

    def runner(run_id, config, callbacks, cancel_event, resume, **kw):
        store.finish_run(run_id, "completed", {})
        store.arm()  # the worker's read of the finished run, after its last safety net, now fails
        return "completed"

    jm = JobManager(workspace, store, runner=runner)
    try:
        first = jm.submit(_config(image_folder))
        second = jm.submit(_config(image_folder, augmentation="light"))
        assert jm.wait(second, timeout=30).status == "completed"  # the queue moved on
        assert jm.wait(first, timeout=1).status == "completed"  # and the first run was still recorded
        assert store.failures == 2
        assert store.get_run(first).status == store.get_run(second).status == "completed"
        assert not any(jm._running.values())
    finally:
        jm.shutdown(timeout=2)


def test_cancel_while_decoding_stops_at_once_and_the_run_is_stored_cancelled(workspace, tmp_path, monkeypatch):
    total = 3000
    folder = make_image_folder(tmp_path / "many", num_classes=2, per_class=total // 2, size=32)
    jm = JobManager(workspace, RunStore(workspace))
    submitted = threading.Event()
    run = {}
    decoded = []
    cancelled_after = []
    real_load = imagecache.load_uint8

    def counting_load(path, size):
        image = real_load(path, size)
        decoded.append(path)
        if len(decoded) == 100 and submitted.wait(30):  # the user presses Cancel mid-decoding
            cancelled_after.append((len(decoded), time.perf_counter()))
            jm.cancel(run["id"])
        return image

    monkeypatch.setattr(imagecache, "load_uint8", counting_load)
    try:
        run["id"] = jm.submit(_config(folder))
        submitted.set()
        snap = jm.wait(run["id"], timeout=300)
    finally:
        jm.shutdown(timeout=30)
    stopped = time.perf_counter()
    count_at_cancel, cancelled_at = cancelled_after[0]
    after_cancel = len(decoded) - count_at_cancel
    print(f"decoded {len(decoded)} of {total} images; {after_cancel} after the cancel; "
          f"stopped {stopped - cancelled_at:.2f}s after it")
    assert snap.status == "cancelled"
    record = jm.store.get_run(run["id"])
    assert record.status == "cancelled"
    assert any("while preparing" in n and "decoding" in n for n in record.notes), record.notes
    assert not jm.store.epochs(run["id"])
    # Event order rather than a clock: after the cancel, only the images before the next progress
    # report (every 64 images) and those already queued (two per decoding thread) are decoded, not the
    # thousands left.
    assert after_cancel <= 64 + 2 * (os.cpu_count() or 1)
    # Nothing half-decoded was cached: the next run decodes the dataset afresh.
    assert not list(workspace.cache_dir.glob("*.u8"))
