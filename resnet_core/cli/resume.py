"""`resume ID`: continue a stopped run from its last saved epoch, in this process, with train's progress bar.

The run keeps its id, config, dataset split and the epochs it already has; training picks up at the
epoch after the last one saved (last.pt) and ends with the planned number of epochs and a test score.
"""
from __future__ import annotations

import argparse
import sys

from resnet_core.cli import UserError, summary

RUNS_HINT = "`python -m resnet_core runs` lists the runs"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "resume", help=summary("resume"),
        description="Continue a stopped run where it left off: same settings, same train/validation/"
                    "test split, its earlier epochs kept. A run that never saved an epoch cannot be "
                    "resumed; `rerun ID` trains it again as a new run.")
    p.add_argument("run_id", metavar="ID", help="the run's id (see `runs`)")
    p.add_argument("--devices", type=int, metavar="N",
                   help="continue on N devices (GPUs or CPU processes) instead of those it started on")
    p.add_argument("--json", action="store_true", help="print the final result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from resnet_core.cli.train import train_in_foreground  # here: `rename` shares this module, without torch
    from resnet_core.runs.group import devices_problem
    from resnet_core.runs.store import RunInUseError, RunNotFoundError

    workspace, store = open_workspace()
    try:
        record = get_record(store, args.run_id)
        run_id = record.id
        refuse_unresumable(record, workspace)
        config = record.config
        new_devices = args.devices is not None and args.devices != config.devices
        if new_devices:  # before requeueing: a refused resume leaves the run as it was
            problem = devices_problem(config, args.devices)
            if problem:
                raise UserError(problem)
        try:
            store.requeue_run(run_id)  # atomic: of two processes resuming at once, one wins
        except (RunInUseError, RunNotFoundError) as e:
            raise UserError(f"{e}; {RUNS_HINT}") from e
        if new_devices:
            config = store.set_devices(run_id, args.devices)
        done = len(store.epochs(run_id))
        print(f"run {run_id}: resuming {record.config.describe()} on '{record.dataset}' after epoch "
              f"{done} of {record.config.epochs}", file=sys.stderr)
        return train_in_foreground(workspace, store, run_id, config, resume=True,
                                   as_json=args.json)
    finally:
        store.close()


def open_workspace():
    """The default workspace and its run store, after start-up housekeeping (recovery, leftovers)."""
    from resnet_core.runs.recovery import startup
    from resnet_core.runs.store import RunStore, StoreError
    from resnet_core.workspace import Workspace

    workspace = Workspace.default()
    try:
        store = RunStore(workspace)
    except StoreError as e:
        raise UserError(str(e)) from e
    startup(workspace, store)
    return workspace, store


def get_record(store, text: str, need_config: bool = True):
    """The run with id `text`, or UserError saying what to type instead (also when its settings
    cannot be read and need_config)."""
    try:
        run_id = int(str(text).strip())
    except ValueError:
        raise UserError(f"run id must be a whole number such as 3, got {text!r}; {RUNS_HINT}") from None
    record = store.get_run(run_id) if 0 < run_id < 2**63 else None  # SQLite ids are 64-bit
    if record is None:
        raise UserError(f"run {run_id} not found; {RUNS_HINT}")
    if record.config is None and need_config:
        raise UserError(f"run {run_id}'s settings cannot be read by this version of ResNet Pilot; "
                        "start a new run with `python -m resnet_core train`")
    return record


def refuse_unresumable(record, workspace) -> None:
    from resnet_core.runs.recovery import resume_problem

    problem = resume_problem(record, workspace, rerun=f"re-run it with `python -m resnet_core rerun {record.id}`")
    if problem:
        raise UserError(problem)
