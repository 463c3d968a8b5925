"""Ranking, the Pareto front, the comparison table, the study-format text and `runs --json`."""
from __future__ import annotations

import json

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.results.ranking import (
    SETTING_COLUMNS,
    STUDY_COLUMNS,
    TABLE_COLUMNS,
    RankedRun,
    best_row,
    comparison_table,
    format_study_table,
    pareto_front,
    ranked_rows,
)
from resnet_core.runs.store import RunRecord, RunStore

# The cost-performance study's 833-image block: description, val loss, val acc, test acc, time, epochs.
STUDY_833 = [
    ("ResNet18", 0.9694, 0.7246, 0.7289, 60, 13),
    ("ResNet18 + fine-tuning", 0.5266, 0.8024, 0.7711, 60, 18),
    ("ResNet18 + data Augmentation", 0.7036, 0.7365, 0.7229, 120, 34),
    ("ResNet18 + fine-tuning + Augmentation", 0.5409, 0.7844, 0.7711, 170, 47),
    ("ResNet50", 0.8773, 0.6587, 0.6145, 70, 4),
    ("ResNet50 + fine-tuning", 0.6015, 0.8084, 0.7771, 100, 9),
    ("ResNet50 + data Augmentation", 0.2832, 0.6527, 0.6386, 140, 18),
    ("ResNet50 + fine-tuning + Augmentation", 0.6202, 0.7725, 0.8012, 140, 16),
]
STUDY_833_TEXT = """\
Model(833 images) | Val Loss | Val Acc | Test Acc | Training Time | Epoch Ended | Rank |
---|---|---|---|---|---|---|
ResNet18 | 0.9694 | 0.7246 | 0.7289 | 60s | 13 | 5 |
ResNet18 + fine-tuning | 0.5266 | 0.8024 | 0.7711 | 60s | 18 | 3 |
ResNet18 + data Augmentation | 0.7036 | 0.7365 | 0.7229 | 120s | 34 | 6 |
ResNet18 + fine-tuning + Augmentation | 0.5409 | 0.7844 | 0.7711 | 170s | 47 | 4 |
ResNet50 | 0.8773 | 0.6587 | 0.6145 | 70s | 4 | 8 |
ResNet50 + fine-tuning | 0.6015 | 0.8084 | 0.7771 | 100s | 9 | 2 |
ResNet50 + data Augmentation | 0.2832 | 0.6527 | 0.6386 | 140s | 18 | 7 |
ResNet50 + fine-tuning + Augmentation | 0.6202 | 0.7725 | 0.8012 | 140s | 16 | 1 |"""


def record(run_id: int, test_acc: float | None, val_loss: float | None = 0.5, time: float | None = 60.0,
           dataset: str = "flowers", num_train: int = 833, status: str = "completed",
           description: str = "ResNet18", val_acc: float | None = 0.8, epoch_ended: int | None = 5) -> RunRecord:
    return RunRecord(id=run_id, dataset=dataset, model="resnet18", status=status, description=description,
                     num_images=num_train + 100, num_train=num_train, test_acc=test_acc, val_loss=val_loss,
                     val_acc=val_acc, train_time_s=time, epoch_ended=epoch_ended,
                     created_at=f"2024-01-01T00:00:{run_id:02d}+00:00")


def study_records() -> list[RunRecord]:
    return [record(i, test, val_loss, time, description=name, val_acc=val_acc, epoch_ended=epochs)
            for i, (name, val_loss, val_acc, test, time, epochs) in enumerate(STUDY_833, start=1)]


def ranks(rows) -> dict[int, int]:
    return {row.run_id: row.rank for row in rows}


def test_ranks_by_test_acc_then_val_loss_then_time():
    runs = [
        record(1, 0.80, val_loss=0.40, time=100),
        record(2, 0.90, val_loss=0.90, time=900),  # best accuracy wins whatever its loss and time
        record(3, 0.80, val_loss=0.30, time=200),  # tie on accuracy: lower val loss first
        record(4, 0.80, val_loss=0.40, time=50),  # tie on both: faster first
        record(5, 0.70, val_loss=None, time=None),
    ]
    rows = ranked_rows(runs)
    assert [row.run_id for row in rows] == [2, 3, 4, 1, 5]
    assert ranks(rows) == {2: 1, 3: 2, 4: 3, 1: 4, 5: 5}


def test_only_runs_with_a_test_accuracy_are_ranked():
    runs = [record(1, 0.8), record(2, None, status="failed"), record(3, 0.6, status="cancelled"),
            record(4, None, status="cancelled"), record(5, None, status="running"),
            record(6, 0.9, status="interrupted")]
    assert [row.run_id for row in ranked_rows(runs)] == [1, 3]


def test_runs_are_ranked_within_dataset_and_size():
    runs = [record(1, 0.70, num_train=833), record(2, 0.90, num_train=2280), record(3, 0.80, num_train=833),
            record(4, 0.95, dataset="birds", num_train=833), record(5, 0.85, num_train=2280)]
    rows = ranked_rows(runs)
    assert ranks(rows) == {4: 1, 3: 1, 1: 2, 2: 1, 5: 2}
    # Groups in order of dataset, then size (smallest first), best first inside each.
    assert [row.run_id for row in rows] == [4, 3, 1, 2, 5]
    assert [row.num_images for row in rows] == [833, 833, 833, 2280, 2280]


def test_study_ranks_are_reproduced():
    rows = ranked_rows(study_records())
    assert ranks(rows) == {1: 5, 2: 3, 3: 6, 4: 4, 5: 8, 6: 2, 7: 7, 8: 1}


def test_pareto_front_on_hand_made_points():
    def point(run_id, acc, time, num_images=10):
        return RankedRun(run_id=run_id, dataset="d", num_images=num_images, description="", val_loss=None,
                         val_acc=None, test_acc=acc, train_time_s=time, epoch_ended=None)

    rows = [
        point(1, 0.90, 100.0),  # best acc
        point(2, 0.80, 20.0),  # fastest
        point(3, 0.85, 50.0),  # between
        point(4, 0.80, 60.0),  # beaten by 2, 3
        point(5, 0.90, 120.0),  # tie acc, slower
        point(6, 0.85, 50.0),  # same as 3
        point(7, 0.95, None),  # no time
        point(8, 0.10, 500.0, num_images=99),  # alone in group
    ]
    assert pareto_front(rows) == {1, 2, 3, 6, 7, 8}


def test_ranked_rows_carry_pareto_and_display_fields():
    rows = ranked_rows(study_records())
    on_front = {row.run_id for row in rows if row.pareto}
    # 60 s: ResNet18 + fine-tuning is the fastest accurate one; 100 s: ResNet50 + fine-tuning;
    # 140 s: ResNet50 + fine-tuning + Augmentation is the most accurate.
    assert on_front == {2, 6, 8}
    top = rows[0]
    assert top.description == "ResNet50 + fine-tuning + Augmentation" and top.rank == 1
    assert (top.val_loss, top.val_acc, top.test_acc, top.train_time_s, top.epoch_ended) == (
        0.6202, 0.7725, 0.8012, 140, 16)
    assert top.dataset == "flowers" and top.num_images == 833 and top.status == "completed"
    assert top.created_at.startswith("2024-01-01")
    # Under the study's column names, for tables and the CSV.
    assert top.study_values() == {"Model": top.description, "Val Loss": 0.6202, "Val Acc": 0.7725,
                                  "Test Acc": 0.8012, "Training Time": 140, "Epoch Ended": 16, "Rank": 1}
    assert list(top.table_row()) == list(TABLE_COLUMNS)


def test_comparison_table_columns_and_order():
    table = comparison_table(study_records())
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert list(table.columns[:7]) == list(STUDY_COLUMNS)
    assert table["Rank"].tolist() == list(range(1, 9))
    assert table["run_id"].tolist()[:3] == [8, 6, 2]
    assert set(table["Images"]) == {833} and table["Pareto"].sum() == 3
    assert "Model,Val Loss" in table.to_csv(index=False)


def test_the_table_and_its_csv_carry_each_runs_name_note_and_settings():
    config = TrainConfig(dataset="flowers", epochs=12, batch_size=32, learning_rate=3e-4, image_size=160,
                         weights="auto")
    named = RunRecord(id=1, dataset="flowers", model="resnet18", status="completed", config=config,
                      description="ResNet18", num_train=833, test_acc=0.8, val_loss=0.5, train_time_s=60.0,
                      name="small images", user_note="faster, as good?",
                      final_metrics={"batch_size": 16, "weights": "imagenet"})  # lowered to fit memory
    from_file = RunRecord(id=2, dataset="flowers", model="resnet18", status="completed", description="ResNet18",
                          config=config.replace(weights="file", weights_path="weights/mine.pth"), num_train=833,
                          test_acc=0.7, val_loss=0.6, train_time_s=50.0)
    table = comparison_table([named, from_file])
    assert list(table.columns[:7]) == list(STUDY_COLUMNS)  # the study's columns stay first, in its order
    assert table["Rank"].tolist() == [1, 2]
    first, second = (dict(zip(table.columns, row)) for row in table.itertuples(index=False))
    assert {c: first[c] for c in SETTING_COLUMNS} == {
        "Name": "small images", "Note": "faster, as good?", "Epochs": 12, "Batch Size": 16,
        "Learning Rate": 3e-4, "Image Size": 160, "Weights": "ImageNet"}
    assert (second["Name"], second["Weights"], second["Batch Size"]) == ("", "file mine.pth", 32)
    header = table.to_csv(index=False).splitlines()[0]
    assert "Name,Note,Epochs,Batch Size,Learning Rate,Image Size,Weights" in header


def test_comparison_table_says_which_ranked_runs_were_cancelled():
    table = comparison_table([record(1, 0.7), record(2, 0.9, status="cancelled")])
    assert dict(zip(table["run_id"], table["Status"])) == {2: "cancelled", 1: "completed"}
    assert table["Rank"].tolist() == [1, 2]  # a cancelled run with a score still ranks


def test_comparison_table_of_no_runs_is_empty_with_columns():
    table = comparison_table([record(1, None, status="failed")])
    assert table.empty and list(table.columns) == list(TABLE_COLUMNS)


def test_study_table_text_matches_the_study_layout():
    rows = sorted(ranked_rows(study_records()), key=lambda row: row.run_id)  # the study's row order
    other_size = ranked_rows([record(99, 0.99, num_train=2280)])
    assert format_study_table(rows + other_size, 833) == STUDY_833_TEXT


def test_study_numbers_drop_trailing_zeros_and_show_missing_values():
    row = ranked_rows([record(1, 0.818, val_loss=0.51, time=149.6, val_acc=None, epoch_ended=None)])
    assert format_study_table(row, 833).splitlines()[2] == "ResNet18 | 0.51 | — | 0.818 | 150s | — | 1 |"


def test_cli_runs_json(workspace, capsys):
    store = RunStore(workspace)
    try:
        slow = store.create_run(TrainConfig(dataset="flowers", model="resnet50"), "x", 60, 42, 9, 9)
        fast = store.create_run(TrainConfig(dataset="flowers"), "x", 60, 42, 9, 9)
        failed = store.create_run(TrainConfig(dataset="flowers"), "x", 60, 42, 9, 9)
        other = store.create_run(TrainConfig(dataset="birds"), "x", 30, 20, 5, 5)
        store.finish_run(slow, "completed", {"test_acc": 0.9, "val_loss": 0.3, "val_acc": 0.88,
                                             "train_time_s": 300.0, "epoch_ended": 12, "best_epoch": 10})
        store.finish_run(fast, "completed", {"test_acc": 0.8, "train_time_s": 30.0, "epoch_ended": 4})
        store.finish_run(failed, "failed", error="out of memory")
        store.finish_run(other, "completed", {"test_acc": 0.5})
    finally:
        store.close()

    assert main(["runs", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert [item["run_id"] for item in items] == [other, failed, fast, slow]
    by_id = {item["run_id"]: item for item in items}
    assert by_id[slow]["rank"] == 1 and by_id[fast]["rank"] == 2 and by_id[other]["rank"] == 1
    assert by_id[failed]["rank"] is None and by_id[failed]["error"] == "out of memory"
    s = by_id[slow]
    assert (s["dataset"], s["status"], s["model"], s["description"]) == (
        "flowers", "completed", "resnet50", "ResNet50 + fine-tuning + augmentation")
    assert (s["val_loss"], s["val_acc"], s["test_acc"], s["train_time_s"]) == (0.3, 0.88, 0.9, 300.0)
    assert (s["epoch_ended"], s["best_epoch"], s["num_images"]) == (12, 10, 60)
    assert s["created_at"]

    assert main(["runs", "--dataset", "birds", "--json"]) == 0
    assert [item["run_id"] for item in json.loads(capsys.readouterr().out)] == [other]

    assert main(["runs"]) == 0
    text = capsys.readouterr().out
    assert "ResNet50 + fine-tuning + augmentation" in text and "5m 0s" in text and "out of memory" not in text


def test_cli_runs_on_an_empty_store_says_how_to_start(workspace, capsys):
    assert main(["runs"]) == 0
    assert "python -m resnet_core train" in capsys.readouterr().out
    assert main(["runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_the_best_row_is_the_best_over_every_size():
    rows = ranked_rows([record(1, 0.267, num_train=12), record(2, 0.422, num_train=24),
                        record(3, 0.30, num_train=12)])
    assert rows[0].run_id == 3  # the smallest size's winner comes first in the table
    assert best_row(rows).run_id == 2
    assert best_row([]) is None
