"""Ranking finished runs and the cost-performance view (accuracy against training time).

Runs compete only with runs on the same dataset and the same number of training images, as in the
cost-performance study: a ranking across dataset sizes would mostly measure the size. They rank by
test accuracy as the study does, or by balanced accuracy (every class counts the same) on request.
A run repeated with other seeds (runs/repeats.py) is one row: the mean of its runs, their standard
deviation and how many there are; it ranks by the mean.
"""
from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from resnet_core.results.metrics import BALANCED_ACC, MACRO_F1, keep_known, run_scores
from resnet_core.results.repeats import mean_sd
from resnet_core.results.trust import TRUST_COLUMNS, trust_by_run, trust_columns
from resnet_core.runs.store import RunRecord
from resnet_core.status import RunStatus
from resnet_core.workspace import Workspace

# The study's columns, in the study's order, then what the dashboard adds.
STUDY_COLUMNS = ("Model", "Val Loss", "Val Acc", "Test Acc", "Training Time", "Epoch Ended", "Rank")
# Status: 'completed', or 'cancelled' for a run stopped by hand after an evaluation (it still ranks).
TABLE_COLUMNS = STUDY_COLUMNS + ("Dataset", "Images", "Pareto", "run_id", "Status", "Split Leaks",
                                 "Balanced Acc", "Macro F1")
# A configuration run with several seeds: its scores above are means; these say over how many runs
# (Repeats, Runs: their ids) and how far apart (standard deviations; None for a single run).
REPEAT_COLUMNS = ("Repeats", "Runs", "Test Acc SD", "Balanced Acc SD", "Training Time SD")
TABLE_COLUMNS = TABLE_COLUMNS + REPEAT_COLUMNS
# What the user called the run and the settings that tell runs of one description apart. Batch Size is
# the one trained with (lowered when memory ran out); Weights what the run started from ('auto' resolved).
SETTING_COLUMNS = ("Name", "Note", "Epochs", "Batch Size", "Learning Rate", "Image Size", "Weights")
TABLE_COLUMNS = TABLE_COLUMNS + SETTING_COLUMNS
# With a workspace, comparison_table adds each run's 95% intervals and its tie mark (results/trust.py);
# balanced accuracy and macro-F1 are already there (from the confusion matrix) and stay where they are.
TRUST_TABLE_COLUMNS = TABLE_COLUMNS + tuple(c for c in TRUST_COLUMNS if c not in TABLE_COLUMNS)
# What a ranking may order by: the study's test accuracy, or balanced accuracy (RankedRun's fields).
RANK_BY = {"accuracy": "test_acc", "balanced": "balanced_acc"}


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
    balanced_acc: float | None = None  # mean per-class recall on the test images; None: no confusion matrix
    macro_f1: float | None = None  # mean per-class F1 on the test images; None: no confusion matrix
    # A configuration repeated with other seeds: run_id is its group's first run, the scores above
    # are means over run_ids, the *_sd their sample standard deviations (None for a single run).
    run_ids: tuple[int, ...] = ()  # every run of the row; () means just run_id
    test_acc_sd: float | None = None
    balanced_acc_sd: float | None = None
    train_time_sd: float | None = None
    settings: tuple[tuple[str, Any], ...] = ()  # SETTING_COLUMNS with their values (run_settings)

    @property
    def members(self) -> tuple[int, ...]:
        return self.run_ids or (self.run_id,)

    @property
    def repeats(self) -> int:
        return len(self.members)

    def study_values(self) -> dict[str, Any]:
        """This run under the study's column names (STUDY_COLUMNS)."""
        return {"Model": self.description, "Val Loss": self.val_loss, "Val Acc": self.val_acc,
                "Test Acc": self.test_acc, "Training Time": self.train_time_s, "Epoch Ended": self.epoch_ended,
                "Rank": self.rank}

    def table_row(self) -> dict[str, Any]:
        """This run as a row of the Compare table and its CSV (TABLE_COLUMNS)."""
        return {**self.study_values(), "Dataset": self.dataset, "Images": self.num_images, "Pareto": self.pareto,
                "run_id": self.run_id, "Status": self.status, "Split Leaks": self.split_leaks,
                "Balanced Acc": self.balanced_acc, "Macro F1": self.macro_f1, **self.repeat_values(),
                **dict.fromkeys(SETTING_COLUMNS), **dict(self.settings)}

    def repeat_values(self) -> dict[str, Any]:
        """REPEAT_COLUMNS of this row."""
        return {"Repeats": self.repeats, "Runs": " ".join(f"#{i}" for i in self.members),
                "Test Acc SD": self.test_acc_sd, "Balanced Acc SD": self.balanced_acc_sd,
                "Training Time SD": self.train_time_sd}


def _group_key(row: RankedRun) -> tuple[str, int]:
    return row.dataset, row.num_images if row.num_images is not None else -1


def _missing_last(value: float | None) -> float:
    return math.inf if value is None or not math.isfinite(value) else value


def _score(row: RankedRun, rank_by: str) -> float:
    value = getattr(row, RANK_BY[rank_by])
    return -math.inf if value is None or not math.isfinite(value) else value


def _order_key(row: RankedRun, rank_by: str = "accuracy") -> tuple:
    # Higher score, then higher test accuracy, lower validation loss, shorter training, the older run.
    return (-_score(row, rank_by), -row.test_acc, _missing_last(row.val_loss), _missing_last(row.train_time_s),
            row.run_id)


def _check_rank_by(rank_by: str) -> None:
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by must be one of {', '.join(RANK_BY)}; got {rank_by!r}")


def ranked_rows(runs: Iterable[RunRecord], rank_by: str = "accuracy") -> list[RankedRun]:
    """The ranked runs: grouped by (dataset, training images), best first in each group.

    Groups come in order of dataset name, then size (smallest first, as the study lists them).
    rank_by: 'accuracy' (the study's order) or 'balanced' (balanced accuracy; a run without a
    test report to compute it from comes last). The Pareto front uses the same score.
    """
    _check_rank_by(rank_by)
    groups: dict[tuple[str, int], list[RankedRun]] = defaultdict(list)
    repeats: dict[tuple[str, int, int], list[RankedRun]] = defaultdict(list)
    for run in runs:
        if not run.is_ranked:
            continue
        scores = run_scores(run.final_metrics)
        row = RankedRun(run_id=run.id, dataset=run.dataset, num_images=run.num_train, description=run.description,
                        val_loss=run.val_loss, val_acc=run.val_acc, test_acc=run.test_acc,
                        train_time_s=run.train_time_s, epoch_ended=run.epoch_ended, status=run.status,
                        created_at=run.created_at, split_leaks=split_leaks(run),
                        balanced_acc=scores[BALANCED_ACC], macro_f1=scores[MACRO_F1],
                        settings=tuple(run_settings(run).items()))
        root = run.repeat_of if run.repeat_of is not None else run.id
        repeats[(*_group_key(row), root)].append(row)
    for (_, _, root), members in repeats.items():
        row = members[0] if len(members) == 1 else _average(members, root)
        groups[_group_key(row)].append(row)
    ranked: list[RankedRun] = []
    for key in sorted(groups):
        ranked.extend(dataclasses.replace(row, rank=rank) for rank, row in
                      enumerate(sorted(groups[key], key=lambda row: _order_key(row, rank_by)), start=1))
    front = pareto_front(ranked, rank_by)
    return [dataclasses.replace(row, pareto=row.run_id in front) for row in ranked]


def _average(members: list[RankedRun], root: int) -> RankedRun:
    """One row for a configuration's runs (its repeats with other seeds): means, with the spread."""
    members = sorted(members, key=lambda r: r.run_id)
    first = next((r for r in members if r.run_id == root), members[0])
    test_acc, test_sd = mean_sd(r.test_acc for r in members)
    balanced, balanced_sd = mean_sd(r.balanced_acc for r in members)
    time, time_sd = mean_sd(r.train_time_s for r in members)
    epochs, _ = mean_sd(r.epoch_ended for r in members)
    leaks = [r.split_leaks for r in members if r.split_leaks is not None]
    cancelled = [r.status for r in members if r.status != RunStatus.COMPLETED]
    return dataclasses.replace(
        first, run_ids=tuple(r.run_id for r in members), test_acc=test_acc, test_acc_sd=test_sd,
        balanced_acc=balanced, balanced_acc_sd=balanced_sd, train_time_s=time, train_time_sd=time_sd,
        val_loss=mean_sd(r.val_loss for r in members)[0], val_acc=mean_sd(r.val_acc for r in members)[0],
        macro_f1=mean_sd(r.macro_f1 for r in members)[0],
        epoch_ended=None if epochs is None else round(epochs), split_leaks=max(leaks) if leaks else None,
        status=cancelled[0] if cancelled else RunStatus.COMPLETED)


WEIGHTS_USED = {"imagenet": "ImageNet", "none": "random", "file": "file", "auto": "auto"}


def run_settings(run: RunRecord) -> dict[str, Any]:
    """The run's SETTING_COLUMNS: its name and note, and the settings it trained with."""
    config, final = run.config, run.final_metrics or {}
    values: dict[str, Any] = {"Name": run.name, "Note": run.user_note}
    if config is None:  # settings this version cannot read: the label alone
        return values
    weights = WEIGHTS_USED.get(final.get("weights") or config.weights, config.weights)
    if weights == "file" and config.weights_path:
        weights = f"file {Path(config.weights_path).name}"
    return {**values, "Epochs": config.epochs, "Batch Size": final.get("batch_size") or config.batch_size,
            "Learning Rate": config.learning_rate, "Image Size": config.image_size, "Weights": weights}


def rows_by_run(rows: Iterable[RankedRun]) -> dict[int, RankedRun]:
    """Every ranked run's row, repeats included (a repeat's row is its configuration's)."""
    return {run_id: row for row in rows for run_id in row.members}


def best_row(rows: Iterable[RankedRun], rank_by: str = "accuracy") -> RankedRun | None:
    """The best ranked run over every group (dataset sizes included), ordered as within a group;
    None without ranked runs. A group's rank 1 is only the best of its size."""
    _check_rank_by(rank_by)
    return min(rows, key=lambda row: _order_key(row, rank_by), default=None)


def split_leaks(run: RunRecord) -> int | None:
    """Test images of the run's split with a copy in its training images; None when not recorded."""
    leaks = (run.final_metrics or {}).get("split_leaks")
    return int(leaks.get("test", 0)) if isinstance(leaks, dict) else None


def pareto_front(rows: Iterable[RankedRun], rank_by: str = "accuracy") -> set[int]:
    """Run ids no other run of their group beats: at least as accurate (by `rank_by`'s score) and as
    fast, one strictly. A run without a training time counts as the slowest."""
    _check_rank_by(rank_by)
    groups: dict[tuple[str, int], list[RankedRun]] = defaultdict(list)
    for row in rows:
        groups[_group_key(row)].append(row)
    front: set[int] = set()
    for group in groups.values():
        for row in group:
            acc, time = _score(row, rank_by), _missing_last(row.train_time_s)
            dominated = any(
                _score(other, rank_by) >= acc and _missing_last(other.train_time_s) <= time
                and (_score(other, rank_by) > acc or _missing_last(other.train_time_s) < time)
                for other in group if other is not row)
            if not dominated:
                front.add(row.run_id)
    return front


def comparison_table(runs: Iterable[RunRecord], workspace: Workspace | None = None,
                     rank_by: str = "accuracy") -> pd.DataFrame:
    """The ranked runs as the dashboard shows and downloads them (TABLE_COLUMNS, one row a run),
    ordered by `rank_by` (ranked_rows).

    With the runs' workspace, also TRUST_COLUMNS: intervals and tie marks from their stored predictions.
    """
    rows = ranked_rows(runs, rank_by)
    records = [row.table_row() for row in rows]
    if workspace is None:
        return pd.DataFrame(records, columns=list(TABLE_COLUMNS))
    trust = trust_by_run(rows, workspace)
    for record in records:
        record.update(keep_known(trust_columns(trust.get(record["run_id"])), record))
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
