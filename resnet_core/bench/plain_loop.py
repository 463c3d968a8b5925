"""The baseline the benchmark measures against: the transfer-learning loop a PyTorch user writes by hand.

torchvision `ImageFolder` + PIL transforms + `DataLoader` (workers matched to the cores, pinned memory on
CUDA, shuffling), a torchvision ResNet with a new `fc`, AdamW with a per-step cosine schedule, and a
validation pass every epoch. Nothing here is tuned: it is the tutorial recipe, kept honest so the
comparison means something. Frozen mode does what a user does: `requires_grad=False` on everything but
`fc`, and `model.eval()` so BatchNorm keeps its statistics.

It trains on exactly the files it is given (the project's saved split), starts from the same seed and
therefore the same initial weights as the engine (see `build_plain_model`), and times where the epoch
goes: forward + loss + backward + optimiser step versus everything else.
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from resnet_core.data.augment import POLICIES
from resnet_core.data.imageio import IMAGENET_MEAN, IMAGENET_STD

MIN_LR_FRACTION = 0.01  # the cosine schedule ends at 1% of the starting rate, as in the engine


@dataclass(frozen=True)
class PlainSpec:
    """One plain-loop run: which files, which model, which settings."""

    root: str
    train_files: tuple[str, ...]  # paths relative to root
    val_files: tuple[str, ...]
    classes: tuple[str, ...]  # the class order the project uses (sorted folder names)
    model: str = "resnet18"
    fine_tune: bool = True
    augmentation: str = "none"  # none, or an augment.POLICIES level mirrored with PIL transforms
    image_size: int = 64
    epochs: int = 12
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "cpu"
    num_workers: int | None = None  # None: one per core, as most tutorials advise
    # bf16 autocast + channels_last, as the engine computes on a GPU: then only the data path differs.
    amp: bool = False


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def build_plain_model(arch: str, num_classes: int, seed: int) -> nn.Module:
    """torchvision ResNet with a fresh fc. Under the same seed its weights equal the engine's Classifier
    (both build the torchvision body, its 1000-way fc, then one Linear head, in that order)."""
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.get_model(arch, weights=None)
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def plain_transforms(image_size: int, augmentation: str):
    """(train transform, validation transform) — torchvision's classic Compose pipelines."""
    from torchvision import transforms as T


    normalize = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    val_tf = T.Compose([T.Resize(image_size), T.CenterCrop(image_size), T.ToTensor(), normalize])
    policy = POLICIES[augmentation]
    if policy is None:
        return val_tf, val_tf
    steps: list[Any] = [T.RandomResizedCrop(image_size, scale=policy.crop_scale, ratio=policy.crop_ratio)]
    if policy.flip:
        steps.append(T.RandomHorizontalFlip())
    if policy.rotation_deg:
        steps.append(T.RandomRotation(policy.rotation_deg))
    if policy.brightness or policy.contrast or policy.saturation:
        steps.append(T.ColorJitter(policy.brightness, policy.contrast, policy.saturation))
    if policy.grayscale_p:
        steps.append(T.RandomGrayscale(policy.grayscale_p))
    return T.Compose([*steps, T.ToTensor(), normalize]), val_tf


def image_folder(root: str, files: Sequence[str], transform, classes: Sequence[str]):
    """ImageFolder restricted to `files` (so both sides see the same split), with a class check."""
    from torchvision.datasets import ImageFolder

    wanted = {os.path.normpath(os.path.join(root, f)) for f in files}
    dataset = ImageFolder(root, transform=transform, allow_empty=True,
                          is_valid_file=lambda p: os.path.normpath(p) in wanted)
    if list(dataset.classes) != list(classes):
        raise ValueError(
            f"ImageFolder sees the classes {dataset.classes}, the dataset scan {list(classes)}: remove class "
            "folders without usable images so both loops see the same classes.")
    if len(dataset) != len(wanted):
        raise ValueError(f"ImageFolder found {len(dataset)} of the {len(wanted)} split files under {root}; "
                         "the folder changed since it was split: run the benchmark again.")
    return dataset


def train_plain(spec: PlainSpec) -> dict[str, Any]:
    """Train as a user would and return timings and accuracies (per epoch and overall)."""
    from torch.utils.data import DataLoader

    started = time.perf_counter()
    device = torch.device(spec.device)
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.backends.cudnn.benchmark = True  # what every GPU tutorial turns on
    workers = cpu_cores() if spec.num_workers is None else spec.num_workers
    train_tf, val_tf = plain_transforms(spec.image_size, spec.augmentation)
    train_set = image_folder(spec.root, spec.train_files, train_tf, spec.classes)
    val_set = image_folder(spec.root, spec.val_files, val_tf, spec.classes)
    # A last training batch of one image breaks BatchNorm in train mode; users drop it once they hit that.
    drop_last = spec.fine_tune and len(train_set) % spec.batch_size == 1
    gen = torch.Generator().manual_seed(spec.seed)
    train_loader = DataLoader(train_set, batch_size=spec.batch_size, shuffle=True, num_workers=workers,
                              pin_memory=on_cuda, drop_last=drop_last, generator=gen)
    val_loader = DataLoader(val_set, batch_size=spec.batch_size, shuffle=False, num_workers=workers,
                            pin_memory=on_cuda)

    model = build_plain_model(spec.model, len(spec.classes), spec.seed)
    if not spec.fine_tune:
        for p in model.parameters():
            p.requires_grad = False
        for p in model.fc.parameters():
            p.requires_grad = True
    model.to(device)
    if spec.amp:
        model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=spec.weight_decay)
    steps = spec.epochs * len(train_loader)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, steps), eta_min=spec.learning_rate * MIN_LR_FRACTION)
    criterion = nn.CrossEntropyLoss()
    setup_s = time.perf_counter() - started

    history = []
    for epoch in range(1, spec.epochs + 1):
        epoch_start = time.perf_counter()
        if spec.fine_tune:
            model.train()
        else:
            model.eval()  # frozen backbone: BatchNorm keeps its running statistics
        compute_s, seen, correct, total_loss = 0.0, 0, 0, 0.0
        for images, labels in train_loader:
            images = images.to(device, non_blocking=on_cuda)
            labels = labels.to(device, non_blocking=on_cuda)
            if spec.amp:
                images = images.contiguous(memory_format=torch.channels_last)
            t0 = _now(on_cuda)
            with _amp(spec, device):
                outputs = model(images)
                loss = criterion(outputs.float(), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            compute_s += _now(on_cuda) - t0
            n = labels.size(0)
            seen += n
            total_loss += loss.item() * n
            correct += (outputs.argmax(1) == labels).sum().item()
        train_s = time.perf_counter() - epoch_start

        model.eval()
        val_loss, val_correct = 0.0, 0
        with torch.no_grad():
            for images, labels in val_loader:
                images, labels = images.to(device), labels.to(device)
                with _amp(spec, device):
                    outputs = model(images).float()
                val_loss += criterion(outputs, labels).item() * labels.size(0)
                val_correct += (outputs.argmax(1) == labels).sum().item()
        epoch_s = time.perf_counter() - epoch_start
        history.append({
            "epoch": epoch, "train_loss": total_loss / max(seen, 1), "train_acc": correct / max(seen, 1),
            "val_loss": val_loss / max(len(val_set), 1), "val_acc": val_correct / max(len(val_set), 1),
            "train_time_s": train_s, "compute_time_s": compute_s, "epoch_time_s": epoch_s,
            "images_per_s": seen / max(train_s, 1e-9),
        })
    return {"history": history, "setup_s": setup_s, "num_train": len(train_set), "num_val": len(val_set),
            "num_workers": workers, "total_s": time.perf_counter() - started}


def _amp(spec: PlainSpec, device: torch.device):
    if not spec.amp:
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _now(sync_cuda: bool) -> float:
    """A timestamp; on CUDA after waiting for queued kernels, so compute time is real time."""
    if sync_cuda:
        torch.cuda.synchronize()
    return time.perf_counter()
