"""`import SOURCE --name NAME`: copy a folder or extract a .zip into the workspace as a dataset."""
from __future__ import annotations

import argparse
from pathlib import Path

from resnet_core.cli import UserError, print_json, summary
from resnet_core.cli.scan import format_report, stderr_progress
from resnet_core.data.importing import import_dataset
from resnet_core.data.registry import dataset_report
from resnet_core.data.scan import DatasetError
from resnet_core.runs.recovery import clean_stale_tmp
from resnet_core.workspace import Workspace


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import", help=summary("import"),
        description="Import a folder whose subfolders are the classes, or a .zip of one, as a "
                    "named dataset of the workspace. The source is only read.")
    p.add_argument("source", metavar="SOURCE", help="a folder of class subfolders, or a .zip")
    p.add_argument("--name", help="the dataset's name (default: the folder's or zip's name)")
    p.add_argument("--json", action="store_true", help="print the dataset and its scan as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = Path(args.source).expanduser()
    source = source if source.name else source.resolve()  # '.' → the folder's own name
    name = args.name or (source.stem if source.suffix.lower() == ".zip" else source.name)
    workspace = Workspace.default()
    clean_stale_tmp(workspace)  # a killed import's half-copied files would only take disk space
    try:
        info = import_dataset(source, name, workspace, progress=stderr_progress("importing"))
        report = dataset_report(info, progress=stderr_progress("scanning"))
    except DatasetError as e:
        raise UserError(str(e)) from e
    if args.json:
        print_json({"dataset": info.to_dict(), "scan": report.to_dict()})
    else:
        print(f"Imported dataset '{info.name}' into {info.root}")
        print(format_report(report))
    return 0
