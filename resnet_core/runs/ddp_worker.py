"""One process of a multi-device run, started by torchrun:

    python -m torch.distributed.run --standalone --nproc-per-node N -m resnet_core.runs.ddp_worker \\
        --workspace DIR --run-id ID [--resume] [--progress FILE] [--cancel-file FILE]

The run already exists in the workspace's store (the launcher, `runs.group`, or `train --prepare-only`
created it, and built the decoded-image cache). Rank 0 reads its config and hands it to the others,
then trains it exactly as a one-process run does (`execute_run`: store, checkpoints, predictions),
writing its progress for the launcher; the other ranks train beside it and write nothing. Every rank
memory-maps the same decoded-image cache.

Cancel: the launcher creates the cancel file; rank 0 looks for it between batches and tells every rank
in the same step (a collective), so all stop after the same batch and the run keeps what it learned.
A rank whose launcher is gone (killed with the server) stops itself: no orphan keeps a GPU.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path

from resnet_core.config import TrainConfig
from resnet_core.data.prepare import prepare_data
from resnet_core.fsutil import owner_alive
from resnet_core.runs.group_progress import ProgressWriter
from resnet_core.runs.runner import USER_PROBLEMS, execute_run
from resnet_core.runs.store import RunNotFoundError, RunStore
from resnet_core.training import distributed
from resnet_core.training.callbacks import Callback, CancelTraining, FitState
from resnet_core.training.distributed import DistContext
from resnet_core.training.engine import fit
from resnet_core.workspace import Workspace

# Where reading the flag waits for the GPU (NCCL), look every this many batches rather than every one.
CUDA_CANCEL_CHECK_BATCHES = 10
PID_DIR = "group"  # in the run's folder: rank<r>.pid, so the launcher can end every rank


class GroupCancel(Callback):
    """Stops every rank at the same point once rank 0 sees the cancel file."""

    def __init__(self, ctx: DistContext, cancel_file: Path | None):
        self.ctx, self.cancel_file = ctx, cancel_file
        self.every = CUDA_CANCEL_CHECK_BATCHES if ctx.device.type == "cuda" else 1

    def _asked(self) -> bool:
        return self.ctx.is_main and self.cancel_file is not None and self.cancel_file.exists()

    def before_epoch(self, state: FitState) -> None:
        if self.ctx.any(self._asked()):
            raise CancelTraining(f"cancelled by the user before epoch {state.epoch}")

    def after_batch(self, state: FitState) -> None:
        if (state.batch % self.every == 0 or state.batch == state.num_batches) and self.ctx.any(self._asked()):
            raise CancelTraining(f"cancelled by the user during epoch {state.epoch}")


def pid_file(run_dir: Path, rank: int) -> Path:
    return run_dir / PID_DIR / f"rank{rank}.pid"


def error_file(run_dir: Path, rank: int) -> Path:
    """Where a rank other than 0 leaves the message of a problem the user can act on (the loss
    diverged, out of memory advice): the launcher stores the run failed with it, not interrupted."""
    return run_dir / PID_DIR / f"rank{rank}.error"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _train(args)
    except (distributed.DistributedSetupError, RunNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _train(args: argparse.Namespace) -> int:
    workspace = Workspace.at(args.workspace)
    run_dir = workspace.run_dir(args.run_id)
    if args.launcher_pid:
        _stop_when_gone(args.launcher_pid)
    ctx = distributed.setup(args.device)
    with suppress(OSError):  # a rank on another machine may not see the run's folder
        pid_file(run_dir, ctx.rank).parent.mkdir(parents=True, exist_ok=True)
        pid_file(run_dir, ctx.rank).write_text(str(os.getpid()))
    try:
        store = RunStore(workspace) if ctx.is_main else None
        stored = ctx.from_main(lambda: _stored_config(store, args.run_id))
        if stored is None:  # every rank stops alike
            raise RunNotFoundError(f"run {args.run_id} is not in the workspace {workspace.root}; create it with "
                                   "`python -m resnet_core train DIR --devices N --prepare-only` on the first machine")
        config = TrainConfig.from_dict(stored)
        cancel = GroupCancel(ctx, Path(args.cancel_file) if args.cancel_file else None)
        if ctx.is_main:
            callbacks = [ProgressWriter(args.progress), cancel] if args.progress else [cancel]
            status = execute_run(args.run_id, config, workspace, store, callbacks=callbacks,
                                 resume=args.resume, dist=ctx)
            print(f"run {args.run_id} {status}", file=sys.stderr)
        else:
            try:
                data = prepare_data(config, workspace, memory_map=True)
                fit(config, data, callbacks=[cancel], resume=args.resume, dist=ctx)
            except USER_PROBLEMS as e:
                with suppress(OSError):
                    error_file(run_dir, ctx.rank).write_text(str(e), encoding="utf-8")
                raise
    finally:
        distributed.teardown()
    return 0


def _stored_config(store, run_id: int) -> dict | None:
    record = store.get_run(run_id)
    return record.config.to_dict() if record is not None and record.config is not None else None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m resnet_core.runs.ddp_worker",
                                description="One rank of a multi-device run (start it with torchrun).")
    p.add_argument("--workspace", required=True)
    p.add_argument("--run-id", type=int, required=True)
    p.add_argument("--device", default="auto", help="auto | cuda | cpu: NCCL on GPUs, Gloo on CPUs")
    p.add_argument("--resume", action="store_true", help="continue from the run's last saved epoch")
    p.add_argument("--progress", help="rank 0 appends its progress here (JSON lines)")
    p.add_argument("--cancel-file", help="the run is cancelled once this file exists")
    p.add_argument("--launcher-pid", type=int, help="stop when this process is gone")
    return p


def _stop_when_gone(pid: int, poll_s: float = 1.0) -> None:
    """Exit at once when the launching process disappears (killed with the dashboard, say)."""
    from resnet_core.fsutil import process_token

    token = process_token(pid)

    def watch() -> None:
        while owner_alive(pid, token):
            time.sleep(poll_s)
        os._exit(3)

    threading.Thread(target=watch, daemon=True, name="launcher-watch").start()


if __name__ == "__main__":
    sys.exit(main())
