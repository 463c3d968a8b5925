"""The dashboard shows its navigation at once: everything app.py runs up to `st.navigation` (its imports
and the page config) loads neither torch nor torchvision, which alone take seconds; the first page
and the shared services load them afterwards, when the sidebar is already drawn."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app.py"

# Runs app.py's lines up to and including the one that calls st.navigation, in bare Streamlit.
PROBE = textwrap.dedent("""
    import json, logging, sys
    logging.disable(logging.WARNING)  # bare mode warns that there is no script run context
    path = sys.argv[1]
    lines = open(path, encoding="utf-8").read().splitlines()
    end = next(i for i, line in enumerate(lines) if "st.navigation(" in line)
    exec(compile("\\n".join(lines[:end + 1]), path, "exec"), {"__file__": path, "__name__": "app"})
    print(json.dumps(sorted(m for m in ("torch", "torchvision") if m in sys.modules)))
""")


def test_app_reaches_its_navigation_without_loading_torch():
    done = subprocess.run([sys.executable, "-c", PROBE, str(APP)], capture_output=True, text=True,
                          cwd=APP.parent, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
