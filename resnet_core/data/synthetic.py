"""Generated image folders: learnable, tiny and seeded — for tests, benchmarks and demos.

Each class has its own colour and stripe orientation, with per-image noise, position and
brightness jitter, so a ResNet learns it within a few epochs yet it is not trivially identical.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

_PALETTE = [(220, 60, 60), (60, 170, 80), (60, 90, 220), (230, 200, 40), (170, 70, 200),
            (40, 200, 210), (240, 130, 40), (120, 120, 120), (200, 120, 160), (90, 60, 30)]


def class_names(num_classes: int) -> list[str]:
    return [f"class_{i}" for i in range(num_classes)]


def make_image(label: int, size: int, rng: np.random.Generator) -> Image.Image:
    base = np.array(_PALETTE[label % len(_PALETTE)], dtype=np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = (label * 37 % 180) * np.pi / 180
    period = 3 + (label // len(_PALETTE)) * 2
    phase = rng.uniform(0, 2 * np.pi)
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * period * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)
    img = base[None, None, :] * (0.55 + 0.45 * stripes[..., None])
    img *= rng.uniform(0.8, 1.2)
    img += rng.normal(0, 12, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def make_image_folder(root: str | Path, num_classes: int = 3, per_class: int | list[int] = 20,
                      size: int = 32, seed: int = 0, ext: str = ".png",
                      names: list[str] | None = None) -> Path:
    """Write root/<class>/<class>_<i><ext> and return root. per_class may differ per class."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    names = names or class_names(num_classes)
    counts = per_class if isinstance(per_class, list) else [per_class] * num_classes
    for label, (name, n) in enumerate(zip(names, counts)):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            make_image(label, size, rng).save(folder / f"{name}_{i:04d}{ext}")
    return root


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width × height but holds no pixels: opening it reads only the header, so
    the handling of huge images can be checked without the memory they would take."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def make_picture(size: int, rng: np.random.Generator) -> Image.Image:
    """A picture unlike any other: random coloured shapes on a random background, light noise.

    Unlike make_image, two of these share no structure, as two different photos would not, so a
    duplicate check must tell a resized or re-compressed copy from every other picture.
    """
    im = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(im)
    for _ in range(6):
        x0, y0 = (int(v) for v in rng.integers(0, size, 2))
        w, h = (int(v) for v in rng.integers(size // 8, size // 2, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x0, y0, x0 + w, y0 + h], fill=colour)
    pixels = np.asarray(im, dtype=np.float32) + rng.normal(0, 8, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
