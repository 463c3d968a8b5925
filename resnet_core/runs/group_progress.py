"""A multi-device run's progress, from rank 0 to the process that launched the group.

Rank 0 writes each event of its training loop as one JSON line (`ProgressWriter`); the launcher
reads the new complete lines (`ProgressReplay.poll`) and calls its own callbacks — the job manager's
snapshot publisher, the command line's progress bar — with a FitState rebuilt from them, so they
show a group's run exactly as a run in their own process. Batch events are written at most every
WRITE_INTERVAL_S; every other event always.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from resnet_core.config import TrainConfig
from resnet_core.training.callbacks import Callback, CallbackList, FitState

WRITE_INTERVAL_S = 0.2
# Copied from the loop's state on every event; the bulky fields (classes, notes, history) only on
# fit- and epoch-level events, so a long run's batch lines stay small (the replayed state keeps them).
_FIELDS = ("num_train", "num_val", "num_test", "device", "batch_size", "epoch", "batch",
           "num_batches", "lr", "images_seen_epoch", "best_epoch", "phase", "stop_reason",
           "outcome", "error", "world_size")
_BULKY = ("classes", "notes", "history")
_WITH_HISTORY = ("before_fit", "before_epoch", "after_epoch", "after_fit")


class ProgressWriter(Callback):
    """Rank 0's callback: every event as a JSON line appended to `path`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._last_batch = 0.0

    def _write(self, line: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, default=str) + "\n")

    def on_prepare(self, stage: str, done: int, total: int) -> None:
        self._write({"event": "on_prepare", "stage": stage, "done": done, "total": total})

    def _state(self, event: str, state: FitState) -> None:
        line: dict[str, Any] = {"event": event, **{k: getattr(state, k) for k in _FIELDS},
                                "elapsed_s": state.elapsed(),
                                "epoch_elapsed_s": time.perf_counter() - state.epoch_started,
                                "best_val_loss": state.best_val_loss if math.isfinite(state.best_val_loss) else None}
        if event in _WITH_HISTORY:
            line.update({k: getattr(state, k) for k in _BULKY})
        self._write(line)

    def before_fit(self, state: FitState) -> None:
        self._state("before_fit", state)

    def before_epoch(self, state: FitState) -> None:
        self._state("before_epoch", state)

    def after_batch(self, state: FitState) -> None:
        now = time.monotonic()
        if now - self._last_batch >= WRITE_INTERVAL_S or state.batch == state.num_batches:
            self._last_batch = now
            self._state("after_batch", state)

    def after_epoch(self, state: FitState) -> None:
        self._state("after_epoch", state)

    def after_fit(self, state: FitState) -> None:
        self._state("after_fit", state)


class ProgressReplay:
    """The launcher's side: reads rank 0's new lines and replays them into `callbacks`."""

    def __init__(self, path: str | Path, config: TrainConfig, callbacks: list[Callback]):
        self.path = Path(path)
        self.config = config
        self.callbacks = CallbackList(callbacks)
        self.state: FitState | None = None
        self.events: list[str] = []  # the kinds seen, in order (what the launcher asks about)
        self._offset = 0
        self._partial = b""

    @property
    def started(self) -> bool:
        """Training began (before_fit seen): the run has a state worth keeping."""
        return "before_fit" in self.events

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for raw in lines:
            if raw.strip():
                self._apply(json.loads(raw))

    def _apply(self, line: dict[str, Any]) -> None:
        event = line.pop("event")
        self.events.append(event)
        if event == "on_prepare":
            self.callbacks.on_prepare(line["stage"], line["done"], line["total"])
            return
        state = self.state
        if state is None:
            state = self.state = FitState(config=self.config, classes=[], num_train=0, num_val=0, num_test=0,
                                          device="", batch_size=self.config.batch_size)
        now = time.perf_counter()
        state.fit_started = now - line.pop("elapsed_s")
        state.epoch_started = now - line.pop("epoch_elapsed_s")
        best = line.pop("best_val_loss")
        state.best_val_loss = math.inf if best is None else best
        for key, value in line.items():
            setattr(state, key, value)
        getattr(self.callbacks, event)(state)
