"""How the dashboard shows a score's uncertainty: interval text, the tie mark, one run's intervals."""
from __future__ import annotations

import pandas as pd

from resnet_core.results.trust import TIE_TEXT, run_intervals
from resnet_core.text import format_interval, format_percent
from resnet_core.workspace import Workspace

CI_COLUMN = "Test Acc 95% CI"
BALANCED_CI_COLUMN = "Balanced Acc 95% CI"
F1_CI_COLUMN = "Macro F1 95% CI"
TIE_COLUMN = "Tie"
# Each shown interval and the table's columns it is written from.
_INTERVAL_TEXT = {CI_COLUMN: ("Test Acc Low", "Test Acc High"),
                  BALANCED_CI_COLUMN: ("Balanced Acc Low", "Balanced Acc High"),
                  F1_CI_COLUMN: ("Macro F1 Low", "Macro F1 High")}


def with_trust_text(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison table (with its trust columns) plus the three intervals (CI_COLUMN,
    BALANCED_CI_COLUMN, F1_CI_COLUMN) and TIE_COLUMN as text."""
    if "Test Acc Low" not in table.columns:
        return table
    texts = {shown: [format_interval(lo, hi) for lo, hi in zip(table[low], table[high])]
             for shown, (low, high) in _INTERVAL_TEXT.items()}
    tie = [TIE_TEXT if tied is True else "" for tied in table["Tied For First"]]
    return table.assign(**texts, **{TIE_COLUMN: tie})


def interval_lines(workspace: Workspace, run_id: int) -> list[str]:
    """One run's test scores with their 95% intervals, a line each; empty without stored predictions."""
    iv = run_intervals(workspace, run_id)
    if iv is None:
        return []
    return [f"{name}: {format_percent(i.value)} (95% interval {format_interval(i.low, i.high)})"
            for name, i in (("Test accuracy", iv.accuracy), ("Balanced accuracy", iv.balanced_accuracy),
                            ("Macro-F1", iv.macro_f1))] + [
        f"Intervals from resampling the {iv.test_images} test images 1,000 times: the uncertainty a "
        "test set of this size leaves."]
