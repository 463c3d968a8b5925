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
    from resnet_core.config import TrainConfig
    from resnet_core.data.prepare import DataError, prepare_data
    from resnet_core.data.registry import resolve_dataset
    from resnet_core.data.scan import DatasetError
    from resnet_core.results.label_check import check_labels, image_features
    from resnet_core.runs.store import RunStore
    from resnet_core.training.checkpoints import CHECKPOINT_NAME, CheckpointError, load_checkpoint
    from resnet_core.training.weights import imagenet_weights_available
    from resnet_core.workspace import Workspace

    if args.folds < 2:
        raise UserError(f"--folds must be at least 2, got {args.folds}")
    workspace = Workspace.default()
    checkpoint, image_size = None, 224
    try:
        info = resolve_dataset(args.dir, workspace)
        if args.run is not None or not imagenet_weights_available("resnet18"):
            checkpoint = _run_checkpoint(workspace, RunStore, CHECKPOINT_NAME, info.name, args.run)
            _, meta = load_checkpoint(checkpoint)
            image_size = int(meta["image_size"])
        data = prepare_data(TrainConfig(dataset=info.name, image_size=image_size), workspace)
        features, method = image_features(data, checkpoint)
        report = check_labels(data, features, method, folds=args.folds)
    except (DatasetError, DataError, CheckpointError, FileNotFoundError) as e:
        raise UserError(str(e)) from e
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


def _run_checkpoint(workspace, store_class, checkpoint_name: str, dataset: str, run_id: int | None) -> str:
    """The model file of the named run, or of the dataset's newest run that kept one."""
    store = store_class(workspace)
    try:
        runs = [store.get_run(run_id)] if run_id is not None else store.list_runs(dataset=dataset)
    finally:
        store.close()
    for record in runs:
        if record is not None and (workspace.run_dir(record.id) / checkpoint_name).is_file():
            return str(workspace.run_dir(record.id) / checkpoint_name)
    if run_id is not None:
        raise UserError(f"run {run_id} has no trained model to take features from")
    raise UserError(f"no ImageNet weights on this machine and no run of '{dataset}' with a trained model: "
                    "train one first (`python -m resnet_core train ...`), then check the labels again")
