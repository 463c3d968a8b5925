"""A short, measured race among the model cards' candidates on the user's own data.

The cards give one answer per dataset-size band; the race checks it. The candidates are the
recommendation plus the alternatives the cards leave open (the neighbouring depth, the neighbouring
augmentation levels, a frozen backbone when ImageNet weights are used, the learning rates at the edges
of the card's band), each with the card sentence it comes from. They race by successive halving:
every candidate trains briefly on a small stratified subset of the training split at a reduced image
size; the better half by validation loss goes on to twice the images, until the last round of two (or
one, from an odd number) names the winner or the time budget is spent. Validation loss judges, as the cost-performance study's early stopping does.
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from resnet_core.advice.model_cards import STUDY, STUDY_FINE_TUNE_TEXT, card
from resnet_core.advice.planning import config_from_advice
from resnet_core.advice.recommend import Recommendation, format_number
from resnet_core.config import AUGMENTATIONS, MODEL_LABELS, TrainConfig
from resnet_core.data.prepare import TrainingData
from resnet_core.text import format_duration
from resnet_core.training.callbacks import Callback, CancelOnEvent, CancelTraining, FitState
from resnet_core.training.engine import FitResult, fit

STUDY_WITH_AND_WITHOUT_AUGMENTATION = "every configuration is measured with and without data augmentation"
MAX_CANDIDATES = 8
DEFAULT_BUDGET_SHARE = 0.15  # of the recommended run's estimated time
RACE_IMAGE_SIZE = 64  # small enough to be quick, large enough to tell settings apart
RACE_EPOCHS = 3  # per rung: enough for the validation loss to separate good settings from bad
MIN_IMAGES_PER_CLASS = 4  # the first rung's subset never has fewer per class
# Short trials judge augmentation unfairly: it pays late in a run and on more data (measured on
# Fashion-MNIST, docs/race-regret.md), so a race that drops it says so.
_SHORT_TRIALS_CAVEAT = (
    "Trials of {epochs} epochs on {images:,} images favour less augmentation, which pays off late in a long "
    "run and on more data (on 2,280 Fashion-MNIST images the full study found augmentation 4.7 points "
    "better where a race had preferred none); if accuracy matters more than time, train both in full and "
    "compare them on the Study page.")
# Validation images each trial is judged on: the same stratified subset for every candidate, so the
# comparison stays fair, and small enough that evaluating does not eat the budget on a large split.
RACE_VAL_IMAGES = 1_000


class RaceCancelled(Exception):
    """The user cancelled the race; what it measured so far is in the exception's `result`."""

    def __init__(self, result: RaceResult):
        super().__init__("the race was cancelled")
        self.result = result


@dataclass(frozen=True)
class Candidate:
    name: str  # short words for tables: "ResNet18 · light augmentation"
    changes: dict[str, Any]  # the settings that differ from the recommendation
    source: str  # the card sentence (or the study's) this candidate comes from
    config: TrainConfig

    @property
    def key(self) -> str:
        """What the race's results are filed under: the settings themselves, not the name, which two
        candidates may share (the name leaves out weight decay, batch size, seed...)."""
        return self.config.key()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "key": self.key, "changes": dict(self.changes), "source": self.source,
                "config": self.config.to_dict()}


@dataclass(frozen=True)
class Trial:
    candidate: str  # the candidate's name, for people
    key: str  # the candidate's configuration key (Candidate.key), what scores are filed under
    rung: int
    train_images: int
    epochs: int
    val_loss: float | None  # None when the budget cut the trial before its first evaluation
    val_acc: float | None
    seconds: float
    cut_by_budget: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class RaceResult:
    candidates: list[Candidate]
    trials: list[Trial] = field(default_factory=list)
    winner_key: str | None = None  # the winning candidate's configuration key
    budget_s: float = 0.0
    used_s: float = 0.0
    image_size: int = RACE_IMAGE_SIZE
    stopped_by_budget: bool = False
    cancelled: bool = False  # the user stopped it: the winner is only the best of the rounds it reached

    @property
    def winning(self) -> Candidate | None:
        return next((c for c in self.candidates if c.key == self.winner_key), None)

    @property
    def winner(self) -> str | None:
        """The winning candidate's name (None when the race measured nothing)."""
        win = self.winning
        return win.name if win is not None else None

    def scores(self) -> dict[str, Trial]:
        """Each candidate's furthest scored trial (the highest rung it reached), by configuration key."""
        best: dict[str, Trial] = {}
        for t in self.trials:
            # A trial the budget cut short trained less than its round's others: it is not compared.
            if t.val_loss is not None and not t.cut_by_budget and (t.key not in best or t.rung >= best[t.key].rung):
                best[t.key] = t
        return best

    def to_dict(self) -> dict[str, Any]:
        scores = self.scores()
        return {
            "candidates": [{**c.to_dict(), "val_loss": _score(scores, c.key, "val_loss"),
                            "val_acc": _score(scores, c.key, "val_acc"),
                            "rung": scores[c.key].rung if c.key in scores else None,
                            "winner": c.key == self.winner_key}
                           for c in self.candidates],
            "trials": [t.to_dict() for t in self.trials],
            "winner": self.winner, "winner_key": self.winner_key, "budget_s": self.budget_s, "used_s": self.used_s,
            "image_size": self.image_size, "stopped_by_budget": self.stopped_by_budget,
            "cancelled": self.cancelled,
        }

    def verdict(self, recommended: str) -> str:
        """What the race measured, in one or two sentences for the wizard; `recommended` is the cards'
        pick's configuration key."""
        if self.winner_key is None:
            return ("The race measured nothing before its budget ran out: give it more time, or follow "
                    "the cards' recommendation.")
        scores = self.scores()
        win = scores[self.winner_key]
        where = f"on {win.train_images:,} training images at {self.image_size} px"
        if self.winner_key == recommended:
            return (f"The race agrees with the cards: {self.winner} reached the lowest validation loss "
                    f"({win.val_loss:.2f}) {where}.")
        rec = scores.get(recommended)
        against = f" against {rec.val_loss:.2f} for the cards' pick" if rec and rec.val_loss is not None else ""
        same_rung = rec is not None and rec.rung == win.rung
        trust = ("measured on the same images, it is the better guide for this data than the cards' "
                 "general bands" if same_rung else "the cards' pick did not reach the last round")
        caveat = (f" {_SHORT_TRIALS_CAVEAT.format(epochs=win.epochs, images=win.train_images)}"
                  if self._only_less_augmentation(recommended) else "")
        return (f"The race disagrees with the cards: {self.winner} reached {win.val_loss:.2f} validation "
                f"loss{against} {where}; {trust}.{caveat}")

    def _only_less_augmentation(self, recommended: str) -> bool:
        """The winner is the cards' pick with less augmentation, and nothing else changed."""
        by_key = {c.key: c.config for c in self.candidates}
        win, rec = by_key.get(self.winner_key or ""), by_key.get(recommended)
        if win is None or rec is None:
            return False
        return (dataclasses.replace(win, augmentation=rec.augmentation) == rec
                and AUGMENTATIONS.index(win.augmentation) < AUGMENTATIONS.index(rec.augmentation))


def _score(scores: dict[str, Trial], name: str, key: str) -> float | None:
    return getattr(scores[name], key) if name in scores else None


# ----- candidates ------------------------------------------------------------------------------

def race_candidates(rec: Recommendation, dataset: str, weights_available: bool | Mapping[str, bool] = True,
                    device: str = "auto", seed: int = 0) -> list[Candidate]:
    """The recommendation plus the alternatives the cards leave open, at most MAX_CANDIDATES."""
    base = config_from_advice(rec, dataset, weights=rec.weights, device=device, seed=seed)
    c = card(rec.model)
    band = c.band_for(rec.num_images)
    out = [Candidate(_name(base), {}, "the wizard's recommendation", base)]

    def add(changes: dict[str, Any], source: str) -> None:
        config = dataclasses.replace(base, **changes)
        if any(existing.config == config for existing in out) or len(out) >= MAX_CANDIDATES:
            return
        out.append(Candidate(_name(config), changes, source, config))

    other = "resnet18" if rec.model != "resnet18" else "resnet50"
    if _depth_usable(other, rec, weights_available):
        add({"model": other}, f"{card(other).title} card: {card(other).choose_when}")
    level = AUGMENTATIONS.index(rec.augmentation)
    for step in (-1, 1):
        if 0 <= level + step < len(AUGMENTATIONS):
            add({"augmentation": AUGMENTATIONS[level + step]},
                f"{c.title} card, {band.label}: \"{band.augmentation_text}\"")
    # The study measures every configuration with and without augmentation, and on small data none
    # can win (Fashion-MNIST, 833 images: none beat the cards' heavy by 2.2 points): always race it.
    add({"augmentation": "none"}, f"the {STUDY}: {STUDY_WITH_AND_WITHOUT_AUGMENTATION}")
    if rec.weights == "imagenet":
        add({"fine_tune": False}, f"the {STUDY}: {STUDY_FINE_TUNE_TEXT}")
    # The band's learning-rate range, or the card's whole range where the band names one rate.
    lo, hi = band.learning_rate
    source = f"{c.title} card, {band.label}: \"{band.config_text}\""
    if rec.weights != "imagenet" or math.isclose(lo, hi):
        lo, hi = rec.limits["learning_rate"]
        source = f"{c.title} card: \"{c.learning_rate_text}\""
    for rate in (lo, hi):
        if not math.isclose(rate, rec.learning_rate):
            add({"learning_rate": rate}, source)
    return out


def _depth_usable(model: str, rec: Recommendation, weights_available: bool | Mapping[str, bool]) -> bool:
    """Another depth races only where the recommendation's weights exist for it too."""
    if rec.weights != "imagenet":
        return True
    if isinstance(weights_available, Mapping):
        return bool(weights_available.get(model, False))
    return bool(weights_available)


def _name(config: TrainConfig) -> str:
    parts = [MODEL_LABELS[config.model], f"{config.augmentation} augmentation",
             "fine-tuned" if config.fine_tune else "frozen backbone", f"lr {format_number(config.learning_rate)}"]
    return " · ".join(parts)


# ----- the race --------------------------------------------------------------------------------

Trainer = Callable[[TrainConfig, TrainingData, list[Callback]], FitResult]
Progress = Callable[[int, int, str], None]  # (trials done, trials planned, what runs now)


def first_rung_images(num_train: int, num_classes: int, num_candidates: int, budget_s: float,
                      images_per_s: float | None, epochs: int = RACE_EPOCHS) -> int:
    """Training images for the first rung, so that the whole race fits the budget.

    Successive halving trains n candidates on s images, n/2 on 2s, ... : about n·s·epochs images per
    rung, over log2(n)+1 rungs. Without a measured rate the first rung takes the smallest subset.
    """
    floor = min(num_train, max(num_classes * MIN_IMAGES_PER_CLASS, 2))
    if not images_per_s or images_per_s <= 0:
        return floor
    rungs = math.ceil(math.log2(max(num_candidates, 1))) + 1
    affordable = budget_s * images_per_s / (max(num_candidates, 1) * epochs * rungs)
    return int(min(num_train, max(floor, affordable)))


def stratified_subset(train_idx: torch.Tensor, labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """n rows of train_idx with every class in its share (at least one each where there is one)."""
    if n >= len(train_idx):
        return train_idx
    gen = torch.Generator().manual_seed(seed)
    picked = []
    classes = labels[train_idx]
    for c in classes.unique():
        rows = train_idx[classes == c]
        take = max(1, round(n * len(rows) / len(train_idx)))
        picked.append(rows[torch.randperm(len(rows), generator=gen)[:take]])
    return torch.cat(picked).sort().values


class _Deadline(Callback):
    """Stops a trial when the race's time budget is spent."""

    def __init__(self, deadline: float, clock: Callable[[], float]):
        self.deadline, self.clock = deadline, clock

    def after_batch(self, state: FitState) -> None:
        if self.clock() >= self.deadline:
            raise CancelTraining("the race's time budget is spent")


def run_race(candidates: list[Candidate], data: TrainingData, budget_s: float, *,
             images_per_s: float | None = None, cancel: threading.Event | None = None,
             progress: Progress | None = None, trainer: Trainer | None = None,
             clock: Callable[[], float] = time.perf_counter, epochs: int = RACE_EPOCHS) -> RaceResult:
    """Successive halving over the candidates on `data` (already prepared at the race's image size).

    Stops when one candidate is left, when the budget is spent (a trial in flight is cut; the winner is
    the best of the furthest round) or on `cancel` (raises RaceCancelled with what was measured).
    """
    candidates = list({c.key: c for c in reversed(candidates)}.values())[::-1]  # equal settings race once
    if not candidates:
        raise ValueError("the race needs at least one candidate")
    if not budget_s > 0:
        raise ValueError(f"the race's budget must be a positive number of seconds, got {budget_s!r}")
    trainer = trainer or _fit_trainer
    started = clock()
    deadline = started + budget_s
    result = RaceResult(candidates=list(candidates), budget_s=float(budget_s), image_size=data.image_size)
    size = first_rung_images(len(data.train_idx), len(data.classes), len(candidates), budget_s, images_per_s,
                             epochs)
    alive = list(candidates)
    if len(data.val_idx) > RACE_VAL_IMAGES:
        data = dataclasses.replace(data, val_idx=stratified_subset(data.val_idx, data.labels, RACE_VAL_IMAGES))
    planned = _planned_trials(len(candidates))
    rung = 0
    rate: float | None = images_per_s
    while alive:
        subset = stratified_subset(data.train_idx, data.labels, size)
        for cand in alive:
            if cancel is not None and cancel.is_set():
                result.used_s, result.cancelled = clock() - started, True
                raise RaceCancelled(_decide(result))
            if rate and clock() + len(subset) * epochs / rate > deadline and _scored_in(result, rung):
                result.stopped_by_budget = True  # this trial cannot finish in time: do not start it
                break
            if progress:
                progress(len(result.trials), planned, f"round {rung + 1}: {cand.name}")
            result.trials.append(_trial(cand, rung, subset, epochs, data, trainer, deadline, clock, cancel))
            last = result.trials[-1]
            if last.seconds > 0 and not last.cut_by_budget:
                rate = len(subset) * epochs / last.seconds
            if last.cut_by_budget:
                result.stopped_by_budget = True
                break
        if cancel is not None and cancel.is_set():
            result.used_s, result.cancelled = clock() - started, True
            raise RaceCancelled(_decide(result))
        if result.stopped_by_budget or len(alive) == 1:
            break
        ranked = sorted((t for t in result.trials if t.rung == rung and t.val_loss is not None
                         and not t.cut_by_budget),
                        key=lambda t: t.val_loss)
        # Best first: when the budget ends a round part way, the round's leaders have run in it and
        # the candidates left out are the weakest, not whoever happened to be listed last.
        by_key = {c.key: c for c in alive}
        alive = [by_key[t.key] for t in ranked[:math.ceil(len(alive) / 2)]]
        if len(alive) <= 1:  # the round's best is the winner: a round alone would compare nothing
            break
        rung += 1
        size = min(len(data.train_idx), size * 2)
    result.used_s = clock() - started
    if progress:
        progress(len(result.trials), len(result.trials), "done")
    return _decide(result)


def _planned_trials(n: int) -> int:
    """n + n/2 + ... down to the last round of two (one candidate alone is not raced)."""
    total, alive = n, n
    while alive > 2:
        alive = math.ceil(alive / 2)
        total += alive
    return total


def _scored_in(result: RaceResult, rung: int) -> bool:
    """At least one trial of this round has a score (else the round must run to say anything)."""
    return rung > 0 or any(t.rung == rung and t.val_loss is not None and not t.cut_by_budget
                           for t in result.trials)


def _decide(result: RaceResult) -> RaceResult:
    """The winner: lowest validation loss among the candidates that reached the furthest scored round."""
    scores = result.scores()
    if not scores:
        result.winner_key = None
        return result
    furthest = max(t.rung for t in scores.values())
    result.winner_key = min((t for t in scores.values() if t.rung == furthest), key=lambda t: t.val_loss).key
    return result


def _trial(cand: Candidate, rung: int, subset: torch.Tensor, epochs: int, data: TrainingData,
           trainer: Trainer, deadline: float, clock: Callable[[], float],
           cancel: threading.Event | None) -> Trial:
    config = dataclasses.replace(cand.config, image_size=data.image_size, epochs=epochs, eval_every=1,
                                 patience=epochs, max_train_images=None, recommended=())
    callbacks: list[Callback] = [_Deadline(deadline, clock)]
    if cancel is not None:
        callbacks.append(CancelOnEvent(cancel))
    t0 = clock()
    result = trainer(config, dataclasses.replace(data, train_idx=subset), callbacks)
    seconds = clock() - t0
    cut = result.status == "cancelled" and not (cancel is not None and cancel.is_set())
    return Trial(candidate=cand.name, key=cand.key, rung=rung, train_images=len(subset), epochs=epochs,
                 val_loss=result.val_loss, val_acc=result.val_acc, seconds=seconds, cut_by_budget=cut)


def _fit_trainer(config: TrainConfig, data: TrainingData, callbacks: list[Callback]) -> FitResult:
    # No test pass: the race must never look at the test split.
    return fit(config, dataclasses.replace(data, test_idx=data.test_idx[:0]), callbacks)


def budget_words(budget_s: float, recommended_s: float | None) -> str:
    """'about 1m 30s (15% of the recommended run's estimated 10m 0s)'."""
    if recommended_s:
        return (f"about {format_duration(budget_s)} ({budget_s / recommended_s:.0%} of the recommended run's "
                f"estimated {format_duration(recommended_s)})")
    return f"about {format_duration(budget_s)}"
