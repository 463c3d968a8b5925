"""The user's label decisions: leave an image out, or count it in another class, without touching
their folder.

A decision is kept in the dataset's metadata folder (label-decisions.json), keyed by the image's
relative path; the folder itself is never written. `apply_decisions` turns the folder's scan into
the scan every later step uses (the report, the split, the duplicate check, runs): excluded images
are gone, moved images carry their new class. Undoing a decision deletes it, and the next scan is
the folder's own again. The saved split keeps an excluded image's part, so undoing an exclusion
puts it back where it was.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from resnet_core.data.scan import DatasetError, ImageEntry, ScanReport, dataset_warnings
from resnet_core.fsutil import atomic_write_json, read_json

DECISIONS_FILE = "label-decisions.json"
_VERSION = 1
EXCLUDE = "exclude"
MOVE = "move"
_EMPTY_FOLDERS = "Class folders with no usable images"  # dataset_warnings' sentence about them


@dataclass(frozen=True)
class Decision:
    path: str  # relative to the dataset root
    action: str  # EXCLUDE or MOVE
    folder_class: str  # the class its folder gives it
    to_class: str | None = None  # MOVE only
    made: str = ""  # when, ISO 8601 UTC

    def describe(self) -> str:
        if self.action == EXCLUDE:
            return f"left out (its folder says '{self.folder_class}')"
        return f"counted as '{self.to_class}' instead of '{self.folder_class}'"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "action": self.action, "folder_class": self.folder_class,
                "to_class": self.to_class, "made": self.made}


def decisions_path(meta_dir: Path) -> Path:
    return Path(meta_dir) / DECISIONS_FILE


def load_decisions(meta_dir: Path) -> list[Decision]:
    """The dataset's decisions, oldest first ([] when none or the file is damaged)."""
    data = read_json(decisions_path(meta_dir))
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        return []
    out = []
    for d in data.get("decisions", []):
        try:
            decision = Decision(path=str(d["path"]), action=str(d["action"]),
                                folder_class=str(d["folder_class"]),
                                to_class=None if d.get("to_class") is None else str(d["to_class"]),
                                made=str(d.get("made", "")))
        except (KeyError, TypeError):
            continue  # one damaged entry costs that decision only
        if decision.action in (EXCLUDE, MOVE) and (decision.action == EXCLUDE or decision.to_class):
            out.append(decision)
    return out


def _save(meta_dir: Path, decisions: list[Decision]) -> None:
    atomic_write_json(decisions_path(meta_dir),
                      {"version": _VERSION, "decisions": [d.to_dict() for d in decisions]})


def _folder_class(path: str) -> str:
    """An image's class is its top-level folder."""
    return path.split("/", 1)[0]


_THREADS = threading.Lock()


@contextlib.contextmanager
def _one_writer(meta_dir: Path) -> Iterator[None]:
    """Read-modify-write of the decisions, one at a time: two quick clicks (or two tabs, or two
    server processes on one workspace) must not lose a decision."""
    with _THREADS:
        try:
            import fcntl
        except ImportError:  # no advisory locks here (Windows): the thread lock still serialises a server
            yield
            return
        meta_dir.mkdir(parents=True, exist_ok=True)
        with open(meta_dir / f"{DECISIONS_FILE}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def decide(meta_dir: Path, folder_report: ScanReport, path: str, action: str,
           to_class: str | None = None) -> Decision:
    """Record one decision (replacing any earlier one for the same image) and return it.

    folder_report: the folder's own scan (before decisions), to check the image and the class.
    DatasetError says what was wrong."""
    known = {e.path for e in folder_report.images}
    if path not in known:
        raise DatasetError(f"'{path}' is not one of this dataset's images: scan it again and choose "
                           "an image from the list.")
    folder_class = _folder_class(path)
    if action == MOVE:
        if to_class not in folder_report.classes:
            raise DatasetError(f"'{to_class}' is not a class of this dataset: choose one of "
                               f"{', '.join(folder_report.classes)}.")
        if to_class == folder_class:
            raise DatasetError(f"'{path}' is in '{folder_class}' by its folder already: undo the "
                               "decision about it instead.")
    elif action != EXCLUDE:
        raise DatasetError(f"A label decision is '{EXCLUDE}' or '{MOVE}', not {action!r}.")
    decision = Decision(path=path, action=action, folder_class=folder_class,
                        to_class=to_class if action == MOVE else None,
                        made=datetime.now(UTC).isoformat(timespec="seconds"))
    with _one_writer(meta_dir):
        _save(meta_dir, [d for d in load_decisions(meta_dir) if d.path != path] + [decision])
    return decision


def exclude_image(meta_dir: Path, folder_report: ScanReport, path: str) -> Decision:
    return decide(meta_dir, folder_report, path, EXCLUDE)


def move_image(meta_dir: Path, folder_report: ScanReport, path: str, to_class: str) -> Decision:
    return decide(meta_dir, folder_report, path, MOVE, to_class)


def undo(meta_dir: Path, path: str) -> Decision | None:
    """Forget the decision about one image; the removed decision, or None when there was none."""
    with _one_writer(meta_dir):
        decisions = load_decisions(meta_dir)
        kept = [d for d in decisions if d.path != path]
        if len(kept) == len(decisions):
            return None
        _save(meta_dir, kept)
    return next(d for d in decisions if d.path == path)


def apply_decisions(folder_report: ScanReport, decisions: list[Decision]) -> ScanReport:
    """The scan as every later step sees it: excluded images out, moved images in their new class.

    Decisions about images the folder no longer has are ignored (they stay listed, so a file put
    back is treated as before). The fingerprint stays the folder's: the decoded-image cache keeps
    every file, and a run picks its rows from it."""
    paths = {e.path for e in folder_report.images}
    live = [d for d in decisions if d.path in paths
            and (d.action == EXCLUDE or d.to_class in folder_report.classes)]
    if not live:
        return folder_report
    excluded = {d.path for d in live if d.action == EXCLUDE}
    moved = {d.path: str(d.to_class) for d in live if d.action == MOVE}
    class_of = {}
    for e in folder_report.images:
        if e.path not in excluded:
            class_of[e.path] = moved.get(e.path, folder_report.classes[e.label])
    classes = sorted(set(class_of.values()))
    label_of = {c: i for i, c in enumerate(classes)}
    images = sorted((ImageEntry(p, label_of[c]) for p, c in class_of.items()), key=lambda e: (e.label, e.path))
    counts = {c: 0 for c in classes}
    for c in class_of.values():
        counts[c] += 1
    emptied = [c for c in folder_report.classes if c not in counts]
    warnings = dataset_warnings(counts, emptied)
    # The folder's own empty class folders are still empty: keep that warning when it was given.
    if not emptied:
        warnings = [w for w in folder_report.warnings if w.startswith(_EMPTY_FOLDERS)] + warnings
    return replace(folder_report, classes=classes, counts=counts, images=images, warnings=warnings,
                   excluded=sorted(excluded), moved=dict(sorted(moved.items())))
