"""Running a study: the configurations not done yet, queued or trained here, and their time.

Resuming needs nothing more than running the plan again: a configuration counts as done when the run
store holds a completed run on the same dataset with the same config, so finished configurations
never run twice.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from resnet_core.advice.estimate import EVAL_SPEEDUP, estimate_training_time, probe_throughput
from resnet_core.config import TrainConfig
from resnet_core.hardware import DeviceUnavailableError, resolve_device
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.status import STORED_ACTIVE, RunStatus
from resnet_core.study.plan import (
    StudyEntry,
    StudyError,
    StudyPlan,
    config_key,
    save_study,
)
from resnet_core.text import format_rough_duration
from resnet_core.training.callbacks import Callback
from resnet_core.workspace import Workspace

# ----- running -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StudyEvent:
    """Progress of a study: kind is 'skip' (already done), 'start' or 'finish' (with status)."""

    kind: str
    index: int  # 1-based position in the plan
    total: int
    entry: StudyEntry
    run_id: int | None = None
    status: str | None = None
    test_acc: float | None = None  # with 'finish' and 'skip'


@dataclass
class StudyResult:
    study_id: str
    ran: list[int] = field(default_factory=list)  # runs started (or queued) now
    skipped: list[int] = field(default_factory=list)  # completed runs found for their configuration
    failed: list[int] = field(default_factory=list)
    stopped: bool = False  # cancelled before every configuration was done


def matching_runs(plan: StudyPlan, store) -> dict[str, list]:
    """Stored runs of each plan configuration (by config key), newest first."""
    keys = {e.key for e in plan.entries}
    out: dict[str, list] = {}
    for record in store.list_runs(dataset=plan.dataset):
        if record.config is None:
            continue
        key = config_key(record.config)
        if key in keys:
            out.setdefault(key, []).append(record)
    return out


def completed_run(records: list | None):
    return next((r for r in records or () if r.status == RunStatus.COMPLETED), None)


def run_study(plan: StudyPlan, workspace: Workspace, store, jobs=None,
              progress: Callable[[StudyEvent], None] | None = None,
              callbacks: list[Callback] | None = None,
              cancel_event: threading.Event | None = None, slots: Sequence[str] = ()) -> StudyResult:
    """Run the configurations not done yet.

    With a JobManager (the dashboard) they are queued and this returns at once; runs already queued
    or running in that manager are not queued twice. Without one they run here, in order; setting
    cancel_event cancels the current run cleanly (stored as cancelled) and stops the study. With
    several `slots` (from `study_slots`) that many configurations train at once, one per slot, taken
    in the study's order. Either way, running the same plan again resumes it.
    """
    save_study(plan, workspace)
    done = matching_runs(plan, store)
    result = StudyResult(plan.study_id)
    total = len(plan.entries)
    active = jobs.active_run_ids() if jobs is not None else set()
    pending: list[tuple[int, StudyEntry]] = []
    for index, entry in enumerate(plan.entries, start=1):
        records = done.get(entry.key)
        finished = completed_run(records)
        if finished is not None:
            result.skipped.append(finished.id)
            if progress:
                progress(StudyEvent("skip", index, total, entry, finished.id, finished.status,
                                    finished.test_acc))
            continue
        if jobs is not None:
            if any(r.id in active for r in records or ()):
                continue
            # Several GPUs: each configuration waits on one of them in turn, so K train at once.
            pin = {"device": slots[len(result.ran) % len(slots)]} if len(slots) > 1 else {}
            run_id = jobs.submit(entry.config, **pin)
            result.ran.append(run_id)
            if progress:
                progress(StudyEvent("start", index, total, entry, run_id, RunStatus.QUEUED))
            continue
        if len(slots) > 1:
            pending.append((index, entry))
            continue
        if cancel_event is not None and cancel_event.is_set():
            result.stopped = True
            break
        status = _run_one(entry, index, total, workspace, store, progress, callbacks, cancel_event, result)
        if status == RunStatus.CANCELLED:
            result.stopped = True
            break
    if pending:
        _run_at_once(pending, total, slots, workspace, store, progress, callbacks, cancel_event, result)
    return result


def study_slots(device: str, parallel: int) -> list[str]:
    """Where `parallel` configurations train at once: one GPU each (cuda:0, cuda:1, ...), or
    `parallel` CPU slots that share the cores. Raises StudyError when the devices are not there."""
    if parallel < 1:
        raise StudyError(f"--parallel needs 1 or more configurations at once, got {parallel}")
    try:
        resolved = resolve_device(device)
    except DeviceUnavailableError as e:
        raise StudyError(str(e)) from e
    if parallel == 1:
        return [str(resolved)]
    if resolved.type == "cuda":
        count = torch.cuda.device_count()
        if parallel > count:
            raise StudyError(f"--parallel {parallel} needs {parallel} GPUs, one per configuration, but "
                             f"PyTorch sees {count} here; use --parallel {count} or fewer")
        return [f"cuda:{i}" for i in range(parallel)]
    if resolved.type != "cpu":
        raise StudyError(f"the {resolved.type} device trains one configuration at a time; use --parallel 1")
    return ["cpu"] * parallel


def gpu_slots() -> list[str]:
    """Every GPU here when there are several (a study then trains one configuration on each), else none."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return [f"cuda:{i}" for i in range(count)] if count > 1 else []


def _run_at_once(pending: list[tuple[int, StudyEntry]], total: int, slots: Sequence[str],
                 workspace: Workspace, store, progress, callbacks, cancel_event, result: StudyResult) -> None:
    """One thread per slot, each taking the next configuration in the study's order until none is
    left or the study is cancelled. CPU slots split the cores between them instead of fighting
    over all of them."""
    cancel_event = cancel_event or threading.Event()
    todo = deque(pending)
    lock = threading.Lock()
    errors: list[BaseException] = []

    cpu_slots = sum(1 for slot in slots if slot == "cpu")
    threads_before = torch.get_num_threads()
    per_cpu_slot = max(1, threads_before // cpu_slots) if cpu_slots > 1 else threads_before

    def work(slot: str) -> None:
        if slot == "cpu":  # OpenMP keeps the thread count per thread: set it in the thread that trains
            torch.set_num_threads(per_cpu_slot)
        while True:
            with lock:
                if cancel_event.is_set() or not todo:
                    return
                index, entry = todo.popleft()
            try:
                status = _run_one(entry, index, total, workspace, store, progress, callbacks,
                                  cancel_event, result, device=slot)
            except BaseException as e:  # every other slot stops too; raised again below
                errors.append(e)
                cancel_event.set()
                return
            if status == RunStatus.CANCELLED:
                cancel_event.set()

    try:
        workers = [threading.Thread(target=work, args=(slot,), name=f"study-slot-{i}", daemon=True)
                   for i, slot in enumerate(slots)]
        for worker in workers:
            worker.start()
        for worker in workers:
            while worker.is_alive():  # a timed join lets Ctrl-C reach the main thread's handler
                worker.join(0.2)
    finally:
        torch.set_num_threads(threads_before)
    if errors:
        raise errors[0]
    result.stopped = cancel_event.is_set()


def _run_one(entry: StudyEntry, index: int, total: int, workspace: Workspace, store, progress,
             callbacks, cancel_event, result: StudyResult, device: str | None = None) -> str:
    run_id = create_run(entry.config, workspace, store)
    result.ran.append(run_id)
    try:
        if progress:
            progress(StudyEvent("start", index, total, entry, run_id))
        status = execute_run(run_id, entry.config, workspace, store, callbacks=list(callbacks or []),
                             cancel_event=cancel_event, device=device)
    except BaseException:
        # Stopped from outside (an exception from progress, a second Ctrl-C): never leave it 'running'.
        record = store.get_run(run_id)
        if record is not None and record.status in STORED_ACTIVE:
            store.finish_run(run_id, RunStatus.INTERRUPTED)
            store.add_note(run_id, "The study was stopped before this run finished.")
        raise
    if status == RunStatus.FAILED:
        result.failed.append(run_id)
    if progress:
        record = store.get_run(run_id)
        progress(StudyEvent("finish", index, total, entry, run_id, status,
                            record.test_acc if record is not None else None))
    return status


def cancel_study(plan: StudyPlan, store, jobs) -> list[int]:
    """Cancel the study's queued and running runs in a JobManager; returns their ids."""
    cancelled = []
    for records in matching_runs(plan, store).values():
        for r in records:
            if r.id in jobs.active_run_ids() and jobs.cancel(r.id):
                cancelled.append(r.id)
    return cancelled


def study_progress(plan: StudyPlan, store) -> dict[str, int]:
    """How many configurations are completed, active (queued or running) and still to run."""
    runs = matching_runs(plan, store)
    completed = sum(1 for e in plan.entries if completed_run(runs.get(e.key)))
    active = sum(1 for e in plan.entries if not completed_run(runs.get(e.key))
                 and any(r.is_active for r in runs.get(e.key, ())))
    return {"total": len(plan.entries), "completed": completed, "active": active,
            "remaining": len(plan.entries) - completed}


# ----- time --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StudyEstimate:
    seconds: float  # the configurations still to run, all epochs (early stopping usually ends sooner)
    per_entry: tuple[float, ...]  # plan order; 0 for configurations already done
    remaining: int
    devices: int = 1  # configurations training at once, one per device

    def describe(self) -> str:
        where = "this machine" if self.devices == 1 else f"{self.devices} devices, one configuration on each"
        return (f"at most {format_rough_duration(self.seconds)} for {self.remaining} configuration(s) on "
                f"{where}; early stopping usually ends runs sooner")


def makespan(seconds: Sequence[float], devices: int, round_robin: bool = False) -> float:
    """How long configurations take when each, in order, starts on the first device to come free
    (the command line), or, with round_robin, waits on device i mod K (the dashboard queues them so)."""
    free_at = [0.0] * max(1, devices)
    todo = [s for s in seconds if s > 0]
    for i, s in enumerate(todo):
        device = i % len(free_at) if round_robin else free_at.index(min(free_at))
        free_at[device] += s
    return max(free_at)


Rate = Callable[[TrainConfig], float]


def estimate_study_time(plan: StudyPlan, images_per_s: Rate | float | None = None,
                        store=None, devices: int = 1, round_robin: bool = False) -> StudyEstimate:
    """Training time of the configurations not done yet (all of them without a store), with
    `devices` GPUs each training one configuration at a time. CPU slots share one set of cores, so
    they count as one device here: running two at once on a CPU seldom halves the time.

    images_per_s: training images per second for a config (a function of it, or one number for
    all); by default measured here with estimate.probe_throughput, which takes seconds per model.
    A frozen backbone without augmentation computes its features once, so it costs one forward pass.
    """
    rate = _rate_function(images_per_s)
    runs = matching_runs(plan, store) if store is not None else {}
    per_entry = []
    for e in plan.entries:
        if completed_run(runs.get(e.key)):
            per_entry.append(0.0)
            continue
        cfg = e.config
        ips = rate(cfg)
        if not cfg.fine_tune and cfg.augmentation == "none":
            seconds = (e.num_images + plan.num_val + plan.num_test) / (ips * EVAL_SPEEDUP)
        else:
            seconds = estimate_training_time(cfg, e.num_images, plan.num_val, ips,
                                             num_test=plan.num_test).seconds
        per_entry.append(seconds)
    remaining = sum(1 for s in per_entry if s > 0)
    return StudyEstimate(makespan(per_entry, devices, round_robin), tuple(per_entry), remaining, max(1, devices))


def _rate_function(images_per_s: Rate | float | None) -> Rate:
    if callable(images_per_s):
        return images_per_s
    if images_per_s is not None:
        value = float(images_per_s)
        if not value > 0 or not math.isfinite(value):
            raise StudyError(f"images per second must be a positive number, got {images_per_s!r}")
        return lambda cfg: value

    def probe(cfg: TrainConfig) -> float:
        return probe_throughput(cfg.model, cfg.batch_size, cfg.image_size, cfg.fine_tune,
                                resolve_device(cfg.device))
    return probe


