"""How the dashboard shows a score's uncertainty: interval text, the tie mark, one run's intervals."""
from __future__ import annotations

import pandas as pd

from resnet_core.results.trust import TIE_TEXT, run_intervals
from resnet_core.text import format_interval, format_percent
from resnet_core.workspace import Workspace

CI_COLUMN = "Test Acc 95% CI"
TIE_COLUMN = "Tie"


def with_trust_text(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison table (with its trust columns) plus CI_COLUMN and TIE_COLUMN as text."""
    if "Test Acc Low" not in table.columns:
        return table
    ci = [format_interval(lo, hi) for lo, hi in zip(table["Test Acc Low"], table["Test Acc High"])]
    tie = [TIE_TEXT if tied is True else "" for tied in table["Tied For First"]]
    return table.assign(**{CI_COLUMN: ci, TIE_COLUMN: tie})


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
