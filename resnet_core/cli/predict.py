"""`predict --run ID IMAGE...`: the most probable classes for each image, from a trained run."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from resnet_core.cli import UserError, print_json, summary
from resnet_core.data.imageio import ImageLoadError
from resnet_core.results.predict import Predictor, load_predictor
from resnet_core.training.checkpoints import CHECKPOINT_NAME, CheckpointError
from resnet_core.workspace import Workspace

_RUNS_HINT = "`python -m resnet_core runs` lists runs"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict", help=summary("predict"),
        description="Classify images with the best model of a finished run. Each image is prepared "
                    "exactly as in training. An image that cannot be read gets an error entry; the "
                    "others are still classified (exit status 1 if any failed).")
    p.add_argument("--run", required=True, metavar="ID", help="the run's id (see `runs`)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files to classify")
    p.add_argument("--top-k", type=int, default=5, metavar="K",
                   help="how many classes to show per image, most probable first (default 5)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    p.set_defaults(func=run)


def run_folder(run_id: str) -> Path:
    """The folder of a run that has a trained model, or UserError saying what is missing."""
    run_id = str(run_id).strip()
    workspace = Workspace.default()
    folder = workspace.run_dir(run_id)
    # A run id is a plain name inside the runs folder, never a path elsewhere.
    if not run_id or folder.resolve().parent != workspace.runs_dir or not folder.is_dir():
        raise UserError(f"run {run_id} not found; {_RUNS_HINT}")
    if not (folder / CHECKPOINT_NAME).is_file():
        raise UserError(f"run {run_id} has no trained model yet ({CHECKPOINT_NAME} is missing): it may "
                        f"still be training, or it failed; {_RUNS_HINT} with their status")
    return folder


def open_predictor(run_id: str, device: str = "cpu") -> Predictor:
    try:
        return load_predictor(run_folder(run_id), device=device)
    except CheckpointError as e:
        raise UserError(f"run {run_id}: {e}") from e
    except RuntimeError as e:  # e.g. --device cuda on a machine without it
        raise UserError(f"cannot load run {run_id} on device {device!r} ({e}); try --device cpu") from e


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise UserError(f"--top-k must be at least 1, got {args.top_k}")
    predictor = open_predictor(args.run, args.device)
    entries: list[dict[str, Any]] = []
    good: list[tuple[int, Any]] = []
    for name in args.images:
        if Path(name).is_dir():
            entries.append({"image": name, "error": "is a folder; name the image files in it"})
            continue
        try:
            good.append((len(entries), predictor.pixels(name)))
            entries.append({"image": name})
        except ImageLoadError as e:
            entries.append({"image": name, "error": f"{e}; use a JPEG, PNG or other common image file"})
    results = predictor.predict_pixels([pixels for _, pixels in good], top_k=args.top_k)
    for (index, _), predictions in zip(good, results):
        entries[index]["predictions"] = predictions
    if args.json:
        print_json({"predictions": entries})
    else:
        print(format_predictions(entries))
    failed = [e for e in entries if "error" in e]
    for entry in failed if not args.json else []:
        print(f"error: {entry['image']}: {entry['error']}", file=sys.stderr)
    return 1 if failed else 0


def format_predictions(entries: list[dict[str, Any]]) -> str:
    lines = []
    for entry in entries:
        if "predictions" not in entry:
            continue
        lines.append(entry["image"])
        width = max(len(p["class"]) for p in entry["predictions"])
        lines += [f"  {p['class']:<{width}}  {p['probability']:7.2%}" for p in entry["predictions"]]
    return "\n".join(lines)
