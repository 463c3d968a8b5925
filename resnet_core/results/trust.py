"""What the ranked table adds to each run's score: its intervals and whether it is tied for first.

Reads each run's predictions.npz (runs/predictions.py). Runs on the same dataset share one test
split, so a run is compared with its group's rank 1 image by image (McNemar's test): a run whose
difference from the leader could be chance is "tied for first", and so is the leader then. Ranks
themselves stay as `ranking` computes them; a run without stored predictions (scored by an older
version) simply has no interval and no mark. A configuration repeated with other seeds is one row:
its intervals are those of its runs' mean scores, and it is compared with the leader by each image's
share of runs that got it right (intervals.sign_flip_p; McNemar's test when both are single runs).
"""
from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resnet_core.results.intervals import (
    TIE_ALPHA,
    ScoreIntervals,
    mcnemar_p,
    repeats_score_intervals,
    score_intervals,
    sign_flip_p,
)
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
    """Intervals and tie marks for ranked rows (ranking.RankedRun: run_id, members, dataset, num_images,
    rank), keyed by the row's run_id."""
    groups: dict[tuple, list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row.dataset, row.num_images)].append(row)
    out: dict[int, RunTrust] = {}
    for group in groups.values():
        leader = min(group, key=lambda r: r.rank)
        outputs = {row.run_id: _row_outputs(workspace, row) for row in group}
        p_values = {row.run_id: _p_between(outputs[leader.run_id], outputs[row.run_id])
                    for row in group if row is not leader}
        anyone_tied = any(p is not None and p >= TIE_ALPHA for p in p_values.values())
        for row in group:
            intervals = _row_intervals(workspace, row, outputs[row.run_id])
            if row is leader:
                tied = anyone_tied if outputs[row.run_id] is not None else None
                out[row.run_id] = RunTrust(intervals, tied, None)
            else:
                p = p_values[row.run_id]
                out[row.run_id] = RunTrust(intervals, None if p is None else p >= TIE_ALPHA, p)
    return out


def run_trust(rows: Iterable[Any], workspace: Workspace, run_id: int) -> RunTrust | None:
    """What trust_by_run says of run_id's row; for one repeat of a configuration, its own intervals
    (the row's tie mark is the configuration's, not this run's)."""
    rows = list(rows)
    own = trust_by_run(rows, workspace).get(run_id)
    if own is not None or not any(run_id in row.members for row in rows):
        return own
    return RunTrust(run_intervals(workspace, run_id), None, None)


@dataclass(frozen=True)
class _Outputs:
    """A row's test outputs: one line per run, the images in the order of `paths`."""

    paths: np.ndarray
    true: np.ndarray
    pred: np.ndarray  # runs × images
    num_classes: int

    @property
    def share_right(self) -> np.ndarray:
        """Each image's share of the row's runs that got it right."""
        return (self.pred == self.true[None, :]).mean(axis=0)


def _row_outputs(workspace: Workspace, row: Any) -> _Outputs | None:
    """None unless every run of the row has stored predictions on the same test images."""
    runs = [run_predictions(workspace, run_id) for run_id in row.members]
    if any(p is None for p in runs):
        return None
    first = runs[0]
    preds = []
    for p in runs:
        order = _alignment(first.test_paths, p.test_paths)
        if order is None:
            return None
        preds.append(np.asarray(p.test_pred)[order])
    return _Outputs(np.asarray(first.test_paths), np.asarray(first.test_true), np.stack(preds),
                    first.num_classes)


def _row_intervals(workspace: Workspace, row: Any, outputs: _Outputs | None) -> ScoreIntervals | None:
    if len(row.members) == 1:
        return run_intervals(workspace, row.run_id)  # cached by file
    if outputs is None:
        return None
    return repeats_score_intervals(outputs.true, outputs.pred, outputs.num_classes)


def _alignment(reference: np.ndarray, other: np.ndarray) -> np.ndarray | None:
    """Indices putting `other`'s images in `reference`'s order; None unless both hold the same images."""
    reference, other = np.asarray(reference), np.asarray(other)
    if len(reference) != len(other):
        return None
    if np.array_equal(reference, other):
        return np.arange(len(other))
    order_r, order_o = np.argsort(reference), np.argsort(other)
    if not np.array_equal(reference[order_r], other[order_o]):
        return None
    # other[order_o][j] is reference[order_r][j]: so reference[i] sits at other[order_o[rank of i]].
    aligned = np.empty_like(order_o)
    aligned[order_r] = order_o
    return aligned


def _p_between(leader: _Outputs | None, other: _Outputs | None) -> float | None:
    """p-value that the two rows are equally good on the same test images; None unless both have outputs
    on the same test split."""
    if leader is None or other is None:
        return None
    order = _alignment(leader.paths, other.paths)
    if order is None:
        return None
    other_right = (other.pred[:, order] == other.true[order][None, :])
    if len(leader.pred) == 1 and len(other.pred) == 1:
        return mcnemar_p(leader.pred[0] == leader.true, other_right[0])
    return sign_flip_p(leader.share_right, other_right.mean(axis=0))


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
