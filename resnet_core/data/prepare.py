"""From a dataset (a name, or a handle already opened) to tensors ready to train on: scan, saved
split, decoded pixels."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from resnet_core.config import TrainConfig
from resnet_core.data.handle import DatasetHandle, open_dataset
from resnet_core.data.imagecache import load_decoded
from resnet_core.data.splits import subset_train
from resnet_core.workspace import Workspace

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class DataError(ValueError):
    """The dataset cannot be trained on as it is; the message says why and what to do."""


@dataclass
class TrainingData:
    """All decoded images of a dataset plus which rows form each split."""

    name: str
    root: Path
    classes: list[str]
    paths: list[str]  # row → path relative to root
    pixels: torch.Tensor  # N×3×S×S uint8
    labels: torch.Tensor  # N, class index per row (-1 for an image the user excluded: in no split)
    train_idx: torch.Tensor
    val_idx: torch.Tensor
    test_idx: torch.Tensor
    num_images: int  # usable images in the dataset (all splits)
    image_size: int
    warnings: list[str]
    prep_time_s: float
    # Validation and test images with a copy in training ({'val': n, 'test': n}); the run keeps it.
    split_leaks: dict[str, int] = field(default_factory=dict)

    def labelled_idx(self) -> torch.Tensor:
        """The rows of every split, in row order: the images a run may use."""
        return torch.cat([self.train_idx, self.val_idx, self.test_idx]).unique(sorted=True)


def check_classes(name: str, report) -> None:
    """DataError unless the scan found at least 2 classes with images (checked before any run exists)."""
    if len(report.classes) < 2:
        found = (f"only one class with images ('{report.classes[0]}')" if report.classes
                 else "no class folders with images")
        raise DataError(f"dataset '{name}' has {found}; training needs at least 2. Put each class's "
                        "images in its own subfolder (for example cats/ and dogs/); `scan` shows "
                        "which files were skipped and why.")


def check_split(name: str, split) -> None:
    """DataError unless the saved split has training and validation images."""
    if not split.train:
        raise DataError(f"dataset '{name}' has no training images after the split. Add images.")
    if not split.val:
        raise DataError(f"dataset '{name}' is too small for a validation split: give each class "
                        "at least 3 images.")


def prepare_data(config: TrainConfig, workspace: Workspace, progress: Progress | None = None,
                 dataset: DatasetHandle | None = None, memory_map: bool = False) -> TrainingData:
    """Scan (cached), load the dataset's saved split, and decode its images once (cached).

    dataset: config.dataset already opened (its scan and split are reused); otherwise it is opened here.
    memory_map: map the decoded-image cache file rather than read it into this process's memory, so
    the processes of one multi-device run share one copy of the pixels (the OS's page cache).
    """
    started = time.perf_counter()
    handle = dataset or open_dataset(
        config.dataset, workspace, progress=(lambda d, t: progress("scanning", d, t)) if progress else None)
    info, report = handle.info, handle.report
    check_classes(info.name, report)
    split = handle.split
    warnings = list(split.warnings)
    train = split.train
    if config.max_train_images is not None and config.max_train_images < len(train):
        train = subset_train(split, config.max_train_images, seed=0)
        warnings.append(f"Training on a stratified subset of {len(train)} of the "
                        f"{len(split.train)} training images.")
    check_split(info.name, split)
    if not train:
        raise DataError(f"dataset '{info.name}' has no training images after the split. Add images.")

    # Every file is decoded (one cache, whatever the label decisions); excluded rows are in no split.
    paths = report.decoded_paths()
    decoded = load_decoded(info.root, paths, report.fingerprint, config.image_size, workspace.cache_dir,
                           memory_map=memory_map,
                           progress=(lambda d, t: progress("decoding", d, t)) if progress else None)
    row = {p: i for i, p in enumerate(paths)}
    label_of = {e.path: e.label for e in report.images}
    labels = torch.tensor([label_of.get(p, -1) for p in paths], dtype=torch.long)
    if report.excluded or report.moved:
        warnings.append(f"Label decisions applied: {len(report.excluded)} image(s) left out and "
                        f"{len(report.moved)} counted in another class than their folder's (Data page).")

    def rows(entries) -> torch.Tensor:
        usable = [row[e.path] for e in entries if e.path in row and e.path not in decoded.failed]
        return torch.tensor(usable, dtype=torch.long)

    for path, reason in list(decoded.failed.items())[:5]:
        warnings.append(f"Left out {path}: {reason}.")
    if len(decoded.failed) > 5:
        warnings.append(f"Left out {len(decoded.failed) - 5} more unreadable images.")
    return TrainingData(
        name=info.name, root=Path(info.root), classes=list(report.classes), paths=paths,
        pixels=decoded.pixels, labels=labels, train_idx=rows(train), val_idx=rows(split.val),
        test_idx=rows(split.test), num_images=report.num_images - len(decoded.failed),
        image_size=config.image_size, warnings=warnings, prep_time_s=time.perf_counter() - started,
        split_leaks=split.leak_counts())
