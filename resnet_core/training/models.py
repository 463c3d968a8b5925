"""The ResNet classifiers: building them (with ImageNet, random or a user's weights) and freezing.

A `Classifier` takes float RGB in [0, 1] and normalises inside, so a checkpoint or an exported model is
fed exactly as `imageio.preprocess_spec` says, with nothing else to remember. Where starting weights
come from is weights.py; run checkpoints are checkpoints.py.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torchvision
from torch import nn

from resnet_core.data.imageio import IMAGENET_MEAN, IMAGENET_STD
from resnet_core.training.weights import (
    WEIGHT_MODES,
    WeightsError,
    check_arch,
    imagenet_state_dict,
    load_backbone_weights,
    read_weights_file,
)


class Classifier(nn.Module):
    """A torchvision ResNet body (its fc removed) + a new linear head, with ImageNet normalisation inside."""

    def __init__(self, arch: str, num_classes: int) -> None:
        super().__init__()
        check_arch(arch)
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.arch = arch
        self.num_classes = num_classes
        self.backbone = torchvision.models.get_model(arch, weights=None)
        self.feature_dim: int = self.backbone.fc.in_features
        self.backbone.fc = nn.Identity()
        self.head = nn.Linear(self.feature_dim, num_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1))
        self.backbone_frozen = False

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features (N × feature_dim) of a [0, 1] batch."""
        return self.backbone((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def train(self, mode: bool = True) -> "Classifier":
        super().train(mode)
        # A frozen backbone keeps its BatchNorm statistics: otherwise they would drift with every
        # training batch even though no weight of the backbone learns.
        if self.backbone_frozen:
            self.backbone.eval()
        return self


def build_model(arch: str, num_classes: int, weights: str = "none",
                weights_path: str | os.PathLike | None = None,
                generator: torch.Generator | None = None) -> Classifier:
    """A Classifier with starting weights 'imagenet', 'none' (random) or 'file'.

    Random weights come from `generator` when given (see `initialise`), else from torch's global
    generator (callers seed it). 'auto' is not accepted here: turn it into one of these with
    `resolve_weights` first, so the caller can show its warnings.
    """
    if weights not in WEIGHT_MODES:
        raise WeightsError(f"weights must be one of {', '.join(WEIGHT_MODES)} here, got {weights!r}"
                           + ("; call resolve_weights() first" if weights == "auto" else ""))
    model = Classifier(arch, num_classes)
    if generator is not None:
        initialise(model, generator, backbone=weights == "none")
    if weights == "imagenet":
        load_backbone_weights(model, imagenet_state_dict(arch), source="the ImageNet weights file")
    elif weights == "file":
        if not weights_path:
            raise WeightsError("weights='file' needs a weights file (.pt or .pth)")
        load_backbone_weights(model, read_weights_file(weights_path), source=Path(weights_path).name)
    return model


def initialise(model: Classifier, generator: torch.Generator, backbone: bool = True) -> None:
    """Draw the random starting weights from `generator`, with the distributions torchvision and torch use.

    Torch's global generator is shared by every thread of the process (a time-estimate probe may
    reseed it while a run builds its model), so a run that must be repeatable draws from its own.
    Backbone: convolutions He-normal (fan-out, as torchvision's ResNet), BatchNorm 1 and 0 as built.
    Head: nn.Linear's default (He-uniform weights with a=√5, uniform bias within 1/√fan-in).
    """
    with torch.no_grad():
        if backbone:
            for m in model.backbone.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
        nn.init.kaiming_uniform_(model.head.weight, a=math.sqrt(5), generator=generator)
        bound = 1 / math.sqrt(model.head.in_features)
        nn.init.uniform_(model.head.bias, -bound, bound, generator=generator)


# ---- training helpers --------------------------------------------------------------------------

def freeze_backbone(model: Classifier) -> None:
    """Only the head learns: backbone weights stop taking gradients and its BatchNorm stays in eval
    mode from now on (Classifier.train keeps it there), so its running statistics do not drift."""
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    model.backbone_frozen = True
    model.backbone.eval()


def set_train_mode(model: Classifier, fine_tune: bool) -> None:
    """model.train() for an epoch; with a frozen backbone (fine_tune=False) the backbone stays in eval."""
    model.train()
    if not fine_tune:
        model.backbone.eval()


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


