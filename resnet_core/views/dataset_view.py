"""What the Data page shows about a scanned dataset: sample images per class as small thumbnails,
images per class, the skipped files grouped by reason, and its duplicate images."""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image, ImageOps

from resnet_core.data.duplicates import DuplicateReport, Progress, dataset_duplicates, leak_warnings
from resnet_core.data.imageio import to_rgb
from resnet_core.data.registry import DatasetInfo
from resnet_core.data.scan import ScanReport
from resnet_core.data.splits import reset_split, saved_assignments
from resnet_core.data.upload import MAX_FILE_BYTES

THUMBNAIL_PX = 96


def class_samples(report: ScanReport, per_class: int = 6, seed: int = 0) -> dict[str, list[Path]]:
    """A few images of every class, picked at random (seeded, so a page shows the same ones)."""
    by_label: dict[int, list[str]] = {}
    for entry in report.images:
        by_label.setdefault(entry.label, []).append(entry.path)
    out = {}
    for label, name in enumerate(report.classes):
        paths = by_label.get(label, [])
        picked = random.Random(f"{seed}:{name}").sample(paths, min(per_class, len(paths)))
        out[name] = [report.root / p for p in sorted(picked)]
    return out


def thumbnail(path: str | Path, size: int = THUMBNAIL_PX) -> Image.Image:
    """The image shrunk to fit size×size, upright RGB; a grey square when it cannot be read
    (a file may change after the scan)."""
    try:
        with Image.open(path) as im:
            im.draft("RGB", (size, size))  # JPEG decodes at 1/2 to 1/8 scale: photos load fast
            im = to_rgb(ImageOps.exif_transpose(im) or im)
            return ImageOps.contain(im, (size, size), Image.BILINEAR)
    except Exception:  # noqa: BLE001 - image plugins raise all sorts on broken files
        return Image.new("RGB", (size, size), (200, 200, 200))


def counts_rows(report: ScanReport) -> list[dict[str, object]]:
    """One row per class: name, images and share of the dataset, largest class first."""
    total = max(report.num_images, 1)
    rows = [{"class": name, "images": n, "share": n / total} for name, n in report.counts.items()]
    return sorted(rows, key=lambda r: (-r["images"], r["class"]))


def skipped_summary(report: ScanReport, examples: int = 3) -> list[dict[str, object]]:
    """One row per skip reason: the reason, how many files, and a few example paths."""
    rows = []
    grouped: dict[str, list[str]] = {}
    for s in report.skipped:
        grouped.setdefault(s.reason, []).append(f"{s.path} ({s.detail})" if s.detail else s.path)
    for reason, paths in grouped.items():
        shown = ", ".join(paths[:examples]) + (f" … (+{len(paths) - examples})" if len(paths) > examples else "")
        rows.append({"reason": reason, "files": len(paths), "examples": shown})
    return sorted(rows, key=lambda r: (-r["files"], r["reason"]))


@dataclass
class DuplicateCheck:
    """The duplicate groups of a dataset as the Data page lists them, and what they mean."""

    report: DuplicateReport
    rows: list[dict[str, object]]  # one a group: kind, copy, images, classes, split, files
    warnings: list[str]  # the split's leaks first, then wrong labels and repeats
    split_saved: bool
    leaks: int  # validation and test images with a copy in training



def duplicate_check(info: DatasetInfo, report: ScanReport, progress: Progress | None = None) -> DuplicateCheck:
    """Find the dataset's duplicates (cached) and place them in its saved split, if it has one."""
    found = dataset_duplicates(info, report, progress=progress)
    parts = saved_assignments(info)
    rows = []
    for g in found.groups:
        in_split = sorted({parts[p] for p in g.paths if p in parts})
        rows.append({
            "kind": "across classes" if g.cross_class else "within a class",
            "copy": "exact" if g.exact else "near",
            "images": len(g.paths),
            "classes": ", ".join(sorted({found.classes[lab] for lab in g.labels})),
            "split": " + ".join(in_split) if in_split else "—",
            "files": ", ".join(g.paths),
        })
    leaks = found.leaks(parts)
    warnings = leak_warnings(leaks) + found.warnings()
    return DuplicateCheck(report=found, rows=rows, warnings=warnings, split_saved=bool(parts),
                          leaks=sum(len(v) for v in leaks.values()))


def new_split(info: DatasetInfo) -> None:
    """Forget the saved split; the next run makes one that keeps each duplicate group together."""
    reset_split(info)


def upload_folder_name(file_names: Sequence[str]) -> str:
    """The folder a directory upload came from ('pets' for 'pets/cat/1.jpg'), to name its dataset."""
    parts = PurePosixPath(file_names[0].replace("\\", "/")).parts if file_names else ()
    return parts[0] if len(parts) > 1 else "uploaded-images"


def dataset_name(typed: str | None, fallback: str) -> str:
    """The name the user typed, else the one taken from the folder or file."""
    return (typed or "").strip() or fallback


def smallest_class(report: ScanReport) -> str | None:
    """The class with the fewest images (the first by name on a tie), or None without classes."""
    return min(report.counts, key=lambda c: (report.counts[c], c)) if report.counts else None


def skipped_rows(report: ScanReport) -> list[dict[str, str]]:
    """Every skipped file with its reason and size detail, for the full list's CSV."""
    return [{"file": s.path, "reason": s.reason, "size": s.detail} for s in report.skipped]


def names_line(names: list[str], shown: int = 5) -> str:
    """"'a.png', 'b.png', … and 3 more": a few names in a line, the rest counted."""
    more = f", … and {len(names) - shown:,} more" if len(names) > shown else ""
    return ", ".join(f"'{n}'" for n in names[:shown]) + more


def too_large_line(names: list[str]) -> str:
    """Why some files cannot come through the folder uploader, or '' when none is too large."""
    if not names:
        return ""
    return (f"{len(names):,} of them {'is' if len(names) == 1 else 'are'} over {MAX_FILE_BYTES // 1024**2} MB, "
            "more than the folder uploader sends in one piece: a .zip takes them. ")
