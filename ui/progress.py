"""A progress bar with the time left, for long work that reports (done, total)."""
from __future__ import annotations

import time

import streamlit as st

from resnet_core.advice.estimate import eta_seconds
from resnet_core.text import format_rough_duration


def progress_bar(action: str):
    """A progress bar with done/total and the time left, drawn on the first report only (a cached
    scan reports nothing and shows nothing); returns (callback, placeholder to clear)."""
    slot = st.empty()
    started = time.perf_counter()

    def update(done: int, total: int) -> None:
        left = eta_seconds(done, total, time.perf_counter() - started)
        eta = f" — about {format_rough_duration(left)} left" if left is not None and left >= 60 else ""
        slot.progress(min(1.0, done / total) if total else 0.0,
                      text=f"{action}: {done:,} of {total:,} files{eta}")

    return update, slot


def download_bar(where, action: str):
    """A progress bar in `where` for a download that reports (bytes done, bytes in all; 0 if unknown)."""
    bar = where.progress(0.0, text=f"{action}…")

    def update(done: int, total: int) -> None:
        mb = f"{done / 1e6:,.0f} of {total / 1e6:,.0f} MB" if total else f"{done / 1e6:,.0f} MB"
        bar.progress(min(1.0, done / total) if total else 0.0, text=f"{action}: {mb}")

    return update
