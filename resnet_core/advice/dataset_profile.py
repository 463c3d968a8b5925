"""What kind of dataset this is, in the few numbers that decide whether advice carries over to another.

A profile holds the training images (read with the cards' size bands), the number of classes, the
median image side and whether the images are grayscale or colour. Two datasets are alike when they
sit in the same size band and their kind matches (see `alike`); a number not known on either side
(a plan typed by hand has no images to look at) does not rule a dataset out.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from PIL import Image, ImageChops

from resnet_core.advice.model_cards import card
from resnet_core.advice.recommend import training_images
from resnet_core.data.registry import DatasetInfo, dataset_report
from resnet_core.data.scan import DatasetError
from resnet_core.fsutil import atomic_write_json, read_json

GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "F"}
IMAGES_LOOKED_AT = 5  # enough to tell grayscale from colour; the scan already read every header
CLASS_RATIO = 2.0  # classes within a factor of two count as alike (5 and 10, not 2 and 10)
SIDE_RATIO = 2.0  # median image sides within a factor of two (28 and 32 px, not 28 and 224)
BAND_CARD = "resnet18"  # the card whose size bands (tiny to large) name a dataset's size
PROFILE_FILE = "profile.json"  # beside scan.json: the profile of the scan it was read from


@dataclass(frozen=True)
class DatasetProfile:
    num_train: int  # the images a run trains on: the bands are read with this count
    num_classes: int
    median_side: int | None = None  # the median of the images' shorter sides, px
    channels: str | None = None  # "grayscale" | "colour"

    @property
    def band(self) -> str:
        return card(BAND_CARD).band_for(self.num_train).name

    def words(self) -> str:
        """'833 training images, 10 classes, grayscale, 28 px'."""
        parts = [f"{self.num_train:,} training images", f"{self.num_classes} classes"]
        if self.channels:
            parts.append(self.channels)
        if self.median_side:
            parts.append(f"{self.median_side} px")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "band": self.band}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetProfile:
        return cls(num_train=int(d["num_train"]), num_classes=int(d["num_classes"]),
                   median_side=d.get("median_side"), channels=d.get("channels"))

    def at_size(self, num_train: int) -> DatasetProfile:
        """The same kind of data at another training size (a study size, a race's subset)."""
        return DatasetProfile(num_train, self.num_classes, self.median_side, self.channels)


def profile_of_report(report: Any) -> DatasetProfile:
    """The profile of a scanned dataset (a ScanReport): its training split's size, its classes, its
    median side and its channels, read from a few of its images."""
    side = (min(report.median_width, report.median_height)
            if report.median_width and report.median_height else None)
    step = max(1, len(report.images) // IMAGES_LOOKED_AT)  # spread over the classes, not the first one's
    paths = [report.root / entry.path for entry in report.images[::step][:IMAGES_LOOKED_AT]]
    return DatasetProfile(training_images(report.num_images), len(report.classes), side, channel_mode(paths))


def profile_of(info: DatasetInfo) -> DatasetProfile | None:
    """A workspace dataset's profile, kept beside its scan and read again only when the scan changes;
    None when it has no usable images."""
    scan_file = info.meta_dir / "scan.json"
    stamp = scan_file.stat().st_mtime_ns if scan_file.exists() else None
    kept = read_json(info.meta_dir / PROFILE_FILE)
    if isinstance(kept, dict) and stamp is not None and kept.get("scan") == stamp:
        try:
            return DatasetProfile.from_dict(kept["profile"])
        except (KeyError, TypeError, ValueError):
            pass  # damaged: read again below
    try:
        report = dataset_report(info)
    except (DatasetError, OSError):
        return None
    if report.num_images == 0:
        return None
    profile = profile_of_report(report)
    try:
        atomic_write_json(info.meta_dir / PROFILE_FILE,
                          {"scan": scan_file.stat().st_mtime_ns, "profile": profile.to_dict()})
    except OSError:
        pass  # a read-only metadata folder only costs reading a few images next time
    return profile


def channel_mode(paths: list[Any]) -> str | None:
    """'grayscale' when every image looked at is grey (a grey mode, or colour bands that are equal),
    'colour' otherwise; None when none could be read."""
    seen = []
    for path in paths:
        try:
            with Image.open(path) as im:
                seen.append(_is_grey(im))
        except (OSError, ValueError, Image.DecompressionBombError):
            continue  # the scan reports unreadable images; the profile just looks at the others
    if not seen:
        return None
    return "grayscale" if all(seen) else "colour"


def _is_grey(im: Image.Image) -> bool:
    if im.mode in GRAYSCALE_MODES:
        return True
    rgb = im.convert("RGB")
    r, g, b = rgb.split()
    return ImageChops.difference(r, g).getbbox() is None and ImageChops.difference(g, b).getbbox() is None


def alike(a: DatasetProfile, b: DatasetProfile) -> bool:
    """Same size band, classes and median sides within a factor of two, same channels (where known)."""
    if a.band != b.band or not _within(a.num_classes, b.num_classes, CLASS_RATIO):
        return False
    if a.median_side and b.median_side and not _within(a.median_side, b.median_side, SIDE_RATIO):
        return False
    return not (a.channels and b.channels and a.channels != b.channels)


def _within(x: float, y: float, ratio: float) -> bool:
    return max(x, y) <= ratio * min(x, y)
