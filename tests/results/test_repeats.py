"""Repeats of a configuration with other seeds: one row in the ranking with mean, standard deviation
and count; ranked by the mean; intervals and tie marks over all its runs; `runs --json` says the same."""
from __future__ import annotations

import json
import statistics

import numpy as np
import pytest

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.results.intervals import mcnemar_p, score_intervals, sign_flip_p
from resnet_core.results.ranking import REPEAT_COLUMNS, TABLE_COLUMNS, comparison_table, ranked_rows, rows_by_run
from resnet_core.runs.repeats import group_members, plan_repeats
from resnet_core.runs.store import RunRecord, RunStore


def record(run_id: int, test_acc: float, time: float = 60.0, repeat_of: int | None = None,
           description: str = "ResNet18", balanced: float | None = None) -> RunRecord:
    # balanced: from a two-class test report whose first class is always right
    right = None if balanced is None else round(100 * (2 * balanced - 1))
    final = None if balanced is None else {"confusion": [[100, 0], [100 - right, right]]}
    return RunRecord(id=run_id, dataset="flowers", model="resnet18", status="completed", description=description,
                     num_images=120, num_train=100, test_acc=test_acc, val_loss=0.5, val_acc=0.8,
                     train_time_s=time, epoch_ended=5, repeat_of=repeat_of, final_metrics=final)


def test_repeats_are_one_row_with_mean_sd_and_count():
    rows = ranked_rows([record(1, 0.80, 60.0), record(2, 0.84, 70.0, repeat_of=1),
                        record(3, 0.82, 80.0, repeat_of=1), record(4, 0.70, description="ResNet50")])
    assert [row.run_id for row in rows] == [1, 4]
    group = rows[0]
    assert group.members == (1, 2, 3) and group.repeats == 3
    assert group.test_acc == pytest.approx(0.82)
    assert group.test_acc_sd == pytest.approx(statistics.stdev([0.80, 0.84, 0.82]))
    assert group.train_time_s == pytest.approx(70.0) and group.train_time_sd == pytest.approx(10.0)
    single = rows[1]
    assert single.repeats == 1 and single.test_acc_sd is None and single.train_time_sd is None
    # Every run of the group finds its configuration's row.
    assert {run_id: row.run_id for run_id, row in rows_by_run(rows).items()} == {1: 1, 2: 1, 3: 1, 4: 4}


def test_the_ranking_uses_the_mean_not_the_luckiest_seed():
    # Configuration A: one lucky seed (0.90) but a mean of 0.80; configuration B: a steady 0.85.
    runs = [record(1, 0.90), record(2, 0.75, repeat_of=1), record(3, 0.75, repeat_of=1),
            record(4, 0.85, description="ResNet50"), record(5, 0.85, repeat_of=4, description="ResNet50")]
    rows = ranked_rows(runs)
    assert [(row.run_id, row.rank) for row in rows] == [(4, 1), (1, 2)]
    assert rows[0].test_acc == pytest.approx(0.85) and rows[1].test_acc == pytest.approx(0.80)
    # Without the repeats, run 1 alone would have won.
    assert ranked_rows([runs[0], runs[3]])[0].run_id == 1


def test_the_balanced_ranking_averages_balanced_accuracy_too():
    rows = ranked_rows([record(1, 0.9, balanced=0.5), record(2, 0.9, repeat_of=1, balanced=0.7),
                        record(3, 0.8, description="ResNet50", balanced=0.65)], rank_by="balanced")
    assert [row.run_id for row in rows] == [3, 1]
    assert rows[1].balanced_acc == pytest.approx(0.6)
    assert rows[1].balanced_acc_sd == pytest.approx(statistics.stdev([0.5, 0.7]))


def test_the_table_and_its_csv_carry_mean_sd_and_count():
    table = comparison_table([record(1, 0.80), record(2, 0.84, repeat_of=1), record(3, 0.7, description="ResNet50")])
    assert list(table.columns) == list(TABLE_COLUMNS) and set(REPEAT_COLUMNS) <= set(table.columns)
    first = table.iloc[0]
    assert (first["run_id"], first["Repeats"], first["Runs"]) == (1, 2, "#1 #2")
    assert first["Test Acc"] == pytest.approx(0.82)
    assert first["Test Acc SD"] == pytest.approx(statistics.stdev([0.80, 0.84]))
    assert table.iloc[1]["Repeats"] == 1 and np.isnan(table.iloc[1]["Test Acc SD"])
    csv = table.to_csv(index=False)
    assert "Repeats,Runs,Test Acc SD,Balanced Acc SD,Training Time SD" in csv.splitlines()[0]


def test_new_seeds_follow_the_highest_seed_of_the_group(workspace):
    store = RunStore(workspace)
    try:
        config = TrainConfig(dataset="flowers", seed=4)
        first = store.create_run(config, "x", 60, 42, 9, 9)
        store.create_run(config.replace(seed=5), "x", 60, 42, 9, 9, repeat_of=first)
        store.create_run(config.replace(seed=9), "x", 60, 42, 9, 9)  # the same settings, not a repeat
        plan = plan_repeats(store, store.get_run(first), 3)
        assert plan.root == first and plan.seeds == [6, 7, 8]
        assert all(c.replace(seed=4) == config for c in plan.configs)
        # Repeating a repeat links to the group's first run.
        repeat = store.create_run(plan.configs[0], "x", 60, 42, 9, 9, repeat_of=first)
        assert plan_repeats(store, store.get_run(repeat), 1).root == first
        assert [r.id for r in group_members(store, store.get_run(repeat))] == [first, first + 1, repeat]
        with pytest.raises(ValueError, match="between 1 and"):
            plan_repeats(store, store.get_run(first), 0)
    finally:
        store.close()


def test_the_sign_flip_test_is_mcnemars_for_single_runs_and_sees_a_real_gap():
    a = np.arange(200) < 170
    b = np.arange(200) < 169
    assert sign_flip_p(a.astype(float), b.astype(float)) == pytest.approx(mcnemar_p(a, b))
    assert sign_flip_p(a.astype(float), a.astype(float)) == 1.0
    # Shares of three runs: 0.9 of the images right on average against 0.8, on 300 images.
    rng = np.random.default_rng(1)
    good = (rng.random((3, 300)) < 0.9).mean(0)
    worse = (rng.random((3, 300)) < 0.8).mean(0)
    assert sign_flip_p(good, worse) < 0.01
    close = np.clip(good - rng.choice([0, 1 / 3], 300, p=[0.99, 0.01]), 0, 1)
    assert sign_flip_p(good, close) >= 0.05


def finish(store, run_id: int, acc: float) -> None:
    store.finish_run(run_id, "completed", {"test_acc": acc, "val_loss": 0.4, "val_acc": acc,
                                           "train_time_s": 60.0, "epoch_ended": 3})


def test_intervals_and_tie_marks_of_a_configuration_cover_all_its_runs(workspace, capsys,
                                                                        store_test_predictions):
    store = RunStore(workspace)
    try:
        base = TrainConfig(dataset="flowers")
        first = store.create_run(base, "x", 300, 100, 200, 200)
        second = store.create_run(base.replace(seed=1), "x", 300, 100, 200, 200, repeat_of=first)
        other = store.create_run(base.replace(model="resnet50"), "x", 300, 100, 200, 200)
        for run_id, right in ((first, 170), (second, 174), (other, 171)):
            finish(store, run_id, right / 200)
            store_test_predictions(workspace, run_id, right)
        table = comparison_table(store.list_runs(), workspace).set_index("run_id")
        assert table.loc[first, "Repeats"] == 2 and table.loc[first, "Rank"] == 1
        assert table.loc[first, "Test Acc"] == pytest.approx(0.86)
        # The configuration's interval is that of its mean accuracy: around 0.86.
        low, high = table.loc[first, "Test Acc Low"], table.loc[first, "Test Acc High"]
        assert low < 0.86 < high and 0.02 < high - low < 0.15
        single = score_intervals(np.arange(200) % 2, np.where(np.arange(200) < 170, np.arange(200) % 2, 1), 2)
        assert (low, high) != (single.accuracy.low, single.accuracy.high)
        # One image's worth apart: tied with the configuration.
        assert table.loc[first, "Tied For First"] and table.loc[other, "Tied For First"]
        store_test_predictions(workspace, other, 140)
        finish(store, other, 0.70)
        table = comparison_table(store.list_runs(), workspace).set_index("run_id")
        assert not table.loc[other, "Tied For First"] and not table.loc[first, "Tied For First"]

        assert main(["runs", "--json"]) == 0
        items = {item["run_id"]: item for item in json.loads(capsys.readouterr().out)}
        for run_id in (first, second):
            item = items[run_id]
            assert (item["repeats"], item["repeat_runs"], item["rank"]) == (2, [first, second], 1)
            assert item["test_acc_mean"] == pytest.approx(0.86)
            assert item["test_acc_sd"] == pytest.approx(statistics.stdev([0.85, 0.87]))
            assert item["train_time_mean"] == 60.0 and item["train_time_sd"] == 0.0
        assert items[second]["repeat_of"] == first and items[first]["repeat_of"] is None
        assert items[second]["test_acc"] == 0.87  # the run's own score stays as it was
        assert items[second]["test_acc_ci"][0] < 0.87 < items[second]["test_acc_ci"][1]
        assert items[other]["repeats"] == 1 and items[other]["test_acc_sd"] is None
        assert main(["runs"]) == 0
        assert " x2" in capsys.readouterr().out
    finally:
        store.close()
