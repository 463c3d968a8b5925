"""`predict --run ID IMAGE...`: the most probable classes for each image, from a trained run."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from resnet_core.cli import UserError, print_json, summary
from resnet_core.data.imageio import ImageLoadError
from resnet_core.results.predict import TTA_MODES, Predictor, load_predictor, probability_note
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
    p.add_argument("--tta", choices=TTA_MODES, default="none",
                   help="test-time augmentation: average with the mirror image (flip) or over five crops; "
                        "its gain is measured on the run's test split and printed with the predictions")
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


def measured_gain(predictor: Predictor, run_id: str, tta: str) -> tuple[dict | None, str | None]:
    """(what each test-time augmentation scores on the run's test split, None) for a prediction with
    one; (None, why) when it cannot be measured; (None, None) without one."""
    from resnet_core.results.tta_measure import GainUnavailable, tta_gain
    from resnet_core.runs.store import RunStore, StoreError

    if tta == "none":
        return None, None
    folder = run_folder(run_id)
    try:
        store = RunStore(Workspace.default())
    except StoreError as e:
        return None, f"the gain of {tta} was not measured: {e}"
    try:
        record = store.get_run(int(folder.name))
    finally:
        store.close()
    if record is None:
        return None, f"the gain of {tta} was not measured: run {run_id} is not in the run list"
    try:
        return tta_gain(predictor, record, folder), None
    except GainUnavailable as e:
        return None, str(e)


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
    results = predictor.predict_pixels([pixels for _, pixels in good], top_k=args.top_k, tta=args.tta)
    for (index, _), predictions in zip(good, results):
        entries[index]["predictions"] = predictions
    gain, gain_note = measured_gain(predictor, args.run, args.tta)
    if args.json:
        print_json({"predictions": entries, "calibrated": predictor.calibrated,
                    "temperature": predictor.temperature, "tta": args.tta, "tta_gain": gain,
                    "tta_gain_note": gain_note})
    else:
        print(format_predictions(entries))
        if good:
            print(probability_note(predictor))
        if gain is not None:
            acc = gain["accuracy"]
            print(f"\n{args.tta} on the run's {gain['test_images']} test images: accuracy {acc[args.tta]:.1%} "
                  f"against {acc['none']:.1%} without")
        elif gain_note:
            print(f"\n{gain_note}")
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
