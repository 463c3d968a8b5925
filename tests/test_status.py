"""Run statuses from the outside: members equal their stored words, and the groups say what they claim."""
from __future__ import annotations

import json

from resnet_core.status import (
    ACTIVE,
    FINISHED,
    NOT_COMPLETED,
    RANKED,
    STOPPED,
    STORED,
    STORED_ACTIVE,
    UNDER_WAY,
    RunStatus,
)


def test_a_status_is_its_word_in_comparisons_json_and_text():
    assert RunStatus.COMPLETED == "completed" and "interrupted" == RunStatus.INTERRUPTED
    assert json.dumps({"status": RunStatus.CANCELLED}) == '{"status": "cancelled"}'
    assert f"{RunStatus.RUNNING}" == "running" and f"{RunStatus.QUEUED:<8}|" == "queued  |"
    assert RunStatus("failed") is RunStatus.FAILED


def test_every_status_is_either_active_or_finished_and_only_preparing_is_never_stored():
    assert set(ACTIVE) | set(FINISHED) == set(RunStatus)
    assert not set(ACTIVE) & set(FINISHED)
    assert set(RunStatus) - set(STORED) == {RunStatus.PREPARING}
    assert STORED_ACTIVE == ("queued", "running")


def test_the_store_lists_its_statuses_in_a_fixed_order():
    assert STORED == ("queued", "running", "completed", "cancelled", "failed", "interrupted")
    assert FINISHED == ("completed", "cancelled", "failed", "interrupted")


def test_subgroups_sit_where_they_should():
    assert set(UNDER_WAY) < set(ACTIVE)
    assert set(RANKED) < set(FINISHED) and set(NOT_COMPLETED) < set(FINISHED)
    assert set(STOPPED) < set(NOT_COMPLETED) and RunStatus.FAILED not in STOPPED
    assert RunStatus.COMPLETED in RANKED and RunStatus.COMPLETED not in NOT_COMPLETED
