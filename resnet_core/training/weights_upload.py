"""Weights files a person uploads to start training from: kept in the workspace under a safe name,
and checked the moment they are chosen, so a file that cannot be used is refused before a run exists.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from resnet_core.data.importing import sanitize_relative_path
from resnet_core.fsutil import atomic_write_bytes
from resnet_core.training.weights import check_backbone_weights, model_label, read_weights_file
from resnet_core.workspace import Workspace

WEIGHTS_EXTENSIONS = (".pt", ".pth")


def weights_dir(workspace: Workspace) -> Path:
    return workspace.root / "weights"


def save_weights_upload(workspace: Workspace, filename: str, data: bytes) -> Path:
    """Store uploaded weights as weights/<content hash>/<name> and return the path.

    The hash folder keeps two different files called 'model.pt' apart, the same file uploaded twice
    lands on the same path, and messages about the file still show the name the user knows.
    ValueError for an empty file or a foreign extension.
    """
    if not data:
        raise ValueError(f"{filename or 'the file'} is empty: choose the .pt or .pth file again")
    parts = sanitize_relative_path(filename or "")
    name = parts[-1] if parts else "weights.pt"
    if not name.lower().endswith(WEIGHTS_EXTENSIONS):
        raise ValueError(f"{name} is not a weights file: upload a PyTorch .pt or .pth file")
    digest = hashlib.sha256(data).hexdigest()[:12]
    target = weights_dir(workspace) / digest / name
    if not target.is_file():
        atomic_write_bytes(target, data)
    return target


def check_weights_file(path: str | Path, arch: str) -> str:
    """Read the file safely and check that it fits an `arch` backbone; returns what it holds in a few
    words ('ResNet18 weights, 122 tensors').

    Raises models.WeightsError (a ValueError) saying what is wrong: not a readable PyTorch file,
    code or objects inside, no state dict, or weights of another model or shape.
    """
    path = Path(path)
    state = read_weights_file(path)
    check_backbone_weights(arch, state, path.name)
    return f"{model_label(arch)} weights, {len(state):,} tensors"
