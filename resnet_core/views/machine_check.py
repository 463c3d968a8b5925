"""The slow start-up checks of this machine, run in the background so a page draws at once.

Detecting the hardware imports and asks the accelerator libraries, and probing the weights server
waits up to a few seconds for the network: the Home page used to block on both. Each check runs once
per server process in a thread of its own; a page asks `result()` and shows "checking this
machine…" while it returns None.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from resnet_core.hardware import Hardware, detect_hardware
from resnet_core.training.weights import can_download, weights_status

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What a finished check found, or the error it raised (re-raised by `value()`, so the caller's
    own error handling words it)."""
    found: T | None = None
    error: BaseException | None = None

    def value(self) -> T:
        if self.error is not None:
            raise self.error
        return self.found  # type: ignore[return-value]


class BackgroundCheck(Generic[T]):
    """One check, started on first request in a daemon thread; its outcome is kept for the process."""

    def __init__(self, check: Callable[[], T], name: str):
        self._check, self._name = check, name
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._outcome: Outcome[T] | None = None

    def result(self) -> Outcome[T] | None:
        """The outcome, or None while the check still runs (it starts now if it has not yet)."""
        with self._lock:
            if self._outcome is None and self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            return self._outcome

    def wait(self, timeout: float | None = None) -> Outcome[T] | None:
        """Blocks until the check is over (or timeout), for the command line and tests."""
        self.result()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._outcome

    def forget(self) -> None:
        """Check again on the next request (a test changes what the machine looks like)."""
        with self._lock:
            self._thread, self._outcome = None, None

    def _run(self) -> None:
        try:
            outcome: Outcome[T] = Outcome(found=self._check())
        except Exception as e:  # noqa: BLE001 - kept and re-raised where the page words it
            outcome = Outcome(error=e)
        with self._lock:
            if self._thread is threading.current_thread():  # not forgotten meanwhile
                self._outcome = outcome


HARDWARE: BackgroundCheck[Hardware] = BackgroundCheck(detect_hardware, "hardware-check")
# Whether the weights server (or the proxy downloads go through) answers; asked only when a page needs it.
WEIGHTS_SERVER: BackgroundCheck[bool] = BackgroundCheck(can_download, "weights-server-check")


def forget_checks() -> None:
    for check in (HARDWARE, WEIGHTS_SERVER):
        check.forget()


def weights_missing() -> bool:
    """Some depth's ImageNet weights are not cached here (only then does the weights server matter)."""
    return not all(info["available"] for info in weights_status().values())


def checks_pending() -> bool:
    """True while a check the Home page needs still runs; starts them all at once on first call."""
    hardware = HARDWARE.result()
    server = WEIGHTS_SERVER.result() if weights_missing() else Outcome(found=False)
    return hardware is None or server is None


def can_offer_download() -> bool:
    """Weights are missing and the server answered (call once checks_pending() is False)."""
    if not weights_missing():
        return False
    outcome = WEIGHTS_SERVER.result()
    return outcome is not None and bool(outcome.value())
