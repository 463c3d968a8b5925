"""What the Study page shows of a study: suggested sizes, typed sizes, the configurations × sizes grid
with live status, overall progress with the time left, and result rows for tables and charts."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from resnet_core.config import TrainConfig
from resnet_core.runs.store import RunStore
from resnet_core.study.plan import StudyEntry, StudyPlan
from resnet_core.study.summary import study_conclusion, study_tables
from resnet_core.views.study_view import (
    RESULT_COLUMNS,
    Cell,
    chart_rows,
    overall_progress,
    parse_size,
    parse_sizes,
    progress_grid,
    result_rows,
    size_label,
    study_cells,
    suggested_sizes,
    training_modes_text,
)


def test_suggested_sizes_are_a_tenth_a_third_half_and_all_of_the_training_split():
    options, defaults = suggested_sizes(8330, 10)
    assert options == [833, 2499, 4165, 8330]
    assert defaults == [833, 2499, 8330]


def test_suggested_sizes_give_every_class_an_image_and_merge_duplicates():
    options, defaults = suggested_sizes(24, 3)
    assert options == [3, 7, 12, 24] and defaults == [3, 7, 24]
    assert suggested_sizes(4, 3) == ([3, 4], [3, 4])
    assert suggested_sizes(1, 3) == ([], [])  # too small to study: nothing to suggest


def test_size_labels_say_how_many_training_images_and_what_share():
    assert size_label(833, 8330) == "833 training images (10%)"
    assert size_label(9000, 8330) == "8,330 training images (all)"
    assert size_label("lots", 8330) == "lots"  # typed, not read yet: shown as typed


@pytest.mark.parametrize("value, expected", [(833, 833), ("833", 833), ("2,280", 2280), (" 500 images ", 500),
                                             ("24 training images (all)", 24), (12.0, 12)])
def test_sizes_are_read_as_typed_or_picked(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["lots", "", "-3", "1.5", True, 0])
def test_a_size_that_is_not_a_whole_number_of_images_is_refused_with_what_to_type(value):
    with pytest.raises(ValueError, match="training images"):
        parse_size(value)


def test_parse_sizes_sorts_and_merges():
    assert parse_sizes(["100", 30, "1,00"]) == [30, 100]


# ----- a study with runs in a store, without training -----------------------------------------

def make_plan() -> StudyPlan:
    entries = []
    for size in (10, 20):
        for fine_tune in (False, True):
            entries.append(StudyEntry(size, TrainConfig(dataset="d", fine_tune=fine_tune, augmentation="none",
                                                        epochs=4, max_train_images=size, weights="none")))
    return StudyPlan(study_id="d-1", name="d study", dataset="d", sizes=(10, 20), entries=tuple(entries),
                     num_val=5, num_test=5, num_train_available=20)


def plan_of(configs: list[tuple[str, bool]], left_out: tuple[str, ...] = ()) -> StudyPlan:
    entries = tuple(StudyEntry(size, TrainConfig(dataset="d", model=model, fine_tune=fine_tune,
                                                 augmentation=aug, max_train_images=size))
                    for size in (10, 20) for model, fine_tune in configs for aug in ("none", "standard"))
    return StudyPlan(study_id="d-1", name="d study", dataset="d", sizes=(10, 20), entries=entries,
                     num_val=5, num_test=5, num_train_available=20, left_out=left_out)


def test_the_plan_caption_says_twice_only_when_every_depth_has_a_frozen_run():
    both = plan_of([("resnet18", False), ("resnet18", True), ("resnet50", False), ("resnet50", True)])
    assert training_modes_text(both).startswith("Every depth and augmentation is trained twice")


def test_the_plan_caption_of_fine_tuning_only_does_not_promise_frozen_runs():
    # No ImageNet weights: frozen random backbones left out, so each configuration is trained once.
    tuned = plan_of([("resnet18", True), ("resnet50", True)], left_out=("ResNet18", "ResNet50"))
    text = training_modes_text(tuned)
    assert "twice" not in text and "trained once, fine-tuning all layers" in text and "left out" in text
    assert len(tuned.entries) == 2 * 2 * 2  # sizes × depths × augmentations: the count the page shows


def test_the_plan_caption_names_the_depths_when_they_differ():
    mixed = plan_of([("resnet18", False), ("resnet18", True), ("resnet101", True)], left_out=("ResNet101",))
    text = training_modes_text(mixed)
    assert "ResNet18 is trained twice per augmentation" in text
    assert "ResNet101 only fine-tuning all layers" in text and "left out" in text


# The test report of the finished run: 3 of 5 right, the small class found once in three.
CONFUSION = [[2, 0], [2, 1]]


def add_run(store: RunStore, entry: StudyEntry, status: str, acc: float | None = None,
            seconds: float | None = None, confusion: list[list[int]] | None = None) -> int:
    run_id = store.create_run(entry.config, "unused", 30, entry.num_images, 5, 5)
    if status == "running":
        store.mark_running(run_id)
    elif status != "queued":
        final = {} if acc is None else {"test_acc": acc, "val_acc": acc, "val_loss": 1 - acc,
                                        "train_time_s": seconds, "epoch_ended": 4}
        if confusion is not None:
            final["final_metrics"] = {"confusion": confusion}
        store.finish_run(run_id, status, final, error="boom" if status == "failed" else None)
    return run_id


@pytest.fixture
def study(workspace):
    store = RunStore(workspace)
    plan = make_plan()
    e = plan.entries
    ids = {"done": add_run(store, e[0], "completed", 0.6, 10.0, CONFUSION),
           "failed": add_run(store, e[1], "failed"),
           "running": add_run(store, e[2], "running")}
    other = TrainConfig(dataset="d", model="resnet50", max_train_images=10, weights="none")
    store.create_run(other, "unused", 30, 10, 5, 5)  # not a configuration of the plan
    yield SimpleNamespace(store=store, plan=plan, ids=ids)
    store.close()


def snapshot(run_id: int, **kw):
    base = dict(run_id=run_id, status="running", epoch=2, epochs=4, progress=0.5, elapsed_s=8.0,
                queue_position=None)
    return SimpleNamespace(**{**base, **kw})


def test_cells_follow_the_plan_with_the_store_and_the_live_jobs(study):
    cells = study_cells(study.plan, study.store, [snapshot(study.ids["running"])])
    assert [c.status for c in cells] == ["completed", "failed", "running", "pending"]
    assert cells[0].text == "✓ 60.0%" and cells[0].run_id == study.ids["done"]
    assert cells[1].text == "✗ failed"
    assert cells[2].text == "▶ epoch 2/4" and cells[2].progress == 0.5
    assert cells[3].text == "· not run" and cells[3].run_id is None
    # Without a snapshot (another process trains it) a running run still shows, without epochs.
    assert study_cells(study.plan, study.store)[2].text == "▶ running"


def test_a_completed_run_wins_over_a_newer_failed_one(study):
    add_run(study.store, study.plan.entries[0], "failed")
    assert study_cells(study.plan, study.store)[0].status == "completed"


def test_queued_cells_say_their_place_in_the_queue(study):
    queued = add_run(study.store, study.plan.entries[3], "queued")
    cells = study_cells(study.plan, study.store, [snapshot(queued, status="queued", epoch=0, queue_position=2)])
    assert cells[3].text == "… queued (2nd)"


def test_the_grid_has_a_row_per_configuration_and_a_column_per_size(study):
    cells = study_cells(study.plan, study.store)
    grid = progress_grid(study.plan, cells)
    assert [row["Configuration"] for row in grid] == ["ResNet18", "ResNet18 + fine-tuning"]
    assert grid[0] == {"Configuration": "ResNet18", "10 images": "✓ 60.0%", "20 images": "▶ running"}
    assert grid[1]["20 images"] == "· not run"


def cell(status: str, progress: float = 0.0, elapsed: float = 0.0, seconds: float | None = None) -> Cell:
    return Cell(10, "c", status, progress=progress, elapsed_s=elapsed, train_time_s=seconds)


def test_overall_progress_counts_a_running_configuration_by_its_epochs():
    state = overall_progress([cell("completed", 1.0, seconds=10), cell("running", 0.5, elapsed=4),
                              cell("queued"), cell("failed"), cell("cancelled")])
    assert (state.total, state.completed, state.running, state.queued) == (5, 1, 1, 1)
    assert (state.failed, state.stopped, state.active) == (1, 1, 2)
    assert state.fraction == pytest.approx(1.5 / 5)
    assert state.is_active and not state.is_complete
    # No estimates: the mean of the finished (10 s) for the four open ones, less what has run.
    assert state.eta_s == pytest.approx(10 * 4 - 4)
    assert state.text().startswith("1 of 5 configurations done · 1 running · 1 queued · 1 failed · 1 stopped · about")


def test_before_anything_finished_the_running_configuration_sets_the_pace():
    state = overall_progress([cell("running", 0.25, elapsed=5), cell("queued")])
    assert state.eta_s == pytest.approx(20 * 2 - 5)  # a quarter done in 5 s: 20 s a configuration
    assert overall_progress([cell("running", 0.01, elapsed=1), cell("queued")]).eta_s is None  # too early
    assert "estimating the time left" in overall_progress([cell("queued")]).text()


def test_the_time_left_is_the_estimate_corrected_by_how_the_finished_ones_compared():
    cells = [cell("completed", 1.0, seconds=20), cell("running", 0.2, elapsed=5), cell("queued")]
    state = overall_progress(cells, estimates=[10.0, 10.0, 30.0])
    assert state.eta_s == pytest.approx((10 + 30) * 2.0 - 5)  # the finished one took twice its estimate
    assert overall_progress([cell("queued")]).eta_s is None  # nothing to go by yet
    done = overall_progress([cell("completed", 1.0, seconds=3)])
    assert done.is_complete and done.eta_s == 0 and not done.is_active


def test_result_rows_and_chart_rows_come_from_the_study_tables(study):
    tables = study_tables(study.plan, study.store)
    rows = result_rows(tables)
    assert len(rows) == 4
    first = rows[0]
    assert first["Training images"] == 10 and first["Model"] == "ResNet18" and first["Rank"] == 1
    assert first["Test Acc"] == 0.6 and first["Run"] == study.ids["done"] and first["Best trade-off"]
    assert [r["Status"] for r in rows] == ["completed", "failed", "running", "pending"]
    assert all(r["Rank"] is None for r in rows[1:])
    assert list(first) == list(RESULT_COLUMNS)  # the table's and the CSV's columns
    # Every class counts the same: recalls 2/2 and 1/3; F1s 2/3 (precision 2/4) and 1/2 (precision 1/1).
    assert first["Balanced Acc"] == pytest.approx((1 + 1 / 3) / 2)
    assert first["Macro F1"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert all(r["Balanced Acc"] is None and r["Macro F1"] is None for r in rows[1:])  # not finished
    (point,) = chart_rows(tables)  # only ranked configurations are drawn
    assert (point.run_id, point.num_images, point.description, point.test_acc, point.train_time_s, point.rank,
            point.pareto) == (study.ids["done"], 10, "ResNet18", 0.6, 10.0, 1, True)
    assert not math.isnan(point.train_time_s)


def test_runs_one_test_image_apart_are_tied_in_the_conclusion_and_the_result_rows(workspace, store_test_predictions):
    """The tie comes from the runs' stored per-image predictions, not from a hand-set mark: at 10 images
    the two configurations differ by one test image of 200, at 20 images by 30."""
    store = RunStore(workspace)
    try:
        plan = make_plan()
        for entry, right in zip(plan.entries, (170, 169, 170, 140)):
            run_id = add_run(store, entry, "completed", right / 200, 10.0)
            store_test_predictions(workspace, run_id, right)
        tables = study_tables(plan, store)
    finally:
        store.close()
    small, large = tables
    assert [r["tied_for_first"] for r in small["rows"]] == [True, True]
    assert [r["tied_for_first"] for r in large["rows"]] == [False, False]
    leader, close = small["rows"]
    text = study_conclusion(tables)
    assert text[0].startswith(f"10 images: tied for best were {leader['config']} (85.0% in ")
    assert f"and {close['config']} (84.5%)" in text[0] and "within noise" in text[0]
    assert text[1].startswith(f"20 images: best was {large['rows'][0]['config']} with 85.0% test accuracy")
    rows = result_rows(tables)
    assert [r["Tie"] for r in rows] == ["tied for 1st", "tied for 1st", "", ""]
    for row, accuracy in zip(rows, (85.0, 84.5, 85.0, 70.0)):  # each interval around its run's accuracy
        low, high = (float(end) for end in row["Test Acc 95% CI"].removesuffix("%").split("–"))
        assert low < accuracy < high and high - low < 15, row
