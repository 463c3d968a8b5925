"""Exact and near-duplicate images: found, grouped by what they mean, and kept in one split part."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from resnet_core.data import duplicates
from resnet_core.data.duplicates import dataset_duplicates
from resnet_core.data.feature_cache import save_features
from resnet_core.data.registry import dataset_report, register_folder
from resnet_core.data.splits import SPLITS, get_split, reset_split, split_path
from resnet_core.data.synthetic import make_image_folder, make_picture

PX = 128


def resized_jpeg(src, dst, scale: float, quality: int) -> None:
    """A copy as people make them: resized and saved again as JPEG."""
    with Image.open(src) as im:
        im.convert("RGB").resize((round(im.width * scale), round(im.height * scale)),
                                 Image.BICUBIC).save(dst, "JPEG", quality=quality)


@pytest.fixture
def pictures(tmp_path):
    """2 classes × 16 distinct 128 px pictures (PNG)."""
    root = tmp_path / "pics"
    rng = np.random.default_rng(3)
    for cls in ("cats", "dogs"):
        (root / cls).mkdir(parents=True)
        for i in range(16):
            make_picture(PX, rng).save(root / cls / f"{cls}_{i:02d}.png")
    return root


def groups_by_path(report) -> dict[str, tuple[str, ...]]:
    return {p: g.paths for g in report.groups for p in g.paths}


def parts_of(split) -> dict[str, str]:
    return {e.path: name for name in SPLITS for e in split.part(name)}


def test_distinct_pictures_and_generated_classes_have_no_duplicates(pictures, tmp_path, workspace):
    assert dataset_duplicates(*_dataset(pictures, workspace)).groups == []
    stripes = make_image_folder(tmp_path / "stripes", num_classes=3, per_class=30, size=32)
    assert dataset_duplicates(*_dataset(stripes, workspace)).groups == []


def _dataset(root, workspace):
    info = register_folder(root, workspace)
    return info, dataset_report(info)


def test_within_class_and_cross_class_duplicates_are_reported_as_such(pictures, workspace):
    shutil.copy(pictures / "cats" / "cats_00.png", pictures / "cats" / "cats_00 copy.png")  # exact
    resized_jpeg(pictures / "cats" / "cats_05.png", pictures / "dogs" / "looks_like_a_dog.jpg", 0.6, 70)
    found = dataset_duplicates(*_dataset(pictures, workspace))
    assert len(found.groups) == 2
    (across,) = found.cross_class
    assert set(across.paths) == {"cats/cats_05.png", "dogs/looks_like_a_dog.jpg"}
    assert not across.exact
    (within,) = found.within_class
    assert within.paths == ("cats/cats_00 copy.png", "cats/cats_00.png") and within.exact
    text = " ".join(found.warnings())
    assert "at least one label in each group is wrong" in text
    assert "1 image(s) repeat another image of the same class" in text


def test_resized_recompressed_copies_across_the_split_are_found_and_a_new_split_keeps_them_together(
        pictures, workspace):
    info, _ = _dataset(pictures, workspace)
    first = get_split(info)
    assert first.leaks == {}
    # Copies added after the split was made, then an old-style split that put them in test.
    originals = [e.path for e in first.train if e.path.startswith("cats/")][:3]
    copies = []
    for i, (path, scale, quality) in enumerate(zip(originals, (0.5, 0.8, 1.5), (60, 75, 90))):
        copy = f"cats/copy_{i}.jpg"
        resized_jpeg(pictures / path, pictures / copy, scale, quality)
        copies.append(copy)
    saved = json.loads(split_path(info).read_text(encoding="utf-8"))
    saved["assignments"].update({c: "test" for c in copies})
    split_path(info).write_text(json.dumps(saved), encoding="utf-8")

    leaky = get_split(info)
    assert sorted(leaky.leaks["test"]) == sorted(copies)
    assert "3 test images have a near-duplicate in training: test accuracy is optimistic" in " ".join(leaky.warnings)
    found = groups_by_path(dataset_duplicates(info, dataset_report(info)))
    for original, copy in zip(originals, copies):
        assert found[copy] == tuple(sorted((original, copy)))

    reset_split(info)
    fresh = get_split(info)
    assert fresh.leaks == {}
    where = parts_of(fresh)
    for original, copy in zip(originals, copies):
        assert where[original] == where[copy]
    assert not any("near-duplicate" in w for w in fresh.warnings)


def test_a_new_copy_joins_the_split_part_of_its_original(pictures, workspace):
    info, _ = _dataset(pictures, workspace)
    first = parts_of(get_split(info))
    test_image = next(p for p, part in first.items() if part == "test")
    resized_jpeg(pictures / test_image, pictures / "dogs" / "again.jpg", 0.75, 80)
    assert parts_of(get_split(info))["dogs/again.jpg"] == "test"


def test_hashes_are_cached_and_only_changed_files_decoded_again(pictures, workspace, monkeypatch):
    info, report = _dataset(pictures, workspace)
    dataset_duplicates(info, report)
    decoded = []
    real = duplicates.hash_file
    monkeypatch.setattr(duplicates, "hash_file", lambda path: decoded.append(path) or real(path))
    dataset_duplicates(info, report)
    assert decoded == []
    make_picture(PX, np.random.default_rng(99)).save(pictures / "dogs" / "dogs_03.png")
    dataset_duplicates(info, dataset_report(info))
    assert [p.name for p in decoded] == ["dogs_03.png"]


def test_a_damaged_cache_is_rebuilt(pictures, workspace):
    info, report = _dataset(pictures, workspace)
    shutil.copy(pictures / "cats" / "cats_01.png", pictures / "dogs" / "same.png")
    report = dataset_report(info)
    dataset_duplicates(info, report)
    (info.meta_dir / "duplicates-thumbs.u8").write_bytes(b"garbage")
    again = dataset_duplicates(info, report)
    assert [g.paths for g in again.groups] == [("cats/cats_01.png", "dogs/same.png")]


def test_flat_and_unreadable_images_match_by_exact_copy_only(tmp_path, workspace):
    root = tmp_path / "flat"
    for cls, colour in (("black", 0), ("white", 255)):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (64 + i, 64), (colour,) * 3).save(root / cls / f"{i}.png")
    found = dataset_duplicates(*_dataset(root, workspace))
    assert found.groups == []  # blank pictures are not "the same picture" as each other


def test_mutual_nearest_neighbours_by_feature_cosine_are_near_copies():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(6, 32))
    feats[3] = feats[1] + rng.normal(scale=0.05, size=32)  # 1 and 3: the same picture, seen twice
    feats[5] = feats[4] + rng.normal(scale=0.8, size=32)  # 4 and 5: alike (cosine 0.67), not copies
    assert duplicates.feature_pairs(feats) == [(1, 3)]
    assert duplicates.feature_pairs(feats, min_cosine=0.6) == [(1, 3), (4, 5)]
    feats[2] = feats[3] + rng.normal(scale=0.01, size=32)  # 3's nearest is now 2, not 1: 1-3 not mutual
    assert duplicates.feature_pairs(feats) == [(2, 3)]


def test_images_with_near_identical_imagenet_features_join_the_groups_and_the_split_keeps_them(
        pictures, workspace):
    # A mirror image: the thumbnail does not match, the features of what it shows do.
    with Image.open(pictures / "cats" / "cats_03.png") as im:
        im.transpose(Image.FLIP_LEFT_RIGHT).save(pictures / "dogs" / "mirrored.png")
    info, report = _dataset(pictures, workspace)
    assert dataset_duplicates(info, report).groups == []  # pixels alone miss it
    rng = np.random.default_rng(1)
    paths = [e.path for e in report.images]
    feats = rng.normal(size=(len(paths), 64))
    feats[paths.index("dogs/mirrored.png")] = feats[paths.index("cats/cats_03.png")] * 1.01
    save_features(info.meta_dir, report.fingerprint, paths, feats)

    found = dataset_duplicates(info, report)
    (group,) = found.groups
    assert group.paths == ("cats/cats_03.png", "dogs/mirrored.png") and group.cross_class and not group.exact
    reset_split(info)
    where = parts_of(get_split(info))
    assert where["cats/cats_03.png"] == where["dogs/mirrored.png"]
    # Features of another version of the folder are not used.
    save_features(info.meta_dir, "another folder", paths, feats)
    assert dataset_duplicates(info, report).groups == []
