"""Finding the processes of a multi-device run, for the tests' orphan checks."""
from __future__ import annotations

import os
from pathlib import Path

LAUNCHER = b"torch.distributed.run"  # torchrun: `python -m torch.distributed.run ... -m <worker> ...`
RANK = b"resnet_core.runs.ddp_worker"  # each rank: `python -u -m resnet_core.runs.ddp_worker ...`


def group_processes(workspace) -> list[int]:
    """Live processes (torchrun launchers and ranks) started for runs of this workspace: their
    command lines name its folder, so another test's groups are never counted."""
    mark = str(workspace.root).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes()
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if mark in cmdline and (LAUNCHER in cmdline or RANK in cmdline) and state != "Z":
                found.append(int(proc.name))
    return found
