"""One run per device across processes: the dashboard, a `train` beside it, or two dashboards.

The lease is a row of the workspace's run database (see RunStore.claim_device): the job manager and
the command line both take it before a run trains and give it back after; a process that dies frees
it (the next claimant sees its owner is gone). A run waiting for it says which run holds the device.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from resnet_core.runs.store import DeviceLease

# How often (seconds) a waiting run asks again; a training takes minutes, so a second is prompt.
POLL_S = 1.0


def device_words(device: str) -> str:
    return "CPU" if device == "cpu" else "GPU"


def busy_message(lease: DeviceLease) -> str:
    """'waiting for the GPU: run 12 is training in another process (pid 4242)'."""
    return f"waiting for the {device_words(lease.device)}: {_who(lease)}"


def taken_message(lease: DeviceLease) -> str:
    """Why a run that may not wait is refused."""
    return f"the {device_words(lease.device)} is taken: {_who(lease)}; leave out --no-wait to wait for it"


def _who(lease: DeviceLease) -> str:
    where = "in this process" if lease.this_process else f"in another process (pid {lease.owner_pid})"
    return f"run {lease.run_id} is training {where}"


@contextmanager
def hold_device(store, device: str, run_id: int, cancel: threading.Event | None = None,
                on_wait: Callable[[str], None] | None = None, wait: bool = True,
                poll_s: float = POLL_S) -> Iterator[DeviceLease | None]:
    """Hold the device for run_id while the block runs; wait for it first when another run has it.

    Yields None once the device is held. Yields the holder's lease instead (and holds nothing) when
    `wait` is False and the device is taken, or when `cancel` is set while waiting.
    """
    said = None
    while True:
        holder = store.claim_device(device, run_id)
        if holder is None:
            break
        message = busy_message(holder)
        if message != said and on_wait is not None:
            on_wait(message)
            said = message
        if not wait or (cancel is not None and cancel.wait(poll_s)):
            yield holder
            return
        if cancel is None:
            time.sleep(poll_s)
    try:
        yield None
    finally:
        store.release_device(device, run_id)


@contextmanager
def hold_devices(store, devices: list[str], run_id: int, **kwargs) -> Iterator[DeviceLease | None]:
    """hold_device for several devices (a multi-device run), taken in a fixed order so two groups
    waiting for overlapping devices cannot each hold a part the other needs. Yields None once all are
    held, or the lease of a holder when one cannot be waited for (see hold_device)."""
    with ExitStack() as stack:
        for device in sorted(devices):
            holder = stack.enter_context(hold_device(store, device, run_id, **kwargs))
            if holder is not None:
                yield holder
                return
        yield None
