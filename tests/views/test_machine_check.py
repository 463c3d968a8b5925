"""The background machine checks: run once per process, never block the caller, keep errors for the page."""
from __future__ import annotations

import threading

import pytest

from resnet_core.views.machine_check import BackgroundCheck


def test_a_check_runs_once_in_the_background_and_keeps_its_answer():
    release, calls = threading.Event(), []

    def slow() -> str:
        calls.append(1)
        release.wait(60)
        return "cpu"

    check = BackgroundCheck(slow, "test-check")
    assert check.result() is None  # returns at once while the check runs
    release.set()
    assert check.wait(60).value() == "cpu"
    assert check.result().value() == "cpu" and calls == [1]  # asked once
    check.forget()
    assert check.wait(60).value() == "cpu" and calls == [1, 1]


def test_a_failed_check_raises_its_error_where_the_page_asks():
    def broken() -> str:
        raise OSError("no such device")

    check = BackgroundCheck(broken, "test-broken")
    outcome = check.wait(60)
    with pytest.raises(OSError, match="no such device"):
        outcome.value()
