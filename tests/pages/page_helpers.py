"""Opening the app in Streamlit's AppTest and reading what a page drew."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TIMEOUT = 60  # seconds per script run; pages that train or decode need more than AppTest's default


def open_app(timeout: float = TIMEOUT) -> AppTest:
    return AppTest.from_file(APP, default_timeout=timeout)


def texts(elements) -> str:
    return " ".join(e.value for e in elements)


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}
