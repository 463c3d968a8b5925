"""Pooled ImageNet features of a dataset's images, kept beside it once the label check has taken them,
so the duplicate check can also compare pictures by what they show (feature cosine similarity).

Only ImageNet features are kept: a run's model was trained on these very images and labels, so its
features of two pictures say less about whether they are the same picture. The file names the
folder's fingerprint; when the files change it is ignored.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from resnet_core.fsutil import atomic_write_bytes

FEATURES_FILE = "imagenet-features.npz"


def save_features(meta_dir: str | Path, fingerprint: str, paths: list[str], features: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, fingerprint=np.array(fingerprint), paths=np.array(paths, dtype=str),
             features=np.asarray(features, dtype=np.float16))  # half the size; cosines barely move
    try:
        atomic_write_bytes(Path(meta_dir) / FEATURES_FILE, buffer.getvalue())
    except OSError:
        pass  # a read-only metadata folder: the duplicate check compares pixels only


def load_features(meta_dir: str | Path, fingerprint: str) -> dict[str, np.ndarray] | None:
    """path → feature vector, while the folder is the one they were taken from; else None."""
    try:
        with np.load(Path(meta_dir) / FEATURES_FILE, allow_pickle=False) as data:
            if str(data["fingerprint"]) != fingerprint:
                return None
            feats = data["features"].astype(np.float32)
            return {str(p): feats[i] for i, p in enumerate(data["paths"])}
    except (OSError, KeyError, ValueError):
        return None
