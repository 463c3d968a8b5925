"""Numbers in words, from the outside: each way the product writes a duration, a share or a rank.

(The ordinal and time-left cases came from tests/views/test_run_view.py, the rough-duration cases
from tests/advice/test_estimate.py and the duration cases from tests/results/test_ranking.py.)
"""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from resnet_core.text import (
    finite_or_none,
    format_duration,
    format_loss,
    format_percent,
    format_rough_duration,
    format_time_left,
    format_when,
    ordinal,
)


@pytest.mark.parametrize("n, text", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"),
                                     (12, "12th"), (13, "13th"), (21, "21st"), (22, "22nd"), (101, "101st"),
                                     (111, "111th"), (112, "112th")])
def test_ordinal(n, text):
    assert ordinal(n) == text


@pytest.mark.parametrize("seconds, text", [
    (None, "estimating the time left"), (float("nan"), "estimating the time left"),
    (-5, "estimating the time left"),
    (0.2, "about 1 s left"), (42, "about 42 s left"), (80, "about 1 min 20 s left"),
    (120, "about 2 min left"), (3725, "about 1 h 2 min left"), (7200, "about 2 h left"),
])
def test_format_time_left(seconds, text):
    assert format_time_left(seconds) == text


@pytest.mark.parametrize("seconds, text", [(5, "under a minute"), (90, "2 min"), (3600, "1 h"),
                                           (4800, "1 h 20 min"), (3 * 86400 + 7200, "3 days 2 h"),
                                           (2 * 86400, "2 days")])
def test_format_rough_duration(seconds, text):
    assert format_rough_duration(seconds) == text


@pytest.mark.parametrize("seconds, text", [(100, "1m 40s"), (60, "1m 0s"), (45.4, "45s"), (3725, "1h 2m 5s"),
                                           (4.25, "4.2s"), (None, "—"), (float("nan"), "—"),
                                           (float("inf"), "—"), ("not a number", "—")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("value, percent, loss", [(0.8512, "85.1%", "0.8512"), (1, "100.0%", "1.0000"),
                                                  (0.41237, "41.2%", "0.4124"), (None, "—", "—"),
                                                  (float("nan"), "—", "—")])
def test_format_percent_and_loss(value, percent, loss):
    assert format_percent(value) == percent
    assert format_loss(value) == loss


def test_finite_or_none_keeps_only_finite_numbers():
    assert finite_or_none(3) == 3.0 and finite_or_none("2.5") == 2.5
    assert [finite_or_none(v) for v in (None, "x", float("nan"), float("-inf"), [1])] == [None] * 5


@pytest.mark.parametrize("moment, expected", [
    ("2026-03-10T11:59:30+00:00", "just now"), ("2026-03-10T11:55:00+00:00", "5 min ago"),
    ("2026-03-10T09:00:00+00:00", "3 h ago"), ("2026-03-09T10:00:00+00:00", "yesterday"),
    ("2026-03-06T12:00:00+00:00", "4 days ago"), ("2026-02-01T08:00:00+00:00", "2026-02-01"),
    ("2026-03-10T13:30:00+01:00", "just now"),  # another zone: the same moment
    (None, "—"), ("not a time", "—"), ("2026-03-10T11:00:00", "—"),  # no zone: cannot compare
])
def test_when_says_how_long_ago(moment, expected):
    assert format_when(moment, datetime(2026, 3, 10, 12, 0, tzinfo=UTC)) == expected
