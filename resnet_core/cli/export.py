"""`export --run ID --format torchscript|onnx --out PATH`: a trained run as a file other tools can load."""
from __future__ import annotations

import argparse

from resnet_core.cli import UserError, print_json, summary
from resnet_core.cli.predict import run_folder
from resnet_core.fsutil import read_json
from resnet_core.results.export import FORMATS, export_model
from resnet_core.training.checkpoints import CheckpointError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help=summary("export"),
        description="Write a run's best model as TorchScript or ONNX. It takes float32 N×3×S×S RGB in "
                    "[0, 1] and returns logits; labels.json and preprocess.json are written beside it.")
    p.add_argument("--run", required=True, metavar="ID", help="the run's id (see `runs`)")
    p.add_argument("--format", required=True, choices=tuple(FORMATS), help="the file format")
    p.add_argument("--out", metavar="PATH",
                   help="output file or folder (default: export/model.pt or model.onnx in the run folder)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    folder = run_folder(args.run)
    out = args.out or folder / "export" / f"model{FORMATS[args.format]}"
    try:
        path = export_model(folder, args.format, out)
    except (CheckpointError, ValueError) as e:
        raise UserError(str(e)) from e
    except OSError as e:
        raise UserError(f"cannot write {out} ({e.strerror or e}); choose another --out") from e
    labels = path.parent / "labels.json"
    info = {"run": args.run, "format": args.format, "path": str(path), "labels": str(labels),
            "preprocess": str(path.parent / "preprocess.json"), "classes": read_json(labels, [])}
    if args.json:
        print_json(info)
    else:
        print(f"Exported run {args.run} as {args.format} to {path}")
        print(f"  class names in output order: {labels}")
        print(f"  how to prepare images:       {info['preprocess']}")
    return 0
