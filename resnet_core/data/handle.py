"""A dataset resolved once: which dataset a name or folder means, its scan and, on first use, its split.

Planning a run, recording it, preparing its tensors and planning a study all need the same three
things. `open_dataset` finds them once and the handle is passed down, so one command walks the
folder once however many runs it plans.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

from resnet_core.data.registry import DatasetInfo, dataset_report, get_dataset, resolve_dataset
from resnet_core.data.scan import Progress, ScanReport
from resnet_core.data.splits import Split, get_split
from resnet_core.workspace import Workspace


@dataclass(frozen=True)
class DatasetHandle:
    info: DatasetInfo
    report: ScanReport

    @property
    def name(self) -> str:
        return self.info.name

    @cached_property
    def split(self) -> Split:
        """The dataset's saved split, read (or made) on first use only: planning a single run needs
        none, and making one writes split.json. DatasetError when there are no usable images."""
        return get_split(self.info, self.report)


def open_dataset(dataset: str | os.PathLike, workspace: Workspace, *, registered_only: bool = False,
                 progress: Progress | None = None) -> DatasetHandle:
    """A workspace dataset by name, or a folder (registered on the fly), with its scan (cached in
    scan.json while the files are unchanged). registered_only: a name only, never a folder path.
    DatasetError says what is wrong and what to do."""
    info = get_dataset(str(dataset), workspace) if registered_only else resolve_dataset(dataset, workspace)
    return DatasetHandle(info, dataset_report(info, progress=progress))
