"""Time left in a run, from its measured pace, smoothed so the estimate does not lurch.

A plain average since the start (time so far / progress so far) swings early on: the first batches come
from prefetched data and the estimate starts low, then climbs for most of an epoch (30 s, 1 min 12 s,
1 min 40 s...). Here the time per batch is an exponential moving average of the measured batches, and
the time an epoch spends outside its batches (evaluation, checkpoint, starting the data loader) is a
second average, so each part of the pace is learnt from what it measures.
"""
from __future__ import annotations

import math

BATCH_ALPHA = 0.1  # weight of each new batch in the average: about the last 10 batches count
EPOCH_ALPHA = 0.5  # weight of each epoch's overhead (few epochs, so the newest counts more)
WARMUP_BATCHES = 3  # the first batches of a run fill the data pipeline and say little about the pace
EVAL_SPEEDUP = 3.0  # a validation batch (no backward pass) against a training batch, before measuring
OUTLIER_FACTOR = 3.0  # one batch counts as at most this many times the average (a hiccup, not a trend)


class RunPace:
    """Feed it the clock at each epoch start, batch report and epoch end; ask it for seconds left."""

    def __init__(self, batch_alpha: float = BATCH_ALPHA, epoch_alpha: float = EPOCH_ALPHA,
                 warmup_batches: int = WARMUP_BATCHES):
        self.batch_alpha, self.epoch_alpha, self.warmup = batch_alpha, epoch_alpha, warmup_batches
        self.seconds_per_batch: float | None = None
        self.overhead_per_epoch: float | None = None  # seconds an epoch spends outside its batches
        self.seconds_per_epoch: float | None = None  # whole epochs, when no batch was seen
        self._batches_seen = 0
        self._last: tuple[float, int] | None = None  # (time, batch) of the last batch report
        self._epoch_start: float | None = None
        self._epoch_batch_time = 0.0  # time inside batches in this epoch

    def epoch_started(self, now: float) -> None:
        self._epoch_start, self._last, self._epoch_batch_time = now, None, 0.0

    def batches_done(self, now: float, batch: int) -> None:
        """batch: batches finished in the current epoch. The first report of an epoch only sets the
        clock (the time before it is the loader starting, counted as overhead)."""
        if self._last is not None and batch > self._last[1]:
            dt, db = now - self._last[0], batch - self._last[1]
            self._epoch_batch_time += dt
            self._batches_seen += db
            if self._batches_seen > self.warmup:
                sample = dt / db
                if self.seconds_per_batch is not None:
                    sample = min(sample, OUTLIER_FACTOR * self.seconds_per_batch)
                if self.seconds_per_batch is None:
                    self.seconds_per_batch = sample
                else:  # one step per batch in the report, each weighing batch_alpha
                    weight = 1 - (1 - self.batch_alpha) ** db
                    self.seconds_per_batch += weight * (sample - self.seconds_per_batch)
        self._last = (now, batch)

    def epoch_ended(self, now: float) -> None:
        if self._epoch_start is None:
            return
        whole = now - self._epoch_start
        self.seconds_per_epoch = _smooth(self.seconds_per_epoch, whole, self.epoch_alpha)
        if self._last is not None:
            overhead = max(0.0, whole - self._epoch_batch_time)
            self.overhead_per_epoch = _smooth(self.overhead_per_epoch, overhead, self.epoch_alpha)
        self._epoch_start = now  # the next epoch's clock runs from here unless epoch_started says otherwise

    def seconds_left(self, epochs_after: int, batches_left: int, num_batches: int, epoch_done: bool = False,
                     eval_batches: int = 0) -> float | None:
        """epochs_after: epochs not started yet; batches_left: training batches still to run in the
        current epoch; epoch_done: its evaluation is over too. Until an epoch has ended, its time
        outside the batches is guessed from eval_batches (validation batches run about
        EVAL_SPEEDUP times faster than training ones). None until something was measured."""
        if self.seconds_per_batch is not None and num_batches:
            overhead = self.overhead_per_epoch
            if overhead is None:
                overhead = eval_batches * self.seconds_per_batch / EVAL_SPEEDUP
            current = 0.0 if epoch_done else batches_left * self.seconds_per_batch + overhead
            return current + epochs_after * (num_batches * self.seconds_per_batch + overhead)
        if self.seconds_per_epoch is not None:
            fraction = 0.0 if epoch_done or not num_batches else batches_left / num_batches
            return (epochs_after + fraction) * self.seconds_per_epoch
        return None


def _smooth(old: float | None, new: float, alpha: float) -> float:
    return new if old is None or not math.isfinite(old) else old + alpha * (new - old)
