"""Repeating a run's configuration with other seeds: which seeds, and which runs belong together.

A repeat is a new run with exactly the settings of an earlier one but another seed, linked to the
first run of its group (`repeat_of`), so the ranking can show the configuration once with the mean
and spread of its runs. Repeating a repeat links to the same first run.
"""
from __future__ import annotations

from dataclasses import dataclass

from resnet_core.config import TrainConfig
from resnet_core.runs.store import RunRecord, RunStore

MAX_REPEATS = 20  # more seeds than this in one go is a study, not a check on noise


@dataclass(frozen=True)
class RepeatPlan:
    root: int  # the group's first run: what every new run repeats
    configs: tuple[TrainConfig, ...]  # one per new run, each with a seed no run of the group used

    @property
    def seeds(self) -> list[int]:
        return [c.seed for c in self.configs]


def repeat_root(record: RunRecord) -> int:
    return record.repeat_of if record.repeat_of is not None else record.id


def group_members(store: RunStore, record: RunRecord) -> list[RunRecord]:
    """The runs of record's repeat group (the first run and its repeats), oldest first."""
    root = repeat_root(record)
    return sorted((r for r in store.list_runs(dataset=record.dataset)
                   if r.id == root or r.repeat_of == root), key=lambda r: r.id)


def plan_repeats(store: RunStore, record: RunRecord, count: int) -> RepeatPlan:
    """`count` new runs of record's configuration, seeded after the highest seed its group used.

    Raises ValueError (in words) for a count out of range or a run whose settings cannot be read."""
    if not 1 <= count <= MAX_REPEATS:
        raise ValueError(f"the number of seeds must be between 1 and {MAX_REPEATS}, got {count}")
    if record.config is None:
        raise ValueError(f"run {record.id}'s settings cannot be read by this version, so it cannot be "
                         "repeated; train the configuration again from the Train page")
    used = [r.config.seed for r in group_members(store, record) if r.config is not None]
    first = max(used, default=record.config.seed) + 1
    return RepeatPlan(repeat_root(record),
                      tuple(record.config.replace(seed=first + i) for i in range(count)))
