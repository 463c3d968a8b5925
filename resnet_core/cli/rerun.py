"""`rerun ID`: train a new run with exactly the settings of an earlier one (same dataset and split)."""
from __future__ import annotations

import argparse
import sys

from resnet_core.cli import UserError, summary
from resnet_core.cli.resume import get_record, open_workspace
from resnet_core.cli.train import train_in_foreground


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rerun", help=summary("rerun"),
        description="Start a new run with the settings of run ID, on the same dataset and its saved "
                    "split, in this process. The earlier run is kept as it is.")
    p.add_argument("run_id", metavar="ID", help="the run to repeat (see `runs`)")
    p.add_argument("--json", action="store_true", help="print the final result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from resnet_core.data.scan import DatasetError
    from resnet_core.runs.runner import create_run

    workspace, store = open_workspace()
    try:
        original = get_record(store, args.run_id)
        config = original.config
        try:
            run_id = create_run(config, workspace, store)
        except (DatasetError, ValueError) as e:
            raise UserError(f"cannot re-run run {original.id}: {e}") from e
        print(f"run {run_id}: re-run of run {original.id}, {config.describe()} on '{config.dataset}', "
              f"{config.epochs} epochs, batch {config.batch_size}, lr {config.learning_rate:g}, "
              f"{config.image_size}px", file=sys.stderr)
        return train_in_foreground(workspace, store, run_id, config, resume=False, as_json=args.json,
                                   extra={"rerun_of": original.id})
    finally:
        store.close()
