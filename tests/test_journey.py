"""Where the user stands on Data → Wizard → Train → Compare → Predict, and the workspace summary."""
from __future__ import annotations

from resnet_core.config import TrainConfig
from resnet_core.journey import CURRENT, DONE, TODO, current_step, journey, summarize
from resnet_core.store import RunRecord


def run(run_id: int, status: str = "completed", test_acc: float | None = 0.8) -> RunRecord:
    config = TrainConfig(dataset="pets")
    return RunRecord(id=run_id, dataset="pets", model="resnet18", status=status, config=config,
                     description=config.describe(), test_acc=test_acc)


def statuses(steps):
    return [s.status for s in steps]


def test_empty_workspace_starts_at_data():
    steps = journey(None, 0, False, summarize(0, []))
    assert [s.key for s in steps] == ["data", "wizard", "train", "compare", "predict"]
    assert statuses(steps) == [CURRENT, TODO, TODO, TODO, TODO]
    assert "sample" in steps[0].detail


def test_existing_datasets_but_none_selected_asks_to_pick_one():
    steps = journey(None, 2, False, summarize(2, []))
    assert steps[0].status == CURRENT and "2 datasets" in steps[0].detail


def test_selected_dataset_moves_to_the_wizard_and_a_plan_to_train():
    assert current_step(journey("pets", 1, False, summarize(1, []))).key == "wizard"
    assert current_step(journey("pets", 1, True, summarize(1, []))).key == "train"


def test_a_run_in_progress_keeps_train_current():
    steps = journey("pets", 1, False, summarize(1, [run(1, "running", None)]))
    assert statuses(steps)[:3] == [DONE, DONE, CURRENT]
    assert "1 run training" in steps[2].detail


def test_finished_runs_lead_to_compare_then_predict():
    one = journey("pets", 1, True, summarize(1, [run(1)]))
    assert current_step(one).key == "compare"
    two = journey("pets", 1, True, summarize(1, [run(1), run(2)]))
    assert statuses(two) == [DONE, DONE, DONE, DONE, CURRENT]


def test_summary_finds_the_best_finished_run():
    summary = summarize(3, [run(1, test_acc=0.7), run(2, test_acc=0.9), run(3, "failed", None),
                            run(4, "queued", None)])
    assert (summary.datasets, summary.runs, summary.finished_runs, summary.active_runs) == (3, 4, 2, 1)
    assert summary.best_test_acc == 0.9 and summary.best_run_id == 2
    assert summary.best_run_label == "ResNet18 + fine-tuning + augmentation on pets"
    assert summarize(0, []).best_test_acc is None
