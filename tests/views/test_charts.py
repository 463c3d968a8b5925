"""The dashboard's Plotly figures: the right traces, the best/early-stop epoch marked, the Pareto line."""
from __future__ import annotations

import pytest

from resnet_core.config import TrainConfig
from resnet_core.results.ranking import ranked_rows
from resnet_core.runs.store import RunRecord
from resnet_core.views import charts, glossary

HISTORY = [
    {"epoch": 1, "train_loss": 1.0, "train_acc": 0.40, "val_loss": 0.90, "val_acc": 0.50},
    {"epoch": 2, "train_loss": 0.7, "train_acc": 0.60, "val_loss": None, "val_acc": None},  # not evaluated
    {"epoch": 3, "train_loss": 0.5, "train_acc": 0.80, "val_loss": 0.60, "val_acc": 0.80},
    {"epoch": 4, "train_loss": 0.4, "train_acc": 0.85, "val_loss": 0.70, "val_acc": 0.78},
]


def traces(fig, meta):
    return [t for t in fig.data if t.meta == meta]


def test_training_curves_have_train_and_validation_loss_and_accuracy():
    fig = charts.training_curves(HISTORY)
    for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
        (trace,) = traces(fig, key)
        assert len(trace.x) == len(trace.y)
    assert list(traces(fig, "train_loss")[0].x) == [1, 2, 3, 4]
    # Epochs without an evaluation are left out rather than drawn as zero.
    assert list(traces(fig, "val_loss")[0].x) == [1, 3, 4]
    assert list(traces(fig, "val_acc")[0].y) == [0.50, 0.80, 0.78]
    assert not traces(fig, "best") and not fig.layout.shapes


def test_training_curves_mark_the_best_and_the_early_stop_epoch():
    fig = charts.training_curves(HISTORY, best_epoch=3, stopped_epoch=4)
    best = traces(fig, "best")
    assert [list(t.x) for t in best] == [[3], [3]]  # on the loss and the accuracy panel
    assert [list(t.y) for t in best] == [[0.60], [0.80]]
    assert "Best epoch 3" in best[0].name
    stop = traces(fig, "stop")
    assert stop and list(stop[0].x) == [4] and "Early stop" in stop[0].name
    assert sorted(s.x0 for s in fig.layout.shapes) == [3, 3, 4, 4]


def test_the_best_epoch_marker_is_hollow_so_the_point_under_it_shows():
    # At epoch 1 the best epoch is the only validation point: a filled star would hide it.
    fig = charts.training_curves(HISTORY[:1], best_epoch=1, stopped_epoch=None)
    for marker in traces(fig, "best"):
        assert marker.marker.symbol.endswith("-open")
    val = traces(fig, "val_acc")[0]
    assert list(val.x) == [1]
    # The marker is drawn after the curve (on top), which is fine only because it is open.
    assert fig.data.index(traces(fig, "best")[-1]) > fig.data.index(val)


def test_training_curves_fix_the_x_range_to_the_planned_epochs():
    fig = charts.training_curves(HISTORY[:1], planned_epochs=10)
    assert tuple(fig.layout.xaxis.range) == (0.5, 10.5)


def test_training_curves_of_an_empty_history_is_still_a_figure():
    fig = charts.training_curves([], best_epoch=None)
    assert all(len(t.x) == 0 for t in fig.data)


def record(run_id, acc, seconds, num_train=30, dataset="d"):
    cfg = TrainConfig(dataset=dataset)
    return RunRecord(id=run_id, dataset=dataset, model="resnet18", status="completed", config=cfg,
                     description=f"run {run_id}", num_train=num_train, test_acc=acc, val_loss=0.5,
                     val_acc=acc, train_time_s=seconds, epoch_ended=3)


def test_cost_performance_draws_every_run_and_joins_the_pareto_front_in_time_order():
    # Run 3 is dominated (slower and less accurate than run 2); runs 1, 2, 4 form the front.
    rows = ranked_rows([record(1, 0.80, 10.0), record(2, 0.90, 30.0), record(3, 0.85, 40.0),
                        record(4, 0.95, 60.0)])
    fig = charts.cost_performance(rows)
    (runs,) = traces(fig, "runs")
    assert sorted(runs.x) == [10.0, 30.0, 40.0, 60.0]
    assert [c[0] for c in runs.customdata] == [r.run_id for r in rows]
    (front,) = traces(fig, "pareto")
    assert list(front.x) == [10.0, 30.0, 60.0]
    assert list(front.y) == [0.80, 0.90, 0.95]
    assert any(a.text == "Best trade-offs" for a in fig.layout.annotations)


@pytest.mark.parametrize("accuracies", [(1.0,), (1.0, 0.8333, 0.5), (0.97, 0.99)])
def test_cost_performance_accuracy_axis_ends_at_100_percent(accuracies):
    rows = ranked_rows([record(i, acc, 10.0 * i) for i, acc in enumerate(accuracies, start=1)])
    fig = charts.cost_performance(rows)
    low, high = fig.layout.yaxis.range
    assert high == 1.0
    assert 0.0 <= low < min(accuracies)
    (runs,) = traces(fig, "runs")
    assert runs.cliponaxis is False  # a run at 100% is drawn whole on the axis' edge


def test_cost_performance_marks_a_cancelled_run_in_its_hover_text():
    done, cancelled = record(1, 0.8, 10.0), record(2, 0.9, 20.0)
    cancelled = RunRecord(**{**cancelled.__dict__, "status": "cancelled"})
    fig = charts.cost_performance(ranked_rows([done, cancelled]))
    (runs,) = traces(fig, "runs")
    notes = {c[0]: c[4] for c in runs.customdata}
    assert notes == {1: "", 2: " (cancelled)"}


def test_labels_of_close_runs_go_to_different_places():
    # Runs 1 and 2 sit almost on top of each other (as on a phone's narrow chart); run 3 is far away.
    places = charts.label_positions([(23.0, 0.833), (24.0, 0.833), (5.0, 0.833)], x_span=25, y_span=0.5)
    assert places[0] != places[1]
    assert places[2] == "top center"
    # Four runs in one spot all get a place of their own.
    assert len(set(charts.label_positions([(1.0, 0.5)] * 4, 10, 1))) == 4


def test_cost_performance_draws_one_front_per_training_set_size():
    rows = ranked_rows([record(1, 0.8, 10.0, num_train=30), record(2, 0.9, 20.0, num_train=30),
                        record(3, 0.7, 5.0, num_train=300)])
    fig = charts.cost_performance(rows)
    assert len(traces(fig, "runs")) == 2
    fronts = traces(fig, "pareto")
    assert len(fronts) == 2
    assert any("300 training images" in t.name for t in fronts)


def test_confusion_heatmap_labels_the_classes_and_has_clickable_cells():
    fig = charts.confusion_heatmap(["cat", "dog"], [[5, 1], [2, 4]])
    heat = next(t for t in fig.data if t.type == "heatmap")
    assert list(heat.x) == ["cat", "dog"] and list(heat.y) == ["cat", "dog"]
    assert [list(r) for r in heat.z] == [[5, 1], [2, 4]]
    (cells,) = traces(fig, charts.CONFUSION_CELLS)
    # The cell true=dog, predicted=cat holds 2 images.
    pairs = {(y, x): n for x, y, n in zip(cells.x, cells.y, cells.customdata)}
    assert pairs[("dog", "cat")] == 2 and len(pairs) == 4


def test_confusion_heatmap_refuses_a_matrix_of_the_wrong_shape():
    with pytest.raises(ValueError, match="2×2"):
        charts.confusion_heatmap(["a", "b"], [[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize("event", [
    {"selection": {"points": [{"x": "cat", "y": "dog", "curve_number": 1}]}},
    {"points": [{"x": "cat", "y": "dog"}]},
])
def test_selected_cell_reads_true_and_predicted_from_a_click(event):
    assert charts.selected_cell(event) == ("dog", "cat")


def test_selected_cell_without_a_click_is_none():
    assert charts.selected_cell(None) is None
    assert charts.selected_cell({"selection": {"points": []}}) is None


def test_per_class_bars_have_precision_recall_and_f1_per_class():
    fig = charts.per_class_bars([{"class": "a", "precision": 1.0, "recall": 0.5, "f1": 2 / 3},
                                 {"class": "b", "precision": 0.5, "recall": 1.0, "f1": 2 / 3}])
    assert [t.meta for t in fig.data] == ["precision", "recall", "f1"]
    assert list(fig.data[1].x) == ["a", "b"] and list(fig.data[1].y) == [0.5, 1.0]


def test_top_k_bars_put_the_most_probable_class_on_top():
    fig = charts.top_k_bars([{"class": "dog", "probability": 0.7}, {"class": "cat", "probability": 0.2},
                             {"class": "fox", "probability": 0.1}])
    (bar,) = fig.data
    assert bar.orientation == "h"
    assert list(bar.y) == ["dog", "cat", "fox"] and list(bar.x) == [0.7, 0.2, 0.1]
    assert fig.layout.yaxis.autorange == "reversed"  # first row at the top
    assert list(bar.text) == ["70.0%", "20.0%", "10.0%"]


def study_table(n, *rows):
    """A study_tables() table: rows of (config, test acc, rank); rank None for an unfinished one."""
    return {"num_images": n, "rows": [{"config": c, "test_acc": acc, "rank": rank, "run_id": i}
                                      for i, (c, acc, rank) in enumerate(rows, start=n)]}


def test_learning_curves_draw_a_line_per_configuration_across_the_sizes():
    tables = [study_table(100, ("A", 0.60, 2), ("B", 0.70, 1), ("C", None, None)),
              study_table(2000, ("A", 0.90, 1), ("B", 0.80, 2), ("C", 0.50, 3))]
    fig = charts.learning_curves(tables)
    (a,) = traces(fig, "A")
    assert list(a.x) == [100, 2000] and list(a.y) == [0.60, 0.90]
    (c,) = traces(fig, "C")
    assert list(c.x) == [2000]  # unfinished at 100 images: not drawn as zero
    # The winner at the largest size stands out; the sizes span 20×, so the axis is logarithmic.
    assert a.line.width > traces(fig, "B")[0].line.width
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.tickvals) == [100, 2000]


def test_learning_curves_accuracy_axis_ends_at_100_percent():
    fig = charts.learning_curves([study_table(100, ("A", 1.0, 1)), study_table(300, ("A", 1.0, 1))])
    assert fig.layout.yaxis.range[1] == 1.0 and fig.layout.yaxis.range[0] < 1.0


def test_learning_curves_of_close_sizes_use_a_linear_axis_and_of_nothing_an_empty_figure():
    fig = charts.learning_curves([study_table(100, ("A", 0.6, 1)), study_table(300, ("A", 0.7, 1))])
    assert fig.layout.xaxis.type == "linear"
    assert not charts.learning_curves([study_table(100, ("A", None, None))]).data


def test_confusion_labels_of_many_long_class_names_are_shortened_tilted_and_whole_on_hover():
    classes = [f"a_rather_long_species_name_{i:03d}" for i in range(30)]
    matrix = [[5 if i == j else 0 for j in range(30)] for i in range(30)]
    fig = charts.confusion_heatmap(classes, matrix)
    x, y = fig.layout.xaxis, fig.layout.yaxis
    assert x.tickangle == -90 and list(x.tickvals) == classes and list(y.tickvals) == classes
    assert all(len(t) <= charts.LABEL_MAX_CHARS for t in x.ticktext)
    assert len(set(x.ticktext)) == 30  # the ends that tell them apart are kept
    assert x.ticktext[7] == "a_rather_…_007" and list(y.ticktext) == list(x.ticktext)
    heat = next(t for t in fig.data if t.type == "heatmap")
    assert list(heat.x) == classes and "true %{y}" in heat.hovertemplate  # the hover names them in full
    (cells,) = traces(fig, charts.CONFUSION_CELLS)
    assert set(cells.x) == set(classes)  # a click still reports the full class name


def test_confusion_labels_of_a_few_short_names_stay_level_and_whole():
    fig = charts.confusion_heatmap(["cat", "dog", "fox"], [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert fig.layout.xaxis.tickangle == 0 and list(fig.layout.xaxis.ticktext) == ["cat", "dog", "fox"]
    assert charts.short_label("ab") == "ab"
    six = charts.confusion_heatmap([f"long_name_{c}" for c in "abc"], [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert six.layout.xaxis.tickangle == -45  # three labels, but long ones


def test_cost_performance_legend_uses_the_glossary_word_and_its_help():
    rows = ranked_rows([record(1, 0.80, 10.0), record(2, 0.90, 30.0), record(3, 0.70, 40.0)])
    fig = charts.cost_performance(rows)
    (front,) = traces(fig, "pareto")
    assert front.name == glossary.BEST_TRADE_OFFS == "Best trade-offs"
    assert not any("Pareto" in (t.name or "") for t in fig.data)
    assert glossary.BEST_TRADE_OFF in front.hovertemplate.replace("<br>", " ")  # the help travels with the word
