"""Ranking finished runs and the cost-performance view (accuracy against training time).

Runs compete only with runs on the same dataset and the same number of training images, as in the
cost-performance study: a ranking across dataset sizes would mostly measure the size.
"""
from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from resnet_core.results.trust import TRUST_COLUMNS, trust_by_run, trust_columns
from resnet_core.runs.store import RunRecord
from resnet_core.status import RunStatus
from resnet_core.workspace import Workspace

# The study's columns, in the study's order, then what the dashboard adds.
STUDY_COLUMNS = ("Model", "Val Loss", "Val Acc", "Test Acc", "Training Time", "Epoch Ended", "Rank")
# Status: 'completed', or 'cancelled' for a run stopped by hand after an evaluation (it still ranks).
TABLE_COLUMNS = STUDY_COLUMNS + ("Dataset", "Images", "Pareto", "run_id", "Status", "Split Leaks")
# With a workspace, comparison_table adds each run's 95% intervals and its tie mark (results/trust.py).
TRUST_TABLE_COLUMNS = TABLE_COLUMNS + TRUST_COLUMNS


@dataclass(frozen=True)
class RankedRun:
    """One run in the ranking: its scores, its rank among the runs of the same dataset and number of
    training images, and whether it is on that group's Pareto front (accuracy against time)."""

    run_id: int
    dataset: str
    num_images: int | None  # training images
    description: str  # the study's row name: 'ResNet50 + fine-tuning + augmentation'
    val_loss: float | None
    val_acc: float | None
    test_acc: float | None
    train_time_s: float | None
    epoch_ended: int | None
    status: str = RunStatus.COMPLETED
    created_at: str | None = None
    rank: int | None = None
    pareto: bool = False
    split_leaks: int | None = None  # test images with a copy among the training images; None: not recorded

    def study_values(self) -> dict[str, Any]:
        """This run under the study's column names (STUDY_COLUMNS)."""
        return {"Model": self.description, "Val Loss": self.val_loss, "Val Acc": self.val_acc,
                "Test Acc": self.test_acc, "Training Time": self.train_time_s, "Epoch Ended": self.epoch_ended,
                "Rank": self.rank}

    def table_row(self) -> dict[str, Any]:
        """This run as a row of the Compare table and its CSV (TABLE_COLUMNS)."""
        return {**self.study_values(), "Dataset": self.dataset, "Images": self.num_images, "Pareto": self.pareto,
                "run_id": self.run_id, "Status": self.status, "Split Leaks": self.split_leaks}


def _group_key(row: RankedRun) -> tuple[str, int]:
    return row.dataset, row.num_images if row.num_images is not None else -1


def _missing_last(value: float | None) -> float:
    return math.inf if value is None or not math.isfinite(value) else value


def _order_key(row: RankedRun) -> tuple:
    # Higher test accuracy, then lower validation loss, then shorter training, then the older run.
    return (-row.test_acc, _missing_last(row.val_loss), _missing_last(row.train_time_s), row.run_id)


def ranked_rows(runs: Iterable[RunRecord]) -> list[RankedRun]:
    """The ranked runs: grouped by (dataset, training images), best first in each group.

    Groups come in order of dataset name, then size (smallest first, as the study lists them).
    """
    groups: dict[tuple[str, int], list[RankedRun]] = defaultdict(list)
    for run in runs:
        if not run.is_ranked:
            continue
        row = RankedRun(run_id=run.id, dataset=run.dataset, num_images=run.num_train, description=run.description,
                        val_loss=run.val_loss, val_acc=run.val_acc, test_acc=run.test_acc,
                        train_time_s=run.train_time_s, epoch_ended=run.epoch_ended, status=run.status,
                        created_at=run.created_at, split_leaks=split_leaks(run))
        groups[_group_key(row)].append(row)
    ranked: list[RankedRun] = []
    for key in sorted(groups):
        ranked.extend(dataclasses.replace(row, rank=rank)
                      for rank, row in enumerate(sorted(groups[key], key=_order_key), start=1))
    front = pareto_front(ranked)
    return [dataclasses.replace(row, pareto=row.run_id in front) for row in ranked]


def best_row(rows: Iterable[RankedRun]) -> RankedRun | None:
    """The best ranked run over every group (dataset sizes included), ordered as within a group;
    None without ranked runs. A group's rank 1 is only the best of its size."""
    return min(rows, key=_order_key, default=None)


def split_leaks(run: RunRecord) -> int | None:
    """Test images of the run's split with a copy in its training images; None when not recorded."""
    leaks = (run.final_metrics or {}).get("split_leaks")
    return int(leaks.get("test", 0)) if isinstance(leaks, dict) else None


def pareto_front(rows: Iterable[RankedRun]) -> set[int]:
    """Run ids no other run of their group beats: at least as accurate and as fast, one strictly.

    A run without a training time counts as the slowest.
    """
    groups: dict[tuple[str, int], list[RankedRun]] = defaultdict(list)
    for row in rows:
        groups[_group_key(row)].append(row)
    front: set[int] = set()
    for group in groups.values():
        for row in group:
            acc, time = row.test_acc, _missing_last(row.train_time_s)
            dominated = any(
                other.test_acc >= acc and _missing_last(other.train_time_s) <= time
                and (other.test_acc > acc or _missing_last(other.train_time_s) < time)
                for other in group if other is not row)
            if not dominated:
                front.add(row.run_id)
    return front


def comparison_table(runs: Iterable[RunRecord], workspace: Workspace | None = None) -> pd.DataFrame:
    """The ranked runs as the dashboard shows and downloads them (TABLE_COLUMNS, one row a run).

    With the runs' workspace, also TRUST_COLUMNS: intervals and tie marks from their stored predictions.
    """
    rows = ranked_rows(runs)
    records = [row.table_row() for row in rows]
    if workspace is None:
        return pd.DataFrame(records, columns=list(TABLE_COLUMNS))
    trust = trust_by_run(rows, workspace)
    for record in records:
        record.update(trust_columns(trust.get(record["run_id"])))
    return pd.DataFrame(records, columns=list(TRUST_TABLE_COLUMNS))


def format_study_table(rows: Iterable[RankedRun], num_images: int) -> str:
    """The rows with `num_images` training images as a Markdown table in the study's layout.

    Rows keep the order they are given in (ranked_rows gives best first).
    """
    lines = [f"Model({num_images} images) | " + " | ".join(STUDY_COLUMNS[1:]) + " |",
             "---|" * len(STUDY_COLUMNS)]
    for row in rows:
        if row.num_images != num_images:
            continue
        cells = [row.description, _study_number(row.val_loss), _study_number(row.val_acc),
                 _study_number(row.test_acc), _study_seconds(row.train_time_s),
                 _study_int(row.epoch_ended), _study_int(row.rank)]
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
