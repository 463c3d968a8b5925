"""The race's pick against the study's best, when a dataset has both: is the short race worth it?

The race (advice/race.py) picks a configuration in a fraction of the study's time; the study measures
every configuration in full. For the dataset's latest complete race, at the study size nearest the
race's training images, this says how the race's pick ranked in the study, how many points of test
accuracy it gave up against the study's best, and what the race plus the pick's full run cost against
the whole study at that size. A pick the study did not run (another augmentation level, say) is said
so, without a gap.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from resnet_core.advice.race_records import RaceRecord, list_races
from resnet_core.config import describe_config
from resnet_core.text import format_duration, ordinal


@dataclass(frozen=True)
class RaceComparison:
    num_images: int  # the study size compared
    race_pick: str  # the race's pick in the study's words ("ResNet18 + fine-tuning")
    race_candidate: str  # its name in the race
    race_s: float
    best: str
    best_acc: float
    study_s: float  # the study's training time at this size, every finished configuration
    ranked: int  # finished configurations at this size
    pick_acc: float | None = None  # None: the study did not run the race's pick
    pick_rank: int | None = None
    pick_s: float | None = None

    @property
    def gap_points(self) -> float | None:
        return None if self.pick_acc is None else 100 * (self.best_acc - self.pick_acc)

    @property
    def share(self) -> float | None:
        """Race plus the pick's full run, as a share of the study's time."""
        if self.pick_s is None or not self.study_s:
            return None
        return (self.race_s + self.pick_s) / self.study_s

    def sentences(self) -> list[str]:
        where = f"at {self.num_images:,} training images"
        if self.pick_acc is None:
            return [f"The race picked {self.race_pick} ({self.race_candidate}), which this study did not run "
                    f"{where}; the study's best was {self.best} with {self.best_acc:.1%}."]
        if self.pick_rank == 1:
            verdict = f"ranked 1st of {self.ranked} {where}: the study's best, found by the race"
        else:
            verdict = (f"ranked {ordinal(self.pick_rank)} of {self.ranked} {where}, {self.gap_points:.1f} points "
                       f"behind the study's best, {self.best} ({self.best_acc:.1%})")
        cost = (f"The race ({format_duration(self.race_s)}) plus the pick's full run "
                f"({format_duration(self.pick_s)}) took {self.share:.0%} of the study's "
                f"{format_duration(self.study_s)} of training.")
        return [f"The race's pick, {self.race_pick}, {verdict}.", cost]

    def to_dict(self) -> dict[str, Any]:
        return {"num_images": self.num_images, "race_pick": self.race_pick, "race_candidate": self.race_candidate,
                "pick_acc": self.pick_acc, "pick_rank": self.pick_rank, "best": self.best,
                "best_acc": self.best_acc, "gap_points": self.gap_points, "race_s": self.race_s,
                "pick_s": self.pick_s, "study_s": self.study_s, "share": self.share,
                "sentences": self.sentences()}


def race_against_study(dataset: str, tables: list[dict[str, Any]], workspace: Any,
                       races: list[RaceRecord] | None = None) -> RaceComparison | None:
    """The latest complete race on `dataset` against the study's tables (study_tables); None when
    either is missing or no configuration has finished."""
    races = list_races(workspace, dataset) if races is None else [r for r in races if r.dataset == dataset]
    race = next((r for r in reversed(races) if r.complete and r.winner is not None), None)
    finished = [t for t in tables if any(row["rank"] is not None for row in t["rows"])]
    if race is None or not finished:
        return None
    table = min(finished, key=lambda t: abs(math.log(t["num_images"] / max(race.profile.num_train, 1))))
    ranked = sorted((row for row in table["rows"] if row["rank"] is not None), key=lambda row: row["rank"])
    winner = race.winner
    config = winner.get("config") or {}
    words = describe_config(config.get("model", ""), bool(config.get("fine_tune", True)),
                            config.get("augmentation", ""))
    same = next((row for row in ranked if row["config"] == words), None)
    best = ranked[0]
    return RaceComparison(
        num_images=table["num_images"], race_pick=words, race_candidate=winner["name"],
        race_s=float(race.race.get("used_s") or 0.0), best=best["config"], best_acc=best["test_acc"],
        study_s=sum(row["train_time_s"] or 0.0 for row in ranked), ranked=len(ranked),
        pick_acc=same["test_acc"] if same else None, pick_rank=same["rank"] if same else None,
        pick_s=same["train_time_s"] if same else None)
