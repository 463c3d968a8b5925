"""Numbers in words, one function per way the product writes them: durations, time left,
percentages, losses, ordinals and how long ago something happened. Every page, view and CLI command formats through here, so the
same number reads the same everywhere.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any

MISSING = "—"  # what a table or metric shows for a number it does not have


def finite_or_none(value: Any) -> float | None:
    """value as a float, or None when it is missing, not a number, NaN or infinite."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def format_duration(seconds: Any) -> str:
    """A measured time, as tables show it: 100 → '1m 40s'; 3725 → '1h 2m 5s'; 4.25 → '4.2s'; None → '—'."""
    v = finite_or_none(seconds)
    if v is None:
        return MISSING
    if v < 10:
        return f"{v:.1f}s"
    total = int(round(v))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def format_rough_duration(seconds: float) -> str:
    """An estimate, as a person would say it: 'under a minute', '4 min', '1 h 20 min', '2 days 3 h'."""
    if seconds < 60:
        return "under a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


def format_time_left(seconds: float | None) -> str:
    """95 → 'about 1 min 35 s left'; None → 'estimating the time left'."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "estimating the time left"
    total = int(round(seconds))
    if total < 60:
        return f"about {max(total, 1)} s left"
    if total < 3600:
        minutes, secs = divmod(total, 60)
        return f"about {minutes} min {secs} s left" if secs else f"about {minutes} min left"
    hours, rest = divmod(total, 3600)
    minutes = rest // 60
    return f"about {hours} h {minutes} min left" if minutes else f"about {hours} h left"


def format_percent(value: Any) -> str:
    """0.8512 → '85.1%'; None or NaN → '—'."""
    v = finite_or_none(value)
    return MISSING if v is None else f"{v:.1%}"


def format_interval(low: Any, high: Any) -> str:
    """A 95% interval of fractions in points: (0.712, 0.75) → '71.2–75.0%'; a missing end → '—'."""
    lo, hi = finite_or_none(low), finite_or_none(high)
    return MISSING if lo is None or hi is None else f"{lo * 100:.1f}–{hi * 100:.1f}%"


def format_loss(value: Any) -> str:
    """0.41237 → '0.4124'; None or NaN → '—'."""
    v = finite_or_none(value)
    return MISSING if v is None else f"{v:.4f}"


def ordinal(n: int) -> str:
    """1 → '1st', 2 → '2nd', 11 → '11th', 22 → '22nd'."""
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def format_when(moment: str | None, now: datetime) -> str:
    """An ISO time (the store's, with its zone) as how long before `now` it was: 'just now', '5 min ago',
    '3 h ago', 'yesterday', '4 days ago', then the date ('2026-11-02'); '—' when unknown or unreadable."""
    try:
        then = datetime.fromisoformat(moment) if moment else None
        seconds = (now - then).total_seconds() if then else None
    except (TypeError, ValueError):  # unreadable, or a time without its zone
        seconds = None
    if seconds is None:
        return MISSING
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86_400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86_400)
    if days < 7:
        return "yesterday" if days == 1 else f"{days} days ago"
    return then.date().isoformat()
