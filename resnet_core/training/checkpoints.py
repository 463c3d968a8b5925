"""A run's checkpoint: the trained weights with their classes, image size and settings, written atomically.

Beside each checkpoint lie labels.json (class names in output order) and preprocess.json (how to
turn an image file into the model's input), so the model can be used without this tool.
"""
from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from resnet_core.config import MODELS
from resnet_core.data.imageio import preprocess_spec
from resnet_core.fsutil import atomic_write_bytes, atomic_write_json
from resnet_core.training.models import Classifier
from resnet_core.training.weights import WeightsError, check_arch, model_label

# ---- run checkpoints ---------------------------------------------------------------------------

class CheckpointError(WeightsError):
    """A run's checkpoint is missing or damaged."""


CHECKPOINT_NAME = "best.pt"


def save_checkpoint(path: str | os.PathLike, model: Classifier, classes: list[str], image_size: int,
                    epoch: int, config: Mapping[str, Any] | Any) -> None:
    """Write a run checkpoint atomically, with labels.json and preprocess.json beside it."""
    if len(classes) != model.num_classes:
        raise ValueError(f"{len(classes)} class names for a model with {model.num_classes} outputs")
    save_checkpoint_state(path, model.state_dict(), model.arch, classes, image_size, epoch, config)


def save_checkpoint_state(path: str | os.PathLike, state_dict: Mapping[str, torch.Tensor], arch: str,
                          classes: list[str], image_size: int, epoch: int,
                          config: Mapping[str, Any] | Any) -> None:
    """save_checkpoint for a Classifier state dict kept aside (e.g. the best epoch's weights)."""
    check_arch(arch)
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    checkpoint = {
        # A torch.compile'd or DataParallel model prefixes its keys; the checkpoint holds plain names.
        "model": {k.removeprefix("_orig_mod.").removeprefix("module."): v.detach().cpu()
                  for k, v in state_dict.items()},
        "arch": arch,
        "num_classes": len(classes),
        "classes": list(classes),
        "image_size": int(image_size),
        "epoch": int(epoch),
        "config": dict(config or {}),
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    write_sidecars(path.parent, classes, image_size)


def write_sidecars(folder: str | os.PathLike, classes: list[str], image_size: int) -> None:
    """labels.json (class names in output order) and preprocess.json (how to feed the model)."""
    folder = Path(folder)
    atomic_write_json(folder / "labels.json", list(classes))
    atomic_write_json(folder / "preprocess.json", preprocess_spec(int(image_size)))


def load_checkpoint(path: str | os.PathLike,
                    map_location: str | torch.device = "cpu") -> tuple[Classifier, dict[str, Any]]:
    """The model (in eval mode) and the rest of the checkpoint dict (arch, classes, image_size, ...)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path.name} not found in {path.parent}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} is damaged or not a ResNet Pilot checkpoint "
                              f"({type(e).__name__}); train the run again") from e
    required = ("model", "arch", "num_classes", "classes", "image_size")
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in required):
        raise CheckpointError(f"{path} is not a ResNet Pilot checkpoint (expected keys {', '.join(required)})")
    arch, num_classes = ckpt["arch"], int(ckpt["num_classes"])
    if arch not in MODELS or len(ckpt["classes"]) != num_classes:
        raise CheckpointError(f"{path} is inconsistent: model {arch!r} with {num_classes} outputs and "
                              f"{len(ckpt['classes'])} class names")
    # Built on the meta device: no time spent initialising weights that are replaced at once.
    with torch.device("meta"):
        model = Classifier(arch, num_classes)
    try:
        model.load_state_dict(ckpt["model"], strict=True, assign=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not fit {model_label(arch)}: {str(e).splitlines()[0]}") from e
    model.eval()
    meta = {k: v for k, v in ckpt.items() if k != "model"}
    return model, meta

