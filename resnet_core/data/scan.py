"""What is in an image folder: every file used or skipped, and why, from headers alone.

A dataset is a folder whose top-level subfolders are the classes; images anywhere below a class
folder belong to it. `scan` decides for every file whether it is used or skipped, and why, by
reading image headers only, so a folder of 20,000 images scans in seconds. The warnings compare
the counts with the model cards' minimums.
"""
from __future__ import annotations

import hashlib
import os
import stat
import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from resnet_core.config import MODEL_LABELS
from resnet_core.data.imageio import DAMAGED, IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS, pixels_in, too_large_message

Progress = Callable[[int, int], None]

# The model cards' minimums: images per class, and images in all per model.
MIN_IMAGES_PER_CLASS = (10, 20)
MODEL_MIN_IMAGES = {"resnet18": 100, "resnet50": 500, "resnet101": 2000}
# Largest/smallest class ratio above which we warn about imbalance.
IMBALANCE_RATIO = 3.0

# Why a file is skipped. Constant sentences, so reports can group files by reason.
NOT_IMAGE = "not an image (this file type is not a supported picture format)"
NOT_IMAGE_CONTENT = "not an image (the content is not a picture, whatever its name says)"
EMPTY_FILE = "empty file (0 bytes)"
UNREADABLE = DAMAGED
TOO_LARGE = too_large_message()
OUTSIDE_LINK = "link to a place outside the dataset folder"
BROKEN_LINK = "broken link (its target does not exist)"
LINK_LOOP = "link back to a folder it is inside (a loop)"
HIDDEN = "hidden or system file"
TOP_LEVEL = "image at the top level, not inside a class folder"
NO_PERMISSION = "cannot be read (permission denied)"
NOT_REGULAR = "not a regular file"

# System clutter that is not a dataset's content. Names starting with '.' are hidden as well.
SYSTEM_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx", "ehthumbs.db", "$recycle.bin"})

_TAIL_BYTES = 256  # enough to find a PNG's IEND chunk or a JPEG's end marker with some padding
_PROGRESS_EVERY = 250
SCAN_CACHE_VERSION = 2  # 2: the median image width and height
# First bytes of the formats we read: a file that starts like one but cannot be opened is broken,
# not "something else".
_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*",
          b"P1", b"P2", b"P3", b"P4", b"P5", b"P6")


class DatasetError(ValueError):
    """A dataset problem the user can fix; the message says what was wrong and what to do."""


@dataclass(frozen=True)
class ImageEntry:
    path: str  # relative POSIX path from the dataset root
    label: int


@dataclass(frozen=True)
class Skipped:
    path: str  # relative POSIX path; folders end with '/'
    reason: str  # one of the constant sentences above, so files group by reason
    detail: str = ""  # what is particular to this file (a too-large image's size)


@dataclass
class ScanReport:
    root: Path
    classes: list[str]
    counts: dict[str, int]
    images: list[ImageEntry]
    skipped: list[Skipped]
    warnings: list[str]
    fingerprint: str  # hash of the used files' paths, sizes and mtimes
    # The median width and height of the usable images (None when unknown): what the images hold,
    # so no recommended image size enlarges them.
    median_width: int | None = None
    median_height: int | None = None
    # The user's label decisions applied (label_decisions.py): images left out, and images counted
    # in another class than their folder's (path → class). Empty for a folder's own scan.
    excluded: list[str] = field(default_factory=list)
    moved: dict[str, str] = field(default_factory=dict)

    @property
    def num_images(self) -> int:
        return len(self.images)

    @property
    def smallest_class_count(self) -> int:
        return min(self.counts.values(), default=0)

    def decoded_paths(self) -> list[str]:
        """Every usable file of the folder, excluded ones included, in the folder scan's order (class
        folder, then path): the decoded-image cache holds them all, so a decision decodes nothing again."""
        paths = [e.path for e in self.images] + list(self.excluded)
        if not self.excluded and not self.moved:
            return paths
        return sorted(paths, key=lambda p: (p.split("/", 1)[0], p))

    def skipped_by_reason(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for s in self.skipped:
            grouped.setdefault(s.reason, []).append(s.path)
        return grouped

    def to_dict(self, include_images: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "root": str(self.root),
            "classes": list(self.classes),
            "counts": dict(self.counts),
            "num_images": self.num_images,
            "smallest_class_count": self.smallest_class_count,
            "skipped": [{"path": s.path, "reason": s.reason, **({"detail": s.detail} if s.detail else {})}
                        for s in self.skipped],
            "warnings": list(self.warnings),
            "fingerprint": self.fingerprint,
            "median_width": self.median_width,
            "median_height": self.median_height,
            "excluded": list(self.excluded),
            "moved": dict(self.moved),
        }
        if include_images:
            d["images"] = [{"path": e.path, "label": e.label} for e in self.images]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ScanReport":
        return cls(
            root=Path(d["root"]),
            classes=list(d["classes"]),
            counts={k: int(v) for k, v in d["counts"].items()},
            images=[ImageEntry(e["path"], int(e["label"])) for e in d.get("images", [])],
            skipped=[Skipped(s["path"], s["reason"], s.get("detail", "")) for s in d["skipped"]],
            warnings=list(d["warnings"]),
            fingerprint=d["fingerprint"],
            median_width=d.get("median_width"),
            median_height=d.get("median_height"),
            excluded=[str(p) for p in d.get("excluded", [])],
            moved={str(k): str(v) for k, v in d.get("moved", {}).items()},
        )


# ---------------------------------------------------------------------------------------------
# Scanning
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Candidate:
    rel: str
    path: str
    class_name: str
    size: int
    mtime_ns: int


@dataclass
class _Listing:
    """What a cheap stat walk finds: files to check, and what was skipped without opening it."""

    root: Path
    class_dirs: list[str] = field(default_factory=list)
    candidates: list[_Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for c in sorted(self.candidates, key=lambda c: c.rel):
            h.update(f"{c.rel}\0{c.size}\0{c.mtime_ns}\n".encode("utf-8", "surrogatepass"))
        for s in sorted(self.skipped, key=lambda s: s.path):
            h.update(f"{s.path}\0{s.reason}\n".encode("utf-8", "surrogatepass"))
        for name in sorted(self.class_dirs):
            h.update(f"{name}/\n".encode("utf-8", "surrogatepass"))
        return h.hexdigest()


def is_hidden_name(name: str) -> bool:
    """Hidden files and OS clutter: '.DS_Store', '.ipynb_checkpoints', '__MACOSX', 'Thumbs.db' ..."""
    return name.startswith(".") or name.casefold() in SYSTEM_NAMES


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def list_folder(root: str | os.PathLike) -> _Listing:
    """List the folder with stat calls only, following links that stay inside it."""
    root_path = Path(root).expanduser()
    if not root_path.exists():
        raise DatasetError(f"The folder {str(root_path)!r} does not exist: check the path and try again.")
    if not root_path.is_dir():
        raise DatasetError(
            f"{str(root_path)!r} is not a folder: give the folder whose subfolders are the classes.")
    root_real = os.path.realpath(root_path)
    listing = _Listing(root=Path(os.path.abspath(root_path)))

    def entries(folder: str, rel: str) -> list[os.DirEntry] | None:
        try:
            with os.scandir(folder) as it:
                return sorted(it, key=lambda e: e.name)
        except PermissionError:
            listing.skipped.append(Skipped(rel + "/" if rel else "./", NO_PERMISSION))
        except OSError:
            listing.skipped.append(Skipped(rel + "/" if rel else "./", UNREADABLE))
        return None

    def visit(folder: str, rel: str, class_name: str | None, ancestors: frozenset[str]) -> None:
        for entry in entries(folder, rel) or []:
            child_rel = f"{rel}/{entry.name}" if rel else entry.name
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir()  # follows links
            except OSError:
                listing.skipped.append(Skipped(child_rel, UNREADABLE))
                continue
            if is_hidden_name(entry.name):
                listing.skipped.append(Skipped(child_rel + ("/" if is_dir else ""), HIDDEN))
                continue
            if is_link:
                target = os.path.realpath(entry.path)
                if not os.path.exists(target):
                    listing.skipped.append(Skipped(child_rel, BROKEN_LINK))
                    continue
                if not _inside(target, root_real):
                    listing.skipped.append(Skipped(child_rel + ("/" if is_dir else ""), OUTSIDE_LINK))
                    continue
            if is_dir:
                real = os.path.realpath(entry.path)
                if real in ancestors:
                    listing.skipped.append(Skipped(child_rel + "/", LINK_LOOP))
                    continue
                if class_name is None:
                    listing.class_dirs.append(entry.name)
                visit(entry.path, child_rel, class_name or entry.name, ancestors | {real})
                continue
            try:
                st = entry.stat()  # follows links
            except PermissionError:
                listing.skipped.append(Skipped(child_rel, NO_PERMISSION))
                continue
            except OSError:
                listing.skipped.append(Skipped(child_rel, UNREADABLE))
                continue
            if not stat.S_ISREG(st.st_mode):
                listing.skipped.append(Skipped(child_rel, NOT_REGULAR))
            elif class_name is None:
                is_image = os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS
                listing.skipped.append(Skipped(child_rel, TOP_LEVEL if is_image else NOT_IMAGE))
            else:
                listing.candidates.append(
                    _Candidate(child_rel, entry.path, class_name, st.st_size, st.st_mtime_ns))

    visit(str(listing.root), "", None, frozenset({root_real}))
    return listing


def check_image_file(path: str | os.PathLike, size: int | None = None) -> str | None:
    """Why this file cannot be used as an image (a skip reason), or None when it can.

    Reads the header and the last bytes only. A PNG must end with its IEND chunk and a JPEG
    with its end marker; only when that is missing do we decode (JPEG at 1/8 scale) to be sure,
    so files with harmless trailing data still count.
    """
    return _check_file(path, size)[0]


def _check_file(path: str | os.PathLike, size: int | None = None) -> tuple[str | None, tuple[int, int] | None]:
    """check_image_file's reason, and the image's (width, height) when its header was read."""
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() not in IMAGE_EXTENSIONS:
        return NOT_IMAGE, None
    try:
        size = os.path.getsize(path) if size is None else size
        if size == 0:
            return EMPTY_FILE, None
        with open(path, "rb") as f:
            head = f.read(16)
            f.seek(max(0, size - _TAIL_BYTES))
            tail = f.read()
            f.seek(0)
            return _check_header(f, head, tail)
    except PermissionError:
        return NO_PERMISSION, None
    except OSError:
        return UNREADABLE, None


def _check_header(f, head: bytes, tail: bytes) -> tuple[str | None, tuple[int, int] | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning and format quirks
            im = Image.open(f)
            width, height = im.size
            fmt = im.format
            if width * height > MAX_IMAGE_PIXELS:
                return TOO_LARGE, None
            if width <= 0 or height <= 0:
                return UNREADABLE, None
            looks_cut = (fmt == "PNG" and b"IEND" not in tail) or (
                fmt == "JPEG" and b"\xff\xd9" not in tail)
            if looks_cut:
                if fmt == "JPEG":
                    im.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                im.load()
    except Image.DecompressionBombError:
        return TOO_LARGE, None
    except UnidentifiedImageError:
        if head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
            return UNREADABLE, None
        return NOT_IMAGE_CONTENT, None
    except Exception:  # noqa: BLE001 - image plugins raise all sorts on broken files
        return UNREADABLE, None
    return None, (width, height)


def _size_of(path: str) -> str:
    """A too-large image's size, read from its header, for the skip list."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                return f"{im.width:,} × {im.height:,} pixels"
    except Image.DecompressionBombError as e:  # Pillow refuses the very largest before saying their size
        pixels = pixels_in(e)
        return f"{pixels:,} pixels" if pixels else ""
    except Exception:  # noqa: BLE001 - the reason alone still stands
        return ""


def scan(root: str | os.PathLike, progress: Progress | None = None) -> ScanReport:
    """Scan a class-per-subfolder image folder: what is used, what is skipped and why, warnings.

    Raises DatasetError when the path does not exist or is not a folder.
    """
    return check_listing(list_folder(root), progress)


def check_listing(listing: _Listing, progress: Progress | None) -> ScanReport:
    candidates = sorted(listing.candidates, key=lambda c: (c.class_name, c.rel))
    total = len(candidates)
    used: list[_Candidate] = []
    widths: list[int] = []
    heights: list[int] = []
    skipped = list(listing.skipped)
    if progress:
        progress(0, total)
    for i, c in enumerate(candidates, 1):
        reason, dimensions = _check_file(c.path, c.size)
        if reason is None:
            used.append(c)
            if dimensions:
                widths.append(dimensions[0])
                heights.append(dimensions[1])
        else:
            skipped.append(Skipped(c.rel, reason, _size_of(c.path) if reason == TOO_LARGE else ""))
        if progress and (i % _PROGRESS_EVERY == 0 or i == total):
            progress(i, total)

    counts_all = {name: 0 for name in listing.class_dirs}
    for c in used:
        counts_all[c.class_name] += 1
    classes = sorted(name for name, n in counts_all.items() if n > 0)
    empty = sorted(name for name, n in counts_all.items() if n == 0)
    label_of = {name: i for i, name in enumerate(classes)}
    images = [ImageEntry(c.rel, label_of[c.class_name]) for c in used]
    images.sort(key=lambda e: (e.label, e.path))
    counts = {name: counts_all[name] for name in classes}

    h = hashlib.sha256()
    for c in sorted(used, key=lambda c: c.rel):
        h.update(f"{c.rel}\0{c.size}\0{c.mtime_ns}\n".encode("utf-8", "surrogatepass"))
    return ScanReport(
        root=listing.root,
        classes=classes,
        counts=counts,
        images=images,
        skipped=sorted(skipped, key=lambda s: s.path),
        warnings=dataset_warnings(counts, empty),
        fingerprint=h.hexdigest(),
        median_width=int(statistics.median(widths)) if widths else None,
        median_height=int(statistics.median(heights)) if heights else None,
    )


def _names(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def dataset_warnings(counts: dict[str, int], empty_classes: list[str] = ()) -> list[str]:
    """Plain sentences about what may hurt training, measured against the model cards."""
    out: list[str] = []
    if empty_classes:
        out.append(f"Class folders with no usable images are left out: {_names(list(empty_classes))}. "
                   "Add images to them or remove them.")
    if not counts:
        out.append("No images found in class folders. Put each class's images in its own subfolder "
                   "of the dataset folder (for example cats/ and dogs/).")
        return out
    if len(counts) < 2:
        out.append(f"Only one class ('{next(iter(counts))}'): a classifier needs at least 2 class "
                   "folders. Add a subfolder for each other class.")
    if len(counts) >= 2:
        largest = max(counts, key=lambda k: (counts[k], k))
        smallest = min(counts, key=lambda k: (counts[k], k))
        ratio = counts[largest] / counts[smallest]
        if ratio > IMBALANCE_RATIO:
            out.append(
                f"Classes are imbalanced: '{largest}' has {counts[largest]:,} images but "
                f"'{smallest}' only {counts[smallest]:,} ({ratio:.1f}× fewer). The model may favour "
                "the large classes; add images to the small ones and watch per-class accuracy.")
    lo, hi = MIN_IMAGES_PER_CLASS
    # The cards give a range; only a class below its lower end is below the minimum.
    small = sorted((n, name) for name, n in counts.items() if n < lo)
    if small:
        listed = ", ".join(f"'{name}' ({n})" for n, name in small[:8])
        if len(small) > 8:
            listed += f" and {len(small) - 8} more"
        out.append(f"Classes below the model cards' minimum of {lo}–{hi} images per class: "
                   f"{listed}. Results on them will be unreliable; add images if you can.")
    total = sum(counts.values())
    below = [f"{MODEL_LABELS[m]} ({n:,})" for m, n in MODEL_MIN_IMAGES.items() if total < n]
    if below:
        advice = ("Expect unreliable results and add images if you can."
                  if total < min(MODEL_MIN_IMAGES.values())
                  else "Prefer the smaller models, or add images.")
        out.append(f"{total:,} images in all is below the model cards' minimum for "
                   f"{_join(below)}. {advice}")
    return out


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


