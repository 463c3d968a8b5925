"""Bootstrap intervals, McNemar's test and the tie marks of the ranked table."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.results.intervals import mcnemar_p, score_intervals, within_noise
from resnet_core.results.ranking import TRUST_COLUMNS, comparison_table
from resnet_core.runs.predictions import load_predictions
from resnet_core.runs.store import RunRecord, RunStore

TEST_IMAGES = 200


def test_the_interval_covers_the_true_accuracy_at_about_95_percent():
    """1,000 simulated test sets of 200 images from a classifier that is right 85% of the time."""
    rng = np.random.default_rng(7)
    true_accuracy, covered = 0.85, 0
    for i in range(1000):
        true = rng.integers(0, 4, TEST_IMAGES)
        right = rng.random(TEST_IMAGES) < true_accuracy
        pred = np.where(right, true, (true + 1 + rng.integers(0, 3, TEST_IMAGES)) % 4)
        iv = score_intervals(true, pred, 4, seed=i).accuracy
        covered += iv.low <= true_accuracy <= iv.high
    assert 0.92 <= covered / 1000 <= 0.98


def test_intervals_hold_the_point_score_and_are_seeded():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 3, 300)
    pred = np.where(rng.random(300) < 0.7, true, (true + 1) % 3)
    a, b = score_intervals(true, pred, 3), score_intervals(true, pred, 3)
    assert a == b
    for iv in (a.accuracy, a.balanced_accuracy, a.macro_f1):
        assert iv.low <= iv.value <= iv.high
        assert 0.02 < iv.high - iv.low < 0.2
    assert a.accuracy.value == np.mean(true == pred)
    assert score_intervals(np.zeros(0), np.zeros(0), 3) is None


def test_balanced_accuracy_and_macro_f1_see_a_classifier_that_always_says_the_big_class():
    true = np.array([0] * 90 + [1] * 10)
    pred = np.zeros(100, dtype=int)
    iv = score_intervals(true, pred, 2)
    assert iv.accuracy.value == 0.9
    assert iv.balanced_accuracy.value == 0.5
    assert abs(iv.macro_f1.value - (2 * 0.9 / 1.9) / 2) < 1e-9


def correct_vector(right: int, n: int = TEST_IMAGES) -> np.ndarray:
    return np.arange(n) < right


def test_one_image_apart_is_within_noise_fifteen_points_is_not():
    assert within_noise(correct_vector(170), correct_vector(169))
    assert not within_noise(correct_vector(170), correct_vector(140))
    assert mcnemar_p(correct_vector(170), correct_vector(170)) == 1.0


# ----- the table -------------------------------------------------------------------------------

@pytest.fixture
def run_with_predictions(store_test_predictions):
    """A scored run whose model gets the first `right` of n test images right (2 classes)."""
    def scored(workspace, run_id: int, right: int, n: int = TEST_IMAGES) -> RunRecord:
        store_test_predictions(workspace, run_id, right, n)
        return RunRecord(id=run_id, dataset="flowers", model="resnet18", status="completed",
                         description=f"run {run_id}", num_train=800, test_acc=right / n, val_loss=0.5,
                         train_time_s=60.0 + run_id, epoch_ended=5)
    return scored


def test_predictions_file_round_trips(workspace, run_with_predictions):
    run_with_predictions(workspace, 1, 150)
    p = load_predictions(workspace.run_dir(1))
    assert p.test_correct.sum() == 150 and p.num_classes == 2 and p.temperature == 1.0
    (workspace.run_dir(1) / "predictions.npz").write_bytes(b"not a zip")
    assert load_predictions(workspace.run_dir(1)) is None


def test_table_marks_the_run_one_image_behind_as_tied_and_fifteen_points_behind_not(workspace, run_with_predictions):
    runs = [run_with_predictions(workspace, 1, 170), run_with_predictions(workspace, 2, 169),
            run_with_predictions(workspace, 3, 140)]
    table = comparison_table(runs, workspace).set_index("run_id")
    assert list(table["Rank"]) == [1, 2, 3]  # ranks unchanged: the mark sits beside them
    assert table.loc[1, "Tied For First"] and table.loc[2, "Tied For First"]
    assert not table.loc[3, "Tied For First"]
    assert table.loc[3, "P Vs Rank 1"] < 0.001
    assert table.loc[1, "Test Acc Low"] < 0.85 < table.loc[1, "Test Acc High"]
    assert set(TRUST_COLUMNS) <= set(table.columns)


def test_a_clear_winner_is_not_tied_and_runs_without_predictions_get_no_mark(workspace, run_with_predictions):
    runs = [run_with_predictions(workspace, 1, 190), run_with_predictions(workspace, 2, 140),
            RunRecord(id=3, dataset="flowers", model="resnet18", status="completed", num_train=800,
                      test_acc=0.5, val_loss=0.5, train_time_s=60.0)]
    table = comparison_table(runs, workspace).set_index("run_id")
    assert table.loc[1, "Tied For First"] == False  # noqa: E712 (a bool, not None)
    assert table.loc[3, "Tied For First"] is None and pd.isna(table.loc[3, "Test Acc Low"])


def test_cli_runs_json_adds_intervals_and_the_tie_mark(workspace, capsys, run_with_predictions):
    store = RunStore(workspace)
    try:
        ids = [store.create_run(TrainConfig(dataset="flowers"), "x", 260, 40, 20, TEST_IMAGES) for _ in range(3)]
        for run_id, right in zip(ids, (170, 169, 140)):
            store.finish_run(run_id, "completed", {"test_acc": right / TEST_IMAGES, "train_time_s": 10.0})
            run_with_predictions(workspace, run_id, right)
    finally:
        store.close()
    assert main(["runs", "--json"]) == 0
    by_id = {item["run_id"]: item for item in json.loads(capsys.readouterr().out)}
    leader, close, behind = (by_id[i] for i in ids)
    assert leader["rank"] == 1 and leader["tied_for_first"] and close["tied_for_first"]
    assert behind["tied_for_first"] is False and behind["p_vs_rank_1"] < 0.001
    low, high = leader["test_acc_ci"]
    assert low < leader["test_acc"] == 0.85 < high
    assert leader["balanced_acc_ci"][0] <= leader["balanced_acc"] <= leader["balanced_acc_ci"][1]
    assert leader["macro_f1_ci"][0] <= leader["macro_f1"] <= leader["macro_f1_ci"][1]
    assert main(["runs"]) == 0
    assert "1 =" in capsys.readouterr().out
