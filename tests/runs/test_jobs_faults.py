"""The job manager under faults: a store error in the worker's bookkeeping never wedges a device queue."""
from __future__ import annotations

import sqlite3

import pytest

from resnet_core.config import TrainConfig
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


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
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
