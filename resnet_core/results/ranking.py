"""Ranking finished runs and the cost-performance view (accuracy against training time).

Runs compete only with runs on the same dataset and the same number of training images, as in the
cost-performance study: a ranking across dataset sizes would mostly measure the size. They rank by
test accuracy as the study does, or by balanced accuracy (every class counts the same) on request.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pandas as pd

from resnet_core.results.metrics import BALANCED_ACC, MACRO_F1, run_scores
from resnet_core.runs.store import RunRecord

# The study's columns, in the study's order, then what the dashboard adds.
STUDY_COLUMNS = ("Model", "Val Loss", "Val Acc", "Test Acc", "Training Time", "Epoch Ended", "Rank")
# Status: 'completed', or 'cancelled' for a run stopped by hand after an evaluation (it still ranks).
TABLE_COLUMNS = STUDY_COLUMNS + ("Dataset", "Images", "Pareto", "run_id", "Status", "Split Leaks",
                                 "Balanced Acc", "Macro F1")
# What a ranking may order by: the study's test accuracy, or balanced accuracy.
RANK_BY = {"accuracy": "Test Acc", "balanced": "Balanced Acc"}


def _group_key(row: dict[str, Any]) -> tuple[str, int]:
    return row["dataset"], row["num_images"] if row["num_images"] is not None else -1


def _missing_last(value: float | None) -> float:
    return math.inf if value is None or not math.isfinite(value) else value


def _score(row: dict[str, Any], column: str) -> float:
    value = row[column]
    return -math.inf if value is None or not math.isfinite(value) else value


def _order_key(row: dict[str, Any], column: str = "Test Acc") -> tuple:
    # Higher score, then higher test accuracy, lower validation loss, shorter training, the older run.
    return (-_score(row, column), -row["Test Acc"], _missing_last(row["Val Loss"]),
            _missing_last(row["Training Time"]), row["run_id"])


def ranked_rows(runs: Iterable[RunRecord], rank_by: str = "accuracy") -> list[dict[str, Any]]:
    """Rows of the ranked runs: grouped by (dataset, training images), best first in each group.

    Groups come in order of dataset name, then size (smallest first, as the study lists them).
    rank_by: 'accuracy' (the study's order) or 'balanced' (balanced accuracy; a run without a
    test report to compute it from comes last). The Pareto front uses the same score.
    """
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by must be one of {', '.join(RANK_BY)}; got {rank_by!r}")
    column = RANK_BY[rank_by]
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        if not run.is_ranked:
            continue
        row = {
            "run_id": run.id,
            "dataset": run.dataset,
            "num_images": run.num_train,
            "Model": run.description,
            "Val Loss": run.val_loss,
            "Val Acc": run.val_acc,
            "Test Acc": run.test_acc,
            "Training Time": run.train_time_s,
            "Epoch Ended": run.epoch_ended,
            "Rank": 0,
            "Pareto": False,
            "status": run.status,
            "created_at": run.created_at,
            "Split Leaks": split_leaks(run),
        }
        scores = run_scores(run.final_metrics)
        row["Balanced Acc"], row["Macro F1"] = scores[BALANCED_ACC], scores[MACRO_F1]
        groups[_group_key(row)].append(row)
    out: list[dict[str, Any]] = []
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda row: _order_key(row, column))
        for rank, row in enumerate(group, start=1):
            row["Rank"] = rank
        out.extend(group)
    front = pareto_front(out, column)
    for row in out:
        row["Pareto"] = row["run_id"] in front
    return out


def split_leaks(run: RunRecord) -> int | None:
    """Test images of the run's split with a copy in its training images; None when not recorded."""
    leaks = (run.final_metrics or {}).get("split_leaks")
    return int(leaks.get("test", 0)) if isinstance(leaks, dict) else None


def pareto_front(rows: Iterable[dict[str, Any]], column: str = "Test Acc") -> set[int]:
    """Run ids no other run of their group beats: at least as accurate (by `column`) and as fast,
    one strictly. A run without a training time counts as the slowest."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[_group_key(row)].append(row)
    front: set[int] = set()
    for group in groups.values():
        for row in group:
            acc, time = _score(row, column), _missing_last(row["Training Time"])
            dominated = any(
                _score(other, column) >= acc and _missing_last(other["Training Time"]) <= time
                and (_score(other, column) > acc or _missing_last(other["Training Time"]) < time)
                for other in group if other is not row)
            if not dominated:
                front.add(row["run_id"])
    return front


def comparison_table(runs: Iterable[RunRecord], rank_by: str = "accuracy") -> pd.DataFrame:
    """The ranked runs as the dashboard shows and downloads them (TABLE_COLUMNS, one row a run)."""
    rows = ranked_rows(runs, rank_by)
    records = [{**{c: row[c] for c in STUDY_COLUMNS + ("Pareto", "run_id")},
                "Dataset": row["dataset"], "Images": row["num_images"], "Status": row["status"],
                "Split Leaks": row["Split Leaks"], "Balanced Acc": row["Balanced Acc"],
                "Macro F1": row["Macro F1"]} for row in rows]
    return pd.DataFrame(records, columns=list(TABLE_COLUMNS))


def format_study_table(rows: Iterable[dict[str, Any]], num_images: int) -> str:
    """The rows with `num_images` training images as a Markdown table in the study's layout.

    Rows keep the order they are given in (ranked_rows gives best first).
    """
    lines = [f"Model({num_images} images) | " + " | ".join(STUDY_COLUMNS[1:]) + " |",
             "---|" * len(STUDY_COLUMNS)]
    for row in rows:
        if row["num_images"] != num_images:
            continue
        cells = [row["Model"], _study_number(row["Val Loss"]), _study_number(row["Val Acc"]),
                 _study_number(row["Test Acc"]), _study_seconds(row["Training Time"]),
                 _study_int(row["Epoch Ended"]), _study_int(row["Rank"])]
        lines.append(" | ".join(cells) + " |")
    return "\n".join(lines)


def _study_number(value: float | None) -> str:
    """Four decimals without trailing zeros, as the study writes them: 0.8180 → '0.818'."""
    if value is None or not math.isfinite(value):
        return "—"
    text = f"{value:.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _study_seconds(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{round(value)}s"


def _study_int(value: int | None) -> str:
    return "—" if value is None else str(int(value))
