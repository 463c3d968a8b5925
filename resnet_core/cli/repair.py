"""`repair`: set a damaged run database aside and rebuild the run list from the run folders."""
from __future__ import annotations

import argparse

from resnet_core.cli import print_json, summary
from resnet_core.runs.repair import repair
from resnet_core.workspace import Workspace


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "repair", help=summary("repair"),
        description="When runs.sqlite cannot be opened (or was removed), move it aside with a timestamp "
                    "and put every run back from its folder: settings, per-epoch metrics, final scores, "
                    "status and notes. A sound database is left as it is; runs it lacks are added.")
    p.add_argument("--json", action="store_true", help="print what was recovered as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = repair(Workspace.default())
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.describe())
    return 0
