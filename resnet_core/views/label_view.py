"""What the Data page shows about likely mislabels: where the check's features come from and what it
will cost, the suspects still to decide on (thumbnail, given and suggested label, confidence), and
the user's decisions with their undo."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from resnet_core.data.handle import DatasetHandle
from resnet_core.data.label_decisions import Decision, exclude_image, load_decisions, move_image, undo
from resnet_core.data.registry import DatasetInfo, folder_report
from resnet_core.results.label_check import DEFAULT_FOLDS
from resnet_core.results.label_job import (
    FeatureSource,
    JobSnapshot,
    LabelCheckUnavailable,
    SavedCheck,
    estimate_seconds,
    feature_source,
    load_report,
)
from resnet_core.text import format_duration
from resnet_core.workspace import Workspace

SUSPECTS_SHOWN = 12

_STAGES = {"scanning": "Scanning", "decoding": "Decoding images", "features": "Taking features",
           "cross-validating": "Cross-validating the linear head (fold {done} of {total})"}


@dataclass(frozen=True)
class SuspectCard:
    path: str  # relative to the dataset root
    file: Path
    given: str
    suggested: str
    confidence: str  # "87%"
    move_to: tuple[str, ...] = ()  # every class but the given one, the suggested first

    @property
    def caption(self) -> str:
        return f"{Path(self.path).name}: labelled **{self.given}**, looks like **{self.suggested}** ({self.confidence})"


@dataclass
class LabelPanel:
    source: FeatureSource | None
    unavailable: str  # why the check cannot run ('' when it can)
    check: SavedCheck | None
    cards: list[SuspectCard] = field(default_factory=list)  # the most suspicious undecided first
    undecided: int = 0  # suspects not decided on, all of them (cards shows the first few)
    decisions: list[Decision] = field(default_factory=list)  # newest first

    def summary(self) -> str:
        if self.check is None:
            return ""
        r = self.check.report
        found = (f"{len(r.suspects):,} of {r.num_images:,} images may be in the wrong class"
                 if r.suspects else f"no likely mislabels among {r.num_images:,} images")
        return f"Last check: {found}, {self.undecided:,} still to decide on. {r.method}"


def label_panel(handle: DatasetHandle, workspace: Workspace) -> LabelPanel:
    info = handle.info
    try:
        source, unavailable = feature_source(workspace, info.name), ""
    except LabelCheckUnavailable as e:
        source, unavailable = None, str(e)[0].upper() + str(e)[1:] + "."
    check = load_report(handle)
    decisions = load_decisions(info.meta_dir)
    decided = {d.path for d in decisions}
    undecided = [s for s in (check.report.suspects if check else []) if s.path not in decided]
    classes = set(handle.report.classes)
    cards = [SuspectCard(s.path, Path(info.root) / s.path, s.given, s.suggested, f"{s.confidence:.0%}",
                         move_choices(classes, s.given, s.suggested))
             for s in undecided[:SUSPECTS_SHOWN]]
    return LabelPanel(source, unavailable, check, cards, len(undecided), decisions[::-1])


def move_choices(classes: set[str], given: str, suggested: str) -> tuple[str, ...]:
    """The classes an image can be moved to: the suggestion first (the likely answer), then the
    others in order, never the class it is in now."""
    others = sorted((set(classes) | {suggested}) - {given, suggested})
    return ((suggested,) if suggested != given else ()) + tuple(others)


def widget_id(path: str) -> str:
    """A widget key suffix for one image: the buttons stay on their image when the lists change
    (another tab's decision, a check finishing) between a page's draw and a click."""
    return hashlib.sha1(path.encode("utf-8")).hexdigest()[:12]


def cost_line(source: FeatureSource, num_images: int, num_classes: int, folds: int = DEFAULT_FOLDS) -> str:
    """The check's measured cost in a sentence, before it starts."""
    seconds = estimate_seconds(source, num_images, num_classes, folds)
    return (f"Checks {num_images:,} images with {source.describe()}: about {format_duration(seconds)} on "
            "this machine (measured just now; decoding images not decoded yet comes on top). Nothing in "
            "your folder is changed.")


def progress_text(snap: JobSnapshot) -> str:
    label = _STAGES.get(snap.stage, snap.stage.capitalize()).format(done=snap.done, total=snap.total)
    if snap.total and snap.stage != "cross-validating":
        label += f": {snap.done:,} of {snap.total:,}"
    return f"{label} · {format_duration(snap.seconds)} so far"


def exclude(info: DatasetInfo, path: str) -> str:
    exclude_image(info.meta_dir, folder_report(info), path)
    return f"Left out {path} from the next split and runs. Undo below puts it back."


def move(info: DatasetInfo, path: str, to_class: str) -> str:
    move_image(info.meta_dir, folder_report(info), path, to_class)
    return f"{path} now counts as '{to_class}' in the next split and runs. Undo below puts it back."


def undo_decision(info: DatasetInfo, path: str) -> str:
    removed = undo(info.meta_dir, path)
    return f"Undone: {path} is back in '{removed.folder_class}'." if removed else f"No decision about {path}."


def decision_line(d: Decision) -> str:
    return f"`{d.path}` — {d.describe()}"
