"""A generated 10:1 imbalanced dataset, ready as training tensors: for the class-balance test and
its benchmark (scripts/class_balance_benchmark.py). Kept apart from synthetic.py, which writes
image folders without needing torch."""
from __future__ import annotations

from pathlib import Path

import torch

from resnet_core.data.prepare import TrainingData

IMBALANCED_PX = 16


def imbalanced_training_data(seed: int, major: int = 120, minor: int = 12, per_class_eval: int = 30) -> TrainingData:
    """Two overlapping classes (a brightness ramp down or up, under heavy noise), 10:1 in training;
    validation and test hold as many images of each, so balanced accuracy is what they measure."""
    g = torch.Generator().manual_seed(seed)
    ramp = (torch.arange(IMBALANCED_PX).float() / (IMBALANCED_PX - 1) - 0.5).view(1, 1, IMBALANCED_PX, 1) * 40

    def images(label: int, n: int) -> torch.Tensor:
        x = 128 + (ramp if label else -ramp) + torch.randn(n, 3, IMBALANCED_PX, IMBALANCED_PX, generator=g) * 40
        return x.clamp(0, 255).to(torch.uint8)

    parts = [(0, major), (1, minor)] + [(0, per_class_eval), (1, per_class_eval)] * 2
    pixels = torch.cat([images(label, n) for label, n in parts])
    labels = torch.cat([torch.full((n,), label, dtype=torch.long) for label, n in parts])
    bounds = torch.tensor([0] + [n for _, n in parts]).cumsum(0).tolist()

    def rows(first: int, last: int) -> torch.Tensor:
        return torch.arange(bounds[first], bounds[last])

    return TrainingData(name="imbalanced", root=Path("."), classes=["large", "small"],
                        paths=[f"{i}.png" for i in range(len(labels))], pixels=pixels, labels=labels,
                        train_idx=rows(0, 2), val_idx=rows(2, 4), test_idx=rows(4, 6),
                        num_images=len(labels), image_size=IMBALANCED_PX, warnings=[], prep_time_s=0.0)
