"""The saved, stratified train/val/test split and the stratified training subsets."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from resnet_core.data.registry import dataset_report, register_folder
from resnet_core.data.scan import DatasetError
from resnet_core.data.splits import (
    SPLITS,
    get_split,
    reset_split,
    split_sizes,
    subset_train,
)
from resnet_core.data.synthetic import make_image_folder


def by_split(split) -> dict[str, str]:
    return {e.path: name for name in SPLITS for e in split.part(name)}


def per_class(entries, classes) -> Counter:
    return Counter(classes[e.label] for e in entries)


@pytest.fixture
def dataset(workspace, tmp_path):
    root = make_image_folder(tmp_path / "d", num_classes=3, per_class=[20, 40, 100])
    return register_folder(root, workspace)


def test_split_is_stratified_70_15_15(dataset):
    split = get_split(dataset)
    assert split.classes == ["class_0", "class_1", "class_2"]
    counts = split.counts()
    assert counts["train"] == {"class_0": 14, "class_1": 28, "class_2": 70}
    assert counts["val"] == {"class_0": 3, "class_1": 6, "class_2": 15}
    assert counts["test"] == {"class_0": 3, "class_1": 6, "class_2": 15}
    everything = split.train + split.val + split.test
    assert len(everything) == len(set(everything)) == 160
    assert split.warnings == []


def test_split_is_saved_and_stable_across_calls_and_processes(dataset):
    first = get_split(dataset)
    saved = json.loads((dataset.meta_dir / "split.json").read_text(encoding="utf-8"))
    assert saved["assignments"] == by_split(first)
    assert by_split(get_split(dataset)) == by_split(first)
    # Another process would rebuild from the same seed: identical even without the saved file.
    reset_split(dataset)
    assert by_split(get_split(dataset)) == by_split(first)


def test_saved_split_wins_over_other_arguments(dataset):
    first = get_split(dataset)
    again = get_split(dataset, fractions=(0.5, 0.25, 0.25), seed=7)
    assert by_split(again) == by_split(first)
    assert again.fractions == (0.7, 0.15, 0.15) and again.seed == 0
    assert any("kept so runs stay comparable" in w for w in again.warnings)


def test_different_seed_gives_a_different_split(workspace, tmp_path):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=20)
    a = get_split(register_folder(root, workspace), seed=1)
    other = make_image_folder(tmp_path / "e", num_classes=2, per_class=20)
    b = get_split(register_folder(other, workspace), seed=2)
    assert by_split(a) != by_split(b)


def test_changed_files_keep_old_assignments(dataset):
    first = by_split(get_split(dataset))
    root = dataset.root
    removed = [p for p, s in first.items() if s == "test"][:2]
    for p in removed:
        (root / p).unlink()
    make_image_folder(root, num_classes=1, per_class=10, names=["class_0"], seed=5, ext=".jpg")
    split = get_split(dataset)
    now = by_split(split)
    assert not set(removed) & set(now)
    assert all(now[p] == s for p, s in first.items() if p in now)  # nobody moved
    new = [p for p in now if p not in first]
    assert len(new) == 10 and all(p.startswith("class_0/") for p in new)
    assert any("changed since its split was made: 10 new" in w and "2 missing" in w
               for w in split.warnings)
    # Class 0 lost 2 test images and gained 10 (28 now): the new ones refill it to 20/4/4.
    assert all(p.startswith("class_0/") for p in removed)
    c = split.counts()
    assert (c["train"]["class_0"], c["val"]["class_0"], c["test"]["class_0"]) == (20, 4, 4)
    assert not get_split(dataset).warnings  # the change is warned once, then saved


def test_tiny_classes_are_warned_and_still_work(workspace, tmp_path):
    root = make_image_folder(tmp_path / "d", num_classes=4, per_class=[1, 2, 3, 20])
    split = get_split(register_folder(root, workspace))
    counts = split.counts()
    assert (counts["train"]["class_0"], counts["val"]["class_0"], counts["test"]["class_0"]) == (1, 0, 0)
    assert (counts["train"]["class_1"], counts["val"]["class_1"], counts["test"]["class_1"]) == (1, 0, 1)
    assert (counts["train"]["class_2"], counts["val"]["class_2"], counts["test"]["class_2"]) == (1, 1, 1)
    text = " ".join(split.warnings)
    assert "'class_0' has only 1 image" in text and "'class_1' has only 2 images" in text
    assert "class_2" not in text


@pytest.mark.parametrize("n, sizes", [(0, (0, 0, 0)), (1, (1, 0, 0)), (2, (1, 0, 1)), (3, (1, 1, 1)),
                                      (4, (2, 1, 1)), (10, (6, 2, 2)), (100, (70, 15, 15))])
def test_split_sizes(n, sizes):
    assert split_sizes(n, (0.7, 0.15, 0.15)) == sizes


def test_bad_fractions_and_empty_datasets_are_clear_errors(dataset, workspace, tmp_path):
    with pytest.raises(DatasetError, match="add up to 1"):
        get_split(dataset, fractions=(0.7, 0.2, 0.2))
    with pytest.raises(DatasetError, match="three numbers"):
        get_split(dataset, fractions=(1.0,))
    empty = tmp_path / "empty"
    (empty / "cls").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no usable images"):
        get_split(register_folder(empty, workspace))


def test_split_accepts_a_report_it_is_given(dataset):
    report = dataset_report(dataset)
    assert by_split(get_split(dataset, report)) == by_split(get_split(dataset))


def test_subset_train_is_stratified_and_nested(dataset):
    split = get_split(dataset)
    small = subset_train(split, 28)
    counts = per_class(small, split.classes)
    assert sum(counts.values()) == 28
    # Shares of the 14/28/70 train split: 3.5/7/17.5; the tie for the last image goes by label.
    assert counts == {"class_0": 4, "class_1": 7, "class_2": 17}
    assert set(small) <= set(split.train)
    larger = subset_train(split, 60)
    assert set(small) <= set(larger) and len(larger) == 60
    assert subset_train(split, 28) == small  # stable
    assert subset_train(split, 10_000) == split.train
    assert len(set(subset_train(split, 3))) == 3
    assert per_class(subset_train(split, 3), split.classes) == {c: 1 for c in split.classes}
    with pytest.raises(DatasetError, match="at least 1"):
        subset_train(split, 0)
