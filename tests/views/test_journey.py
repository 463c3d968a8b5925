"""Where the user stands on Data → Wizard → Train → Compare → Predict, and the workspace summary."""
from __future__ import annotations

from resnet_core.config import TrainConfig
from resnet_core.runs.store import RunRecord
from resnet_core.status import RunStatus
from resnet_core.views.journey import (
    CURRENT,
    DONE,
    READY,
    TODO,
    current_step,
    journey,
    likely_dataset,
    summarize,
)


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


def test_existing_datasets_count_for_data_even_in_a_new_session():
    # Nothing selected in this browser session yet, but the workspace has datasets: every page offers
    # them, so Data is done and the Wizard (which offers them too) is next.
    steps = journey(None, 2, False, summarize(2, []))
    assert steps[0].status == DONE and "2 datasets" in steps[0].detail
    assert current_step(steps).key == "wizard"
    assert statuses(steps)[2:] == [READY, TODO, TODO]  # Train works with the wizard's defaults


def test_a_new_session_after_finished_runs_is_consistent():
    # The Home page of a fresh session: runs exist, nothing selected, no plan in this session.
    steps = journey(None, 1, False, summarize(1, [run(1), run(2)], models=2))
    assert statuses(steps) == [DONE, DONE, DONE, DONE, CURRENT]
    assert "2 trained models" in steps[4].detail


def test_one_finished_run_makes_predict_ready_while_compare_is_next():
    steps = journey("pets", 1, True, summarize(1, [run(1)], models=1))
    assert current_step(steps).key == "compare"
    assert steps[4].status == READY and "1 trained model" in steps[4].detail


def test_predict_stays_later_without_a_kept_model():
    steps = journey("pets", 1, True, summarize(1, [run(1)], models=0))
    assert steps[4].status == TODO and "Needs a finished run" in steps[4].detail


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
    assert summary.best.test_acc == 0.9 and summary.best.run_id == 2
    assert summary.best.label == "ResNet18 + fine-tuning + augmentation on pets"
    assert summarize(0, []).best is None


def test_statuses_are_counted_as_they_are_cancelled_is_not_finished():
    runs = [run(1), run(2, "cancelled", 0.5), run(3, "failed", None), run(4, "interrupted", None),
            run(5, "running", None), run(6, "queued", None)]
    summary = summarize(1, runs)
    assert summary.finished_runs == 1  # completed only
    assert summary.ranked_runs == 2  # the cancelled run kept a final score and ranks on Compare
    assert summary.active_runs == 2
    assert summary.status_counts == {RunStatus.COMPLETED: 1, RunStatus.CANCELLED: 1, RunStatus.FAILED: 1,
                                     RunStatus.INTERRUPTED: 1, RunStatus.RUNNING: 1, RunStatus.QUEUED: 1}
    assert summary.runs_breakdown() == ("1 finished · 1 cancelled · 1 failed · 1 interrupted · "
                                        "2 training or queued")
    assert summarize(1, [run(1), run(2)]).runs_breakdown() == "2 finished"


def test_the_best_accuracy_names_its_dataset_and_test_images_and_prefers_the_selected_dataset():
    small = RunRecord(id=1, dataset="shapes", model="resnet18", status="completed", test_acc=0.714, num_test=7,
                      description="ResNet18 + fine-tuning")
    clipart = RunRecord(id=2, dataset="clipart", model="resnet18", status="completed", test_acc=0.422,
                        num_test=45, description="ResNet18 + fine-tuning")
    overall = summarize(2, [small, clipart])
    assert overall.best.run_id == 1
    assert overall.best.detail() == "Run #1 · ResNet18 + fine-tuning · dataset 'shapes', 7 test images"
    mine = summarize(2, [small, clipart], dataset="clipart")
    assert mine.best.run_id == 2 and mine.best.dataset == "clipart" and mine.best.num_test == 45
    assert summarize(2, [small, clipart], dataset="nothing-run-yet").best.run_id == 1


def test_likely_dataset_prefers_the_selection_then_the_newest_run_then_the_newest_dataset():
    names = ["birds", "pets"]
    older = RunRecord(id=1, dataset="birds", model="resnet18", status="completed", created_at="2025-01-01")
    newer = RunRecord(id=2, dataset="pets", model="resnet18", status="failed", created_at="2025-02-01")
    assert likely_dataset(names, "birds", [older, newer]) == "birds"
    assert likely_dataset(names, None, [older, newer]) == "pets"
    assert likely_dataset(names, "deleted", [older]) == "birds"
    gone = RunRecord(id=3, dataset="deleted", model="resnet18", status="completed", created_at="2025-03-01")
    created = {"birds": "2025-01-05T10:00:00", "pets": "2025-01-02T10:00:00"}
    assert likely_dataset(names, None, [gone], created) == "birds"
    assert likely_dataset(["only"], None, []) == "only"
    assert likely_dataset([], "pets", [older]) is None
