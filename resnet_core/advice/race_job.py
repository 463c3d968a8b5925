"""'Check on my data' in the background: a thread per (workspace, dataset, recommendation), so the
Wizard page stays free while the race runs, a reload or another page keeps it, and Cancel stops it
within one training step (or within a few images while the data is read).

Page runs read the job's immutable snapshot. A finished race (or the sentence that says why it
failed, or what a cancelled race measured before the cancel) stays there until the same race is
started again.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from resnet_core.advice.check_on_data import RaceCheck, check_on_data
from resnet_core.advice.race import RaceCancelled, RaceResult
from resnet_core.advice.recommend import Recommendation
from resnet_core.background import CANCELLED, DONE, FAILED, RUNNING, BackgroundJob, JobRegistry
from resnet_core.runs.job_errors import plain_error
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


class RaceJob(BackgroundJob[RaceJobSnapshot]):
    """One race in a thread. Its thread is started by start_job (or a test)."""

    thread_name = "wizard-race"

    def __init__(self, workspace: Workspace, dataset: str, rec: Recommendation, *, budget_s: float,
                 device: str = "auto", weights_available: bool | Mapping[str, bool] = True) -> None:
        super().__init__(RaceJobSnapshot(RUNNING, budget_s=float(budget_s)))
        self._args = (dataset, workspace, rec, budget_s, device, weights_available)

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


_JOBS: JobRegistry[RaceJob] = JobRegistry()


def _job_key(workspace: Workspace, dataset: str, key: Hashable) -> tuple:
    return str(workspace.root), dataset, key


def start_job(workspace: Workspace, dataset: str, key: Hashable, rec: Recommendation, *, budget_s: float,
              device: str = "auto", weights_available: bool | Mapping[str, bool] = True) -> RaceJob:
    """Start the race for `key` (the recommendation it checks) unless that one is running already
    (then it is returned). The dataset's ended races for other keys are dropped: they checked a
    recommendation the page no longer shows."""
    return _JOBS.start(_job_key(workspace, dataset, key),
                       lambda: RaceJob(workspace, dataset, rec, budget_s=budget_s, device=device,
                                       weights_available=weights_available),
                       drop_ended=lambda k: k[:2] == (str(workspace.root), dataset))


def current_job(workspace: Workspace, dataset: str, key: Hashable) -> RaceJob | None:
    return _JOBS.current(_job_key(workspace, dataset, key))


def forget_job(workspace: Workspace, dataset: str, key: Hashable) -> None:
    _JOBS.forget(_job_key(workspace, dataset, key))
