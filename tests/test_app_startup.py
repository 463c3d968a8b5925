"""What app.py does before any page runs, read in a fresh process.

The dashboard shows its navigation at once: everything app.py runs up to `st.navigation` (its imports
and the page config) loads neither torch nor torchvision, which alone take seconds; the first page
and the shared services load them afterwards, when the sidebar is already drawn. And the page icon
ships with the app: a Material icon name, an emoji or an address would make the browser fetch the
favicon from another host (a font server or a CDN), which fails offline and leaves localhost.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"

# Runs app.py's lines up to and including the one that calls st.navigation, in bare Streamlit, and
# records what it passed to st.set_page_config.
PROBE = textwrap.dedent("""
    import json, logging, sys
    import streamlit as st
    logging.disable(logging.WARNING)  # bare mode warns that there is no script run context
    config = {}
    real_set_page_config = st.set_page_config
    def recording_set_page_config(**kwargs):
        config.update(kwargs)
        return real_set_page_config(**kwargs)
    st.set_page_config = recording_set_page_config
    path = sys.argv[1]
    lines = open(path, encoding="utf-8").read().splitlines()
    end = next(i for i, line in enumerate(lines) if "st.navigation(" in line)
    exec(compile("\\n".join(lines[:end + 1]), path, "exec"), {"__file__": path, "__name__": "app"})
    heavy = sorted(m for m in ("torch", "torchvision") if m in sys.modules)
    print(json.dumps({"heavy": heavy, "page_icon": str(config.get("page_icon"))}))
""")


@pytest.fixture(scope="module")
def before_navigation() -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, str(APP)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_app_reaches_its_navigation_without_loading_torch(before_navigation):
    assert before_navigation["heavy"] == []


def test_the_page_icon_is_an_image_file_shipped_in_assets(before_navigation):
    icon = Path(before_navigation["page_icon"])
    assert icon.is_absolute() and icon.is_file(), f"page_icon {icon} is not a file of the app"
    assert icon.resolve().is_relative_to(ROOT / "assets")
    assert icon.suffix in (".png", ".ico", ".svg")
