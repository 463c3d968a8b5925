"""The cost-performance study on Fashion-MNIST, measured with ResNet Pilot itself, written as Markdown.

    python scripts/fashion_mnist_study.py [--sizes 833,2280,19104] [--models resnet18,resnet50]
        [--epochs N] [--batch-size N] [--lr F] [--image-size N] [--weights auto|imagenet|none|PATH]
        [--device auto|cpu|cuda] [--include-frozen-random] [--workspace DIR] [--out FILE]
    python scripts/fashion_mnist_study.py --tiny --workspace DIR --out FILE   # a one-minute smoke run

How the sizes are made: one balanced pool of Fashion-MNIST training images is written as an image
folder, just large enough that its 70% training split holds the largest size (10 classes; the saved
split's per-class rounding decides the exact pool). Every size is then a stratified subset of that
one training split, smaller sizes nested inside larger ones, and every configuration at every size
is scored on the pool's one 15% test split. The study itself is `python -m resnet_core sweep`: it
resumes when run again, so an interrupted measurement continues where it stopped.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resnet_core.data import fashion_mnist
from resnet_core.data.splits import DEFAULT_FRACTIONS, split_sizes
from resnet_core.workspace import ENV_VAR, Workspace

TINY = ["--sizes", "40,100", "--models", "resnet18", "--epochs", "1", "--image-size", "32"]


def pool_per_class(largest: int, num_classes: int = len(fashion_mnist.CLASSES)) -> int:
    """Images per class so that the saved split's training part holds `largest` images in all."""
    n = max(3, -(-largest // num_classes))
    while split_sizes(n, DEFAULT_FRACTIONS)[0] * num_classes < largest:
        n += 1
    return n


def write_pool(workspace: Workspace, per_class: int, source: str) -> Path:
    """The balanced pool as an image folder in the workspace (written once; deterministic)."""
    count = per_class * len(fashion_mnist.CLASSES)
    folder = workspace.root / "fashion-mnist" / f"fashion-mnist-{count}"
    written = sum(1 for _ in folder.rglob("*.png")) if folder.is_dir() else 0
    if written != count:
        print(f"writing {count:,} Fashion-MNIST images to {folder.name} ...", file=sys.stderr)
        fashion_mnist.write_image_folder(folder, count, split="train", seed=0, directory=source)
    return folder


def markdown_report(plan, tables: list[dict], conclusion: list[str]) -> str:
    """The measured tables in the reference study's layout, with how they were made."""
    import torch

    from resnet_core.hardware import detect_hardware
    from resnet_core.study.summary import format_tables

    hw = detect_hardware()
    device = hw.describe().split(" — ")[0]
    lines = [
        "# Cost-performance study on Fashion-MNIST",
        "",
        f"Measured with ResNet Pilot (`python scripts/fashion_mnist_study.py`) on {device} "
        f"({platform.machine()}, PyTorch {torch.__version__}). Dataset: {plan.dataset} "
        f"({plan.num_train_available:,} training, {plan.num_val:,} validation and {plan.num_test:,} "
        "test images; every size is a nested stratified subset of the same training split and is "
        "scored on the same test images).",
        "",
    ]
    for note in plan.notes:
        lines.append(f"> {note}")
    if plan.notes:
        lines.append("")
    lines += ["## Settings", "", "Size | Configuration | Epochs | Batch | Learning rate | Image size | "
              "Patience |", "---|---|---|---|---|---|---|"]
    for e in plan.entries:
        c = e.config
        lines.append(f"{e.num_images} | {e.description} | {c.epochs} | {c.batch_size} | "
                     f"{c.learning_rate:g} | {c.image_size} | {c.patience} |")
    lines += ["", "## Results", "", "Accuracy = correct/total", format_tables(tables), "",
              "## Conclusion", ""]
    lines += [f"- {line}" for line in conclusion]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="833,2280,19104")
    parser.add_argument("--models", default="resnet18,resnet50")
    parser.add_argument("--epochs")
    parser.add_argument("--batch-size")
    parser.add_argument("--lr")
    parser.add_argument("--image-size")
    parser.add_argument("--weights", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--include-frozen-random", action="store_true")
    parser.add_argument("--workspace", help="workspace folder (default: the usual one)")
    parser.add_argument("--source", default=str(fashion_mnist.DEFAULT_DIR),
                        help="folder with the gzipped IDX files (default: %(default)s)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "study-results.md"),
                        help="Markdown file to write (default: docs/study-results.md)")
    parser.add_argument("--tiny", action="store_true", help="sizes 40,100, ResNet-18, 1 epoch, 32 px")
    args = parser.parse_args(argv)

    if args.workspace:
        os.environ[ENV_VAR] = str(Path(args.workspace).resolve())
    workspace = Workspace.default()
    sweep_args = ["--models", args.models, "--sizes", args.sizes, "--weights", args.weights,
                  "--device", args.device]
    for option in ("epochs", "batch_size", "lr", "image_size"):
        value = getattr(args, option)
        if value is not None:
            sweep_args += [f"--{option.replace('_', '-')}", value]
    if args.include_frozen_random:
        sweep_args.append("--include-frozen-random")
    if args.tiny:
        sweep_args += TINY  # later options win in argparse
    parsed = _sweep_namespace(sweep_args)
    try:
        sizes = [int(s) for s in parsed.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes takes whole numbers separated by commas; got {parsed.sizes!r}")
    if not sizes:
        parser.error("--sizes needs at least one number")
    try:
        folder = write_pool(workspace, pool_per_class(max(sizes)), args.source)
    except fashion_mnist.FashionMNISTMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    from resnet_core.cli import main as cli_main

    status = cli_main(["sweep", str(folder), *sweep_args])
    if status not in (0, 1):  # stopped, or bad input: nothing complete to write
        return status

    from resnet_core.runs.store import RunStore
    from resnet_core.study.plan import plan_study
    from resnet_core.study.summary import study_conclusion, study_tables

    # The same plan the sweep ran (plans are deterministic), to read its results back.
    plan = plan_study(str(folder), sizes, models=parsed.models.split(","),
                      include_frozen_random=parsed.include_frozen_random,
                      overrides={"epochs": parsed.epochs, "batch_size": parsed.batch_size,
                                 "learning_rate": parsed.lr, "image_size": parsed.image_size},
                      workspace=workspace, weights=parsed.weights, device=parsed.device)
    store = RunStore(workspace)
    try:
        tables = study_tables(plan, store)
    finally:
        store.close()
    report = markdown_report(plan, tables, study_conclusion(tables, plan.wizard_pick_names()))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return status


def _sweep_namespace(sweep_args: list[str]) -> argparse.Namespace:
    """The sweep command's own reading of the options, so the plan here is the one it ran."""
    from resnet_core.cli import build_parser

    return build_parser(["sweep"]).parse_args(["sweep", "unused", *sweep_args])


if __name__ == "__main__":
    sys.exit(main())
