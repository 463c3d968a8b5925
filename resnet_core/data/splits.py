"""One stratified train/val/test split per dataset, saved with it, so every run on a dataset is
scored on the same test images.

The split is created on first use and stored as split.json in the dataset's metadata folder,
keyed by each image's relative path. When files are added or removed later, the remaining files
keep their assignment, missing ones are dropped and new ones are assigned stratified.

Small classes: a class with 3 or more images gets at least one image in each split; a class of
2 gets one for training and one for testing (no validation); a class of 1 is training only. Each
case is reported as a warning.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet_core.data.duplicates import DuplicateReport, dataset_duplicates, leak_warnings
from resnet_core.data.registry import DatasetInfo, dataset_report, now_iso
from resnet_core.data.scan import DatasetError, ImageEntry, ScanReport
from resnet_core.fsutil import atomic_write_json, read_json

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
_SPLIT_FILE = "split.json"
_VERSION = 1


@dataclass
class Split:
    classes: list[str]
    train: list[ImageEntry]
    val: list[ImageEntry]
    test: list[ImageEntry]
    warnings: list[str] = field(default_factory=list)
    seed: int = 0
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    # Validation and test images with a copy or near-copy in training (a split made before the
    # duplicate check, or copies added later); {} when none.
    leaks: dict[str, list[str]] = field(default_factory=dict)

    def leak_counts(self) -> dict[str, int]:
        return {part: len(self.leaks.get(part, [])) for part in ("val", "test")}

    def part(self, name: str) -> list[ImageEntry]:
        if name not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {name!r}")
        return getattr(self, name)

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per class in each split: {'train': {'cat': 14, ...}, 'val': ..., 'test': ...}."""
        out = {}
        for name in SPLITS:
            per = {c: 0 for c in self.classes}
            for e in self.part(name):
                per[self.classes[e.label]] += 1
            out[name] = per
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "seed": self.seed, "fractions": list(self.fractions),
                "sizes": {name: len(self.part(name)) for name in SPLITS},
                "counts": self.counts(), "warnings": list(self.warnings), "leaks": self.leak_counts()}


def _check_fractions(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    try:
        fr = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        fr = ()
    if len(fr) != 3 or any(f < 0 for f in fr) or fr[0] <= 0 or abs(sum(fr) - 1.0) > 1e-6:
        raise DatasetError(f"Split fractions must be three numbers (train, val, test) that add up "
                           f"to 1 with train above 0, for example 0.7, 0.15, 0.15; got {fractions!r}.")
    return fr  # type: ignore[return-value]


def split_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """How many of a class's n images go to train, val and test."""
    if n <= 0:
        return 0, 0, 0
    if n == 1:
        return 1, 0, 0
    _, fv, ft = fractions
    if n == 2:
        return (1, 0, 1) if ft > 0 else (1, 1, 0) if fv > 0 else (2, 0, 0)
    n_val = max(1, round(n * fv)) if fv > 0 else 0
    n_test = max(1, round(n * ft)) if ft > 0 else 0
    while n - n_val - n_test < 1:  # training always keeps at least one image
        if n_val >= n_test and n_val > 1:
            n_val -= 1
        elif n_test > 1:
            n_test -= 1
        else:
            break
    return n - n_val - n_test, n_val, n_test


def _shuffled(paths: list[str], seed: int, class_name: str) -> list[str]:
    # A string seed is hashed with SHA-512, so the order is the same in every process.
    rng = random.Random(f"{seed}:{class_name}")
    out = sorted(paths)
    rng.shuffle(out)
    return out


def _assign(report: ScanReport, saved: dict[str, str], fractions, seed: int,
            groups: Sequence[Sequence[str]] = ()) -> dict[str, str]:
    """Keep saved assignments of files still present; assign the rest to the neediest split.

    Each group of duplicates goes to one split as a whole, so no copy of a test image is trained on;
    a new copy of an image that already has a split joins it.
    """
    class_of = {e.path: report.classes[e.label] for e in report.images}
    by_class: dict[str, list[str]] = {c: [] for c in report.classes}
    for path, cls in class_of.items():
        by_class[cls].append(path)
    together: dict[str, list[str]] = {}
    for g in groups:
        members = [p for p in g if p in class_of]
        for p in members:
            together[p] = members
    result = {p: saved[p] for p in class_of if saved.get(p) in SPLITS}
    have = {cls: {s: 0 for s in SPLITS} for cls in by_class}
    for p, s in result.items():
        have[class_of[p]][s] += 1
    for cls, paths in by_class.items():
        target = dict(zip(SPLITS, split_sizes(len(paths), fractions)))
        for p in _shuffled(paths, seed, cls):
            if p in result:
                continue
            group = together.get(p, [p])
            placed = [result[q] for q in group if q in result]
            if placed:  # the split most of its group is in; ties go train, val, test
                best = max(SPLITS, key=lambda s: (placed.count(s), -SPLITS.index(s)))
            else:  # the split furthest below its target takes it; ties go train, val, test
                best = max(SPLITS, key=lambda s: (target[s] - have[cls][s], -SPLITS.index(s)))
            for q in group:
                if q not in result:
                    result[q] = best
                    have[class_of[q]][best] += 1
    return result


def _small_class_warnings(report: ScanReport) -> list[str]:
    out = []
    for cls, n in report.counts.items():
        if n == 1:
            out.append(f"Class '{cls}' has only 1 image: it is used for training only and cannot "
                       "be validated or tested. Add at least 2 more images.")
        elif n == 2:
            out.append(f"Class '{cls}' has only 2 images: 1 for training and 1 for testing, none "
                       "for validation. Add at least 1 more image.")
    return out


def split_path(info: DatasetInfo) -> Path:
    return info.meta_dir / _SPLIT_FILE


def get_split(info: DatasetInfo, report: ScanReport | None = None,
              fractions: tuple[float, float, float] = DEFAULT_FRACTIONS, seed: int = 0,
              duplicates: DuplicateReport | None = None) -> Split:
    """The dataset's saved split, created on first use (fractions and seed apply then) and
    brought up to date when its files changed. Duplicates (found here when not given) are kept
    in one split; a saved split that separates some is kept and its leaks reported."""
    fractions = _check_fractions(fractions)
    report = report if report is not None else dataset_report(info)
    if not report.images:
        raise DatasetError(f"Dataset {info.name!r} has no usable images to split: "
                           "scan it to see why its files were skipped.")
    path = split_path(info)
    saved = read_json(path)
    warnings = _small_class_warnings(report)
    if isinstance(saved, dict) and saved.get("version") == _VERSION:
        old: dict[str, str] = dict(saved.get("assignments", {}))
        asked = (seed, fractions)
        seed = int(saved.get("seed", seed))
        fractions = _check_fractions(tuple(saved.get("fractions", fractions)))
        if asked != (seed, fractions):
            warnings.append(
                f"This dataset's split was made with seed {seed} and fractions "
                f"{', '.join(f'{f:g}' for f in fractions)}; it is kept so runs stay comparable. "
                "Reset the split to make a new one.")
    else:
        old = {}
    if duplicates is None:
        duplicates = dataset_duplicates(info, report)
    assignments = _assign(report, old, fractions, seed, [g.paths for g in duplicates.groups])
    # An image the user excluded keeps its part, so undoing the exclusion puts it back there.
    assignments.update({p: old[p] for p in report.excluded if p in old})
    if assignments != old:
        if old:
            added = sum(1 for p in assignments if p not in old)
            removed = sum(1 for p in old if p not in assignments)
            warnings.append(
                f"The dataset changed since its split was made: {added} new image(s) were assigned "
                f"and {removed} missing image(s) dropped; earlier runs were tested on a slightly "
                "different test set.")
        created = (saved.get("created") if isinstance(saved, dict) else None) or now_iso()
        atomic_write_json(path, {"version": _VERSION, "seed": seed, "fractions": list(fractions),
                                 "created": created, "updated": now_iso(),
                                 "assignments": assignments})
    parts: dict[str, list[ImageEntry]] = {s: [] for s in SPLITS}
    for e in report.images:  # already sorted by (label, path)
        parts[assignments[e.path]].append(e)
    leaks = duplicates.leaks(assignments)
    warnings.extend(leak_warnings(leaks))
    return Split(classes=list(report.classes), train=parts["train"], val=parts["val"],
                 test=parts["test"], warnings=warnings, seed=seed, fractions=fractions,
                 leaks={k: v for k, v in leaks.items() if v})


def saved_assignments(info: DatasetInfo) -> dict[str, str]:
    """The saved split's part of every image (path → 'train' | 'val' | 'test'); {} before the first."""
    saved = read_json(split_path(info))
    if not isinstance(saved, dict) or saved.get("version") != _VERSION:
        return {}
    return {str(p): s for p, s in dict(saved.get("assignments", {})).items() if s in SPLITS}


def reset_split(info: DatasetInfo) -> None:
    """Forget the saved split; the next get_split makes a new one (earlier test sets are lost)."""
    split_path(info).unlink(missing_ok=True)


def subset_train(split: Split, n: int, seed: int = 0) -> list[ImageEntry]:
    """A stratified subset of n training images (all of them when n is larger).

    Each class contributes in proportion to its share of the train split (at least one image
    while n allows), and a larger n keeps a smaller n's images, so a study's sizes nest.
    """
    if n < 1:
        raise DatasetError(f"The training subset needs at least 1 image; got {n}.")
    if n >= len(split.train):
        return list(split.train)
    by_label: dict[int, list[ImageEntry]] = {}
    for e in split.train:
        by_label.setdefault(e.label, []).append(e)
    total = len(split.train)
    labels = sorted(by_label)
    quota = {lab: n * len(by_label[lab]) / total for lab in labels}
    take = {lab: int(q) for lab, q in quota.items()}
    if n >= len(labels):
        for lab in labels:
            take[lab] = max(take[lab], 1)
    # Hand out what is left by largest remainder, then trim any excess from the biggest shares.
    order = sorted(labels, key=lambda lab: (-(quota[lab] - int(quota[lab])), lab))
    i = 0
    while sum(take.values()) < n:
        lab = order[i % len(order)]
        if take[lab] < len(by_label[lab]):
            take[lab] += 1
        i += 1
    floor = 1 if n >= len(labels) else 0
    while sum(take.values()) > n:
        lab = max((lab for lab in labels if take[lab] > floor),
                  key=lambda lab: (take[lab] - quota[lab], take[lab]))
        take[lab] -= 1
    chosen: list[ImageEntry] = []
    for lab in labels:
        entries = {e.path: e for e in by_label[lab]}
        order_paths = _shuffled(list(entries), seed, f"subset:{lab}")
        chosen.extend(entries[p] for p in order_paths[:take[lab]])
    chosen.sort(key=lambda e: (e.label, e.path))
    return chosen
