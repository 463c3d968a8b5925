"""'Check on my data' in the background: a thread per (workspace, dataset, recommendation), so the
Wizard page stays free while the race runs, a reload or another page keeps it, and Cancel stops it
within one training step (or within a few images while the data is read).

Page runs read the job's immutable snapshot. A finished race (or the sentence that says why it
failed, or what a cancelled race measured before the cancel) stays there until the same race is
started again.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace

from resnet_core.advice.check_on_data import RaceCheck, check_on_data
from resnet_core.advice.job_errors import plain_error
from resnet_core.advice.lr_job import CANCELLED, DONE, FAILED, RUNNING
from resnet_core.advice.race import RaceCancelled, RaceResult
from resnet_core.advice.recommend import Recommendation
from resnet_core.training.callbacks import CancelTraining
from resnet_core.workspace import Workspace

__all__ = ["CANCELLED", "DONE", "FAILED", "RUNNING", "MEASURING_STAGE", "RACE_STAGE", "RaceJob", "RaceJobSnapshot", "current_job",
           "forget_job", "start_job"]

RACE_STAGE = "racing"  # the stage while the trials run (before it: "starting", "scanning", "decoding")
MEASURING_STAGE = "measuring"  # between decoding and the race: this machine's speed, to size the trials


@dataclass(frozen=True)
class RaceJobSnapshot:
    state: str  # RUNNING, DONE, FAILED or CANCELLED
    budget_s: float  # the race's own time budget (reading the images comes before it)
    stage: str = "starting"
    done: int = 0  # scanned or decoded images, or (RACE_STAGE) finished trials
    total: int = 0  # of the images, or the trials planned
    now: str = ""  # RACE_STAGE: the trial running now ("round 1: ResNet18 · no augmentation")
    seconds: float = 0.0  # since the job started
    stage_seconds: float = 0.0  # since its stage started; in RACE_STAGE, about the race's spent budget
    error: str = ""  # FAILED: what went wrong, in a sentence
    result: RaceCheck | None = None  # DONE: the race, its verdict and budget
    partial: RaceResult | None = None  # CANCELLED: the trials that ran before the cancel (None: none began)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


class RaceJob:
    """One race in a thread. Its thread is started by start_job (or a test)."""

    def __init__(self, workspace: Workspace, dataset: str, rec: Recommendation, *, budget_s: float,
                 device: str = "auto", weights_available: bool | Mapping[str, bool] = True) -> None:
        self._args = (dataset, workspace, rec, budget_s, device, weights_available)
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._snapshot = RaceJobSnapshot(RUNNING, budget_s=float(budget_s))
        self._started = self._stage_started = time.perf_counter()
        self.thread = threading.Thread(target=self._run, name="wizard-race", daemon=True)

    def snapshot(self) -> RaceJobSnapshot:
        with self._lock:
            return self._snapshot

    def cancel(self) -> None:
        self._cancel.set()

    def _publish(self, **changes) -> None:
        now = time.perf_counter()
        with self._lock:
            if changes.get("stage", self._snapshot.stage) != self._snapshot.stage:
                self._stage_started = now
            self._snapshot = replace(self._snapshot, seconds=now - self._started,
                                     stage_seconds=now - self._stage_started, **changes)

    def _on_prepare(self, stage: str, done: int, total: int) -> None:
        if self._cancel.is_set():  # the race has not begun: nothing measured to keep
            raise CancelTraining("the race was cancelled")
        self._publish(stage=stage, done=done, total=total)
        if stage == "decoding" and 0 < total <= done:  # next: a short probe of this machine's speed
            self._publish(stage=MEASURING_STAGE, done=0, total=0)

    def _on_trial(self, done: int, planned: int, what: str) -> None:
        self._publish(stage=RACE_STAGE, done=done, total=planned, now="" if what == "done" else what)

    def _run(self) -> None:
        dataset, workspace, rec, budget_s, device, weights_available = self._args
        try:
            check = check_on_data(dataset, workspace, rec, budget_s=budget_s, device=device,
                                  weights_available=weights_available, cancel=self._cancel,
                                  progress=self._on_trial, on_prepare=self._on_prepare)
            self._publish(state=DONE, result=check)
        except RaceCancelled as stopped:
            self._publish(state=CANCELLED, partial=stopped.result)
        except CancelTraining:
            self._publish(state=CANCELLED)
        except Exception as e:  # noqa: BLE001 - shown to the user as a sentence, never raised in a page
            self._publish(state=FAILED, error=plain_error(e, workspace, "the race"))


_JOBS: dict[tuple, RaceJob] = {}
_JOBS_LOCK = threading.Lock()


def _job_key(workspace: Workspace, dataset: str, key: Hashable) -> tuple:
    return str(workspace.root), dataset, key


def start_job(workspace: Workspace, dataset: str, key: Hashable, rec: Recommendation, *, budget_s: float,
              device: str = "auto", weights_available: bool | Mapping[str, bool] = True) -> RaceJob:
    """Start the race for `key` (the recommendation it checks) unless that one is running already
    (then it is returned). The dataset's ended races for other keys are dropped: they checked a
    recommendation the page no longer shows."""
    with _JOBS_LOCK:
        job = _JOBS.get(_job_key(workspace, dataset, key))
        if job is not None and job.snapshot().state == RUNNING:
            return job
        for other in [k for k, j in _JOBS.items() if k[:2] == (str(workspace.root), dataset)
                      and j.snapshot().state != RUNNING]:
            del _JOBS[other]
        job = RaceJob(workspace, dataset, rec, budget_s=budget_s, device=device,
                      weights_available=weights_available)
        _JOBS[_job_key(workspace, dataset, key)] = job
        job.thread.start()
        return job


def current_job(workspace: Workspace, dataset: str, key: Hashable) -> RaceJob | None:
    with _JOBS_LOCK:
        return _JOBS.get(_job_key(workspace, dataset, key))


def forget_job(workspace: Workspace, dataset: str, key: Hashable) -> None:
    with _JOBS_LOCK:
        _JOBS.pop(_job_key(workspace, dataset, key), None)
