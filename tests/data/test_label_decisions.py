"""Label decisions: an excluded or moved image is used so by the next split and run, undone cleanly,
and the user's folder is never written."""
from __future__ import annotations

import hashlib

import pytest

from resnet_core.config import TrainConfig
from resnet_core.data.handle import open_dataset
from resnet_core.data.label_decisions import exclude_image, load_decisions, move_image, undo
from resnet_core.data.prepare import prepare_data
from resnet_core.data.registry import dataset_report, folder_report, register_folder
from resnet_core.data.scan import DatasetError
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.runs.store import RunStore


def folder_state(root) -> dict[str, str]:
    """Every file and folder below root with its bytes' hash: byte-for-byte."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def dataset(image_folder, workspace):
    return register_folder(image_folder, workspace)


def test_exclusions_and_moves_are_used_by_the_next_split_and_run_then_undone(dataset, image_folder, workspace,
                                                                            offline_torch_home):
    before = folder_state(image_folder)
    first = open_dataset(dataset.name, workspace)
    parts_before = {e.path: part for part in ("train", "val", "test") for e in first.split.part(part)}
    left_out = next(e.path for e in first.split.test)
    moved = next(e.path for e in first.split.train if e.path.startswith("class_0/"))

    exclude_image(dataset.meta_dir, folder_report(dataset), left_out)
    move_image(dataset.meta_dir, folder_report(dataset), moved, "class_2")

    handle = open_dataset(dataset.name, workspace)
    assert handle.report.num_images == first.report.num_images - 1
    assert handle.report.counts["class_0"] == first.report.counts["class_0"] - 1 - left_out.startswith("class_0/")
    assert handle.report.excluded == [left_out] and handle.report.moved == {moved: "class_2"}
    split_paths = {e.path: e.label for part in ("train", "val", "test") for e in handle.split.part(part)}
    assert left_out not in split_paths
    assert handle.report.classes[split_paths[moved]] == "class_2"

    # The next run trains and tests on the decided labels.
    store = RunStore(workspace)
    config = TrainConfig(dataset=dataset.name, weights="none", fine_tune=False, augmentation="none", epochs=1,
                         batch_size=8, image_size=32)
    run_id = create_run(config, workspace, store, dataset=handle)
    assert execute_run(run_id, config, workspace, store) == "completed"
    record = store.get_run(run_id)
    store.close()
    assert record.num_images == first.report.num_images - 1
    assert any("Label decisions applied: 1 image(s) left out and 1" in n for n in record.notes)
    data = prepare_data(config, workspace)
    rows = {data.paths[int(i)] for i in data.labelled_idx()}
    assert left_out not in rows and data.classes[int(data.labels[data.paths.index(moved)])] == "class_2"

    # Undone: the dataset is the folder's own again, each image back in its split part.
    assert undo(dataset.meta_dir, left_out).action == "exclude"
    assert undo(dataset.meta_dir, moved).to_class == "class_2"
    assert undo(dataset.meta_dir, moved) is None
    assert load_decisions(dataset.meta_dir) == []
    again = open_dataset(dataset.name, workspace)
    assert again.report.to_dict(include_images=True) == first.report.to_dict(include_images=True)
    assert {e.path: part for part in ("train", "val", "test") for e in again.split.part(part)} == parts_before
    assert not any("changed since its split" in w for w in again.split.warnings)
    assert folder_state(image_folder) == before  # the user's folder: byte-for-byte unchanged


def test_a_later_decision_replaces_an_earlier_one(dataset):
    path = folder_report(dataset).images[0].path
    exclude_image(dataset.meta_dir, folder_report(dataset), path)
    move_image(dataset.meta_dir, folder_report(dataset), path, "class_1")
    assert [(d.path, d.action, d.to_class) for d in load_decisions(dataset.meta_dir)] == [(path, "move", "class_1")]
    assert dataset_report(dataset).moved == {path: "class_1"}


def test_bad_decisions_say_what_to_do(dataset):
    report = folder_report(dataset)
    with pytest.raises(DatasetError, match="not one of this dataset's images"):
        exclude_image(dataset.meta_dir, report, "class_0/missing.png")
    with pytest.raises(DatasetError, match="not a class of this dataset: choose one of class_0, class_1"):
        move_image(dataset.meta_dir, report, report.images[0].path, "dogs")
    with pytest.raises(DatasetError, match="by its folder already"):
        move_image(dataset.meta_dir, report, report.images[0].path, "class_0")
    assert load_decisions(dataset.meta_dir) == []


def test_a_damaged_decisions_file_is_read_as_no_decisions(dataset):
    (dataset.meta_dir / "label-decisions.json").write_text("{not json")
    assert dataset_report(dataset).to_dict() == folder_report(dataset).to_dict()


def test_excluding_every_image_of_a_class_leaves_the_class_out(dataset):
    report = folder_report(dataset)
    for e in report.images:
        if e.path.startswith("class_1/"):
            exclude_image(dataset.meta_dir, report, e.path)
    decided = dataset_report(dataset)
    assert decided.classes == ["class_0", "class_2"]
    assert any("class_1" in w and "no usable images" in w for w in decided.warnings)


def test_decisions_made_at_the_same_time_are_all_kept(dataset, monkeypatch):
    """Two tabs (or quick clicks) deciding at once: each read-modify-write waits for the other."""
    import threading
    import time

    from resnet_core.data import label_decisions

    report = folder_report(dataset)
    paths = [e.path for e in report.images[:8]]
    real_load = label_decisions.load_decisions

    def slow_load(meta_dir):  # widens the window between reading and writing the file
        found = real_load(meta_dir)
        time.sleep(0.05)
        return found
    monkeypatch.setattr(label_decisions, "load_decisions", slow_load)
    threads = [threading.Thread(target=exclude_image, args=(dataset.meta_dir, report, p)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(d.path for d in real_load(dataset.meta_dir)) == sorted(paths)
    undone = [threading.Thread(target=undo, args=(dataset.meta_dir, p)) for p in paths[:4]]
    for t in undone:
        t.start()
    for t in undone:
        t.join()
    assert sorted(d.path for d in real_load(dataset.meta_dir)) == sorted(paths[4:])
