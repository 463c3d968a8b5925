"""`check-labels DIR`: images that may be in the wrong class folder, most suspicious first."""
from __future__ import annotations

import argparse
import sys
import time

from resnet_core.cli import UserError, print_json, summary

_SHOWN = 30
_LINE_EVERY_S = 2.0  # within a stage, a progress line at most this often


class _ProgressLines:
    """The check's progress on stderr, in the Data page's words: a line when a stage starts and
    ends, and now and then within a long one (decoding 20,000 images is thousands of steps)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.stage = ""
        self.last_line = 0.0
        self.ended = False  # the stage's last line said it was done

    def __call__(self, stage: str, done: int, total: int) -> None:
        from resnet_core.results.label_job import JobSnapshot
        from resnet_core.views.label_view import progress_text

        now = time.perf_counter()
        same_stage = stage == self.stage
        if same_stage and (self.ended or (done < total and now - self.last_line < _LINE_EVERY_S)):
            return  # a stage that reports its end twice prints it once
        self.stage, self.last_line, self.ended = stage, now, done >= total
        snap = JobSnapshot("running", stage=stage, done=done, total=total, seconds=now - self.started)
        print(f"  {progress_text(snap)}", file=sys.stderr, flush=True)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check-labels", help=summary("check-labels"),
        description="Score every image out of sample (K-fold cross-validation of a linear head on "
                    "backbone features) and list the images whose folder disagrees with a confident "
                    "prediction. Features: ImageNet weights when on this machine, else a finished run's "
                    "model (--run, or the dataset's newest run with a model). Nothing is moved or written "
                    "in the folder.")
    p.add_argument("dir", metavar="DIR", help="a folder of class subfolders, or a dataset name")
    p.add_argument("--run", type=int, metavar="ID", help="take the features from this run's model")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Heavy imports here, so `--help` stays instant.
    from resnet_core.data.handle import open_dataset
    from resnet_core.data.prepare import DataError
    from resnet_core.data.scan import DatasetError
    from resnet_core.results.label_job import SPEAKS_TO_USER, LabelCheckUnavailable, feature_source, run_label_check
    from resnet_core.runs.job_errors import plain_error
    from resnet_core.text import format_duration
    from resnet_core.training.checkpoints import CheckpointError
    from resnet_core.views.label_view import cost_line
    from resnet_core.workspace import Workspace

    if args.folds < 2:
        raise UserError(f"--folds must be at least 2, got {args.folds}")
    workspace = Workspace.default()
    try:
        handle = open_dataset(args.dir, workspace)
        source = feature_source(workspace, handle.name, args.run)
        # The measured cost first, on stderr: stdout stays the report (JSON with --json).
        print(cost_line(source, handle.report.num_images, len(handle.report.classes), args.folds),
              file=sys.stderr, flush=True)
        progress = _ProgressLines()
        report = run_label_check(handle, workspace, source, folds=args.folds, progress=progress)
        print(f"  Done in {format_duration(time.perf_counter() - progress.started)}", file=sys.stderr)
    except (DatasetError, DataError, CheckpointError, LabelCheckUnavailable, OSError, MemoryError) as e:
        raise UserError(plain_error(e, workspace, "the label check", known=SPEAKS_TO_USER)) from e
    if args.json:
        print_json(report.to_dict())
        return 0
    print(report.method)
    if not report.suspects:
        print(f"No likely mislabels among {report.num_images:,} images.")
        return 0
    print(f"{len(report.suspects):,} of {report.num_images:,} images may be in the wrong class:")
    for s in report.suspects[:_SHOWN]:
        print(f"  {s.path}: labelled {s.given}, looks like {s.suggested} ({s.confidence:.0%})")
    if len(report.suspects) > _SHOWN:
        print(f"  ... and {len(report.suspects) - _SHOWN:,} more (--json lists all)")
    return 0
