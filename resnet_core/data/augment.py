"""Batched data augmentation on image tensors, with fresh random parameters for every image.

Images come from the decoded-image cache as uint8 N×3×S×S; augmentation runs on whole batches on
the training device. Geometry (random resized crop, rotation, flip) is one affine warp per image,
done for the whole batch by a single `grid_sample`; colour (brightness, contrast, saturation) is a
per-image blend. torchvision's v2 transforms draw one set of parameters per call, i.e. per batch,
which would give every image in a batch the same crop — hence this small module.

Random parameters are drawn on the generator's device: with a CUDA generator nothing per batch
touches the CPU or waits for the GPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentPolicy:
    """How strong each augmentation is; the levels below increase every knob together."""

    flip: bool
    crop_scale: tuple[float, float]  # fraction of the image area kept by the random crop
    crop_ratio: tuple[float, float]  # aspect ratio range of the crop
    rotation_deg: float
    brightness: float  # factor drawn from [1 - b, 1 + b]
    contrast: float
    saturation: float
    grayscale_p: float


POLICIES: dict[str, AugmentPolicy | None] = {
    "none": None,
    "light": AugmentPolicy(True, (0.80, 1.0), (0.9, 1.1), 0.0, 0.10, 0.10, 0.0, 0.0),
    "standard": AugmentPolicy(True, (0.60, 1.0), (3 / 4, 4 / 3), 10.0, 0.20, 0.20, 0.20, 0.0),
    "heavy": AugmentPolicy(True, (0.35, 1.0), (3 / 4, 4 / 3), 25.0, 0.40, 0.40, 0.40, 0.10),
}

DESCRIPTIONS = {
    "none": "no augmentation: every epoch sees the same images",
    "light": "flips and mild crops (80–100% of the image), slight brightness and contrast changes",
    "standard": "flips, crops (60–100%), rotation up to ±10°, brightness/contrast/saturation ±20%",
    "heavy": "flips, crops (35–100%), rotation up to ±25°, colour ±40% and occasional greyscale",
}


def augment_batch(images: torch.Tensor, level: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Float N×3×H×W in [0, 1] → an augmented batch of the same shape (no-op for 'none')."""
    policy = POLICIES[level]
    if policy is None:
        return images
    n = images.shape[0]
    theta = _random_affine(n, policy, generator, _draw_device(images, generator)).to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return _random_colour(out, policy, generator)


def _draw_device(images: torch.Tensor, g: torch.Generator | None) -> torch.device:
    """Where random numbers are drawn: on the generator's device, else the images'."""
    return g.device if g is not None else images.device


def _uniform(n: int, lo: float, hi: float, g: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=g, device=device) * (hi - lo) + lo


def _random_affine(n: int, p: AugmentPolicy, g: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Per-image 2×3 matrices mapping output to input coordinates (affine_grid's convention)."""
    area = _uniform(n, *p.crop_scale, g, device)
    log_ratio = _uniform(n, math.log(p.crop_ratio[0]), math.log(p.crop_ratio[1]), g, device)
    ratio = torch.exp(log_ratio)
    sx = torch.sqrt(area * ratio).clamp(max=1.0)  # crop width as a fraction of the image
    sy = torch.sqrt(area / ratio).clamp(max=1.0)
    # The crop's centre may move anywhere that keeps the crop inside the image.
    tx = (torch.rand(n, generator=g, device=device) * 2 - 1) * (1 - sx)
    ty = (torch.rand(n, generator=g, device=device) * 2 - 1) * (1 - sy)
    angle = _uniform(n, -p.rotation_deg, p.rotation_deg, g, device) * math.pi / 180
    flip = (torch.where(torch.rand(n, generator=g, device=device) < 0.5, -1.0, 1.0) if p.flip
            else torch.ones(n, device=device))
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.empty(n, 2, 3, device=device)
    theta[:, 0, 0] = sx * cos * flip
    theta[:, 0, 1] = -sx * sin
    theta[:, 0, 2] = tx
    theta[:, 1, 0] = sy * sin * flip
    theta[:, 1, 1] = sy * cos
    theta[:, 1, 2] = ty
    return theta


def _random_colour(x: torch.Tensor, p: AugmentPolicy, g: torch.Generator | None) -> torch.Tensor:
    n = x.shape[0]
    device = _draw_device(x, g)

    def factors(strength: float) -> torch.Tensor:
        return _uniform(n, 1 - strength, 1 + strength, g, device).to(x.device, x.dtype).view(n, 1, 1, 1)

    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    if p.brightness:
        x = x * factors(p.brightness)
    if p.contrast:
        mean = (x * weights).sum(1, keepdim=True).mean((2, 3), keepdim=True)
        x = mean + (x - mean) * factors(p.contrast)
    if p.saturation or p.grayscale_p:
        gray = (x * weights).sum(1, keepdim=True)
        s = factors(p.saturation) if p.saturation else torch.ones(n, 1, 1, 1, device=x.device, dtype=x.dtype)
        if p.grayscale_p:
            to_gray = (torch.rand(n, generator=g, device=device) < p.grayscale_p).to(x.device).view(n, 1, 1, 1)
            s = torch.where(to_gray, torch.zeros_like(s), s)
        x = gray + (x - gray) * s
    return x.clamp_(0.0, 1.0)
