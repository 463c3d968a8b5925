"""Rebuilding the run registry from the run folders when runs.sqlite is damaged or lost.

Each run folder holds what the registry knew of it: run.json (its row and per-epoch metrics, kept by
the store after every change), config.json, and for a finished run metrics.json. `repair` sets a
damaged database aside under a timestamped name (never deletes it), opens a fresh one and puts back
every run folder the registry does not know, then marks runs whose process is gone as interrupted.
Shared by `python -m resnet_core repair` and the Home page.
"""
from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from resnet_core.config import ConfigError, TrainConfig
from resnet_core.fsutil import read_json
from resnet_core.runs.store import RUN_FILE, RunStore, StoreError, utc_now
from resnet_core.status import RunStatus
from resnet_core.workspace import Workspace

RECOVERED_NOTE = "Recovered from its run folder after the run database was rebuilt."


@dataclass
class RepairReport:
    moved_to: Path | None = None  # where the damaged database was set aside
    recovered: dict[int, str] = field(default_factory=dict)  # run id → status
    skipped: dict[str, str] = field(default_factory=dict)  # run folder → why it was left out
    already_known: int = 0

    def describe(self) -> str:
        lines = []
        if self.moved_to:
            lines.append(f"The damaged run database was set aside as {self.moved_to.name}; a fresh one "
                         "was created.")
        elif not self.recovered:
            lines.append("The run database is sound; nothing to repair.")
        if self.recovered:
            counts = Counter(self.recovered.values())
            by_status = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            ids = ", ".join(str(i) for i in sorted(self.recovered))
            lines.append(f"Recovered {len(self.recovered)} run{'s' if len(self.recovered) != 1 else ''} "
                         f"from their folders ({by_status}): {ids}.")
        elif self.moved_to:
            lines.append("No run folder could be recovered.")
        if self.already_known:
            lines.append(f"{self.already_known} run(s) were already in the database.")
        for folder, why in sorted(self.skipped.items()):
            lines.append(f"Left out runs/{folder}: {why}.")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"moved_to": str(self.moved_to) if self.moved_to else None,
                "recovered": {str(k): v for k, v in sorted(self.recovered.items())},
                "skipped": dict(self.skipped), "already_known": self.already_known}


def database_problem(workspace: Workspace) -> str | None:
    """Why the run database cannot be used (the store's plain message), or None when it can."""
    try:
        store = RunStore(workspace)
    except StoreError as e:
        return str(e)
    try:
        check = store.integrity_check()
    except sqlite3.DatabaseError as e:
        check = str(e)
    finally:
        store.close()
    return None if check == "ok" else (f"the run database {workspace.db_path} is damaged ({check[:200]}); "
                                       "run `python -m resnet_core repair` (or Repair on the Home page)")


def repair(workspace: Workspace) -> RepairReport:
    """Set a damaged database aside, then put every run folder it lacks back into the registry."""
    report = RepairReport()
    if database_problem(workspace) is not None:
        report.moved_to = _set_aside(workspace.db_path)
    store = RunStore(workspace)
    try:
        known = {r.id for r in store.list_runs()}
        report.already_known = len(known)
        for folder in _run_folders(workspace):
            run_id = int(folder.name)
            if run_id in known:
                continue
            try:
                row, epochs = read_run_folder(folder)
            except ValueError as e:
                report.skipped[folder.name] = str(e)
                continue
            row["notes"] = _with_note(row.get("notes"), RECOVERED_NOTE)
            store.restore_run(row, epochs)
            report.recovered[run_id] = row["status"]
        for run_id in store.recover_interrupted():  # restored as running by a process now gone
            if run_id in report.recovered:
                report.recovered[run_id] = RunStatus.INTERRUPTED
    finally:
        store.close()
    return report


def read_run_folder(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A run's row and epochs from its folder; ValueError says why it cannot be read."""
    run_id = int(folder.name)
    saved = read_json(folder / RUN_FILE)
    if isinstance(saved, dict) and isinstance(saved.get("run"), dict):
        row = dict(saved["run"], id=run_id)
        if isinstance(row.get("config"), str) and row.get("dataset") and row.get("status"):
            return row, [e for e in saved.get("epochs") or [] if isinstance(e, dict) and "epoch" in e]
    # A folder from before run.json: its settings, and its results when it finished.
    config_dict = read_json(folder / "config.json")
    try:
        config = TrainConfig.from_dict(config_dict)
    except (ConfigError, TypeError, ValueError, AttributeError):
        raise ValueError("no readable run.json or config.json") from None
    metrics = read_json(folder / "metrics.json")
    row: dict[str, Any] = {
        "id": run_id, "dataset": config.dataset, "model": config.model, "description": config.describe(),
        "config": _json(config.to_dict()), "created_at": _mtime(folder / "config.json"),
    }
    epochs: list[dict[str, Any]] = []
    if isinstance(metrics, dict):
        # Written when the run ended; last.pt is removed from completed runs only.
        row["status"] = RunStatus.CANCELLED if (folder / "last.pt").exists() else RunStatus.COMPLETED
        row["finished_at"] = _mtime(folder / "metrics.json")
        for name in ("val_loss", "val_acc", "test_acc", "train_time_s", "epoch_ended", "best_epoch",
                     "stopped_early", "peak_memory_mb"):
            row[name] = metrics.get(name)
        row["final_metrics"] = _json(metrics.get("final_metrics")) if metrics.get("final_metrics") else None
        epochs = [e for e in metrics.get("history") or [] if isinstance(e, dict) and "epoch" in e]
    else:
        row["status"] = RunStatus.INTERRUPTED
        row["finished_at"] = utc_now()
    return row, epochs


def _set_aside(db_path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    db_path.replace(target)
    for suffix in ("-wal", "-shm", "-journal"):  # belong to the damaged file, and go with it
        side = db_path.with_name(db_path.name + suffix)
        if side.exists():
            side.replace(target.with_name(target.name + suffix))
    return target


def _run_folders(workspace: Workspace) -> list[Path]:
    try:
        folders = [p for p in workspace.runs_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    except FileNotFoundError:
        return []
    return sorted(folders, key=lambda p: int(p.name))


def _with_note(notes: Any, note: str) -> str:
    try:
        existing = json.loads(notes) if isinstance(notes, str) else list(notes or [])
    except ValueError:
        existing = []
    return _json([*[str(n) for n in existing], note])


def _json(value: Any) -> str:
    return json.dumps(value)


def _mtime(path: Path) -> str | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    except OSError:
        return None
