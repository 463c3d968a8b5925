"""Work in a background thread that any number of page runs can watch.

A job publishes immutable snapshots (a frozen dataclass with at least `state` and `seconds`) under a
lock, so a page run reads a consistent picture without waiting; Cancel sets an event the work checks
between its steps. A registry keeps at most one running job per key, so a reload or another page
finds the job already under way instead of starting a second one.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import fields, replace
from typing import Any, Generic, TypeVar

RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"

S = TypeVar("S")


class BackgroundJob(Generic[S]):
    """One piece of work in a daemon thread. A subclass implements `_run` (its thread's target), calls
    `_publish` as it goes and ends with a snapshot whose state is DONE, FAILED or CANCELLED."""

    thread_name = "background-job"

    def __init__(self, first: S) -> None:
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._snapshot = first
        # A snapshot with `stage_seconds` gets the time since its stage began: a page estimates the
        # time left per stage, as stages (decoding, training) go at different paces.
        self._times_stages = "stage_seconds" in {f.name for f in fields(first)}
        self._started = self._stage_started = time.perf_counter()
        self.thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)

    def snapshot(self) -> S:
        with self._lock:
            return self._snapshot

    def cancel(self) -> None:
        self._cancel.set()

    def _run(self) -> None:
        raise NotImplementedError

    def _publish(self, **changes: Any) -> None:
        now = time.perf_counter()
        with self._lock:
            timing = {"seconds": now - self._started}
            if self._times_stages:
                if changes.get("stage", self._snapshot.stage) != self._snapshot.stage:
                    self._stage_started = now
                timing["stage_seconds"] = now - self._stage_started
            self._snapshot = replace(self._snapshot, **timing, **changes)


J = TypeVar("J", bound=BackgroundJob)


class JobRegistry(Generic[J]):
    """The jobs of one kind by key; a finished job stays (with its result) until replaced or forgotten."""

    def __init__(self) -> None:
        self._jobs: dict[Hashable, J] = {}
        self._lock = threading.Lock()

    def start(self, key: Hashable, make: Callable[[], J],
              drop_ended: Callable[[Hashable], bool] = lambda _key: False) -> J:
        """Start the job `make` builds under `key`, unless one is running there already (then that
        one is returned). Ended jobs whose keys `drop_ended` names are dropped first."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.snapshot().state == RUNNING:
                return job
            for other in [k for k, j in self._jobs.items() if drop_ended(k) and j.snapshot().state != RUNNING]:
                del self._jobs[other]
            job = make()
            self._jobs[key] = job
            job.thread.start()
            return job

    def current(self, key: Hashable) -> J | None:
        with self._lock:
            return self._jobs.get(key)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._jobs.pop(key, None)
