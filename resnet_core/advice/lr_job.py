"""The learning-rate range test in the background: a thread per (workspace, dataset, recommendation),
so the Wizard page stays free while it runs, a reload or another page keeps it, and Cancel stops it
within one step (or within a few images while the data is decoded).

Any number of page runs read the job's immutable snapshot; the finished test (or the sentence that
says why it failed) stays in the snapshot until the same test is started again.
"""
from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from resnet_core.advice.lr_check import RANGE_STEPS, LRCheck, lr_check_on_data
from resnet_core.advice.race import RaceResult
from resnet_core.advice.recommend import Recommendation
from resnet_core.background import CANCELLED, DONE, FAILED, RUNNING, BackgroundJob, JobRegistry
from resnet_core.runs.job_errors import plain_error
from resnet_core.training.callbacks import CancelTraining
from resnet_core.workspace import Workspace

__all__ = ["CANCELLED", "DONE", "FAILED", "RUNNING", "LRJob", "LRJobSnapshot", "current_job", "forget_job",
           "start_job"]


@dataclass(frozen=True)
class LRJobSnapshot:
    state: str  # RUNNING, DONE, FAILED or CANCELLED
    stage: str = "starting"  # then "scanning", "decoding", "range test" (lr_check.RANGE_STAGE)
    done: int = 0
    total: int = 0
    seconds: float = 0.0  # since the job started
    stage_seconds: float = 0.0  # since its stage started: the time left is estimated per stage
    error: str = ""  # FAILED: what went wrong, in a sentence
    result: LRCheck | None = None  # DONE: the test and its suggestion

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


class LRJob(BackgroundJob[LRJobSnapshot]):
    """One range test in a thread. Its thread is started by start_job (or a test)."""

    thread_name = "lr-range-test"

    def __init__(self, workspace: Workspace, dataset: str, rec: Recommendation, *, race: RaceResult | None = None,
                 device: str = "auto", steps: int = RANGE_STEPS) -> None:
        super().__init__(LRJobSnapshot(RUNNING))
        self._args = (dataset, workspace, rec, race, device, steps)

    def _progress(self, stage: str, done: int, total: int) -> None:
        self._publish(stage=stage, done=done, total=total)

    def _run(self) -> None:
        dataset, workspace, rec, race, device, steps = self._args
        try:
            check = lr_check_on_data(dataset, workspace, rec, race=race, device=device, steps=steps,
                                     cancel=self._cancel, progress=self._progress)
            self._publish(state=DONE, result=check)
        except CancelTraining:
            self._publish(state=CANCELLED)
        except Exception as e:  # noqa: BLE001 - shown to the user as a sentence, never raised in a page
            self._publish(state=FAILED, error=plain_error(e, workspace))


_JOBS: JobRegistry[LRJob] = JobRegistry()


def _job_key(workspace: Workspace, dataset: str, key: Hashable) -> tuple:
    return str(workspace.root), dataset, key


def start_job(workspace: Workspace, dataset: str, key: Hashable, rec: Recommendation, *,
              race: RaceResult | None = None, device: str = "auto", steps: int = RANGE_STEPS) -> LRJob:
    """Start the range test for `key` (the recommendation and race it tests) unless that one is
    running already (then it is returned). The dataset's finished tests for other keys are dropped:
    they tested a recommendation the page no longer shows."""
    return _JOBS.start(_job_key(workspace, dataset, key),
                       lambda: LRJob(workspace, dataset, rec, race=race, device=device, steps=steps),
                       drop_ended=lambda k: k[:2] == (str(workspace.root), dataset))


def current_job(workspace: Workspace, dataset: str, key: Hashable) -> LRJob | None:
    return _JOBS.current(_job_key(workspace, dataset, key))


def forget_job(workspace: Workspace, dataset: str, key: Hashable) -> None:
    _JOBS.forget(_job_key(workspace, dataset, key))
