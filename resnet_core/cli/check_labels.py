"""`check-labels DIR`: images that may be in the wrong class folder, most suspicious first."""
from __future__ import annotations

import argparse

from resnet_core.cli import UserError, print_json, summary

_SHOWN = 30


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
    from resnet_core.results.label_job import LabelCheckUnavailable, feature_source, run_label_check
    from resnet_core.runs.job_errors import plain_error
    from resnet_core.training.checkpoints import CheckpointError
    from resnet_core.workspace import Workspace

    if args.folds < 2:
        raise UserError(f"--folds must be at least 2, got {args.folds}")
    workspace = Workspace.default()
    try:
        handle = open_dataset(args.dir, workspace)
        source = feature_source(workspace, handle.name, args.run)
        report = run_label_check(handle, workspace, source, folds=args.folds)
    except (DatasetError, DataError, CheckpointError, LabelCheckUnavailable, OSError, MemoryError) as e:
        raise UserError(plain_error(e, workspace, "the label check",
                                    known=(CheckpointError, LabelCheckUnavailable))) from e
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
