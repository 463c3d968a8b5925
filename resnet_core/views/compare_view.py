"""What the Compare page shows of a dataset's runs, as plain data: which datasets to offer, and the
ranked table with its headline numbers."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from resnet_core.results.ranking import RankedRun, best_row, comparison_table, ranked_rows
from resnet_core.runs.store import RunRecord
from resnet_core.status import ACTIVE, RunStatus
from resnet_core.workspace import Workspace


def compare_datasets(dataset_names: Iterable[str], runs: Sequence[RunRecord]) -> tuple[list[str], list[str]]:
    """(every dataset to offer, sorted: the workspace's and those runs name; the ones with runs)."""
    names = sorted(set(dataset_names) | {r.dataset for r in runs})
    with_runs = [d for d in names if any(r.dataset == d for r in runs)]
    return names, with_runs


@dataclass(frozen=True)
class CompareSummary:
    table: pd.DataFrame  # ranking.comparison_table: one row a ranked run
    rows: list[RankedRun]  # ranking.ranked_rows, for the cost-performance chart
    best: RankedRun | None  # the best ranked run over every size (ranking.best_row)
    active: int  # runs still queued or training

    @property
    def on_front(self) -> int:
        return sum(1 for row in self.rows if row.pareto)

    def best_help(self) -> str:
        """Which run the best test accuracy is, of what size, and whether it was cancelled."""
        b = self.best
        cancelled = (" (cancelled by hand; ranked on the best model it kept)"
                     if b.status == RunStatus.CANCELLED else "")
        return f"Run #{b.run_id}: {b.description}, {b.num_images:,} training images{cancelled}"

    def active_text(self) -> str | None:
        if not self.active:
            return None
        return (f"{self.active} run{'s are' if self.active > 1 else ' is'} still training or waiting; "
                "they appear here when they finish.")


def compare_summary(records: Sequence[RunRecord], workspace: Workspace | None = None) -> CompareSummary:
    """The ranked runs of one dataset's records and what the page says about them; with the runs'
    workspace the table also holds their intervals and tie marks."""
    rows = ranked_rows(records)
    return CompareSummary(comparison_table(records, workspace), rows, best_row(rows),
                          sum(1 for r in records if r.status in ACTIVE))
