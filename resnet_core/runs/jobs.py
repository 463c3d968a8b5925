"""Background training: a queue per device, a worker thread per queue, immutable progress snapshots.

Many readers (every browser tab of the dashboard) call `snapshot()` while one worker thread trains;
the worker replaces the job's snapshot under a lock with a new frozen object, so a reader never sees
half an update. Nothing here knows about Streamlit.

By default one run at a time per device (two trainings on one GPU mostly fight over its memory and
finish no sooner); later submissions wait in order.

When the process exits (Ctrl-C on the server), every manager stops its training at the next batch and
stores it as interrupted, resumable, before the interpreter goes: the worker threads are daemons, and
one killed in the middle of a batch left its run 'running' and aborted the process.
"""
from __future__ import annotations

import atexit
import dataclasses
import logging
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from resnet_core.config import TrainConfig
from resnet_core.hardware import detect_hardware
from resnet_core.runs.eta import RunPace
from resnet_core.runs.group import device_keys, devices_problem, execute_on_devices
from resnet_core.runs.lease import hold_devices
from resnet_core.runs.recovery import resume_problem
from resnet_core.runs.runner import create_run
from resnet_core.status import ACTIVE, RunStatus
from resnet_core.training.callbacks import Callback, FitState, StopForExit

log = logging.getLogger("resnet_pilot.runs")

# How often (seconds) batch-level progress is published; epoch ends are always published.
PUBLISH_INTERVAL_S = 0.25
# At exit, how long to wait for a training to reach its next batch (a CPU batch at 224 px takes seconds).
EXIT_WAIT_S = 30.0


@dataclass(frozen=True)
class JobSnapshot:
    run_id: int
    status: str  # queued | preparing | running | completed | cancelled | failed
    description: str
    dataset: str
    device: str
    epochs: int
    queue_position: int | None = None  # 1 = next to start
    phase: str = "waiting"
    epoch: int = 0
    batch: int = 0
    num_batches: int = 0
    progress: float = 0.0  # 0..1 of the planned epochs
    elapsed_s: float = 0.0
    eta_s: float | None = None
    lr: float | None = None
    images_per_s: float | None = None
    batch_size: int | None = None
    history: tuple[dict[str, Any], ...] = ()
    best_epoch: int = 0
    message: str | None = None  # stop reason or error
    notes: tuple[str, ...] = ()
    final: dict[str, Any] | None = None
    prep: tuple[str, int, int] | None = None  # (stage, done, total) while preparing data
    devices: int = 1  # processes training the run together (DDP)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE


Runner = Callable[..., str]  # runner(run_id, config, callbacks=[...], cancel_event=Event, resume=bool) -> status


@dataclass
class _Job:
    run_id: int
    config: TrainConfig
    device_key: str
    resume: bool
    pinned: bool = False  # trains on device_key, whatever its settings say
    cancel: threading.Event = field(default_factory=threading.Event)
    snapshot: JobSnapshot | None = None


class JobManager:
    """Runs trainings in background threads, in submission order per device."""

    def __init__(self, workspace, store, runner: Runner | None = None, parallel_per_device: int = 1,
                 keep_finished: int = 50):
        self.workspace = workspace
        self.store = store
        self._runner = runner
        self._parallel = max(1, parallel_per_device)
        self._keep_finished = keep_finished
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[int, _Job] = {}
        self._queues: dict[str, deque[int]] = {}
        self._running: dict[str, set[int]] = {}
        self._threads: set[threading.Thread] = set()  # the worker threads, joined at exit
        self._finished_order: deque[int] = deque()
        self._closed = False
        self._exiting = False  # stop_for_exit was called: trainings stop at their next batch
        # Held from creating a run's row to queueing it, so run ids follow queue order even when
        # several browser sessions submit at once.
        self._submit_lock = threading.Lock()
        _MANAGERS.add(self)

    # -- submitting -------------------------------------------------------------------------

    def submit(self, config: TrainConfig, repeat_of: int | None = None, name: str = "",
               note: str = "", device: str | None = None) -> int:
        """Queue a new run; returns its id at once (the run is stored as 'queued'). repeat_of: the run
        whose configuration it repeats with another seed; name, note: the user's label for it.
        device ('cuda:1'): the device it waits for and trains on, as a study spread over several
        GPUs pins each configuration."""
        with self._submit_lock:
            if self._closed:  # checked first: a refused submit must not leave a queued row behind
                raise RuntimeError("the job manager is shut down")
            run_id = create_run(config, self.workspace, self.store, repeat_of=repeat_of, name=name, note=note)
            self._enqueue(run_id, config, resume=False, device=device)
        return run_id

    def resume(self, run_id: int, devices: int | None = None) -> int:
        """Queue an interrupted run to continue from its last saved epoch (same config, same split);
        devices: continue it on this many devices instead of those it started on."""
        record = self.store.get_run(run_id)
        if record is None:
            raise ValueError(f"run {run_id} does not exist")
        if record.status in ACTIVE and self.snapshot(run_id) is not None:
            raise ValueError(f"run {run_id} is already {record.status}")
        problem = resume_problem(record, self.workspace)  # no saved epoch, dataset changed, ...
        if not problem and devices is not None and devices != record.config.devices:
            problem = devices_problem(record.config, devices)
        if problem:
            raise ValueError(problem)
        self.store.requeue_run(run_id)
        config = record.config
        if devices is not None and devices != config.devices:
            config = self.store.set_devices(run_id, devices)
        self._enqueue(run_id, config, resume=True)
        return run_id

    def _enqueue(self, run_id: int, config: TrainConfig, resume: bool, device: str | None = None) -> None:
        key = device_key(device or config.device)
        job = _Job(run_id, config, key, resume, pinned=device is not None)
        job.snapshot = JobSnapshot(run_id=run_id, status=RunStatus.QUEUED, description=config.describe(),
                                   dataset=config.dataset, device=key, epochs=config.epochs,
                                   devices=config.devices)
        with self._lock:
            if self._closed:
                raise RuntimeError("the job manager is shut down")
            self._jobs[run_id] = job
            self._queues.setdefault(key, deque()).append(run_id)
            self._running.setdefault(key, set())
            self._refresh_positions(key)
            self._start_workers(key)

    # -- reading ----------------------------------------------------------------------------

    def snapshot(self, run_id: int) -> JobSnapshot | None:
        with self._lock:
            job = self._jobs.get(run_id)
            return job.snapshot if job else None

    def snapshots(self, active_only: bool = False) -> list[JobSnapshot]:
        """Jobs this process knows, oldest first."""
        with self._lock:
            snaps = [j.snapshot for j in self._jobs.values() if j.snapshot]
        return [s for s in snaps if s.is_active] if active_only else snaps

    def active_run_ids(self) -> set[int]:
        return {s.run_id for s in self.snapshots(active_only=True)}

    def wait(self, run_id: int, timeout: float | None = None) -> JobSnapshot | None:
        """Block until the run leaves the queue and finishes (or timeout); returns its last snapshot."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                snap = self.snapshot(run_id)
                if snap is None or not snap.is_active:
                    return snap
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return snap
                self._changed.wait(remaining if remaining is not None else 1.0)

    # -- cancelling -------------------------------------------------------------------------

    def cancel(self, run_id: int) -> bool:
        """Cancel a queued run (removed from the queue) or a running one (stops between batches, or
        within moments while its data is scanned or decoded)."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None or not job.snapshot or not job.snapshot.is_active:
                return False
            job.cancel.set()
            queue = self._queues.get(job.device_key, deque())
            if run_id in queue:
                queue.remove(run_id)
                self._refresh_positions(job.device_key)
                self._publish(job, status=RunStatus.CANCELLED, phase="done", queue_position=None,
                              message="cancelled before it started")
                self.store.finish_run(run_id, RunStatus.CANCELLED, error=None)
                self.store.add_note(run_id, "Cancelled while queued; it never started.")
                self._retire(run_id)
            return True

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel everything and wait for the workers (used at exit and by tests)."""
        with self._lock:
            self._closed = True
            ids = list(self._jobs)
        for run_id in ids:
            self.cancel(run_id)
        deadline = time.monotonic() + timeout
        with self._changed:
            while any(self._running.values()) and time.monotonic() < deadline:
                self._changed.wait(0.1)

    def stop_for_exit(self, timeout: float = EXIT_WAIT_S) -> bool:
        """The process is exiting: take nothing new, stop the trainings at their next batch (stored as
        interrupted, so Resume continues them) and wait for their threads; True when all stopped in time.
        Queued runs stay queued: start-up recovery marks them interrupted (never started)."""
        with self._lock:
            self._closed = self._exiting = True
        deadline = time.monotonic() + timeout
        with self._changed:
            while any(self._running.values()) and time.monotonic() < deadline:
                self._changed.wait(0.1)
            threads = list(self._threads)
        # Until a worker's thread has ended it may still be releasing torch tensors; the interpreter
        # must not finalise under it (a daemon thread in native code then aborts or hangs the exit).
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(self._running.values()) and not any(t.is_alive() for t in threads)

    @property
    def exiting(self) -> bool:
        return self._exiting

    # -- the worker -------------------------------------------------------------------------

    def _start_workers(self, key: str) -> None:
        queue, running = self._queues[key], self._running[key]
        while queue and len(running) < self._parallel:
            run_id = queue.popleft()
            running.add(run_id)
            self._refresh_positions(key)
            thread = threading.Thread(target=self._work, args=(run_id,), daemon=True,
                                      name=f"train-run-{run_id}")
            self._threads = {t for t in self._threads if t.is_alive()} | {thread}
            thread.start()

    def _work(self, run_id: int) -> None:
        job = self._jobs[run_id]
        publisher = _SnapshotPublisher(self, job)
        status = RunStatus.FAILED
        try:
            self._publish(job, status=RunStatus.PREPARING, phase="preparing", queue_position=None)
            try:
                status = self._run(job, publisher)
            except Exception as e:  # the runner stores failures itself; this is the last safety net
                log.exception("run %s stopped by an error outside the runner", run_id)
                self._publish(job, message=f"{type(e).__name__}: {e}")
            try:
                self._publish_outcome(job, status)
            except Exception:  # the store busy or gone: the outcome is already stored; the finally publishes it
                log.exception("run %s: its stored outcome could not be read back", run_id)
        finally:
            # Whatever failed above (the store locked by another process, say), the device is freed
            # and the next queued run starts; a wedged device would hold every later run forever.
            with self._lock:
                if job.snapshot is not None and job.snapshot.is_active:
                    job.snapshot = dataclasses.replace(job.snapshot, status=status, phase="done", eta_s=0.0)
                self._running[job.device_key].discard(run_id)
                self._retire(run_id)
                if not self._closed:
                    self._start_workers(job.device_key)
                self._changed.notify_all()

    def _publish_outcome(self, job: _Job, status: str) -> None:
        """The last snapshot: the outcome with the stored figures, notes and message."""
        record = self.store.get_run(job.run_id)
        final = None
        if record is not None:
            final = {k: getattr(record, k, None) for k in
                     ("val_loss", "val_acc", "test_acc", "train_time_s", "epoch_ended", "best_epoch",
                      "stopped_early", "peak_memory_mb")}
        self._publish(job, status=status, phase="done", eta_s=0.0, final=final,
                      message=(record.error if record and record.error else job.snapshot.message),
                      notes=tuple(record.notes) if record else job.snapshot.notes,
                      progress=1.0 if status == RunStatus.COMPLETED else job.snapshot.progress)

    def _run(self, job: _Job, publisher: "_SnapshotPublisher") -> str:
        runner = self._runner
        if runner is None:
            def runner(run_id, config, **kw):  # one device here, or a torchrun group (runs.group)
                return execute_on_devices(run_id, config, self.workspace, self.store, **kw)
        with self._device(job) as holder:
            if holder is not None:  # cancelled while another process trained on the device
                return self._cancelled_while_waiting(job)
            self._publish(job, status=RunStatus.PREPARING, phase="preparing", message=None)
            pin = {"device": job.device_key} if job.pinned else {}
            return runner(job.run_id, job.config, callbacks=[publisher], cancel_event=job.cancel,
                          resume=job.resume, **pin)

    def _device(self, job: _Job):
        """The workspace-wide lease on the job's device (one run per device across processes; a group
        on GPUs holds each of its GPUs); with parallel_per_device above 1 the device is shared on
        purpose, so no lease is taken."""
        if self._parallel > 1:
            return nullcontext()

        def waiting(message: str) -> None:
            self._publish(job, status=RunStatus.QUEUED, phase="waiting", message=message)

        return hold_devices(self.store, device_keys(job.config, job.device_key), job.run_id, cancel=job.cancel,
                            on_wait=waiting)

    def _cancelled_while_waiting(self, job: _Job) -> str:
        self.store.finish_run(job.run_id, RunStatus.CANCELLED, error=None)
        self.store.add_note(job.run_id, "Cancelled while waiting for the device; it never started.")
        self._publish(job, message="cancelled before it started")
        return RunStatus.CANCELLED

    # -- bookkeeping ------------------------------------------------------------------------

    def _publish(self, job: _Job, **changes: Any) -> None:
        with self._lock:
            job.snapshot = dataclasses.replace(job.snapshot, **changes)
            self._changed.notify_all()

    def _refresh_positions(self, key: str) -> None:
        for pos, run_id in enumerate(self._queues.get(key, ()), start=1):
            job = self._jobs[run_id]
            if job.snapshot and job.snapshot.queue_position != pos:
                job.snapshot = dataclasses.replace(job.snapshot, queue_position=pos)

    def _retire(self, run_id: int) -> None:
        """Remember finished jobs for a while (so late readers see how they ended), then forget them."""
        self._finished_order.append(run_id)
        while len(self._finished_order) > self._keep_finished:
            old = self._finished_order.popleft()
            job = self._jobs.get(old)
            if job and job.snapshot and not job.snapshot.is_active:
                del self._jobs[old]


class _SnapshotPublisher(Callback):
    """The training loop's view, turned into snapshots: every epoch, and batches at most 4× a second."""

    def __init__(self, manager: JobManager, job: _Job):
        self.manager, self.job = manager, job
        self._last = 0.0
        self._pace = RunPace()  # this process's pace only: a resumed run's earlier epochs took no time here

    def _stop_if_exiting(self) -> None:
        if self.manager.exiting:
            raise StopForExit("the server stopped")

    def on_prepare(self, stage: str, done: int, total: int) -> None:
        self._stop_if_exiting()
        now = time.monotonic()
        if done == total or now - self._last >= PUBLISH_INTERVAL_S:
            self._last = now
            self.manager._publish(self.job, phase=stage, prep=(stage, done, total))

    def before_fit(self, state: FitState) -> None:
        self._pace.epoch_started(time.monotonic())
        self.manager._publish(self.job, status=RunStatus.RUNNING, phase="training", prep=None,
                              history=tuple(state.history), notes=tuple(state.notes),
                              batch_size=state.batch_size)

    def before_epoch(self, state: FitState) -> None:
        self._stop_if_exiting()
        self._pace.epoch_started(time.monotonic())

    def after_batch(self, state: FitState) -> None:
        self._stop_if_exiting()
        now = time.monotonic()
        self._pace.batches_done(now, state.batch)
        if now - self._last >= PUBLISH_INTERVAL_S:
            self._last = now
            self._send(state)

    def after_epoch(self, state: FitState) -> None:
        self._last = time.monotonic()
        self._pace.epoch_ended(self._last)
        self._send(state)

    def after_fit(self, state: FitState) -> None:
        self._send(state)

    def _send(self, state: FitState) -> None:
        cfg = state.config
        done_epochs = state.epoch - 1 + (state.batch / state.num_batches if state.num_batches else 0)
        if state.history and state.history[-1]["epoch"] == state.epoch:
            done_epochs = state.epoch
        progress = min(1.0, done_epochs / cfg.epochs)
        eta = self._pace.seconds_left(max(0, cfg.epochs - state.epoch), max(0, state.num_batches - state.batch),
                                      state.num_batches, epoch_done=done_epochs == state.epoch,
                                      eval_batches=math.ceil(state.num_val / max(1, state.batch_size)))
        last = state.history[-1] if state.history else {}
        self.manager._publish(
            self.job, phase=state.phase, epoch=state.epoch, batch=state.batch,
            num_batches=state.num_batches, progress=progress, elapsed_s=state.elapsed(), eta_s=eta,
            lr=state.lr, images_per_s=last.get("images_per_s"), batch_size=state.batch_size,
            history=tuple(dict(h) for h in state.history), best_epoch=state.best_epoch,
            notes=tuple(state.notes), message=state.stop_reason)


_MANAGERS: weakref.WeakSet[JobManager] = weakref.WeakSet()


@atexit.register
def _stop_managers_at_exit() -> None:
    """Runs after the main thread ended (daemon threads still run): stop every manager's trainings."""
    for manager in list(_MANAGERS):
        try:
            if not manager.stop_for_exit():
                log.warning("a training did not reach its next batch within %.0f s of exit", EXIT_WAIT_S)
        except Exception:  # exiting anyway: one manager's trouble must not keep the others running
            log.exception("stopping the trainings at exit")


def device_key(requested: str) -> str:
    """Which queue a run waits in: the concrete device it will use."""
    if requested in ("cpu", "mps"):
        return requested

    hw = detect_hardware()
    if requested == "cuda" or (requested == "auto" and hw.device == "cuda"):
        return "cuda:0"
    return hw.device if requested == "auto" else requested
