"""What the Compare page shows of a dataset's runs: the datasets offered, the ranked table's headline."""
from __future__ import annotations

from resnet_core.runs.store import RunRecord
from resnet_core.views.charts import class_counts_bars
from resnet_core.views.compare_view import compare_datasets, compare_summary


def record(run_id, acc, num_train=10, status="completed", dataset="d"):
    return RunRecord(id=run_id, dataset=dataset, model="resnet18", status=status, description=f"config {run_id}",
                     num_train=num_train, test_acc=acc, val_loss=0.5, train_time_s=10.0 * run_id)


def test_every_dataset_is_offered_and_those_with_runs_are_known():
    runs = [record(1, 0.5, dataset="b"), record(2, 0.6, dataset="gone")]
    names, with_runs = compare_datasets(["c", "b"], runs)
    assert names == ["b", "c", "gone"] and with_runs == ["b", "gone"]


def test_the_summary_names_the_best_over_every_size_and_counts_what_is_still_running():
    summary = compare_summary([record(1, 0.30), record(2, 0.42, num_train=20), record(3, 0.35),
                               record(4, None, status="running")])
    assert summary.best.run_id == 2 and len(summary.table) == 3
    assert summary.best_help() == "Run #2: config 2, 20 training images"
    assert summary.active == 1 and summary.active_text().startswith("1 run is still training")
    assert summary.on_front == 3  # at 10 images the faster run 1 and the more accurate run 3 both


def test_a_cancelled_best_says_so_and_no_runs_has_no_best():
    summary = compare_summary([record(1, 0.9, status="cancelled"), record(2, 0.5)])
    assert "cancelled by hand" in summary.best_help()
    empty = compare_summary([])
    assert empty.best is None and empty.on_front == 0 and empty.active_text() is None


def test_class_counts_bars_keep_the_rows_order():
    fig = class_counts_bars([{"class": "b", "images": 9}, {"class": "a", "images": 3}], "#123456")
    assert list(fig.data[0].x) == ["b", "a"] and list(fig.data[0].y) == [9, 3]
