"""What the Study page shows of a study: suggested sizes, the live grid of configurations × sizes,
overall progress with a time left, and the results as rows for tables, CSV and charts.

Pure functions over a StudyPlan, the run store's records and the job manager's snapshots; nothing
here draws anything.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_core.config import MODEL_LABELS
from resnet_core.results.ranking import RankedRun
from resnet_core.results.trust import TIE_TEXT
from resnet_core.status import ACTIVE, PENDING, STOPPED, UNDER_WAY, RunStatus
from resnet_core.study.plan import StudyPlan
from resnet_core.study.run import matching_runs
from resnet_core.text import MISSING, format_interval, format_time_left, ordinal
from resnet_core.views.trust_view import CI_COLUMN, TIE_COLUMN

# Shares of the training split the page offers as sizes; the first, second and last are preselected,
# as in the reference study (a small, a middle and the full training set).
SIZE_SHARES = (0.1, 0.3, 0.5, 1.0)
DEFAULT_SHARES = (0.1, 0.3, 1.0)

# Status words of a configuration at one size, in the grid.
PENDING_WORDS = "not run"
STATUS_SYMBOLS = {RunStatus.COMPLETED: "✓", RunStatus.RUNNING: "▶", RunStatus.PREPARING: "▶",
                  RunStatus.QUEUED: "…", RunStatus.FAILED: "✗", RunStatus.CANCELLED: "■",
                  RunStatus.INTERRUPTED: "■", PENDING: "·"}
# Before any configuration has finished, the running one's pace sets the time left once it is this far.
MIN_PACE_PROGRESS = 0.05
_SIZE_TEXT = re.compile(r"(\d[\d,_ ]*?)\s*(?:training images|images|image)?\s*(?:\(.*\))?")


# ----- the plan in words -------------------------------------------------------------------------

_BOTH_WAYS = "fine-tuning all layers, and with a frozen backbone where only the last layer learns"


def training_modes_text(plan: StudyPlan) -> str:
    """One sentence on how the plan trains each depth, read from its entries: fine-tuned, and with a
    frozen backbone only where the plan has that configuration (frozen random backbones are left
    out unless asked for)."""
    modes: dict[str, set[bool]] = {}
    for entry in plan.entries:
        modes.setdefault(entry.config.model, set()).add(bool(entry.config.fine_tune))
    both = [m for m, found in modes.items() if found == {True, False}]
    tuned = [m for m, found in modes.items() if found == {True}]
    frozen = [m for m, found in modes.items() if found == {False}]
    left_out = " — frozen backbones are left out, as explained below" if plan.left_out else ""
    if not modes:
        return "This plan has no configuration to train."
    if len(both) == len(modes):
        return f"Every depth and augmentation is trained twice: {_BOTH_WAYS}."
    if len(tuned) == len(modes):
        return f"Every depth and augmentation is trained once, fine-tuning all layers{left_out}."
    parts = []
    if both:
        parts.append(f"{_model_names(both)} {'is' if len(both) == 1 else 'are'} trained twice per "
                     f"augmentation: {_BOTH_WAYS}")
    if tuned:
        parts.append(f"{_model_names(tuned)} only fine-tuning all layers{left_out}")
    if frozen:
        parts.append(f"{_model_names(frozen)} only with a frozen backbone")
    return "; ".join(parts) + "."


def _model_names(models: Sequence[str]) -> str:
    names = [MODEL_LABELS.get(m, m) for m in models]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


# ----- sizes -------------------------------------------------------------------------------------

def suggested_sizes(num_train: int, num_classes: int) -> tuple[list[int], list[int]]:
    """(options, defaults): about 10%, 30%, 50% and all of the training split, each at least one
    image per class (the study refuses less), duplicates merged, smallest first."""
    floor = max(2, int(num_classes))
    options, defaults = [], []
    for share in SIZE_SHARES:
        n = min(num_train, max(floor, round(num_train * share)))
        if n < floor:  # a training split too small to study: no suggestions
            continue
        if n not in options:
            options.append(n)
        if share in DEFAULT_SHARES and n not in defaults:
            defaults.append(n)
    return sorted(options), sorted(defaults)


def size_label(size: Any, num_train: int) -> str:
    """'833 training images (10%)'; a typed value the page has not parsed yet is shown as typed."""
    try:
        n = parse_size(size)
    except ValueError:
        return str(size)
    if num_train <= 0:
        return f"{n:,} training images"
    if n >= num_train:
        return f"{num_train:,} training images (all)"
    return f"{n:,} training images ({n / num_train:.0%})"


def parse_size(value: Any) -> int:
    """A size as the user typed or picked it: 833, '833', '2,280' or '2280 images'. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number of training images")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    else:
        # Typed text, or a label as the page shows it ('833 training images (10%)').
        match = _SIZE_TEXT.fullmatch(str(value).strip().lower())
        if match is None:
            raise ValueError(f"'{value}' is not a number of training images: type a whole number such "
                             "as 500")
        n = int(re.sub(r"[,_ ]", "", match.group(1)))
    if n < 1:
        raise ValueError(f"{n} is not a size: type a number of training images of at least 2")
    return n


def read_sizes(values: Iterable[Any]) -> tuple[list[int], list[str]]:
    """Sizes picked or typed (typed ones arrive as text): (the readable ones, sorted and without
    repeats; a message for each that is not)."""
    kept: list[int] = []
    bad: list[str] = []
    for value in values:
        try:
            kept.append(parse_size(value))
        except ValueError as e:
            bad.append(str(e))
    return sorted(set(kept)), bad


def parse_sizes(values: Iterable[Any]) -> list[int]:
    """Every picked or typed size as a whole number, distinct and sorted. Raises ValueError."""
    return sorted({parse_size(v) for v in values})


# ----- progress ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """One configuration at one size: what happened to it so far."""

    num_images: int
    config: str
    status: str  # pending | queued | preparing | running | completed | failed | cancelled | interrupted
    run_id: int | None = None
    test_acc: float | None = None
    epoch: int = 0
    epochs: int = 0
    progress: float = 0.0  # 0..1 of this configuration's planned epochs
    elapsed_s: float = 0.0  # training so far, for a running configuration of this process
    train_time_s: float | None = None  # for a completed one
    queue_position: int | None = None

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def text(self) -> str:
        """'✓ 85.0%', '▶ epoch 2/5', '… queued (3rd)', '✗ failed', '· not run'."""
        symbol = STATUS_SYMBOLS.get(self.status, "")
        if self.status == RunStatus.COMPLETED:
            words = "done" if self.test_acc is None else f"{self.test_acc:.1%}"
        elif self.status == RunStatus.RUNNING:
            words = f"epoch {max(self.epoch, 1)}/{self.epochs}" if self.epochs else "running"
        elif self.status == RunStatus.PREPARING:
            words = "preparing data"
        elif self.status == RunStatus.QUEUED:
            words = f"queued ({ordinal(self.queue_position)})" if self.queue_position else "queued"
        elif self.status == PENDING:
            words = PENDING_WORDS
        else:
            words = self.status
        return f"{symbol} {words}".strip()


def study_cells(plan: StudyPlan, store, snapshots: Iterable[Any] = ()) -> list[Cell]:
    """A cell per plan entry, in plan order: its completed run if any, else its newest run (live
    from the job manager's snapshot when this process runs it), else pending."""
    runs = matching_runs(plan, store)
    live = {s.run_id: s for s in snapshots}
    cells = []
    for entry in plan.entries:
        records = runs.get(entry.key, [])
        done = next((r for r in records if r.status == RunStatus.COMPLETED), None)
        record = done or (records[0] if records else None)
        if record is None:
            cells.append(Cell(entry.num_images, entry.description, PENDING, epochs=entry.config.epochs))
            continue
        snap = live.get(record.id) if done is None else None
        if snap is not None and snap.status in ACTIVE:
            cells.append(Cell(entry.num_images, entry.description, snap.status, record.id,
                              epoch=snap.epoch, epochs=snap.epochs, progress=_fraction(snap.progress),
                              elapsed_s=snap.elapsed_s or 0.0, queue_position=snap.queue_position))
            continue
        # Active in another process (or not yet seen by this one): no epoch to tell.
        cells.append(Cell(entry.num_images, entry.description, record.status, record.id,
                          test_acc=record.test_acc if record.status == RunStatus.COMPLETED else None,
                          epochs=0 if record.status in ACTIVE else entry.config.epochs,
                          progress=1.0 if record.status == RunStatus.COMPLETED else 0.0,
                          train_time_s=record.train_time_s))
    return cells


def progress_grid(plan: StudyPlan, cells: Sequence[Cell]) -> list[dict[str, str]]:
    """Rows for a table: a configuration per row (the study's order), a column per size."""
    rows: dict[str, dict[str, str]] = {}
    for cell in cells:
        row = rows.setdefault(cell.config, {"Configuration": cell.config})
        row[grid_column(cell.num_images)] = cell.text
    for row in rows.values():  # a configuration left out at one size only (it never is today)
        for size in plan.sizes:
            row.setdefault(grid_column(size), "")
    return list(rows.values())


def grid_column(num_images: int) -> str:
    return f"{num_images:,} images"


@dataclass(frozen=True)
class StudyProgress:
    total: int
    completed: int
    running: int  # preparing or training now
    queued: int
    failed: int  # failed and not completed since
    stopped: int  # cancelled or interrupted and not completed since
    fraction: float  # 0..1, a running configuration counting by its epochs
    eta_s: float | None  # None until there is something to go by

    @property
    def active(self) -> int:
        return self.running + self.queued

    @property
    def is_active(self) -> bool:
        return self.active > 0

    @property
    def is_complete(self) -> bool:
        return self.total > 0 and self.completed == self.total

    def text(self) -> str:
        """'3 of 8 configurations done · 1 running · 4 queued · about 2 min left'."""
        parts = [f"{self.completed} of {self.total} configurations done"]
        for count, words in ((self.running, "running"), (self.queued, "queued"), (self.failed, "failed"),
                             (self.stopped, "stopped")):
            if count:
                parts.append(f"{count} {words}")
        if self.is_active:
            parts.append(format_time_left(self.eta_s))
        return " · ".join(parts)


def overall_progress(cells: Sequence[Cell], estimates: Sequence[float] | None = None) -> StudyProgress:
    """How far the study is and how long the rest should take.

    estimates: seconds per plan entry (estimate_study_time's per_entry, same order as the cells),
    or None. The time left is the estimate of what is not done, corrected by how the finished
    configurations compared with their estimates. Without estimates it is the mean time of the
    finished configurations times those left, or before any has finished, the running one's pace
    (its time so far over its share done). The running configuration's elapsed time is taken off.
    """
    total = len(cells)
    completed = [c for c in cells if c.status == RunStatus.COMPLETED]
    running = [c for c in cells if c.status in UNDER_WAY]
    queued = sum(1 for c in cells if c.status == RunStatus.QUEUED)
    failed = sum(1 for c in cells if c.status == RunStatus.FAILED)
    stopped = sum(1 for c in cells if c.status in STOPPED)
    fraction = (len(completed) + sum(c.progress for c in running)) / total if total else 0.0
    open_cells = [i for i, c in enumerate(cells) if c.status != RunStatus.COMPLETED]
    elapsed = sum(c.elapsed_s for c in running)
    eta = None
    if not open_cells:
        eta = 0.0
    else:
        timed = [(i, c.train_time_s) for i, c in enumerate(cells) if c.status == RunStatus.COMPLETED
                 and c.train_time_s and c.train_time_s > 0]
        paced = [c.elapsed_s / c.progress for c in running if c.progress >= MIN_PACE_PROGRESS and c.elapsed_s > 0]
        if estimates is not None and len(estimates) == total:
            ratio = 1.0
            estimated_done = sum(estimates[i] for i, _ in timed)
            if timed and estimated_done > 0:
                ratio = sum(t for _, t in timed) / estimated_done
            eta = max(0.0, sum(estimates[i] for i in open_cells) * ratio - elapsed)
        elif timed or paced:
            mean = (sum(t for _, t in timed) / len(timed)) if timed else paced[0]
            eta = max(0.0, mean * len(open_cells) - elapsed)
    return StudyProgress(total, len(completed), len(running), queued, failed, stopped,
                         min(1.0, max(0.0, fraction)), eta)


# ----- results -----------------------------------------------------------------------------------

RESULT_COLUMNS = ("Training images", "Run", "Model", "Val Loss", "Val Acc", "Test Acc", "Training Time",
                  "Epoch Ended", "Rank", "Balanced Acc", "Macro F1", "Best trade-off", "Status", "Tie",
                  "Test Acc 95% CI")


def result_rows(tables: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """study_tables output as flat rows in the reference study's columns (one row per configuration
    and size, in the study's order), with the run, the Pareto flag and the status added."""
    rows = []
    for table in tables:
        for r in table["rows"]:
            rows.append({
                "Training images": table["num_images"], "Run": r.get("run_id"), "Model": r["config"],
                "Val Loss": r.get("val_loss"), "Val Acc": r.get("val_acc"), "Test Acc": r.get("test_acc"),
                "Training Time": r.get("train_time_s"), "Epoch Ended": r.get("epoch_ended"),
                "Rank": r.get("rank"), "Balanced Acc": r.get("balanced_acc"), "Macro F1": r.get("macro_f1"),
                "Best trade-off": bool(r.get("pareto")),
                "Status": r.get("status", PENDING),
                TIE_COLUMN: TIE_TEXT if r.get("tied_for_first") else "",
                CI_COLUMN: format_interval(*r["test_acc_ci"]) if r.get("test_acc_ci") else MISSING})
    return rows


def chart_rows(tables: Sequence[Mapping[str, Any]]) -> list[RankedRun]:
    """The ranked configurations as charts.cost_performance reads them (ranking.ranked_rows' rows)."""
    return [RankedRun(run_id=r["run_id"], dataset="", num_images=t["num_images"], description=r["config"],
                      val_loss=r.get("val_loss"), val_acc=r.get("val_acc"), test_acc=r["test_acc"],
                      train_time_s=r["train_time_s"], epoch_ended=r.get("epoch_ended"),
                      status=r.get("status", RunStatus.COMPLETED), rank=r["rank"], pareto=bool(r.get("pareto")))
            for t in tables for r in t["rows"] if r.get("rank") is not None and r.get("run_id") is not None]


def finished_count(tables: Sequence[Mapping[str, Any]]) -> int:
    return sum(1 for t in tables for r in t["rows"] if r.get("rank") is not None)


# ----- words -------------------------------------------------------------------------------------

def _fraction(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return 0.0
    return min(1.0, max(0.0, v)) if math.isfinite(v) else 0.0
