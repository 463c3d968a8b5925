"""Classify images with an exported ResNet Pilot model, without ResNet Pilot.

Shipped in every download bundle as predict.py, beside model.pt or model.onnx, labels.json and
preprocess.json. It needs Pillow and NumPy, plus torch (for model.pt) or onnxruntime (for model.onnx):

    python predict.py photo.jpg [more.png ...] [--top 3]

It applies preprocess.json step by step, so an image is fed exactly as it was in training. This file
imports nothing from ResNet Pilot on purpose: it must run wherever the bundle is unzipped.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent


def to_rgb(im: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """preprocess.json's color_conversion: RGB, 16-bit greys scaled, transparency onto the background."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        hi = arr.max()
        scale = 255.0 / (65535.0 if hi > 255 and im.mode.startswith("I;16") else max(hi, 1.0))
        im = Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("LA", "La", "PA", "RGBa"):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        flat = Image.new("RGB", im.size, background)
        flat.paste(im, mask=im.getchannel("A"))
        return flat
    return im.convert("RGB")


def preprocess(path: Path, spec: dict) -> np.ndarray:
    """One image as the model's input: float32 3×S×S in [0, 1]."""
    size = int(spec["resize_shorter_side_to"])
    with Image.open(path) as im:
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)
        if im.format == "JPEG":
            im.draft(None, (size, size))  # spec's jpeg_decoding: reduced-scale decode, never below size
        im.load()
        im = ImageOps.exif_transpose(im) or im
        im = to_rgb(im, tuple(spec.get("alpha_background", (255, 255, 255))))
    w, h = im.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.BILINEAR, reducing_gap=None)
    left, top = (nw - size) // 2, (nh - size) // 2
    im = im.crop((left, top, left + size, top + size))
    return (np.asarray(im, dtype=np.float32) / 255.0).transpose(2, 0, 1)


def load_runner(folder: Path):
    """A function from a float32 N×3×S×S batch to logits N×C, for whichever model file is here."""
    if (folder / "model.onnx").is_file():
        import onnxruntime  # only needed for the ONNX model

        session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda batch: session.run(None, {name: batch})[0]
    if (folder / "model.pt").is_file():
        import torch  # only needed for the TorchScript model

        model = torch.jit.load(str(folder / "model.pt"), map_location="cpu").eval()

        def run(batch: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model(torch.from_numpy(batch)).numpy()
        return run
    raise SystemExit(f"no model.onnx or model.pt next to {Path(__file__).name}")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify images with the exported model next to this file.")
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=3, help="how many classes to show per image (default 3)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    labels = json.loads((HERE / "labels.json").read_text(encoding="utf-8"))
    spec = json.loads((HERE / "preprocess.json").read_text(encoding="utf-8"))
    run = load_runner(HERE)
    results = []
    for path in args.images:
        try:
            batch = preprocess(path, spec)[None]
        except (OSError, ValueError) as e:
            print(f"{path}: cannot read this image ({e.__class__.__name__})", file=sys.stderr)
            continue
        probs = softmax(run(batch))[0]
        order = np.argsort(-probs)[: max(1, args.top)]
        results.append({"image": str(path),
                        "top": [{"class": labels[i], "probability": float(probs[i])} for i in order]})
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for r in results:
            shown = ", ".join(f"{t['class']} {t['probability']:.1%}" for t in r["top"])
            print(f"{r['image']}: {shown}")
    return 0 if len(results) == len(args.images) else 1


if __name__ == "__main__":
    raise SystemExit(main())
