"""What the Compare and Predict pages show about stored runs: labels, test reports, misclassified images.

Everything reads RunRecords (store.py); the test report is the engine's (`test_report_from`), kept in
the run's final_metrics: classes, confusion matrix, per-class scores and the misclassified test images.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from resnet_core.data.imageio import open_rgb
from resnet_core.results.ranking import ranked_rows
from resnet_core.runs.store import RunRecord
from resnet_core.status import ACTIVE, NOT_COMPLETED, RunStatus
from resnet_core.training.checkpoints import CHECKPOINT_NAME
from resnet_core.workspace import Workspace


def run_label(record: RunRecord) -> str:
    """'#3 · baseline · ResNet18 + fine-tuning + augmentation · test acc 93.3%' (the user's name when
    the run has one; the status when unscored)."""
    score = (f"test acc {record.test_acc:.1%}" if record.test_acc is not None and math.isfinite(record.test_acc)
             else record.status)
    name = f" · {record.name}" if record.name else ""
    return f"#{record.id}{name} · {record.description or record.model} · {score}"


def has_model(record: RunRecord, workspace: Workspace) -> bool:
    """A trained model was kept (completed, or cancelled after at least one evaluation)."""
    return (record.status not in ACTIVE
            and (workspace.run_dir(record.id) / CHECKPOINT_NAME).is_file())


def predictable_runs(records: Iterable[RunRecord], workspace: Workspace) -> list[RunRecord]:
    """Runs a person can predict with or download, newest first (as the store lists them)."""
    return [r for r in records if has_model(r, workspace)]


def default_run(records: Sequence[RunRecord], dataset: str | None) -> int | None:
    """Rank 1 of the dataset when it has ranked runs; else the newest run in `records`.

    With several training-set sizes, rank 1 of the largest size (it saw the most data).
    """
    if not records:
        return None
    if dataset:
        rows = [r for r in ranked_rows(x for x in records if x.dataset == dataset) if r.rank == 1]
        if rows:
            return max(rows, key=lambda r: r.num_images or 0).run_id
    return max(records, key=lambda r: r.id).id


def unranked_runs(records: Iterable[RunRecord]) -> list[dict[str, Any]]:
    """Finished runs without a test score, as table rows: Run, Name, Model, Status, What happened.

    They ended without completing and kept no test accuracy: listed apart from the ranking, with why.
    """
    rows = []
    for r in records:
        if r.status not in NOT_COMPLETED or r.is_ranked:
            continue
        rows.append({"Run": r.id, "Name": r.name, "Model": r.description or r.model, "Status": r.status,
                     "What happened": outcome_message(r)})
    return rows


def outcome_message(record: RunRecord) -> str:
    """Why a run ended without a score: its error, else its notes, else its status in words."""
    if record.error:
        return record.error
    if record.notes:
        return " ".join(record.notes)
    return {RunStatus.CANCELLED: "cancelled before it was scored",
            RunStatus.INTERRUPTED: "stopped when its process ended",
            RunStatus.FAILED: "failed without a message"}.get(record.status, record.status)


# ----- the test report ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ScoreReport:
    classes: list[str]
    confusion: list[list[int]]
    per_class: list[dict[str, Any]]
    misclassified: list[dict[str, Any]]  # path (relative to the dataset), true, predicted, probability
    test_images: int


def score_report(record: RunRecord) -> ScoreReport | None:
    """The run's test report, or None when it has none (not scored, or stored by an older version)."""
    fm = record.final_metrics or {}
    classes, confusion = fm.get("classes"), fm.get("confusion")
    if not classes or not confusion or len(confusion) != len(classes):
        return None
    return ScoreReport(classes=[str(c) for c in classes], confusion=[[int(v) for v in row] for row in confusion],
                      per_class=list(fm.get("per_class") or []), misclassified=list(fm.get("misclassified") or []),
                      test_images=int(fm.get("test_images") or sum(map(sum, confusion))))


def confusion_pairs(report: ScoreReport) -> list[tuple[str, str, int]]:
    """Off-diagonal cells with images: (true, predicted, count), most confused first."""
    pairs = [(t, p, report.confusion[i][j]) for i, t in enumerate(report.classes)
             for j, p in enumerate(report.classes) if i != j and report.confusion[i][j] > 0]
    return sorted(pairs, key=lambda x: (-x[2], x[0], x[1]))


# A confusion pair as a select box option: "true→predicted", or every misclassified image.
ALL_PAIRS = "all"
ARROW = "\u2192"


def pair_choices(report: ScoreReport) -> dict[str, str]:
    """Option → label of the misclassified-images box: every image, then each confused pair, most first."""
    choices = {ALL_PAIRS: f"all ({len(report.misclassified)})"}
    for true, predicted, count in confusion_pairs(report):
        choices[f"{true}{ARROW}{predicted}"] = f"true {true} → predicted {predicted} ({count})"
    return choices


def split_pair(option: str | None) -> tuple[str | None, str | None]:
    """(true, predicted) of a pair option; (None, None) for every image or no option."""
    if not option or ARROW not in option:
        return None, None
    true, predicted = option.split(ARROW, 1)
    return true, predicted


def empty_cell_note(option: str | None) -> str | None:
    """Why a clicked confusion cell has no images to show, or None when it is not a cell."""
    true, predicted = split_pair(option)
    if true is None:
        return None
    return "That cell is a correct prediction." if true == predicted else "No test images in that cell."


def misclassified_images(record: RunRecord, report: ScoreReport, true: str | None = None,
                         predicted: str | None = None) -> list[dict[str, Any]]:
    """The misclassified test images (optionally of one confusion cell), with `file`: their absolute
    path, or None when the image is no longer where the dataset was (moved or deleted)."""
    root = Path(record.dataset_root) if record.dataset_root else None
    out = []
    for item in report.misclassified:
        if true is not None and item.get("true") != true:
            continue
        if predicted is not None and item.get("predicted") != predicted:
            continue
        file = None
        if root is not None and item.get("path"):
            candidate = (root / item["path"]).resolve()
            # The stored path is relative to the dataset; refuse anything that climbs out of it.
            if candidate.is_relative_to(root.resolve()) and candidate.is_file():
                file = candidate
        out.append({**item, "file": file})
    return out


THUMB_PX = 160


def misclassified_caption(item: dict[str, Any]) -> str:
    """'cat_07.png: cat → dog (62%)': the file's name first, so a caption names the picture it sits under."""
    name = Path(item["path"]).name if item.get("path") else "?"
    return f"{name}: {item['true']} {ARROW} {item['predicted']} ({item['probability']:.0%})"


def square_thumbnail(file: str | Path, size: int = THUMB_PX) -> Image.Image:
    """The image fitted into a size×size square on white: every thumbnail of a grid has the same
    height, so the rows line up and no caption lands beside a neighbour's picture.
    Raises ImageLoadError (a plain message) when the file cannot be read."""
    return ImageOps.pad(open_rgb(file), (size, size), Image.BILINEAR, color="white")


def in_rows(items: Sequence[Any], per_row: int) -> list[Sequence[Any]]:
    """The items cut into rows of per_row (the last one may be shorter)."""
    return [items[i:i + per_row] for i in range(0, len(items), per_row)]


def per_class_rows(report: ScoreReport) -> list[dict[str, Any]]:
    """Per-class precision/recall/F1/support with the study's capitalised column names."""
    return [{"Class": r.get("class"), "Precision": r.get("precision"), "Recall": r.get("recall"),
             "F1": r.get("f1"), "Support": r.get("support")} for r in report.per_class]
