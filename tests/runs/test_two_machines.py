"""README's two-machine commands, run on one machine: `train --prepare-only` stores the run and decodes
its images, then two torchrun launchers (one per "machine", one CPU process each, Gloo) meet at a c10d
rendezvous and train it; rank 0 stores it as for any run."""
from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys

import pytest
from group_processes import group_processes

from resnet_core.cli import main
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.store import RunStore

WAIT_S = 240  # only how long a broken test may hang; nothing asserts a duration


@pytest.fixture(autouse=True)
def _environment(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_torchrun_launchers_as_on_two_machines_train_the_prepared_run(tmp_path, capsys, workspace,
                                                                          ddp_env):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=8, size=32)
    code = main(["train", str(folder), "--devices", "2", "--device", "cpu", "--weights", "none",
                 "--freeze-backbone", "--augment", "none", "--epochs", "1", "--batch-size", "4",
                 "--image-size", "32", "--prepare-only", "--json"])
    prepared = json.loads(capsys.readouterr().out)
    assert code == 0 and prepared["status"] == "queued"

    # The printed command, filled in as README says: 2 machines × 1 process, HOST the first's address.
    command = shlex.split(prepared["command"].replace("NODES", "2").replace("GPUS_PER_NODE", "1")
                          .replace("HOST:29400", f"127.0.0.1:{_free_port()}"))
    assert command[0] == "torchrun"
    assert command[-2:] == ["--device", "cpu"]  # a CPU run stays on the CPU (Gloo) where there are GPUs
    launch = [sys.executable, "-m", "torch.distributed.run", *command[1:]]  # torchrun is this module
    # Each launcher leads its own process group, so a test that times out takes its ranks down with it.
    machines = [subprocess.Popen(launch, env=ddp_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, start_new_session=True) for _ in range(2)]
    try:
        logs = [machine.communicate(timeout=WAIT_S)[0] for machine in machines]
    finally:
        for machine in machines:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(machine.pid, signal.SIGKILL)
            machine.wait()
    assert [machine.returncode for machine in machines] == [0, 0], logs

    record = RunStore(workspace).get_run(prepared["run_id"])
    assert record.status == "completed", (record.status, record.notes, logs)
    assert record.test_acc is not None and len(RunStore(workspace).epochs(record.id)) == 1
    assert any("2 processes" in note for note in record.notes), record.notes
    assert not group_processes(workspace)
