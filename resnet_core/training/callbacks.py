"""Named hooks into the training loop, and the small callbacks built on them.

Preparing the data (scan, decoding) reports on_prepare(stage, done, total) before fit exists; a
callback may raise CancelTraining there too. The loop then calls, in order: before_fit, then per epoch before_epoch, after_batch (after every
optimiser step), after_epoch; and after_fit at the very end, whatever happened (completed, cancelled,
stopped by an error or Ctrl-C), with `FitState.outcome` and `FitState.error` saying which. A callback stops
training by raising StopTraining (early stopping) or CancelTraining (the user asked); the loop
catches either once, keeps what it learned, and finishes properly.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from resnet_core.config import TrainConfig


class StopTraining(Exception):
    """End training early but normally (e.g. validation loss stopped improving)."""


class CancelTraining(Exception):
    """The user cancelled; the run keeps everything learned so far."""


class StopForExit(KeyboardInterrupt):
    """The process is exiting (the server was stopped): the run stops at once, without the final test
    pass a cancel makes, and is stored as interrupted, to resume from its last saved epoch. A
    KeyboardInterrupt, so the engine treats it as Ctrl-C."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; carrying on would only waste time."""


@dataclass
class FitState:
    """What the loop knows right now; callbacks read it (and may append notes)."""

    config: TrainConfig
    classes: list[str]
    num_train: int
    num_val: int
    num_test: int
    device: str
    batch_size: int
    epoch: int = 0  # 1-based epoch in progress (or just finished in after_epoch)
    batch: int = 0  # batches done in this epoch
    num_batches: int = 0
    lr: float = 0.0
    images_seen_epoch: int = 0
    epoch_started: float = 0.0
    fit_started: float = field(default_factory=time.perf_counter)
    history: list[dict[str, Any]] = field(default_factory=list)  # one dict per finished epoch
    best_val_loss: float = math.inf
    best_epoch: int = 0
    phase: str = "preparing"  # preparing | training | evaluating | testing | done
    notes: list[str] = field(default_factory=list)
    stop_reason: str | None = None
    # Set just before after_fit: completed | cancelled | failed | interrupted (Ctrl-C), and for the
    # last two the error that ended training ("RuntimeError: ...").
    outcome: str | None = None
    error: str | None = None
    model: Any = None  # the network being trained, for callbacks that inspect it
    world_size: int = 1  # processes training together (DDP); each sees its shard of every epoch
    batch_rows: Any = None  # the dataset rows of the batch just trained on (this rank's)

    @property
    def last(self) -> dict[str, Any] | None:
        return self.history[-1] if self.history else None

    def elapsed(self) -> float:
        return time.perf_counter() - self.fit_started


class Callback:
    """Override the events you need; each receives the loop's FitState (on_prepare: the data's progress)."""

    def on_prepare(self, stage: str, done: int, total: int) -> None: ...

    def before_fit(self, state: FitState) -> None: ...

    def before_epoch(self, state: FitState) -> None: ...

    def after_batch(self, state: FitState) -> None: ...

    def after_epoch(self, state: FitState) -> None: ...

    def after_fit(self, state: FitState) -> None: ...


class CallbackList(Callback):
    """Calls each callback in order for every event."""

    def __init__(self, callbacks: list[Callback]):
        self.callbacks = list(callbacks)

    def on_prepare(self, stage: str, done: int, total: int) -> None:
        for cb in self.callbacks:
            cb.on_prepare(stage, done, total)

    def before_fit(self, state: FitState) -> None:
        for cb in self.callbacks:
            cb.before_fit(state)

    def before_epoch(self, state: FitState) -> None:
        for cb in self.callbacks:
            cb.before_epoch(state)

    def after_batch(self, state: FitState) -> None:
        for cb in self.callbacks:
            cb.after_batch(state)

    def after_epoch(self, state: FitState) -> None:
        for cb in self.callbacks:
            cb.after_epoch(state)

    def after_fit(self, state: FitState) -> None:
        for cb in self.callbacks:
            cb.after_fit(state)


class EarlyStopping(Callback):
    """Stop when validation loss has not improved for `patience` evaluations in a row.

    Validation loss, not accuracy, as the reference study advises: with unbalanced classes accuracy
    rewards guessing the dominant class. The count is derived from the history (evaluations since
    the best epoch), so a resumed run continues exactly where it stopped.
    """

    def __init__(self, patience: int):
        self.patience = max(1, patience)

    def after_epoch(self, state: FitState) -> None:
        if not state.last or state.last.get("val_loss") is None:
            return  # not an evaluation epoch
        since_best = sum(1 for h in state.history
                         if h["epoch"] > state.best_epoch and h.get("val_loss") is not None)
        if since_best >= self.patience:
            # The epoch it stopped at is the run's own record (epoch_ended); the reason says only why.
            raise StopTraining(
                f"validation loss had not improved for {since_best} evaluation{'s' if since_best != 1 else ''} "
                f"(best {state.best_val_loss:.4f} at epoch {state.best_epoch})")


class CancelOnEvent(Callback):
    """Checks a threading.Event while the data is prepared and between batches; set it to cancel the run."""

    def __init__(self, event: threading.Event):
        self.event = event

    def on_prepare(self, stage: str, done: int, total: int) -> None:
        if self.event.is_set():
            raise CancelTraining(f"cancelled by the user while preparing the data ({stage} {done:,} of "
                                 f"{total:,} images)")

    def _check(self, state: FitState) -> None:
        if self.event.is_set():
            raise CancelTraining(f"cancelled by the user during epoch {state.epoch}")

    before_epoch = _check
    after_batch = _check


class FunctionCallback(Callback):
    """Adapts plain functions to events: FunctionCallback(after_epoch=lambda s: ...)."""

    def __init__(self, **events: Callable[[FitState], None]):
        unknown = set(events) - {"on_prepare", "before_fit", "before_epoch", "after_batch", "after_epoch",
                                 "after_fit"}
        if unknown:
            raise ValueError(f"unknown callback events: {', '.join(sorted(unknown))}")
        for name, fn in events.items():
            setattr(self, name, fn)
