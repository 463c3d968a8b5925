"""Races kept in the workspace, so the wizard can learn from them on later datasets.

One JSON file a race under races/: the dataset, its profile, when it ran, whether it finished, and
what it measured (RaceResult.to_dict: every candidate with its settings and score, the winner, the
budget used). A race the user cancelled is kept marked "partial": what it measured is real, but its
winner is only the best of the rounds it reached, so the learned advice leaves it out.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_core.advice.dataset_profile import DatasetProfile
from resnet_core.fsutil import atomic_write_json, read_json
from resnet_core.workspace import Workspace

if TYPE_CHECKING:  # the race trains (torch); reading kept races must not load it
    from resnet_core.advice.race import RaceResult

COMPLETE, PARTIAL = "complete", "partial"
RECORD_VERSION = 1


@dataclass(frozen=True)
class RaceRecord:
    dataset: str
    profile: DatasetProfile
    finished: str  # COMPLETE | PARTIAL
    saved_at: str
    race: dict[str, Any]  # RaceResult.to_dict()

    @property
    def complete(self) -> bool:
        return self.finished == COMPLETE

    @property
    def winner(self) -> dict[str, Any] | None:
        """The winning candidate's entry (name, settings, score), None when the race measured nothing."""
        return next((c for c in self.race.get("candidates", []) if c.get("winner")), None)

    def to_dict(self) -> dict[str, Any]:
        return {"version": RECORD_VERSION, "dataset": self.dataset, "profile": self.profile.to_dict(),
                "finished": self.finished, "saved_at": self.saved_at, "race": self.race}


def races_dir(workspace: Workspace) -> Path:
    return workspace.root / "races"


def save_race(workspace: Workspace, dataset: str, profile: DatasetProfile, result: RaceResult,
              complete: bool) -> RaceRecord:
    """Keep a race; `complete` False for one cancelled before it finished (kept marked partial)."""
    record = RaceRecord(dataset=dataset, profile=profile, finished=COMPLETE if complete else PARTIAL,
                        saved_at=datetime.now(UTC).isoformat(timespec="seconds"), race=result.to_dict())
    folder = races_dir(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / f"{time.time_ns()}-{os.getpid()}.json", record.to_dict())
    return record


def list_races(workspace: Workspace, dataset: str | None = None, complete_only: bool = True) -> list[RaceRecord]:
    """The kept races, oldest first; damaged or unknown files are skipped."""
    folder = races_dir(workspace)
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        record = _read(path)
        if record is None or (dataset is not None and record.dataset != dataset):
            continue
        if complete_only and not record.complete:
            continue
        out.append(record)
    return out


def _read(path: Path) -> RaceRecord | None:
    try:
        d = read_json(path)
    except (OSError, UnicodeDecodeError):
        return None
    if not isinstance(d, dict) or d.get("version") != RECORD_VERSION:
        return None
    try:
        return RaceRecord(dataset=str(d["dataset"]), profile=DatasetProfile.from_dict(d["profile"]),
                          finished=str(d["finished"]), saved_at=str(d["saved_at"]), race=dict(d["race"]))
    except (KeyError, TypeError, ValueError):
        return None
