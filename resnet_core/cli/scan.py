"""`scan DIR`: what a folder (or an imported dataset) holds, what is skipped and why, warnings."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from resnet_core.cli import UserError, print_json, summary
from resnet_core.data.registry import dataset_report, get_dataset
from resnet_core.data.scan import DatasetError, ScanReport, scan
from resnet_core.workspace import Workspace

_EXAMPLES_PER_REASON = 5
_PROGRESS_FROM = 2000  # files; smaller folders scan too fast to need a progress line


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "scan", help=summary("scan"),
        description="Scan a folder whose subfolders are the classes (scanned in place, nothing is "
                    "written), or a dataset of the workspace by name.")
    p.add_argument("dir", metavar="DIR", help="a folder of class subfolders, or a dataset name")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def stderr_progress(label: str):
    """A progress callback that redraws one line on a terminal's stderr for large jobs."""
    if not sys.stderr.isatty():
        return None

    def progress(done: int, total: int) -> None:
        if total < _PROGRESS_FROM:
            return
        end = "\n" if done >= total else ""
        print(f"\r{label}: {done:,}/{total:,}", end=end, file=sys.stderr, flush=True)

    return progress


def format_report(report: ScanReport) -> str:
    """The scan in words, for the terminal."""
    lines = [f"Dataset folder: {report.root}"]
    if report.classes:
        width = max(len(c) for c in report.classes)
        lines.append(f"Classes ({len(report.classes)}):")
        lines += [f"  {c:<{width}}  {report.counts[c]:>7,}" for c in report.classes]
    lines.append(f"Total: {report.num_images:,} images in {len(report.classes)} classes")
    if report.skipped:
        lines.append(f"Skipped {len(report.skipped):,} files or folders:")
        for reason, paths in report.skipped_by_reason().items():
            lines.append(f"  {reason}: {len(paths):,}")
            lines += [f"    {p}" for p in paths[:_EXAMPLES_PER_REASON]]
            if len(paths) > _EXAMPLES_PER_REASON:
                lines.append(f"    ... and {len(paths) - _EXAMPLES_PER_REASON:,} more")
    if report.warnings:
        lines.append("Warnings:")
        lines += [f"  - {w}" for w in report.warnings]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    target = args.dir
    try:
        if Path(target).expanduser().exists():
            report = scan(target, progress=stderr_progress("scanning"))
        else:
            workspace = Workspace.default()
            try:
                info = get_dataset(target, workspace)
            except DatasetError as e:
                raise UserError(f"{target!r} is neither a folder nor a dataset name. {e}") from e
            report = dataset_report(info, progress=stderr_progress("scanning"))
    except DatasetError as e:
        raise UserError(str(e)) from e
    if args.json:
        print_json(report.to_dict())
    else:
        print(format_report(report))
    return 0
