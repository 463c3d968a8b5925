"""Balanced accuracy and macro-F1: every class counts the same; ranking by balanced accuracy."""
from __future__ import annotations

import json

import pytest

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.results.metrics import (
    BALANCED_ACC,
    MACRO_F1,
    balanced_accuracy,
    confusion_matrix,
    macro_f1,
    run_scores,
    scores_from_predictions,
)
from resnet_core.results.ranking import comparison_table, ranked_rows
from resnet_core.runs.store import RunRecord, RunStore

# 100 test images of 'large', 10 of 'small'. Run A always says 'large'; run B finds most of 'small'.
ALWAYS_LARGE = [[100, 0], [10, 0]]
FINDS_SMALL = [[88, 12], [2, 8]]


def test_a_model_that_ignores_the_small_class_scores_high_accuracy_but_half_balanced():
    assert balanced_accuracy(ALWAYS_LARGE) == pytest.approx(0.5)
    assert macro_f1(ALWAYS_LARGE) == pytest.approx((2 * 100 / 210 + 0) / 2)
    assert balanced_accuracy(FINDS_SMALL) == pytest.approx((0.88 + 0.8) / 2)
    precision_small, recall_small = 8 / 20, 0.8
    f1_small = 2 * precision_small * recall_small / (precision_small + recall_small)
    f1_large = 2 * (88 / 90) * 0.88 / (88 / 90 + 0.88)
    assert macro_f1(FINDS_SMALL) == pytest.approx((f1_large + f1_small) / 2)


def test_scores_from_predictions_match_the_confusion_matrix():
    true = [0] * 100 + [1] * 10
    pred = [0] * 88 + [1] * 12 + [0] * 2 + [1] * 8
    assert confusion_matrix(true, pred, 2).tolist() == FINDS_SMALL
    scores = scores_from_predictions(true, pred, 2)
    assert scores[BALANCED_ACC] == pytest.approx(0.84)
    # A class with no test image has no recall to average: it is left out, not counted as 0.
    assert balanced_accuracy([[5, 0, 0], [0, 0, 0], [1, 0, 4]]) == pytest.approx((1.0 + 0.8) / 2)


def test_run_scores_need_a_confusion_matrix():
    assert run_scores(None) == {BALANCED_ACC: None, MACRO_F1: None}
    assert run_scores({"confusion": "broken"}) == {BALANCED_ACC: None, MACRO_F1: None}
    assert run_scores({"confusion": []}) == {BALANCED_ACC: None, MACRO_F1: None}
    assert run_scores({"confusion": FINDS_SMALL})[BALANCED_ACC] == pytest.approx(0.84)


def record(run_id: int, confusion, time: float = 60.0) -> RunRecord:
    n = sum(map(sum, confusion))
    acc = sum(confusion[i][i] for i in range(len(confusion))) / n
    return RunRecord(id=run_id, dataset="d", model="resnet18", status="completed", description=f"run {run_id}",
                     num_images=500, num_train=300, test_acc=acc, val_loss=0.5, val_acc=acc, train_time_s=time,
                     epoch_ended=3, final_metrics={"confusion": confusion})


def test_ranking_by_balanced_accuracy_is_a_choice_and_accuracy_stays_the_default():
    runs = [record(1, ALWAYS_LARGE), record(2, FINDS_SMALL, time=90.0)]
    by_accuracy = ranked_rows(runs)
    assert [r.run_id for r in by_accuracy] == [1, 2]  # 90.9% against 87.3%
    assert [r.run_id for r in by_accuracy if r.pareto] == [1]
    by_balanced = ranked_rows(runs, rank_by="balanced")
    assert [r.run_id for r in by_balanced] == [2, 1] and [r.rank for r in by_balanced] == [1, 2]
    assert {r.run_id for r in by_balanced if r.pareto} == {1, 2}  # 1 is faster, 2 is fairer
    table = comparison_table(runs, rank_by="balanced")
    assert list(table["run_id"]) == [2, 1]
    assert table["Balanced Acc"].tolist() == pytest.approx([0.84, 0.5])
    assert "Macro F1" in table.to_csv(index=False).splitlines()[0]
    with pytest.raises(ValueError, match="rank_by must be one of accuracy, balanced"):
        ranked_rows(runs, rank_by="f1")


def test_runs_json_has_the_new_keys_beside_the_old(capsys, workspace):
    store = RunStore(workspace)
    run_id = store.create_run(TrainConfig(dataset="d"), "unused", 110, 80, 15, 110)
    store.finish_run(run_id, "completed", {"test_acc": 96 / 110, "val_loss": 0.3, "val_acc": 0.9,
                                           "final_metrics": {"confusion": FINDS_SMALL}})
    store.close()
    assert main(["runs", "--json"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["test_acc"] == pytest.approx(96 / 110) and item["rank"] == 1
    assert item["balanced_acc"] == pytest.approx(0.84) and item["macro_f1"] is not None
