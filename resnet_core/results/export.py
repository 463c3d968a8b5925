"""Exporting a trained run for use outside ResNet Pilot: TorchScript or ONNX, with its labels and preprocessing.

Both take a float32 batch N×3×S×S of RGB values in [0, 1] (any N) and return logits N×C; the ImageNet
normalisation is part of the model, and so is the run's calibration temperature (the logits come out
already divided by it, so their softmax is the calibrated probabilities). labels.json (output order)
and preprocess.json (how to turn an image into that batch, and the temperature applied) are written
beside the exported file.
"""
from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import torch

from resnet_core.data.imageio import preprocess_spec
from resnet_core.fsutil import atomic_write_bytes, atomic_write_json
from resnet_core.training.calibration import read_temperature
from resnet_core.training.checkpoints import (
    CHECKPOINT_NAME,
    CheckpointError,
    load_checkpoint,
    write_sidecars,
)
from resnet_core.training.models import Classifier

FORMATS = {"torchscript": ".pt", "onnx": ".onnx"}


def export_model(run_dir: str | os.PathLike, fmt: str, out_path: str | os.PathLike) -> Path:
    """Write the run's best model in `fmt` to out_path (a folder gets model.pt / model.onnx).

    Returns the path written. ValueError for an unknown format or an out_path that would overwrite
    the run's checkpoint; CheckpointError when the run has no trained model.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    checkpoint = Path(run_dir) / CHECKPOINT_NAME
    if not checkpoint.is_file():
        raise CheckpointError(f"no trained model in {Path(run_dir).name!r} ({CHECKPOINT_NAME} is missing)")
    out = output_path(out_path, fmt)
    if out.resolve() == checkpoint.resolve():
        raise ValueError(f"{out} is the run's own checkpoint; choose another output path")
    model, meta = load_checkpoint(checkpoint)
    classes, image_size = list(meta["classes"]), int(meta["image_size"])
    temperature = read_temperature(run_dir)
    calibrated = CalibratedClassifier(model, temperature).eval()
    # Batch of 2: a batch of 1 would let the ONNX exporter treat the batch size as a constant.
    example = torch.rand(2, 3, image_size, image_size)
    spec = {**preprocess_spec(image_size), **calibration_spec(temperature)}
    data = (_torchscript_bytes(calibrated, example) if fmt == "torchscript"
            else _onnx_bytes(calibrated, example, classes, spec))
    atomic_write_bytes(out, data)
    write_sidecars(out.parent, classes, image_size)
    atomic_write_json(out.parent / "preprocess.json", spec)
    return out


class CalibratedClassifier(torch.nn.Module):
    """The model with its temperature folded in: logits / T, so softmax gives calibrated probabilities."""

    def __init__(self, model: Classifier, temperature: float):
        super().__init__()
        self.model = model
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) / self.temperature


def calibration_spec(temperature: float) -> dict:
    """What preprocess.json says about the model's output and the temperature inside it."""
    return {"output": "logits N×C, in labels.json's order; softmax gives the class probabilities",
            "calibration": {"temperature": temperature, "applied": "inside the model (logits divided by it)",
                            "fitted_on": "the validation split, after training",
                            "note": "1.0 means the model was not calibrated"}}


def output_path(out_path: str | os.PathLike, fmt: str) -> Path:
    """out_path itself; model<ext> inside it when it is a folder; <ext> added when it has no suffix."""
    out = Path(out_path).expanduser()
    if out.is_dir():
        return out / f"model{FORMATS[fmt]}"
    return out if out.suffix else out.with_suffix(FORMATS[fmt])


def _torchscript_bytes(model: torch.nn.Module, example: torch.Tensor) -> bytes:
    with warnings.catch_warnings():
        # torch.jit is deprecated in favour of torch.export, but TorchScript is still what most
        # deployment targets (C++ libtorch, older runtimes) load.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        with torch.no_grad():
            traced = torch.jit.trace(model.eval(), example)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
    return buffer.getvalue()


def _onnx_bytes(model: torch.nn.Module, example: torch.Tensor, classes: list[str], spec: dict) -> bytes:
    import onnx  # only needed here; onnxscript (the exporter's back end) is imported by torch

    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model.eval(), (example,), dynamo=True, verbose=False,
                                    input_names=["image"], output_names=["logits"],
                                    dynamic_shapes=({0: batch},))
    proto = program.model_proto
    # The labels and preprocessing travel inside the file too, for tools that only get the .onnx.
    onnx.helper.set_model_props(proto, {"labels": json.dumps(classes, ensure_ascii=False),
                                        "preprocess": json.dumps(spec)})
    return proto.SerializeToString()
