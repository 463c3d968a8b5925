"""The label check end to end on a folder: its suspects name the files that sit in the wrong class
folder, and an image the user excluded is neither scored nor listed."""
from __future__ import annotations

import numpy as np
import pytest

from resnet_core.data.handle import open_dataset
from resnet_core.data.label_decisions import exclude_image
from resnet_core.data.registry import folder_report, register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.results import label_job
from resnet_core.results.label_job import FeatureSource, run_label_check

CLASSES = 5
PER_CLASS = 20


def colour_features(data, *_args, **_kw):
    """A cheap stand-in for backbone features: each image's mean colour over a 4 × 4 grid, which
    tells the generated classes apart (each has its own colour) the way pooled features would."""
    pixels = data.pixels.float().div(255.0)
    pooled = pixels.reshape(len(pixels), 3, 4, pixels.shape[2] // 4, 4, pixels.shape[3] // 4).mean((3, 5))
    return pooled.reshape(len(pixels), -1).numpy(), "test colour features"


@pytest.fixture
def flipped_folder(tmp_path):
    """5 classes × 20 images; 10 of them (10%) moved into another class's folder. Returns the
    folder and {relative path now: the class it really shows}."""
    root = make_image_folder(tmp_path / "flipped", num_classes=CLASSES, per_class=PER_CLASS, size=32)
    rng = np.random.default_rng(3)
    files = sorted(root.rglob("*.png"))
    flipped = {}
    for i in rng.choice(len(files), size=len(files) // 10, replace=False):
        source = files[i]
        true_class = int(source.parent.name.split("_")[1])
        wrong = f"class_{(true_class + int(rng.integers(1, CLASSES))) % CLASSES}"
        target = root / wrong / source.name  # the file keeps its name: a wrong folder, not a new image
        source.rename(target)
        flipped[f"{wrong}/{source.name}"] = f"class_{true_class}"
    return root, flipped


def test_suspects_are_the_files_in_the_wrong_folder_and_an_excluded_image_is_not_scored(
        flipped_folder, workspace, monkeypatch):
    root, flipped = flipped_folder
    info = register_folder(root, workspace, name="flipped")
    excluded = sorted(flipped)[0]  # a flipped image: it would be listed if it were still scored
    exclude_image(info.meta_dir, folder_report(info), excluded)
    monkeypatch.setattr(label_job, "image_features", colour_features)

    report = run_label_check(open_dataset("flipped", workspace), workspace, FeatureSource("resnet18", 32))

    assert report.num_images == CLASSES * PER_CLASS - 1
    listed = [s.path for s in report.suspects]
    assert excluded not in listed
    assert all((root / path).is_file() for path in listed)  # paths relative to the dataset root
    still_flipped = set(flipped) - {excluded}
    top = listed[:len(still_flipped)]
    precision = len(set(top) & still_flipped) / len(still_flipped)
    assert precision >= 0.7, (precision, top)
    for s in report.suspects:
        assert s.given == s.path.split("/")[0]  # the label its folder gives it
        if s.path in still_flipped:
            assert s.suggested == flipped[s.path]  # and the class the picture really shows
