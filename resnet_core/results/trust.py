"""What the ranked table adds to each run's score: its intervals and whether it is tied for first.

Reads each run's predictions.npz (runs/predictions.py). Runs on the same dataset share one test
split, so a run is compared with its group's rank 1 image by image (McNemar's test): a run whose
difference from the leader could be chance is "tied for first", and so is the leader then. Ranks
themselves stay as `ranking` computes them; a run without stored predictions (scored by an older
version) simply has no interval and no mark.
"""
from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resnet_core.results.intervals import TIE_ALPHA, ScoreIntervals, mcnemar_p, score_intervals
from resnet_core.runs.predictions import PREDICTIONS_NAME, RunPredictions, load_predictions
from resnet_core.workspace import Workspace

TIE_TEXT = "tied for 1st"
TIE_HELP = ("Within noise of rank 1: on the same test images the difference from the run ranked first "
            f"could be chance (McNemar's test, p ≥ {TIE_ALPHA}). The rank still orders them.")

# The table's columns this module fills (in the CSV and the comparison table, after the study's).
TRUST_COLUMNS = ("Test Acc Low", "Test Acc High", "Balanced Acc", "Balanced Acc Low", "Balanced Acc High",
                 "Macro F1", "Macro F1 Low", "Macro F1 High", "Tied For First", "P Vs Rank 1")


@dataclass(frozen=True)
class RunTrust:
    intervals: ScoreIntervals | None
    tied_for_first: bool | None  # None: cannot tell (no predictions, or a different test split)
    p_vs_leader: float | None  # None for the leader itself


def _file_key(workspace: Workspace, run_id: int) -> tuple[str, int] | None:
    """(run folder, predictions file's mtime): a rewritten file is read again, an unchanged one not."""
    folder = workspace.run_dir(run_id)
    try:
        return str(folder), (folder / PREDICTIONS_NAME).stat().st_mtime_ns
    except OSError:
        return None


def run_predictions(workspace: Workspace, run_id: int) -> RunPredictions | None:
    key = _file_key(workspace, run_id)
    return None if key is None else _cached_predictions(*key)


@functools.lru_cache(maxsize=256)
def _cached_predictions(run_dir: str, stamp: int) -> RunPredictions | None:
    return load_predictions(Path(run_dir))


@functools.lru_cache(maxsize=256)
def _cached_intervals(run_dir: str, stamp: int) -> ScoreIntervals | None:
    predictions = _cached_predictions(run_dir, stamp)
    if predictions is None:
        return None
    return score_intervals(predictions.test_true, predictions.test_pred, predictions.num_classes)


def run_intervals(workspace: Workspace, run_id: int) -> ScoreIntervals | None:
    """The run's test scores with 95% bootstrap intervals, or None without stored predictions."""
    key = _file_key(workspace, run_id)
    return None if key is None else _cached_intervals(*key)


def trust_by_run(rows: Iterable[Any], workspace: Workspace) -> dict[int, RunTrust]:
    """Intervals and tie marks for ranked rows (ranking.RankedRun: run_id, dataset, num_images, rank)."""
    groups: dict[tuple, list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row.dataset, row.num_images)].append(row)
    out: dict[int, RunTrust] = {}
    for group in groups.values():
        leader = min(group, key=lambda r: r.rank)
        leader_predictions = run_predictions(workspace, leader.run_id)
        p_values = {row.run_id: _p_against(leader_predictions, run_predictions(workspace, row.run_id))
                    for row in group if row is not leader}
        anyone_tied = any(p is not None and p >= TIE_ALPHA for p in p_values.values())
        for row in group:
            intervals = run_intervals(workspace, row.run_id)
            if row is leader:
                tied = anyone_tied if leader_predictions is not None else None
                out[row.run_id] = RunTrust(intervals, tied, None)
            else:
                p = p_values[row.run_id]
                out[row.run_id] = RunTrust(intervals, None if p is None else p >= TIE_ALPHA, p)
    return out


def _p_against(leader: RunPredictions | None, other: RunPredictions | None) -> float | None:
    """McNemar p-value on the images both were scored on; None unless both saw the same test split."""
    if leader is None or other is None:
        return None
    if len(leader.test_paths) != len(other.test_paths):
        return None
    if np.array_equal(leader.test_paths, other.test_paths):
        return mcnemar_p(leader.test_correct, other.test_correct)
    # Same images in another order: line them up by path.
    order_l, order_o = np.argsort(leader.test_paths), np.argsort(other.test_paths)
    if not np.array_equal(leader.test_paths[order_l], other.test_paths[order_o]):
        return None
    return mcnemar_p(leader.test_correct[order_l], other.test_correct[order_o])


def trust_columns(trust: RunTrust | None) -> dict[str, Any]:
    """The TRUST_COLUMNS of one row (None where not known)."""
    iv = trust.intervals if trust else None
    return {
        "Test Acc Low": iv.accuracy.low if iv else None, "Test Acc High": iv.accuracy.high if iv else None,
        "Balanced Acc": iv.balanced_accuracy.value if iv else None,
        "Balanced Acc Low": iv.balanced_accuracy.low if iv else None,
        "Balanced Acc High": iv.balanced_accuracy.high if iv else None,
        "Macro F1": iv.macro_f1.value if iv else None, "Macro F1 Low": iv.macro_f1.low if iv else None,
        "Macro F1 High": iv.macro_f1.high if iv else None,
        "Tied For First": trust.tied_for_first if trust else None,
        "P Vs Rank 1": trust.p_vs_leader if trust else None,
    }


def trust_json(trust: RunTrust | None) -> dict[str, Any]:
    """The keys the command line's JSON adds for a run (None where not known)."""
    iv = trust.intervals if trust else None
    return {
        "test_acc_ci": iv.accuracy.as_list() if iv else None,
        "balanced_acc": iv.balanced_accuracy.value if iv else None,
        "balanced_acc_ci": iv.balanced_accuracy.as_list() if iv else None,
        "macro_f1": iv.macro_f1.value if iv else None,
        "macro_f1_ci": iv.macro_f1.as_list() if iv else None,
        "tied_for_first": trust.tied_for_first if trust else None,
        "p_vs_rank_1": trust.p_vs_leader if trust else None,
    }
