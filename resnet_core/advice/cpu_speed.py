"""What this machine's CPU measured, and what the Wizard's CPU advice takes from it.

The ResNet-18 card says "Reduce batch_size to 4-8 for CPU" and every card assumes "Input: 224x224
RGB". On a CPU both are speed questions, and speed is measured here rather than guessed: a few real
training steps at several batch sizes at the planned image size, then at smaller image sizes
(advice/cpu_probe.py takes them; this module holds no torch). The advice follows the card unless
the measurement says otherwise:

- batch size: a larger batch replaces the card's when it measured at least FASTER_ENOUGH times as
  many images per second (more images per second is shorter epochs, nothing else changes);
- image size: the card's (already capped by what the images hold) while the whole run fits the
  priority's time on a CPU (CPU_TIME_BUDGET_S), else the largest measured smaller size that fits.

Each reason keeps the card's sentence and adds what was measured. A measurement speaks only for the
machine that took it (host, cores and threads: `machine_key`), the model and whether all layers train.
"""
from __future__ import annotations

import math
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from resnet_core.advice.limits import card_limits
from resnet_core.fsutil import atomic_write_json, read_json
from resnet_core.text import format_rough_duration

SPEED_FILE = "cpu_speed.json"  # in the workspace: measured once, used by every later plan
FASTER_ENOUGH = 1.15  # a larger batch must be this many times as fast per image to replace the card's
# How long a whole run may take on a CPU before a smaller image size is advised, per priority.
CPU_TIME_BUDGET_S = {"speed": 15 * 60, "balanced": 60 * 60, "accuracy": 4 * 60 * 60}
LARGER_BATCHES = (16, 32, 64)  # measured beside the card's batch
SMALLER_SIZES = (160, 128, 96)  # measured below the card's size; below 96 px ImageNet features fade


@dataclass(frozen=True)
class CpuSpeed:
    """Training images per second measured on this CPU for one model, at (batch size, image size) points."""

    model: str
    fine_tune: bool
    machine: str  # machine_key() of the machine that measured
    rates: tuple[tuple[int, int, float], ...]  # (batch size, image size, images per second)
    measured_at: str = ""

    def rate(self, batch_size: int, image_size: int) -> float | None:
        return next((r for b, s, r in self.rates if b == batch_size and s == image_size), None)

    def at_size(self, image_size: int) -> dict[int, float]:
        """{batch size: images/s} measured at this image size."""
        return {b: r for b, s, r in self.rates if s == image_size}

    def best_rate(self, image_size: int) -> tuple[int, float] | None:
        """(batch size, images/s) of the fastest batch measured at this image size."""
        points = self.at_size(image_size)
        return max(points.items(), key=lambda p: (p[1], -p[0])) if points else None

    def sizes(self) -> list[int]:
        return sorted({s for _, s, _ in self.rates}, reverse=True)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "fine_tune": self.fine_tune, "machine": self.machine,
                "measured_at": self.measured_at,
                "rates": [{"batch_size": b, "image_size": s, "images_per_s": r} for b, s, r in self.rates]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CpuSpeed":
        rates = tuple((int(p["batch_size"]), int(p["image_size"]), float(p["images_per_s"])) for p in d["rates"]
                      if float(p["images_per_s"]) > 0 and math.isfinite(float(p["images_per_s"])))
        return cls(str(d["model"]), bool(d["fine_tune"]), str(d["machine"]), rates, str(d.get("measured_at", "")))


def machine_key(cpu_count: int, torch_threads: int) -> str:
    """'host · 2 cores · 2 threads': a measurement is this machine's only, with these threads."""
    return f"{socket.gethostname()} · {cpu_count} cores · {torch_threads} threads"


def load_cpu_speeds(workspace_root: str | Path, machine: str) -> list[CpuSpeed]:
    """The measurements this machine took and kept in the workspace (none when unreadable)."""
    data = read_json(Path(workspace_root) / SPEED_FILE, default=[])
    speeds = []
    for item in data if isinstance(data, list) else []:
        try:
            speed = CpuSpeed.from_dict(item)
        except (KeyError, TypeError, ValueError):
            continue  # an entry this version cannot read: measured again when asked
        if speed.machine == machine and speed.rates:
            speeds.append(speed)
    return speeds


def save_cpu_speed(workspace_root: str | Path, speed: CpuSpeed) -> None:
    """Keep a measurement, replacing the one of the same machine, model and fine-tuning."""
    path = Path(workspace_root) / SPEED_FILE
    data = read_json(path, default=[])
    kept = [item for item in (data if isinstance(data, list) else []) if isinstance(item, dict) and (
        item.get("machine"), item.get("model"), item.get("fine_tune")) != (speed.machine, speed.model, speed.fine_tune)]
    stamped = speed if speed.measured_at else CpuSpeed(speed.model, speed.fine_tune, speed.machine, speed.rates,
                                                        datetime.now(UTC).isoformat(timespec="seconds"))
    atomic_write_json(path, [*kept, stamped.to_dict()])


def speed_for(speeds: Iterable[CpuSpeed], model: str, fine_tune: bool = True) -> CpuSpeed | None:
    return next((s for s in speeds if s.model == model and s.fine_tune == fine_tune), None)


def largest_batch(model: str, num_train: int, pretrained: bool = True) -> int:
    """The largest batch a measurement may advise or measure: the card's range, and no more than the
    training images."""
    return min(card_limits(model, random_init=not pretrained)["batch_size"][1], max(2, num_train))


def points_to_measure(card_batch: int, card_size: int, max_batch: int) -> list[tuple[int, int]]:
    """The (batch size, image size) points of a first measurement: the card's batch and larger ones at
    the card's size. The smaller sizes follow at the fastest of those batches (`smaller_sizes`)."""
    batches = sorted({card_batch, *(b for b in LARGER_BATCHES if b <= max_batch)})
    return [(b, card_size) for b in batches]


def smaller_sizes(card_size: int) -> list[int]:
    return [s for s in SMALLER_SIZES if s < card_size]


# ----- the advice --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CpuChoice:
    """The batch and image size a CPU plan takes from the card and the measurement, each with its reason."""

    batch_size: int
    batch_reason: str
    image_size: int
    size_reason: str


def follow_measurement(speed: CpuSpeed, card_batch: int, batch_reason: str, card_size: int,
                       size_reason: str, epochs: int, num_train: int, priority: str,
                       max_batch: int, choose_size: bool = True, batch_card_words: str = "") -> CpuChoice:
    """The card's batch and image size, changed only where the measurement says otherwise.

    batch_reason and size_reason are the card's reasons ('Batch size 8: the ResNet-18 card says …');
    the returned reasons keep their card sentence and add the measured figures. epochs × num_train
    images is the training the time budget counts. max_batch: the largest batch allowed (the card's
    range, the training images). choose_size False: the image size is the user's and stays.
    batch_card_words: what the cards say about the batch on a CPU, for a reason that leaves the card
    ('the ResNet-18 card says "Reduce batch_size to 4-8 for CPU"'); default: batch_reason's own words.
    """
    size = card_size
    if choose_size:
        size, size_reason = _image_size(speed, card_size, size_reason, epochs, num_train, priority,
                                        lambda s: _batch_at(speed, s, card_batch, max_batch))
    batch, batch_reason = _batch_size(speed, card_batch, batch_reason, size, card_size, max_batch,
                                      batch_card_words or _without_value(batch_reason).rstrip("."))
    return CpuChoice(batch, batch_reason, size, size_reason)


def _rate_words(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 10 else f"{rate:.1f}"


def _without_value(reason: str) -> str:
    """'Batch size 8: the card says …' → 'the card says …' (the value is said again in front)."""
    return reason.split(": ", 1)[1] if ": " in reason else reason


def _run_time(epochs: int, num_train: int, rate: float) -> float:
    return epochs * num_train / rate


def _batch_at(speed: CpuSpeed, size: int, card_batch: int, max_batch: int) -> tuple[int, float] | None:
    """(batch, images/s) a plan at this image size would train with, by the rule of `_batch_size`: the
    card's batch unless a larger one measured FASTER_ENOUGH faster; the one measured when it is alone."""
    rates = {b: r for b, r in speed.at_size(size).items() if b <= max_batch}
    if not rates:
        return None
    best = max(rates.items(), key=lambda p: (p[1], -p[0]))
    if card_batch in rates and best[1] < FASTER_ENOUGH * rates[card_batch]:
        return card_batch, rates[card_batch]
    return best


def _image_size(speed: CpuSpeed, card_size: int, reason: str, epochs: int, num_train: int,
                priority: str, batch_at) -> tuple[int, str]:
    measured = {s: point for s in speed.sizes() if s <= card_size and (point := batch_at(s)) is not None}
    if card_size not in measured:
        return card_size, reason  # the measurement does not cover the card's size: nothing to compare
    budget = CPU_TIME_BUDGET_S.get(priority, CPU_TIME_BUDGET_S["balanced"])
    times = {s: _run_time(epochs, num_train, rate) for s, (_, rate) in measured.items()}
    work = f"{epochs} epochs of {num_train:,} training images"
    at_card = (f"here on this CPU a run at {card_size} px takes about {format_rough_duration(times[card_size])} "
               f"({work} at {_rate_words(measured[card_size][1])} images/s, measured)")
    limit = f"the {priority} priority's {format_rough_duration(budget)} on a CPU"
    if times[card_size] <= budget:
        return card_size, f"{reason.rstrip('.')}; {at_card}, within {limit}, so the card's size stays."
    smaller = [s for s in measured if s < card_size]
    if not smaller:
        return card_size, (f"{reason.rstrip('.')}; {at_card}, more than {limit}, and no smaller size was "
                           "measured: fewer epochs or a training subset would shorten it.")
    fitting = [s for s in smaller if times[s] <= budget]
    size = max(fitting) if fitting else min(smaller)
    then = (f"at {size} px it takes about {format_rough_duration(times[size])} "
            f"({_rate_words(measured[size][1])} images/s)")
    why = ("the largest measured size that fits it" if fitting else
           f"the smallest size measured; still more than {limit}, so fewer epochs or a training subset would help")
    return size, (f"Image size {size}: {_without_value(reason).rstrip('.')}, but {at_card}, more than {limit}; "
                  f"{then}: {why}. Smaller images keep less detail, so check the accuracy on Compare.")


def _batch_size(speed: CpuSpeed, card_batch: int, reason: str, size: int, card_size: int,
                max_batch: int, card_words: str) -> tuple[int, str]:
    # Compare batches where the card's batch and another were both measured: at the size chosen, else
    # at the card's size (a smaller size is measured at the fastest batch only).
    where = next((s for s in (size, card_size) if card_batch in speed.at_size(s) and len(speed.at_size(s)) > 1),
                 None)
    if where is None:
        return card_batch, reason
    rates = {b: r for b, r in speed.at_size(where).items() if b <= max_batch}
    base = rates[card_batch]
    best, best_rate = max(rates.items(), key=lambda p: (p[1], -p[0]))
    ratio = best_rate / base
    measured = f"at {where} px, {_rate_words(best_rate)} against {_rate_words(base)} images/s"
    if best != card_batch and ratio >= FASTER_ENOUGH:
        return best, (f"Batch size {best}: {card_words}, so {card_batch} by the cards; but here on this CPU batch "
                      f"{best} measured {ratio:.1f}× faster per image than {card_batch} ({measured}), so the "
                      f"measurement wins: {best} instead of the card's {card_batch}.")
    if best == card_batch:
        return card_batch, (f"{reason.rstrip('.')}. Measured here: no larger batch was faster per image than "
                            f"{card_batch} at {where} px, so the card's {card_batch} stays.")
    return card_batch, (f"{reason.rstrip('.')}. Measured here: batch {best} was only {ratio:.2f}× as fast per "
                        f"image ({measured}), less than the {FASTER_ENOUGH:.2f}× that would justify leaving the "
                        f"card, so {card_batch} stays.")


def describe_speed(speed: CpuSpeed) -> list[str]:
    """'224 px: batch 8 → 20 images/s, batch 64 → 32 images/s', one line per image size."""
    return [f"{s} px: " + ", ".join(f"batch {b} → {_rate_words(r)} images/s" for b, r in sorted(speed.at_size(s).items()))
            for s in speed.sizes()]


def planned_rate(speeds: Sequence[CpuSpeed], plan: Any) -> float | None:
    """The measured images/s of a plan's own model, batch and image size (a Recommendation or a
    TrainConfig), when that point was measured; None otherwise."""
    speed = speed_for(speeds, plan.model, bool(getattr(plan, "fine_tune", True)))
    return None if speed is None else speed.rate(int(plan.batch_size), int(plan.image_size))
