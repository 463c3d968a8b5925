"""Fashion-MNIST (Zalando Research, MIT licence) from its gzipped IDX files, written out as an image folder.

Real data for benchmarks, the cost-performance study and the built-in sample. Debian's
`dataset-fashion-mnist` package installs the files under DEFAULT_DIR.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
# Label order as published with the dataset.
CLASSES = ("T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle_boot")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class FashionMNISTMissing(FileNotFoundError):
    """The IDX files are not installed; the message says how to get them."""


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path.name} is not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split: str = "train", directory: str | Path = DEFAULT_DIR) -> tuple[np.ndarray, np.ndarray]:
    """(images N×28×28 uint8, labels N) for 'train' (60,000) or 'test' (10,000)."""
    directory = Path(directory)
    images_name, labels_name = FILES[split]
    if not (directory / images_name).exists():
        raise FashionMNISTMissing(
            f"Fashion-MNIST is not installed in {directory}. On Debian/Ubuntu: "
            "apt-get install dataset-fashion-mnist")
    return _read_idx(directory / images_name), _read_idx(directory / labels_name)


def balanced_indices(labels: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """`count` indices with classes as equal as possible, drawn at random (seeded)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = [count // len(classes) + (1 if i < count % len(classes) else 0) for i in range(len(classes))]
    picked = [rng.permutation(np.flatnonzero(labels == c))[:n] for c, n in zip(classes, per_class)]
    return np.sort(np.concatenate(picked))


def write_image_folder(out: str | Path, count: int, split: str = "train", seed: int = 0,
                       directory: str | Path = DEFAULT_DIR) -> Path:
    """Write `count` balanced images as out/<class>/<index>.png (greyscale PNG, 28×28)."""
    out = Path(out)
    images, labels = load(split, directory)
    for i in balanced_indices(labels, min(count, len(labels)), seed):
        folder = out / CLASSES[labels[i]]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i], "L").save(folder / f"{split}_{i:05d}.png")
    return out
