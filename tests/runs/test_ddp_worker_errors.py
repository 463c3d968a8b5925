"""The worker module started by hand with something wrong says what, without a traceback."""
from __future__ import annotations

import socket
import subprocess
import sys


def _worker(args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "resnet_core.runs.ddp_worker", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_outside_torchrun_it_says_how_to_launch_it(workspace, ddp_env):
    env = {k: v for k, v in ddp_env.items() if k not in ("RANK", "WORLD_SIZE")}
    done = _worker(["--workspace", str(workspace.root), "--run-id", "1"], env)
    assert done.returncode == 2
    assert "not started by torchrun" in done.stderr and "Traceback" not in done.stderr


def test_a_run_that_is_not_in_the_workspace_is_named_with_what_to_do(workspace, ddp_env):
    env = {**ddp_env, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(_free_port())}
    done = _worker(["--workspace", str(workspace.root), "--run-id", "99", "--device", "cpu"], env)
    assert done.returncode == 2
    assert "run 99 is not in the workspace" in done.stderr and "--prepare-only" in done.stderr
    assert "Traceback" not in done.stderr
