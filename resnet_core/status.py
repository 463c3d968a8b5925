"""A run's status, one name for each, and the groups the store, the jobs, the views and the CLI ask about.

`RunStatus` is a StrEnum: each member equals its word ("completed" == RunStatus.COMPLETED), so the
store's rows, the CLI's JSON and a record read back as a plain string all compare and print the same.
"""
from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    PREPARING = "preparing"  # only in a job's live snapshot, never stored
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # its process ended without finishing it


# What the store records, in the order its messages list them.
STORED = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.COMPLETED, RunStatus.CANCELLED,
          RunStatus.FAILED, RunStatus.INTERRUPTED)
# Not over yet: waiting, preparing its data or training.
ACTIVE = (RunStatus.QUEUED, RunStatus.PREPARING, RunStatus.RUNNING)
# The active statuses the store can hold (what to ask it for).
STORED_ACTIVE = tuple(s for s in ACTIVE if s in STORED)
# Already started on its device: preparing its data or training.
UNDER_WAY = (RunStatus.PREPARING, RunStatus.RUNNING)
# Over, one way or another: the statuses a run finishes as.
FINISHED = (RunStatus.COMPLETED, RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.INTERRUPTED)
# Over without completing.
NOT_COMPLETED = (RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.INTERRUPTED)
# Stopped before the end, by hand or because its process ended (not by an error).
STOPPED = (RunStatus.CANCELLED, RunStatus.INTERRUPTED)
# May carry final scores and so rank: completed, or cancelled by hand after a final evaluation.
RANKED = (RunStatus.COMPLETED, RunStatus.CANCELLED)

# A study's configuration with no run yet: the study's word beside the runs' statuses, not a run's.
PENDING = "pending"
