"""Balanced accuracy without class balancing, with class-weighted loss and with the balanced sampler,
on a generated 10:1 imbalanced dataset.

    python3 scripts/class_balance_benchmark.py [--seeds 5] [--epochs 20]

Two overlapping classes (120 and 12 training images; 30 of each for validation and for test),
ResNet-18 from random initialisation, frozen backbone, head trained for the given epochs: the same
setting as tests/training/test_class_balance.py, over more seeds. Prints a line per seed and the
means; asserts nothing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_core.config import TrainConfig  # noqa: E402 - after the path above
from resnet_core.data.imbalanced import IMBALANCED_PX, imbalanced_training_data  # noqa: E402
from resnet_core.results.metrics import BALANCED_ACC, MACRO_F1, run_scores  # noqa: E402
from resnet_core.training.engine import fit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float, float]]] = {"none": [], "weighted_loss": [],
                                                            "balanced_sampler": []}
    for seed in range(args.seeds):
        data = imbalanced_training_data(seed)
        cells = []
        for balance in results:
            config = TrainConfig(dataset="imbalanced", weights="none", fine_tune=False, augmentation="none",
                                 epochs=args.epochs, batch_size=32, learning_rate=1e-2, patience=args.epochs,
                                 image_size=IMBALANCED_PX, seed=seed, device="cpu", class_balance=balance)
            started = time.perf_counter()
            result = fit(config, data)
            scores = run_scores(result.test_report)
            results[balance].append((scores[BALANCED_ACC], scores[MACRO_F1], time.perf_counter() - started))
            cells.append(f"{balance}: balanced acc {scores[BALANCED_ACC]:.3f}, macro-F1 {scores[MACRO_F1]:.3f}")
        print(f"seed {seed}: " + " | ".join(cells), flush=True)
    for balance, rows in results.items():
        print(f"mean {balance}: balanced accuracy {statistics.mean(r[0] for r in rows):.3f}, "
              f"macro-F1 {statistics.mean(r[1] for r in rows):.3f}, {statistics.mean(r[2] for r in rows):.1f} s a run")


if __name__ == "__main__":
    main()
