"""`scan DIR`: what a folder (or an imported dataset) holds, what is skipped and why, warnings."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from resnet_core.cli import UserError, print_json, summary
from resnet_core.data.duplicates import DuplicateReport, dataset_duplicates, find_duplicates, leak_warnings
from resnet_core.data.registry import dataset_report, get_dataset
from resnet_core.data.scan import DatasetError, ScanReport, scan
from resnet_core.data.splits import saved_assignments
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
    p.add_argument("--duplicates", action="store_true",
                   help="also find exact and near-duplicate images, within and across classes and "
                        "across a dataset's saved split (decodes every image once; a dataset caches it)")
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
    info = None
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
    found, leaks = None, {}
    if args.duplicates:
        progress = stderr_progress("checking for duplicates")
        if info is not None:
            found = dataset_duplicates(info, report, progress=progress)
            leaks = found.leaks(saved_assignments(info))
        else:  # a plain folder: nothing may be written, so nothing is cached
            found = find_duplicates(report.root, report.images, report.classes, progress=progress)
    if args.json:
        out = report.to_dict()
        if found is not None:
            out["duplicates"] = {**found.to_dict(), "split_leaks": leaks,
                                 "warnings": leak_warnings(leaks) + found.warnings()}
        print_json(out)
    else:
        print(format_report(report))
        if found is not None:
            print(format_duplicates(found, leaks))
    return 0


def format_duplicates(found: DuplicateReport, leaks: dict[str, list[str]]) -> str:
    """The duplicate groups in words: how many, the warnings, and a few groups."""
    if not found.groups:
        return f"Duplicates: none among {found.num_images:,} images."
    lines = [f"Duplicates: {len(found.groups):,} groups ({len(found.cross_class):,} across classes)."]
    lines += [f"  - {w}" for w in leak_warnings(leaks) + found.warnings()]
    for g in found.groups[:_EXAMPLES_PER_REASON]:
        kind = "across classes" if g.cross_class else "within a class"
        lines.append(f"    {kind}, {'exact' if g.exact else 'near'}: {', '.join(g.paths)}")
    if len(found.groups) > _EXAMPLES_PER_REASON:
        lines.append(f"    ... and {len(found.groups) - _EXAMPLES_PER_REASON:,} more groups")
    return "\n".join(lines)
