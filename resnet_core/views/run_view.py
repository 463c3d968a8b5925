"""One view of a run for the Train page, whether it is live in this process or only in the store.

A run training here has a JobSnapshot (batch-level progress); a run finished earlier, or trained by
another process, exists only in the store (epoch-level history, final scores). `RunView` holds what
the page shows from either, and the functions below turn it into the sentences the page prints.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from resnet_core.runs.jobs import JobSnapshot
from resnet_core.runs.store import RunRecord
from resnet_core.status import ACTIVE, RANKED, UNDER_WAY, RunStatus
from resnet_core.text import (
    finite_or_none,
    format_duration,
    format_loss,
    format_percent,
    format_time_left,
    ordinal,
)
from resnet_core.workspace import Workspace

# What the scores of a finished run are called on the page, in the order shown.
FINAL_KEYS = ("test_acc", "val_acc", "val_loss", "train_time_s", "epoch_ended", "best_epoch")
RESUME_FILE = "last.pt"  # the engine's resume state, written after every epoch

_PREP_WORDS = {"scanning": "Checking the images", "decoding": "Decoding the images"}
_PHASE_WORDS = {"evaluating": "checking on the validation images",
                "testing": "scoring on the test images"}


@dataclass(frozen=True)
class RunView:
    run_id: int
    status: str  # a RunStatus
    description: str
    dataset: str
    epochs: int  # planned
    source: str  # "job": live in this process; "store": from the run database
    phase: str = "waiting"
    epoch: int = 0
    batch: int = 0
    num_batches: int = 0
    progress: float = 0.0
    elapsed_s: float = 0.0
    eta_s: float | None = None
    lr: float | None = None
    images_per_s: float | None = None
    queue_position: int | None = None
    device: str = ""
    devices: int = 1  # processes training it together (DDP)
    prep: tuple[str, int, int] | None = None
    history: tuple[dict[str, Any], ...] = ()
    best_epoch: int = 0
    stopped_early: bool = False
    final: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    notes: tuple[str, ...] = ()
    name: str = ""  # the user's name for the run

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def title(self) -> str:
        """'Run #3 · baseline · ResNet18 + fine-tuning' (the name only when the user gave one)."""
        name = f" · {self.name}" if self.name else ""
        return f"Run #{self.run_id}{name} · {self.description}"

    @property
    def failed(self) -> bool:
        return self.status == RunStatus.FAILED

    @property
    def stopped_epoch(self) -> int | None:
        """The epoch early stopping ended the run at, else None."""
        return (self.final.get("epoch_ended") or self.epoch or None) if self.stopped_early else None


def view_from_snapshot(snap: JobSnapshot) -> RunView:
    final = dict(snap.final or {})
    return RunView(
        run_id=snap.run_id, status=snap.status, description=snap.description, dataset=snap.dataset,
        epochs=snap.epochs, source="job", phase=snap.phase, epoch=snap.epoch, batch=snap.batch,
        num_batches=snap.num_batches, progress=snap.progress, elapsed_s=snap.elapsed_s, eta_s=snap.eta_s,
        lr=snap.lr, images_per_s=snap.images_per_s, queue_position=snap.queue_position, device=snap.device,
        devices=snap.devices,
        prep=snap.prep, history=tuple(snap.history), best_epoch=final.get("best_epoch") or snap.best_epoch,
        stopped_early=bool(final.get("stopped_early")), final=final, message=snap.message,
        notes=tuple(snap.notes))


def view_from_record(record: RunRecord, epochs: Sequence[dict[str, Any]]) -> RunView:
    """A run known only to the store (finished earlier, or running in another process)."""
    config = record.config
    planned = config.epochs if config else (record.epoch_ended or len(epochs) or 1)
    last = epochs[-1] if epochs else {}
    done = int(last.get("epoch") or 0)
    final = {k: getattr(record, k, None) for k in FINAL_KEYS} if record.status not in ACTIVE else {}
    return RunView(
        run_id=record.id, status=record.status, description=record.description, dataset=record.dataset,
        epochs=planned, source="store", phase="training" if record.status == RunStatus.RUNNING else record.status,
        epoch=done, progress=min(1.0, done / planned) if planned else 0.0, lr=finite_or_none(last.get("lr")),
        images_per_s=finite_or_none(last.get("images_per_s")), device=config.device if config else "",
        devices=config.devices if config else 1, history=tuple(dict(e) for e in epochs), best_epoch=record.best_epoch or 0,
        stopped_early=bool(record.stopped_early), final=final, message=record.error,
        notes=tuple(record.notes), name=record.name)


def load_view(jobs, store, run_id: int) -> RunView | None:
    """The live snapshot when this process runs it, else the store's record; None if neither knows it."""
    snap = jobs.snapshot(run_id)
    record = store.get_run(run_id)
    if snap is not None:
        # The name from the store: the user may rename a run while it trains.
        return dataclasses.replace(view_from_snapshot(snap), name=record.name if record else "")
    if record is None:
        return None
    return view_from_record(record, store.epochs(run_id))


@dataclass(frozen=True)
class Focus:
    """What a Train page session shows: the run it follows, and the other runs in progress (listed,
    each with a Show button)."""
    followed: int | None
    others: tuple[JobSnapshot, ...]


def train_focus(own_run: int | None, active: Sequence[JobSnapshot]) -> Focus:
    """A session follows the run it started or chose (Show), in whatever state it is now: training,
    cancelled or finished. It never switches by itself to a run another session started, not even
    when its own run ends: those appear only among the others, oldest first."""
    return Focus(own_run, tuple(s for s in active if s.run_id != own_run))


# ----- words -------------------------------------------------------------------------------

def progress_text(view: RunView) -> str:
    """'Epoch 3/10 · batch 12/40 · about 1 min 20 s left' (batches only when known)."""
    parts = [f"Epoch {max(view.epoch, 1) if view.is_active else view.epoch}/{view.epochs}"]
    if view.num_batches:
        parts.append(f"batch {view.batch}/{view.num_batches}")
    if view.phase in _PHASE_WORDS:
        parts.append(_PHASE_WORDS[view.phase])
    if view.source == "job":
        parts.append(format_time_left(view.eta_s))
    else:
        parts.append("running in another process")
    return " · ".join(parts)


def cancel_text(view: RunView, cancel_asked: bool) -> str | None:
    """Confirms a Cancel: 'Cancelling run #3: …' until it stops, then how it ended; None otherwise."""
    if view.is_active:
        return (f"Cancelling run #{view.run_id}: it stops after the current batch and keeps the best "
                "model so far.") if cancel_asked else None
    if view.status != RunStatus.CANCELLED:
        return None
    epoch = view.final.get("epoch_ended") or view.epoch
    if not epoch:
        return f"Run #{view.run_id} was cancelled before it started."
    best = view.final.get("best_epoch") or view.best_epoch
    kept = f"The best model so far (epoch {best}) was kept." if best else "No evaluation had finished yet."
    return f"Run #{view.run_id} was cancelled during epoch {epoch} of {view.epochs}. {kept}"


def prep_text(prep: tuple[str, int, int] | None) -> tuple[str, float]:
    """The preparing phase as ('Decoding the images · 40/500', 0.08)."""
    if not prep:
        return "Getting the data ready", 0.0
    stage, done, total = prep
    words = _PREP_WORDS.get(stage, stage.capitalize())
    if total <= 0:
        return words, 0.0
    return f"{words} · {done:,}/{total:,}", min(1.0, max(0.0, done / total))


def queue_text(view: RunView, snapshots: Iterable[JobSnapshot]) -> str:
    """'waiting: 2nd in the queue behind run 7' — the run just ahead of it on the same device."""
    position = view.queue_position
    if not position:  # next here; it may wait for a run of another process (the device lease)
        return view.message or "waiting to start"
    same_device = [s for s in snapshots if s.device == view.device and s.run_id != view.run_id]
    if position > 1:
        ahead = [s for s in same_device if s.queue_position == position - 1]
    else:
        ahead = [s for s in same_device if s.status in UNDER_WAY]
    behind = f" behind run {ahead[0].run_id}" if ahead else ""
    return f"waiting: {ordinal(position)} in the queue{behind}"


def resumable(workspace: Workspace, run_id: int) -> bool:
    """Has the run saved an epoch it could continue from?"""
    return (workspace.run_dir(run_id) / RESUME_FILE).is_file()


def run_caption(view: RunView) -> str:
    """'Dataset **pets** · 10 epochs planned · cpu' ('· cpu × 2 processes (DDP)' for a group)."""
    device = f" · {view.device}" if view.device else ""
    if view.devices > 1:
        device += f" × {view.devices} {'processes' if view.device == 'cpu' else 'GPUs'} (DDP)"
    return f"Dataset **{view.dataset}** · {view.epochs} epochs planned{device}"


def live_progress(view: RunView, snapshots: Iterable[JobSnapshot]) -> tuple[float, str, bool]:
    """(fraction done, the words on the progress bar, training yet?) for an active run."""
    if view.status == RunStatus.QUEUED:
        return 0.0, queue_text(view, snapshots), False
    if view.status == RunStatus.PREPARING or view.phase in _PREP_WORDS:
        text, fraction = prep_text(view.prep)
        return fraction, f"Preparing · {text}", False
    return min(1.0, max(0.0, view.progress)), progress_text(view), True


def live_metrics(view: RunView) -> list[tuple[str, str]]:
    """(label, value) of what a training run shows under its progress bar."""
    last_val = next((h for h in reversed(view.history) if h.get("val_acc") is not None), None)
    return [("Learning rate", f"{view.lr:.2e}" if view.lr else "—"),
            ("Images / s", f"{view.images_per_s:,.0f}" if view.images_per_s else "—"),
            ("Elapsed", format_duration(view.elapsed_s) if view.source == "job" else "—"),
            ("Val accuracy", format_percent(last_val["val_acc"]) if last_val else "—")]


# Runs stored before the reason dropped its own "early stop after epoch N:" would say the epoch twice.
_OLD_STOP_PREFIX = re.compile(r"^early stop after epoch \d+:\s*")


def _stop_reason(message: str) -> str:
    return _OLD_STOP_PREFIX.sub("", message)


def outcome_notice(view: RunView) -> tuple[str, str] | None:
    """How a run that is over ended, as (kind, sentence) with kind success, warning or error."""
    if view.status == RunStatus.COMPLETED:
        how = (f"stopped early at epoch {view.final.get('epoch_ended')}: {_stop_reason(view.message)}"
               if view.stopped_early and view.message
               else f"trained {view.final.get('epoch_ended') or view.epoch} epochs")
        return "success", f"Finished — {how}."
    if view.status == RunStatus.CANCELLED:
        return "warning", cancel_text(view, cancel_asked=False)
    if view.status == RunStatus.FAILED:
        return "error", f"Training failed: {view.message or 'no message was recorded'}"
    if view.status == RunStatus.INTERRUPTED:
        return "warning", "Interrupted: the server stopped while this run was training. Resume or re-run it below."
    return None


def final_metrics(view: RunView) -> list[tuple[str, Any]]:
    """(label, value) of a finished run's scores; empty when it has none to show."""
    f = view.final
    if view.status not in RANKED or not f:
        return []
    return [("Test accuracy", format_percent(f.get("test_acc"))), ("Val accuracy", format_percent(f.get("val_acc"))),
            ("Val loss", format_loss(f.get("val_loss"))), ("Training time", format_duration(f.get("train_time_s"))),
            ("Epoch ended", f.get("epoch_ended") or "—"), ("Best epoch", f.get("best_epoch") or "—")]


def can_predict_with(view: RunView) -> bool:
    """Did the run leave a scored model to predict with?"""
    return view.status in RANKED and view.final.get("test_acc") is not None


def job_line(snap: JobSnapshot, snapshots: Iterable[JobSnapshot]) -> str:
    """'#7 · ResNet18 + fine-tuning · pets — running · 40%' for the list of other runs in progress."""
    state = (queue_text(view_from_snapshot(snap), snapshots) if snap.status == RunStatus.QUEUED
             else f"{snap.status} · {snap.progress:.0%}")
    return f"#{snap.run_id} · {snap.description} · {snap.dataset} — {state}"


def interrupted_line(record: RunRecord, epochs_saved: int) -> str:
    """'**#4 · ResNet18** · pets · 3 epochs saved' for the list of interrupted runs."""
    return (f"**#{record.id} · {record.description}** · {record.dataset} · "
            f"{epochs_saved} epoch{'s' if epochs_saved != 1 else ''} saved")


def finished_runs_link(count: int) -> str:
    return f"See the {count} finished run{'s' if count != 1 else ''} ranked on Compare"
