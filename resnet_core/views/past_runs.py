"""The runs of one dataset as the Train page lists them under its form: what each was called, how it
ended, its test accuracy and when, newest first."""
from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from resnet_core.runs.store import RunRecord
from resnet_core.text import format_when

PAST_RUNS_SHOWN = 10  # the latest; Compare has them all


def past_run_rows(records: Iterable[RunRecord], dataset: str, now: datetime,
                  limit: int = PAST_RUNS_SHOWN) -> list[dict[str, Any]]:
    """Rows Run, Name, Model, Status, Test Acc (a fraction; None unscored), When, of the dataset's runs,
    newest first. When: as it ended, else as it started, else as it was queued."""
    runs = sorted((r for r in records if r.dataset == dataset), key=lambda r: r.id, reverse=True)[:limit]
    return [{"Run": r.id, "Name": r.name, "Model": r.description or r.model, "Status": r.status,
             "Test Acc": r.test_acc if r.test_acc is not None and math.isfinite(r.test_acc) else None,
             "When": format_when(r.finished_at or r.started_at or r.created_at, now)} for r in runs]


def past_runs_caption(total: int, shown: int, dataset: str) -> str:
    """'3 runs on flowers' or 'The latest 10 of 14 runs on flowers', for under the table."""
    if total > shown:
        return f"The latest {shown} of {total} runs on {dataset}; Compare ranks them all."
    return f"{total} run{'s' if total != 1 else ''} on {dataset}; Compare ranks the scored ones."
