"""Running the command line in a fresh Python process, to see which modules a command loads."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

PROBE = textwrap.dedent("""
    import contextlib, io, json, sys
    from resnet_core.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = main(sys.argv[1:])
        except SystemExit as e:
            code = e.code
    heavy = sorted(m for m in ("torch", "torchvision") if m in sys.modules)
    print(json.dumps({"code": code, "heavy": heavy, "out": out.getvalue()}))
""")


def run_cli(args, env) -> dict:
    """main(args) in a child process: its exit code, stdout, and whether torch/torchvision were loaded."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
