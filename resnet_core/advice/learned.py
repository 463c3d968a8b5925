"""The wizard that learns across datasets: what won on the workspace's earlier datasets of the same kind.

Every finished run (a study's runs included) and every complete race on another dataset is evidence.
A dataset counts when its profile is alike to the new one (dataset_profile.alike: same size band,
classes and image sides within a factor of two, same channels); for runs, the size compared is the
training size they ran at, so a study's 833-image runs speak for a new dataset of about 800 images
even when the study's dataset is larger. From runs the finding is the best configuration by test
accuracy (measured.measured_ranking, the rule the Wizard's 'Measured on your data' follows); from a
race, its winner by validation loss. The Wizard shows them as "On your earlier datasets ...";
`recommend --json` as `earlier_datasets`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from resnet_core.advice.dataset_profile import DatasetProfile, alike, profile_of
from resnet_core.advice.measured import measured_ranking
from resnet_core.advice.race_records import list_races
from resnet_core.config import describe_config
from resnet_core.data.registry import get_dataset
from resnet_core.data.scan import DatasetError
from resnet_core.workspace import Workspace


@dataclass(frozen=True)
class EarlierFinding:
    dataset: str
    source: str  # "runs" (full runs or a study's) | "race"
    profile: DatasetProfile  # the earlier data, at the size it was measured
    model: str
    fine_tune: bool
    augmentation: str
    winner: str  # the winning configuration in words
    compared: int  # configurations (runs) or candidates (race) it won among
    test_acc: float | None = None  # runs: the winner's test accuracy
    val_loss: float | None = None  # race: the winner's validation loss
    learning_rate: float | None = None

    @property
    def configuration(self) -> str:
        return describe_config(self.model, self.fine_tune, self.augmentation)

    def sentence(self) -> str:
        where = f"'{self.dataset}' ({self.profile.words()})"
        if self.source == "runs":
            among = f"best of {self.compared} configurations" if self.compared > 1 else "the only one measured"
            return f"on {where}, {self.configuration} was {among} with {self.test_acc:.1%} test accuracy."
        return (f"on {where}, the race picked {self.winner} among {self.compared} candidates "
                f"(validation loss {self.val_loss:.3f}).")

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "source": self.source, "profile": self.profile.to_dict(),
                "model": self.model, "fine_tune": self.fine_tune, "augmentation": self.augmentation,
                "learning_rate": self.learning_rate, "winner": self.winner, "configuration": self.configuration,
                "compared": self.compared, "test_acc": self.test_acc, "val_loss": self.val_loss,
                "sentence": self.sentence()}


def earlier_datasets(profile: DatasetProfile, workspace: Workspace, store: Any, exclude: str | None = None,
                     recommendation: Any = None) -> list[EarlierFinding]:
    """What won on the other datasets of the workspace alike to `profile` (`exclude`: the new dataset
    itself). Runs first (they measured test accuracy), then races; each group by dataset name."""
    races = [r for r in list_races(workspace) if r.dataset != exclude]
    race_profiles = {r.dataset: r.profile for r in races}
    runs_by_dataset: dict[str, list] = {}
    for run in store.list_runs():
        if run.dataset != exclude:
            runs_by_dataset.setdefault(run.dataset, []).append(run)
    found = []
    for name in sorted(runs_by_dataset):
        earlier = _dataset_profile(name, workspace) or race_profiles.get(name)
        finding = _from_runs(name, runs_by_dataset[name], earlier, profile, recommendation)
        if finding is not None:
            found.append(finding)
    latest = {r.dataset: r for r in races}  # oldest first: a dataset raced again counts by its last race
    for record in races:
        winner = record.winner
        if record is not latest[record.dataset] or winner is None or not alike(record.profile, profile):
            continue
        config = winner.get("config") or {}
        found.append(EarlierFinding(
            dataset=record.dataset, source="race", profile=record.profile, model=config.get("model", ""),
            fine_tune=bool(config.get("fine_tune", True)), augmentation=config.get("augmentation", ""),
            learning_rate=config.get("learning_rate"), winner=winner["name"],
            compared=len(record.race.get("candidates", [])), val_loss=winner.get("val_loss")))
    return found


def _from_runs(name: str, runs: list, earlier: DatasetProfile | None, profile: DatasetProfile,
               recommendation: Any) -> EarlierFinding | None:
    """The best measured configuration at the largest training size alike to `profile`."""
    if earlier is None:
        return None  # neither registered nor raced: its kind is unknown
    sizes = {r.num_train for r in runs if r.num_train and alike(earlier.at_size(r.num_train), profile)}
    ranking = measured_ranking(name, [r for r in runs if r.num_train in sizes], recommendation)
    if ranking is None:
        return None
    best = ranking.runs[0]
    return EarlierFinding(dataset=name, source="runs", profile=earlier.at_size(ranking.num_train),
                          model=best.config.model, fine_tune=best.config.fine_tune,
                          augmentation=best.config.augmentation, learning_rate=best.config.learning_rate,
                          winner=best.description or best.config.describe(), compared=len(ranking.runs),
                          test_acc=best.test_acc)


def _dataset_profile(name: str, workspace: Workspace) -> DatasetProfile | None:
    """A workspace dataset's profile; None for one deleted since its runs."""
    try:
        info = get_dataset(name, workspace)
    except DatasetError:
        return None  # deleted since its runs
    return profile_of(info)


def earlier_summary(findings: list[EarlierFinding], recommendation: Any = None) -> str | None:
    """One sentence over the findings: which configuration won on most datasets, and how the cards' pick did."""
    if not findings:
        return None
    # One vote per dataset: its runs (which measured test accuracy) when it has some, else its race.
    votes = {}
    for f in findings:
        votes.setdefault(f.dataset, f)
    wins = Counter(f.configuration for f in votes.values())
    top, count = wins.most_common(1)[0]
    n = len(votes)
    head = (f"On your earlier datasets of this kind, {top} won {count} of {n} time{'s' * (n != 1)}"
            if n > 1 else f"On your earlier dataset of this kind, {top} won")
    if recommendation is None:
        return head + "."
    pick = describe_config(recommendation.model, recommendation.fine_tune, recommendation.augmentation)
    if pick == top:
        return head + ": the cards' pick here."
    return head + f"; the cards' pick here, {pick}, won {wins.get(pick, 0)} of {n}."


def earlier_advice(profile: DatasetProfile, workspace: Workspace, store: Any, exclude: str | None = None,
                   recommendation: Any = None) -> dict[str, Any]:
    """The summary and the findings as plain data (what `recommend --json` prints as earlier_datasets)."""
    findings = earlier_datasets(profile, workspace, store, exclude, recommendation)
    return {"profile": profile.to_dict(), "summary": earlier_summary(findings, recommendation),
            "findings": [f.to_dict() for f in findings]}
