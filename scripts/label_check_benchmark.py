"""How well the mislabel finder finds labels flipped on purpose in real data, and how long it takes.

    python3 scripts/label_check_benchmark.py [--images 5000] [--flip-class Sneaker] [--fraction 0.05]
                                             [--epochs 5] [--out bench-output/label_check_benchmark.json]

Fashion-MNIST images (balanced, from the IDX files) are written as a class-per-folder dataset, with
`fraction` of one class's images put in other class folders (a random other class each): the
mislabels a user's folder would hold. Then what the Data page does: without ImageNet weights on the
machine, a ResNet-18 run is trained on the dataset (its train split), and the label check takes that
model's features, cross-validates the linear head (5 folds) and ranks the suspects. Printed: the
precision of the top k (k = images flipped), the recall among all suspects, and the times, the label
check's beside the estimate the Data page and `check-labels` state before it starts. Asserts nothing;
the figures also go to --out as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_core.config import TrainConfig  # noqa: E402 - after the path above
from resnet_core.data import fashion_mnist  # noqa: E402
from resnet_core.data.handle import open_dataset  # noqa: E402
from resnet_core.data.registry import register_folder  # noqa: E402
from resnet_core.results.label_job import estimate_seconds, feature_source, run_label_check  # noqa: E402
from resnet_core.runs.runner import create_run, execute_run  # noqa: E402
from resnet_core.runs.store import RunStore  # noqa: E402
from resnet_core.workspace import Workspace  # noqa: E402


def write_noisy_folder(root: Path, count: int, flip_class: str, fraction: float, seed: int) -> set[str]:
    """The dataset folder; returns the relative paths of the images put in a wrong class folder."""
    images, labels = fashion_mnist.load("train")
    rng = np.random.default_rng(seed)
    picked = fashion_mnist.balanced_indices(labels, count, seed)
    source = fashion_mnist.CLASSES.index(flip_class)
    of_class = picked[labels[picked] == source]
    flipped = set(rng.choice(of_class, size=max(1, round(fraction * len(of_class))), replace=False).tolist())
    wrong = set()
    for i in picked:
        label = int(labels[i])
        if i in flipped:
            label = int(rng.choice([c for c in range(len(fashion_mnist.CLASSES)) if c != source]))
        folder = root / fashion_mnist.CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        name = f"train_{i:05d}.png"
        Image.fromarray(images[i], "L").save(folder / name)
        if i in flipped:
            wrong.add(f"{fashion_mnist.CLASSES[label]}/{name}")
    return wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--flip-class", default="Sneaker", choices=fashion_mnist.CLASSES)
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench-output/label_check_benchmark.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace.at(Path(tmp) / "workspace")
        os.environ["TORCH_HOME"] = str(Path(tmp) / "no-imagenet")  # the same path on every machine
        wrong = write_noisy_folder(Path(tmp) / "fashion", args.images, args.flip_class, args.fraction, args.seed)
        info = register_folder(Path(tmp) / "fashion", workspace)
        print(f"{args.images:,} Fashion-MNIST images, {len(wrong)} of class {args.flip_class} "
              f"({args.fraction:.0%}) put in other class folders; {os.cpu_count()} CPU cores")

        config = TrainConfig(dataset=info.name, weights="none", fine_tune=True, augmentation="standard",
                             epochs=args.epochs, batch_size=64, learning_rate=1e-3, patience=args.epochs,
                             image_size=32, device="cpu", seed=args.seed)
        store = RunStore(workspace)
        started = time.perf_counter()
        run_id = create_run(config, workspace, store)
        status = execute_run(run_id, config, workspace, store)
        train_s = time.perf_counter() - started
        record = store.get_run(run_id)
        store.close()
        accuracy = record.test_acc
        print(f"run #{run_id}: {status}, ResNet-18 from scratch, 32 px, {args.epochs} epochs, "
              f"{train_s:.1f} s, test accuracy {accuracy}")

        handle = open_dataset(info.name, workspace)
        source = feature_source(workspace, info.name)
        # What the user is told before the check starts, measured the same way.
        estimate_s = estimate_seconds(source, handle.report.num_images, len(handle.report.classes))
        started = time.perf_counter()
        report = run_label_check(handle, workspace, source)
        check_s = time.perf_counter() - started

    found = [s.path for s in report.suspects]
    top = found[:len(wrong)]
    precision_top_k = len(set(top) & wrong) / len(wrong)
    recall = len(set(found) & wrong) / len(wrong)
    precision_all = len(set(found) & wrong) / len(found) if found else 0.0
    figures = {"images": args.images, "flipped": len(wrong), "flip_class": args.flip_class,
               "epochs": args.epochs, "train_seconds": round(train_s, 1), "test_accuracy": accuracy,
               "check_seconds": round(check_s, 1), "estimated_check_seconds": round(estimate_s, 1),
               "suspects": len(found),
               "precision_top_k": round(precision_top_k, 3), "recall": round(recall, 3),
               "precision_all_suspects": round(precision_all, 3), "method": report.method,
               "cpu_cores": os.cpu_count()}
    print(f"label check: {check_s:.1f} s, estimated {estimate_s:.1f} s before it started (features and 5-fold "
          f"cross-validation of {report.num_images:,} images; the estimate leaves out decoding, done by the run)")
    print(f"suspects: {len(found):,}; top {len(wrong)}: precision {precision_top_k:.2f}; "
          f"recall among all suspects {recall:.2f} (precision {precision_all:.2f})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures written to {args.out}")


if __name__ == "__main__":
    main()
