"""A trained run as one download: the exported model with labels.json, preprocess.json and a short
predict.py that applies them, zipped.

The export is written to a scratch folder inside the workspace (never next to the run's own files),
zipped in memory and the scratch folder removed, so repeated downloads leave nothing behind.
"""
from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

from resnet_core.results.export import FORMATS, export_model
from resnet_core.workspace import Workspace

SIDECARS = ("labels.json", "preprocess.json")
# Runs the bundle's model on images outside ResNet Pilot, applying preprocess.json (see its docstring).
PREDICT_SCRIPT = Path(__file__).with_name("bundle_predict.py")


def bundle_name(run_id: int, model: str, fmt: str) -> str:
    """'run-3-resnet18-onnx.zip'."""
    return f"run-{run_id}-{model}-{fmt}.zip"


def export_bundle(workspace: Workspace, run_id: int, fmt: str) -> bytes:
    """The zip (bytes) of run `run_id`'s best model in `fmt` plus its labels and preprocessing.

    ValueError for an unknown format; CheckpointError (a ValueError) when the run has no model.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    scratch = workspace.scratch_dir(f"export-{run_id}")
    try:
        model_file = export_model(workspace.run_dir(run_id), fmt, scratch)
        buffer = io.BytesIO()
        # Model weights barely compress; storing them saves time without costing size.
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.write(model_file, model_file.name, compress_type=zipfile.ZIP_STORED)
            for name in SIDECARS:
                zf.write(scratch / name, name, compress_type=zipfile.ZIP_DEFLATED)
            zf.write(PREDICT_SCRIPT, "predict.py", compress_type=zipfile.ZIP_DEFLATED)
        return buffer.getvalue()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
