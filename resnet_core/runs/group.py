"""One run over several devices: torchrun launched as a subprocess, its progress replayed here.

`execute_group_run` is `execute_run` for `config.devices > 1`, with the same arguments and result,
so the job manager and the command line treat both alike (`execute_on_devices` picks). It

1. decodes the dataset into the workspace's image cache once, in this process (so the ranks only
   memory-map it), honouring cancel like any run's preparation;
2. starts `python -m torch.distributed.run --standalone --nproc-per-node N -m resnet_core.runs.ddp_worker`
   in a session of its own, its output in the run's group.log. Streamlit's reruns never import
   the training code in that subprocess, and the server stays responsive;
3. replays rank 0's progress file into the callbacks (snapshots, progress bar) while it runs, and
   turns a cancel into the cancel file every rank checks between batches;
4. once the group has ended, ends whatever is left of it (each rank wrote its pid), and settles the
   run: rank 0 stored the outcome itself, unless a rank died (SIGKILL, a crash of another rank):
   then the run is stored interrupted, its last checkpoint kept, and `resume` continues it.
"""
from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path

from resnet_core.config import MAX_DEVICES, TrainConfig
from resnet_core.data.prepare import prepare_data
from resnet_core.fsutil import owner_alive
from resnet_core.hardware import detect_hardware
from resnet_core.runs.ddp_worker import PID_DIR
from resnet_core.runs.group_progress import ProgressReplay
from resnet_core.runs.runner import check_same_classes, execute_run, fail_run, failure_message, mark_started
from resnet_core.status import ACTIVE, RunStatus
from resnet_core.training.callbacks import Callback, CallbackList, CancelOnEvent, CancelTraining, StopForExit
from resnet_core.workspace import Workspace

log = logging.getLogger("resnet_pilot.runs")

PROGRESS_FILE = "progress.jsonl"
CANCEL_FILE = "cancel"
GROUP_LOG = "group.log"
POLL_S = 0.2
# After the group is asked to stop (SIGTERM to torchrun, which passes it on), how long before SIGKILL.
STOP_GRACE_S = 10.0
WORKER_MODULE = "resnet_core.runs.ddp_worker"
# Once rank 0 has stored the run's outcome, how long the other ranks get to finish before they are ended.
OUTCOME_GRACE_S = 15.0


def execute_on_devices(run_id: int, config: TrainConfig, workspace: Workspace, store,
                       callbacks: list[Callback] | None = None, cancel_event: threading.Event | None = None,
                       resume: bool = False, device: str | None = None) -> str:
    """execute_run in this process for one device, execute_group_run for several. device: the one
    device a single-device run is pinned to (a study spread over GPUs); a group takes its own leases
    from the first device, so it is not pinned."""
    record = store.get_run(run_id)
    devices = (record.config if record is not None else config).devices
    if devices > 1:
        return execute_group_run(run_id, config, workspace, store, callbacks=callbacks,
                                 cancel_event=cancel_event, resume=resume)
    return execute_run(run_id, config, workspace, store, callbacks=callbacks, cancel_event=cancel_event,
                       resume=resume, device=device)


def devices_problem(config: TrainConfig, devices: int) -> str | None:
    """Why `config` cannot continue on `devices` devices here (None when it can): checked before a
    run is requeued, so a refused resume leaves the run as it was."""
    if not isinstance(devices, int) or not 1 <= devices <= MAX_DEVICES:
        return f"--devices must be a whole number from 1 to {MAX_DEVICES}, got {devices!r}"
    if config.device != "cpu" and detect_hardware().device == "cuda":
        import torch

        visible = torch.cuda.device_count()
        if devices > visible:
            return (f"{devices} devices were asked for but this machine has {visible} GPU(s); "
                    f"use --devices {visible} or fewer")
    return None


def device_keys(config: TrainConfig, first: str) -> list[str]:
    """The device leases a run takes: its one device, or GPUs first..first+N-1 for a group on CUDA
    (a CPU group shares the one CPU lease)."""
    if config.devices <= 1 or not first.startswith("cuda"):
        return [first]
    start = int(first.partition(":")[2] or 0)
    return [f"cuda:{i}" for i in range(start, start + config.devices)]


def worker_command(config: TrainConfig, workspace: Workspace, run_id: int, resume: bool) -> list[str]:
    run_dir = workspace.run_dir(run_id)
    device = "cpu" if config.device == "cpu" else "auto"
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
            str(config.devices), "-m", WORKER_MODULE, "--workspace", str(workspace.root),
            "--run-id", str(run_id), "--device", device, "--progress", str(run_dir / PROGRESS_FILE),
            "--cancel-file", str(run_dir / CANCEL_FILE), "--launcher-pid", str(os.getpid()),
            *(["--resume"] if resume else [])]


def execute_group_run(run_id: int, config: TrainConfig, workspace: Workspace, store,
                      callbacks: list[Callback] | None = None, cancel_event: threading.Event | None = None,
                      resume: bool = False) -> str:
    """Train run `run_id` over `config.devices` processes and store the outcome; returns the status."""
    run_dir, config = mark_started(run_id, config, workspace, store)
    cancel_event = cancel_event or threading.Event()
    cbs = CallbackList([*(callbacks or []), CancelOnEvent(cancel_event)])
    try:
        data = prepare_data(config, workspace, progress=cbs.on_prepare, memory_map=True)
        if resume:
            check_same_classes(run_dir, data.classes)
        del data  # the cache file is built; the ranks map it themselves
    except StopForExit:
        return _stopped_for_exit(store, run_id, run_dir)
    except CancelTraining as e:
        store.add_note(run_id, f"{str(e)[:1].upper()}{str(e)[1:]}; nothing was trained.")
        store.finish_run(run_id, RunStatus.CANCELLED)
        return RunStatus.CANCELLED
    except Exception as e:
        return fail_run(store, run_id, failure_message(e, workspace), run_dir)

    for stale in (run_dir / PROGRESS_FILE, run_dir / CANCEL_FILE):
        stale.unlink(missing_ok=True)
    replay = ProgressReplay(run_dir / PROGRESS_FILE, config, list(callbacks or []))
    group = GroupProcess(worker_command(config, workspace, run_id, resume), run_dir)
    settled_at = None
    try:
        while group.running():
            if cancel_event.is_set():
                (run_dir / CANCEL_FILE).touch()
            replay.poll()  # the job manager's callback raises StopForExit when the server stops
            # Rank 0 stored an outcome (a failure, say) but the others wait in a collective for it;
            # on NCCL that wait lasts minutes and holds the GPUs: end them after a short grace.
            settled_at = settled_at or (time.monotonic() if _stored_outcome(store, run_id) else None)
            if settled_at and time.monotonic() - settled_at > OUTCOME_GRACE_S:
                log.warning("run %s: its outcome is stored but the group still runs; ending it", run_id)
                break
            time.sleep(POLL_S)
        replay.poll()
    except StopForExit:
        group.stop()
        record = store.get_run(run_id)
        if record is None or record.status in ACTIVE:
            return _stopped_for_exit(store, run_id, run_dir)
    finally:
        group.stop()
    return _settle(store, run_id, run_dir, group, replay)


def _stopped_for_exit(store, run_id: int, run_dir: Path) -> str:
    """The server is stopping: the group is ended and the run stored interrupted, as a one-process run."""
    saved = store.epochs(run_id)
    store.add_note(run_id, "Stopped when the server stopped; " + (
        "Resume continues from the last saved epoch." if (run_dir / "last.pt").is_file()
        else "no epoch was saved yet: Re-run starts it again."))
    store.finish_run(run_id, RunStatus.INTERRUPTED, {"epoch_ended": saved[-1]["epoch"] if saved else None})
    return RunStatus.INTERRUPTED


def _stored_outcome(store, run_id: int) -> bool:
    try:
        record = store.get_run(run_id)
    except Exception:  # the store busy for a moment: ask again at the next poll
        return False
    return record is not None and record.status not in ACTIVE


def _settle(store, run_id: int, run_dir: Path, group: "GroupProcess", replay: ProgressReplay) -> str:
    """The run's status once its group has ended; stored by rank 0, or here when no rank could."""
    record = store.get_run(run_id)
    if record is not None and record.status not in ACTIVE:
        return record.status
    how = group.how_it_ended()
    if not replay.started:
        return fail_run(store, run_id, f"the training processes stopped before training began ({how}); "
                        f"the end of {GROUP_LOG} in the run's folder says why", run_dir,
                        details=group.log_tail())
    problems = sorted((run_dir / PID_DIR).glob("rank*.error"))
    if problems:  # a rank stopped on something the user can act on: resuming would only repeat it
        message = problems[0].read_text(encoding="utf-8", errors="replace").strip()
        return fail_run(store, run_id, message, run_dir, details=group.log_tail())
    saved = store.epochs(run_id)
    store.finish_run(run_id, RunStatus.INTERRUPTED, {"epoch_ended": saved[-1]["epoch"] if saved else None})
    store.add_note(run_id, f"A process of the group stopped before the run finished ({how}); the others were "
                           "ended with it. Resume continues from the last saved epoch"
                           + (f" (epoch {saved[-1]['epoch']})." if saved else "."))
    return RunStatus.INTERRUPTED


class GroupProcess:
    """torchrun and its ranks: started in a session of their own, ended together."""

    def __init__(self, command: list[str], run_dir: Path):
        self.run_dir = run_dir
        pid_dir = run_dir / PID_DIR
        if pid_dir.is_dir():
            for old in pid_dir.glob("rank*.*"):
                old.unlink(missing_ok=True)
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # so `-m resnet_core...` imports from any folder
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        if "OMP_NUM_THREADS" not in env:  # the ranks share the cores
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // max(1, _nproc(command))))
        self._log = open(run_dir / GROUP_LOG, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """End torchrun (it ends its ranks) and then any rank still alive; idempotent."""
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for pid in self.rank_pids():
            if owner_alive(pid, None) and _is_worker(pid):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with suppress(OSError):
            self._log.close()

    def rank_pids(self) -> list[int]:
        pids = []
        for f in sorted((self.run_dir / PID_DIR).glob("rank*.pid")):
            with suppress(OSError, ValueError):
                pids.append(int(f.read_text()))
        return pids

    def how_it_ended(self) -> str:
        """'process 4242 was killed (SIGKILL)', from torchrun's report of its first failed rank."""
        code = self.proc.returncode
        if code is not None and code < 0:
            return f"torchrun was ended by {signal.Signals(-code).name}"
        log = self.log_tail(20_000)
        log = log[log.rfind("Root Cause"):] if "Root Cause" in log else log  # not the ranks torchrun ended
        if killed := re.search(r"Signal \d+ \((SIG\w+)\) received by PID (\d+)", log):
            return f"process {killed.group(2)} was killed ({killed.group(1)})"
        if exited := re.search(r"exitcode\s*:\s*(-?\d+)\s*\(pid:\s*(\d+)\)", log):
            return f"process {exited.group(2)} exited with code {exited.group(1)}"
        return f"torchrun exited with code {code}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return (self.run_dir / GROUP_LOG).read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


def _nproc(command: list[str]) -> int:
    with suppress(ValueError, IndexError):
        return int(command[command.index("--nproc-per-node") + 1])
    return 1


def _is_worker(pid: int) -> bool:
    """True when pid runs our worker (never kill a process that merely reused the number)."""
    try:
        return WORKER_MODULE.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
