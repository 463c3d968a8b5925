"""The race as the Wizard shows it: one row a candidate, those that went furthest and scored best first;
its progress line while it runs in the background, and what a cancel kept."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resnet_core.advice import estimate
from resnet_core.advice.check_on_data import default_budget_s
from resnet_core.advice.estimate import eta_seconds
from resnet_core.advice.race import DEFAULT_BUDGET_SHARE, RaceResult, budget_words
from resnet_core.advice.race_job import MEASURING_STAGE, RACE_STAGE, RaceJobSnapshot
from resnet_core.text import format_duration, format_time_left

_STAGES = {"starting": "Starting the race", "scanning": "Scanning the dataset",
           "decoding": "Decoding the images at the race's size",
           MEASURING_STAGE: "Measuring this machine's speed for the race", RACE_STAGE: "Race"}


UNMEASURED_MINUTES = 5.0  # the race's default time before this machine's speed is measured
MIN_MINUTES, MAX_MINUTES = 0.5, 240.0  # what the Wizard's budget box accepts: the race's floor, and four hours


@dataclass(frozen=True)
class RaceBudget:
    """The race's default time on the Wizard, and the recommended run's estimate it is a share of."""

    minutes: float
    recommended_s: float | None  # None: this machine's speed for the recommended run is not measured yet


def race_budget(rec: Any, num_train: int, num_val: int, num_test: int, device: str) -> RaceBudget:
    """DEFAULT_BUDGET_SHARE of the recommended run's estimated time (never under the race's floor) when its
    speed was measured here; else UNMEASURED_MINUTES. Reads the cached rate only: the page never probes for it."""
    rate = estimate.cached_throughput(rec.model, rec.batch_size, rec.image_size, rec.fine_tune, device)
    if not rate:
        return RaceBudget(UNMEASURED_MINUTES, None)
    seconds = estimate.estimate_training_time(rec, num_train, num_val, rate, num_test=num_test).seconds
    # A day-long recommended run would ask for more than the box allows (Streamlit refuses a default above it).
    return RaceBudget(min(MAX_MINUTES, round(default_budget_s(seconds) / 60, 1)), seconds)


def budget_caption(minutes: float, recommended_s: float | None) -> str:
    """What the race will spend, said before it starts."""
    words = budget_words(minutes * 60, recommended_s)
    if recommended_s is None:
        return (f"The race gets {words}. Measure the training time above and it defaults to "
                f"{DEFAULT_BUDGET_SHARE:.0%} of the recommended run's estimate.")
    return f"The race gets {words}."


def budget_name(budget_s: float) -> str:
    """90 → 'the 1.5-minute budget'; 30 → 'the 30-second budget'."""
    if budget_s < 60:
        return f"the {round(budget_s)}-second budget"
    return f"the {round(budget_s / 60, 1):g}-minute budget"


def race_progress_text(snap: RaceJobSnapshot) -> str:
    """'Race: 2 of 11 trials done · now round 1: ResNet18 · about 40 s left of the 5-minute budget'.
    The time left goes by the trials' pace, never past what is left of the budget (the race stops there);
    reading the images comes before the budget and goes by its own pace."""
    label = _STAGES.get(snap.stage, snap.stage.capitalize())
    if snap.stage != RACE_STAGE:
        if not snap.total:
            return f"{label}… · {format_duration(snap.seconds)} so far"
        left = eta_seconds(snap.done, snap.total, snap.stage_seconds)
        return f"{label}: {snap.done:,} of {snap.total:,} · {format_time_left(left)}"
    budget_left = max(0.0, snap.budget_s - snap.stage_seconds)
    pace = eta_seconds(snap.done, snap.total, snap.stage_seconds)
    left = budget_left if pace is None else min(pace, budget_left)
    now = f" · now {snap.now}" if snap.now else ""
    return (f"{label}: {snap.done} of {snap.total} trials done{now} · "
            f"{format_time_left(left)} of {budget_name(snap.budget_s)}")


def cancelled_text(partial: RaceResult | None) -> str:
    """What the page says about a cancelled race: what it kept, and that nothing was learned from it."""
    if partial is None or not partial.scores():
        return "The race was cancelled before any trial finished; start it again when you like."
    return ("The race was cancelled; below is what it measured before the cancel (kept marked partial, "
            "not used to advise). Start it again for a full verdict.")


def race_rows(result: RaceResult) -> list[dict[str, Any]]:
    """Winner mark, candidate, the round it reached, its images there, validation loss and accuracy,
    and the card sentence it comes from; unmeasured candidates last."""
    scores = result.scores()

    def order(c) -> tuple:
        t = scores.get(c.key)
        return (0, -t.rung, t.val_loss) if t else (1, 0, 0.0)

    rows = []
    for c in sorted(result.candidates, key=order):
        t = scores.get(c.key)
        rows.append({"Pick": "★" if c.key == result.winner_key else "", "Candidate": c.name,
                     "Round": t.rung + 1 if t else None, "Images": t.train_images if t else None,
                     "Val loss": t.val_loss if t else None, "Val acc": t.val_acc if t else None,
                     "From": c.source})
    return rows
