"""A dataset is resolved once: one folder walk and one split per command, however many runs it plans;
a missing or changed dataset still gets the same plain message."""
from __future__ import annotations

import shutil

import pytest

import resnet_core.data.registry as registry
import resnet_core.data.splits as splits
from resnet_core.advice.planning import plan_training
from resnet_core.config import TrainConfig
from resnet_core.data.handle import open_dataset
from resnet_core.data.prepare import prepare_data
from resnet_core.data.registry import register_folder
from resnet_core.data.scan import DatasetError
from resnet_core.runs.recovery import resume_problem
from resnet_core.runs.runner import create_run
from resnet_core.runs.store import RunStore
from resnet_core.status import RunStatus
from resnet_core.study.plan import StudyError, plan_study


@pytest.fixture
def counted(monkeypatch):
    """How often the dataset folder is walked and its split read."""
    calls = {"walks": 0, "splits": 0}
    walk, split = registry.list_folder, splits.get_split

    def counting_walk(*args, **kwargs):
        calls["walks"] += 1
        return walk(*args, **kwargs)

    def counting_split(*args, **kwargs):
        calls["splits"] += 1
        return split(*args, **kwargs)

    monkeypatch.setattr(registry, "list_folder", counting_walk)
    monkeypatch.setattr(splits, "get_split", counting_split)
    monkeypatch.setattr("resnet_core.data.handle.get_split", counting_split)
    return calls


def test_a_study_of_two_sizes_and_two_depths_reads_the_dataset_once(workspace, image_folder, offline_torch_home,
                                                                      counted):
    plan = plan_study(str(image_folder), (12, 24), models=("resnet18", "resnet50"), workspace=workspace,
                      weights="none", device="cpu", gpu_mem_gb=None, overrides={"epochs": 2})
    assert sorted({(e.num_images, e.config.model) for e in plan.entries}) == [
        (12, "resnet18"), (12, "resnet50"), (24, "resnet18"), (24, "resnet50")]
    assert counted == {"walks": 1, "splits": 1}


def test_a_planned_run_is_recorded_without_reading_the_dataset_again(workspace, image_folder, counted):
    plan = plan_training(str(image_folder), workspace, overrides={"image_size": 32}, weights="none",
                         device="cpu", gpu_mem_gb=None)
    create_run(plan.config, workspace, RunStore(workspace), dataset=plan.dataset)
    assert counted == {"walks": 1, "splits": 1}


def test_the_split_is_read_only_when_needed_and_then_kept(workspace, image_folder, counted):
    handle = open_dataset(str(image_folder), workspace)
    assert counted == {"walks": 1, "splits": 0}  # planning one run needs no split
    assert handle.split is handle.split
    assert counted == {"walks": 1, "splits": 1}
    data = prepare_data(TrainConfig(dataset=handle.name, image_size=32), workspace, dataset=handle)
    assert counted == {"walks": 1, "splits": 1}
    assert data.classes == handle.report.classes and len(data.train_idx) == len(handle.split.train)


def test_a_missing_dataset_gets_the_same_message_everywhere(workspace):
    with pytest.raises(DatasetError) as before:
        registry.resolve_dataset("nowhere", workspace)
    with pytest.raises(DatasetError) as opened:
        open_dataset("nowhere", workspace)
    with pytest.raises(DatasetError) as recorded:
        create_run(TrainConfig(dataset="nowhere"), workspace, RunStore(workspace))
    with pytest.raises(StudyError) as studied:
        plan_study("nowhere", (12,), workspace=workspace, weights="none", gpu_mem_gb=None)
    message = str(before.value)
    assert message.startswith("No dataset named 'nowhere' and no folder at that path.")
    assert str(opened.value) == str(recorded.value) == str(studied.value) == message
    with pytest.raises(DatasetError) as by_name:
        open_dataset("nowhere", workspace, registered_only=True)
    assert str(by_name.value).startswith("No dataset named 'nowhere'. There are no datasets yet")


def test_a_removed_folder_stops_a_resume_with_the_plain_message(workspace, image_folder):
    info = register_folder(image_folder, workspace)
    store = RunStore(workspace)
    run_id = store.create_run(TrainConfig(dataset=info.name), str(info.root), 60, 42, 9, 9)
    store.finish_run(run_id, RunStatus.INTERRUPTED)
    (workspace.run_dir(run_id)).mkdir(parents=True, exist_ok=True)
    (workspace.run_dir(run_id) / "last.pt").write_bytes(b"saved epoch")
    assert resume_problem(store.get_run(run_id), workspace) is None
    shutil.rmtree(image_folder)
    problem = resume_problem(store.get_run(run_id), workspace)
    assert problem == (f"run {run_id} cannot be resumed: The folder {str(image_folder)!r} does not exist: "
                       "check the path and try again.")


def test_changed_classes_are_still_noticed_through_the_handle(workspace, image_folder):
    info = register_folder(image_folder, workspace)
    store = RunStore(workspace)
    run_id = store.create_run(TrainConfig(dataset=info.name), str(info.root), 60, 42, 9, 9)
    store.finish_run(run_id, RunStatus.INTERRUPTED)
    run_dir = workspace.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "last.pt").write_bytes(b"saved epoch")
    (run_dir / "labels.json").write_text('["a", "b"]', encoding="utf-8")
    problem = resume_problem(store.get_run(run_id), workspace)
    assert problem is not None and "the classes of dataset" in problem and "changed" in problem
