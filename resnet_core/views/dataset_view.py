"""What the Data page shows about a scanned dataset: sample images per class as small thumbnails,
images per class, and the skipped files grouped by reason."""
from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from PIL import Image, ImageOps

from resnet_core.data.imageio import to_rgb
from resnet_core.data.scan import ScanReport

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
