"""Using a trained run: class probabilities for single images, and Grad-CAM heatmaps that show where it looked.

Images go through exactly the steps training used (imageio: open_rgb → resize_center_crop →
pil_to_uint8 → model_input), so a prediction here matches what validation measured.
"""
from __future__ import annotations

import functools
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from resnet_core.data.imageio import (
    ImageLoadError,
    model_input,
    open_rgb,
    pil_to_uint8,
    resize_center_crop,
    to_rgb,
)
from resnet_core.training.calibration import CALIBRATION_NAME, read_temperature
from resnet_core.training.checkpoints import CHECKPOINT_NAME, CheckpointError, load_checkpoint
from resnet_core.training.models import Classifier

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO | Image.Image

# Grad-CAM on a stage whose map is smaller than this is a single blob; a shallower stage is used then.
MIN_CAM_CELLS = 4
_STAGE_STRIDES = (("layer4", 32), ("layer3", 16), ("layer2", 8), ("layer1", 4))
_BATCH = 32  # images per forward pass in predict_batch: bounds memory for long lists
# Test-time augmentation: none, the mirror image (flip), or five crops (four corners and the centre)
# of the image enlarged by FIVE_CROP_ZOOM, averaged (results/tta_measure.py measures what each gains).
TTA_MODES = ("none", "flip", "five-crop")
FIVE_CROP_ZOOM = 8 / 7  # 224 px crops of a 256 px image, as ImageNet evaluations take them


def resolve_device(name: str = "cpu") -> torch.device:
    """'auto' → cuda, then mps, then cpu; anything else as torch names it."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def load_image(image: ImageSource, min_size: int | None = None) -> Image.Image:
    """Any accepted image source as upright 8-bit RGB; ImageLoadError when it is not a usable image.
    min_size: decode large JPEGs at a reduced scale, as training did (see imageio.open_rgb)."""
    if isinstance(image, Image.Image):
        try:
            return to_rgb(image)
        except (OSError, ValueError) as e:
            raise ImageLoadError(f"unusable image ({e})") from e
    if isinstance(image, (bytes, bytearray, memoryview)):
        if not len(image):
            raise ImageLoadError("empty file")
        return open_rgb(io.BytesIO(bytes(image)), min_size=min_size)
    if isinstance(image, (str, os.PathLike)) or hasattr(image, "read"):
        return open_rgb(image, min_size=min_size)
    raise TypeError(f"expected an image path, bytes, file or PIL image, got {type(image).__name__}")


@dataclass
class Predictor:
    """A trained run ready to answer: the model in eval mode on its device, its classes and input size."""

    model: Classifier
    classes: list[str]
    image_size: int
    device: torch.device
    meta: dict[str, Any] = field(default_factory=dict)
    # The run's fitted temperature (training/calibration.py): logits are divided by it, so the
    # probabilities are calibrated. 1.0 for a run scored before calibration existed.
    temperature: float = 1.0

    @property
    def calibrated(self) -> bool:
        return self.temperature != 1.0

    def preview(self, image: ImageSource) -> Image.Image:
        """The image as the model sees it: RGB, image_size × image_size (for showing next to a heatmap)."""
        return resize_center_crop(load_image(image, min_size=self.image_size), self.image_size)

    def pixels(self, image: ImageSource) -> torch.Tensor:
        """uint8 3×S×S, preprocessed as in training."""
        return pil_to_uint8(self.preview(image))

    def probabilities(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 N×3×S×S → class probabilities N×C (on the CPU)."""
        with torch.inference_mode():
            # Convert on the device: uint8 is a quarter of the bytes to move.
            logits = self.model(model_input(pixels.to(self.device, non_blocking=True)))
            return torch.softmax(logits.float() / self.temperature, dim=1).cpu()

    def flip_probabilities(self, pixels: torch.Tensor) -> torch.Tensor:
        """Test-time augmentation: the probabilities of each image and its mirror image, averaged."""
        return (self.probabilities(pixels) + self.probabilities(pixels.flip(-1))) / 2

    def five_crop_probabilities(self, pixels: torch.Tensor) -> torch.Tensor:
        """Test-time augmentation: the image enlarged by FIVE_CROP_ZOOM, its four corner crops and its
        centre crop at the model's size, their probabilities averaged."""
        size = pixels.shape[-1]
        big = round(size * FIVE_CROP_ZOOM)
        enlarged = F.interpolate(pixels.float(), size=(big, big), mode="bilinear", align_corners=False)
        enlarged = enlarged.round().clamp(0, 255).to(torch.uint8)
        edge, middle = big - size, (big - size) // 2
        corners = ((0, 0), (0, edge), (edge, 0), (edge, edge), (middle, middle))
        return sum(self.probabilities(enlarged[..., y:y + size, x:x + size].contiguous())
                   for y, x in corners) / len(corners)

    def tta_probabilities(self, pixels: torch.Tensor, tta: str = "none") -> torch.Tensor:
        """probabilities() with one of TTA_MODES."""
        if tta == "flip":
            return self.flip_probabilities(pixels)
        if tta == "five-crop":
            return self.five_crop_probabilities(pixels)
        if tta == "none":
            return self.probabilities(pixels)
        raise ValueError(f"test-time augmentation must be one of {', '.join(TTA_MODES)}; got {tta!r}")

    def predict(self, image: ImageSource, top_k: int = 5, flip: bool = False,
                tta: str | None = None) -> list[dict[str, Any]]:
        """The top_k classes, most probable first: [{"class": name, "probability": p}, ...].

        flip: average with the mirrored image (see results/tta.py for what it gains on the test split).
        tta: one of TTA_MODES instead (five crops: see results/tta_measure.py for its gain).
        """
        pixels = self.pixels(image)[None]
        probs = self.tta_probabilities(pixels, tta or ("flip" if flip else "none"))[0]
        return self.top(probs, top_k)

    def predict_batch(self, images: Sequence[ImageSource], top_k: int = 5) -> list[list[dict[str, Any]]]:
        """predict() for many images, decoded first and run in batches. A bad image raises
        ImageLoadError naming its position; decode one by one with pixels() to skip bad ones instead."""
        decoded = []
        for i, image in enumerate(images):
            try:
                decoded.append(self.pixels(image))
            except ImageLoadError as e:
                raise ImageLoadError(f"image {i + 1} ({_describe(image)}): {e}") from e
        return self.predict_pixels(decoded, top_k)

    def predict_pixels(self, pixels: Sequence[torch.Tensor], top_k: int = 5,
                       tta: str = "none") -> list[list[dict[str, Any]]]:
        """Predictions for already preprocessed uint8 3×S×S images (tta: one of TTA_MODES)."""
        out: list[list[dict[str, Any]]] = []
        for start in range(0, len(pixels), _BATCH):
            probs = self.tta_probabilities(torch.stack(list(pixels[start:start + _BATCH])), tta)
            out.extend(self.top(p, top_k) for p in probs)
        return out

    def top(self, probs: torch.Tensor, top_k: int) -> list[dict[str, Any]]:
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        values, indices = probs.topk(min(top_k, len(self.classes)))
        return [{"class": self.classes[i], "probability": float(v)}
                for v, i in zip(values.tolist(), indices.tolist())]

    # ---- Grad-CAM ----

    def default_cam_layer(self) -> str:
        """layer4 (the last conv block) when its map has at least MIN_CAM_CELLS cells a side (images of
        97 px and more); for smaller images the deepest stage that still shows where."""
        for name, stride in _STAGE_STRIDES:
            if -(-self.image_size // stride) >= MIN_CAM_CELLS:
                return name
        return "layer1"

    def gradcam(self, image: ImageSource, class_index: int | None = None,
                layer: str | None = None) -> tuple[np.ndarray, int]:
        """Grad-CAM heatmap (float32 S×S in [0, 1]) for class_index (default: the predicted class).

        Gradients of the class score with respect to a stage's activations weight its channels; the
        weighted sum, rectified and upsampled, is where the evidence for that class lies.
        """
        layer = layer or self.default_cam_layer()
        if layer not in dict(_STAGE_STRIDES):
            raise ValueError(f"layer must be one of {', '.join(n for n, _ in _STAGE_STRIDES)}, got {layer!r}")
        x = model_input(self.pixels(image)[None].to(self.device))
        with torch.enable_grad():
            # The input asks for gradients so they reach the activation even when weights are frozen.
            x.requires_grad_(True)
            activation, logits = _forward_with_activation(self.model, x, layer)
            if class_index is None:
                class_index = int(logits[0].argmax())
            if not 0 <= class_index < len(self.classes):
                raise ValueError(f"class_index must be between 0 and {len(self.classes) - 1}, got {class_index}")
            (grad,) = torch.autograd.grad(logits[0, class_index], activation)
        with torch.no_grad():
            channel_weights = grad.mean(dim=(2, 3), keepdim=True)
            cam = torch.relu((channel_weights * activation).sum(dim=1, keepdim=True))
            cam = F.interpolate(cam, size=(self.image_size, self.image_size), mode="bilinear",
                                align_corners=False)[0, 0]
            peak = float(cam.max())
            cam = cam / peak if peak > 0 else torch.zeros_like(cam)
        return cam.clamp_(0, 1).float().cpu().numpy(), class_index


def probability_note(predictor: Predictor) -> str:
    """Whether a prediction's probabilities can be taken at their word (training/calibration.py)."""
    if predictor.calibrated:
        return (f"Probabilities calibrated on the validation split (temperature {predictor.temperature:.2f}): "
                "of the images called 80% sure, about 80% are right.")
    # No temperature: the run predates calibration, or its validation split gave nothing to fit on.
    return "Probabilities as the model gives them, not calibrated: this run has no fitted temperature."


def _forward_with_activation(model: Classifier, x: torch.Tensor, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's forward pass, step by step, also returning one stage's output. No hooks, so any
    number of threads can share one Predictor."""
    b = model.backbone
    h = b.maxpool(b.relu(b.bn1(b.conv1((x - model.mean) / model.std))))
    activation = None
    for name in ("layer1", "layer2", "layer3", "layer4"):
        h = getattr(b, name)(h)
        if name == layer:
            activation = h
    logits = model.head(torch.flatten(b.avgpool(h), 1))
    assert activation is not None
    return activation, logits


# A map whose values hardly vary points nowhere; a prediction barely above chance explains little.
FLAT_CAM_SPREAD = 0.08
WEAK_MARGIN_OVER_CHANCE = 1.5


def gradcam_caption(heat: np.ndarray, probability: float, num_classes: int, class_name: str) -> str:
    """What a person may read into the Grad-CAM map: nothing when it is flat or the prediction weak."""
    values = np.nan_to_num(np.asarray(heat, dtype=np.float32))
    if values.size == 0 or float(values.std()) < FLAT_CAM_SPREAD:
        return (f"Grad-CAM: the model found no region that stands out for '{class_name}': the map is flat, "
                "so it shows nothing about where the model looked.")
    chance = 1.0 / max(num_classes, 1)
    if probability < min(0.5, WEAK_MARGIN_OVER_CHANCE * chance):
        return (f"Grad-CAM: the prediction is weak ({probability:.0%}, chance is {chance:.0%}), so read the map "
                f"with care; red areas raised the score of '{class_name}' most, blue ones hardly at all.")
    return f"Grad-CAM: red areas raised the score of '{class_name}' most; blue ones hardly at all."


def jet(values: np.ndarray) -> np.ndarray:
    """A jet-like colour map: values in [0, 1] (H×W) → uint8 RGB (H×W×3), blue = low, red = high."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    centres = np.array([0.75, 0.5, 0.25])  # where red, green and blue peak
    rgb = np.clip(1.5 - np.abs(4.0 * (v - centres)), 0.0, 1.0)
    return (rgb * 255).round().astype(np.uint8)


def overlay(image: Image.Image, heatmap: np.ndarray, alpha: float = 0.45) -> Image.Image:
    """The heatmap in colour blended over the image (the heatmap is resized to the image if needed)."""
    image = to_rgb(image)
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 2:
        raise ValueError(f"heatmap must be 2-D (H×W), got shape {heat.shape}")
    heat = np.nan_to_num(heat, nan=0.0, posinf=1.0, neginf=0.0)
    if heat.shape != (image.height, image.width):
        heat = np.asarray(Image.fromarray(heat, "F").resize(image.size, Image.BILINEAR), dtype=np.float32)
    colours = Image.fromarray(jet(heat), "RGB")
    return Image.blend(image, colours, float(np.clip(alpha, 0.0, 1.0)))


def load_predictor(run_dir: str | os.PathLike, device: str = "cpu") -> Predictor:
    """A Predictor for a finished run folder (its best.pt). CheckpointError when there is none."""
    path = Path(run_dir) / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"no trained model in {Path(run_dir).name!r} ({CHECKPOINT_NAME} is missing); "
                              "the run may not have finished")
    dev = resolve_device(device)
    model, meta = load_checkpoint(path, map_location="cpu")
    model.to(dev).eval()
    return Predictor(model=model, classes=list(meta["classes"]), image_size=int(meta["image_size"]),
                     device=dev, meta=meta, temperature=read_temperature(run_dir))


def cached_predictor(run_dir: str | os.PathLike, device: str = "cpu") -> Predictor:
    """load_predictor, remembered per process; a re-written checkpoint is noticed and reloaded."""
    folder = Path(run_dir).resolve()
    # A new checkpoint or a new temperature both make a new predictor.
    stamp = tuple(_file_stamp(folder / name) for name in (CHECKPOINT_NAME, CALIBRATION_NAME))
    return _cached(str(folder), device, stamp)


def _file_stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (0, 0)
    return (stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _cached(run_dir: str, device: str, stamp: tuple) -> Predictor:
    return load_predictor(run_dir, device)


def _describe(image: Any) -> str:
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    return type(image).__name__
