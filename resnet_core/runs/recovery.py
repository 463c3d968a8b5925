"""Keeping a workspace tidy and safe across crashes: start-up recovery, leftovers, guarded deletion.

Both faces call `startup(workspace, store)` when they open a workspace: runs left 'queued' or
'running' by a process that is gone are marked interrupted, and scratch left by a killed import or
a write cut short is removed.

What counts as a leftover:
- `tmp/<kind>-pid<pid>-...` (imports, registrations, deletions in progress): its process is gone, or
  that pid now belongs to a process started after the entry was last touched. Entries without a
  pid in their name: untouched for an hour.
- `.<name>.pid<pid>-....tmp` beside a file written atomically (and the image cache's
  `.<name>.<pid>.<thread>.tmp`): the same test; without a pid, untouched for an hour. Those with a
  pid are also swept each time the same file is written again.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from resnet_core.data.handle import open_dataset
from resnet_core.data.registry import delete_dataset, get_dataset
from resnet_core.data.scan import DatasetError
from resnet_core.fsutil import (
    STALE_AFTER_S,
    newest_mtime,
    owner_gone,
    read_json,
    remove_path,
    remove_stale_temp_files,
)
from resnet_core.status import STORED_ACTIVE, RunStatus
from resnet_core.workspace import Workspace

_SCRATCH_OWNER = re.compile(r"^[A-Za-z_]+-pid(\d+)-")


class DatasetInUseError(DatasetError):
    """The dataset is used by a queued or running run; the message names the runs."""


@dataclass(frozen=True)
class StartupReport:
    interrupted: list[int] = field(default_factory=list)  # runs marked interrupted
    removed: list[str] = field(default_factory=list)  # leftovers removed, relative to the workspace


def startup(workspace: Workspace, store, max_age_s: float = STALE_AFTER_S) -> StartupReport:
    """Recover runs of dead processes and remove leftovers. Safe to call at any time, from any
    number of processes: nothing a live process is still using is touched."""
    interrupted = store.recover_interrupted()
    removed = clean_stale_tmp(workspace, max_age_s)
    for folder in _folders_with_atomic_writes(workspace):
        removed += remove_stale_temp_files(folder, max_age_s=max_age_s)
    return StartupReport(interrupted=interrupted,
                         removed=[_relative(p, workspace) for p in removed])


# ---------------------------------------------------------------------------------------------
# Scratch folders under tmp/
# ---------------------------------------------------------------------------------------------

def clean_stale_tmp(workspace: Workspace, max_age_s: float = STALE_AFTER_S,
                    now: float | None = None) -> list[Path]:
    """Remove entries of the workspace's tmp/ that no live process owns; returns what was removed."""
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(workspace.tmp_dir))
    except FileNotFoundError:
        return []
    for entry in entries:
        path = Path(entry.path)
        if _scratch_is_stale(path, max_age_s, now) and remove_path(path):
            removed.append(path)
    return removed


def _scratch_is_stale(path: Path, max_age_s: float, now: float) -> bool:
    try:
        touched = path.lstat().st_mtime
    except FileNotFoundError:
        return False
    match = _SCRATCH_OWNER.match(path.name)
    if match:
        return owner_gone(int(match.group(1)), touched)
    # No owner in the name: judge by the newest change anywhere inside (a long import keeps writing).
    return now - newest_mtime(path) > max_age_s


# ---------------------------------------------------------------------------------------------
# Temporary files of atomic writes
# ---------------------------------------------------------------------------------------------


def _folders_with_atomic_writes(workspace: Workspace) -> list[Path]:
    folders = [workspace.root, workspace.cache_dir, workspace.runs_dir, workspace.datasets_dir]
    for parent in (workspace.runs_dir, workspace.datasets_dir):
        try:
            folders += [Path(e.path) for e in os.scandir(parent) if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
    folders += [f / "export" for f in folders if (f / "export").is_dir()]
    return folders


# ---------------------------------------------------------------------------------------------
# Resuming
# ---------------------------------------------------------------------------------------------

RESUME_FILE = "last.pt"  # the engine's full training state, written after every epoch


def resume_problem(record, workspace: Workspace, rerun: str = "re-run it") -> str | None:
    """Why this stopped run cannot continue from its last saved epoch, or None when it can.

    Shared by the dashboard (JobManager.resume) and `resume`, so both refuse alike and leave the run
    as it was. A run that cannot be resumed can always be re-run; `rerun` says how, in the caller's
    words.
    """
    run_id = record.id
    if record.status in STORED_ACTIVE:
        return (f"run {run_id} is {record.status} in another process (pid {record.owner_pid}); "
                "wait for it to finish or cancel it there")
    if record.status == RunStatus.COMPLETED:
        return f"run {run_id} has completed, so there is nothing to resume; {rerun} to train it again"
    if record.config is None:
        return f"run {run_id}'s settings cannot be read by this version of ResNet Pilot; start a new run"
    if not (workspace.run_dir(run_id) / RESUME_FILE).is_file():
        why = "it never started" if record.started_at is None else "it stopped before finishing its first epoch"
        return f"run {run_id} has no saved epoch to continue from ({why}); {rerun} instead"
    try:
        classes = open_dataset(record.dataset, workspace, registered_only=True).report.classes
    except DatasetError as e:
        return f"run {run_id} cannot be resumed: {e}"
    before = read_json(workspace.run_dir(run_id) / "labels.json")
    if isinstance(before, list) and before != classes:
        # Its model has one output per class it started with.
        return (f"run {run_id} cannot be resumed: the classes of dataset '{record.dataset}' changed "
                f"since it started (was {before}, now {classes}); put them back, or {rerun} on the "
                "dataset as it is")
    return None


# ---------------------------------------------------------------------------------------------
# Guarded deletion
# ---------------------------------------------------------------------------------------------

def delete_dataset_checked(name: str, workspace: Workspace, store) -> None:
    """Delete a dataset unless a queued or running run uses it (DatasetInUseError names them).

    Runs already finished on it keep their models and scores. Its decoded-image cache goes too.
    """
    info = get_dataset(name, workspace)
    store.recover_interrupted()  # a run of a dead process must not block the deletion forever
    active = store.runs_using_dataset(info.name)
    if active:
        listed = ", ".join(f"{r.id} ({r.status})" for r in sorted(active, key=lambda r: r.id))
        raise DatasetInUseError(
            f"Dataset {info.name!r} is used by run{'s' if len(active) > 1 else ''} {listed}: "
            "cancel them or wait until they finish, then delete it.")

    # Imported here: the decoded-image cache brings torch, which the other start-up chores (and the
    # CLI's `runs`) do without.
    from resnet_core.data.imagecache import forget_dataset

    forget_dataset(info.root, workspace.cache_dir)  # while its root still resolves as it did
    delete_dataset(info.name, workspace)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _relative(path: Path, workspace: Workspace) -> str:
    try:
        return path.relative_to(workspace.root).as_posix()
    except ValueError:
        return str(path)
