"""One run per device across processes: a `train` in another process and the dashboard's job manager
take turns on the CPU, the one that waits says which run it waits for, `--no-wait` refuses without
leaving a run behind, and a process that dies frees the device."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.jobs import JobManager
from resnet_core.runs.store import RunStore

LONG = ["--epochs", "200", "--image-size", "32", "--batch-size", "4", "--weights", "none",
        "--augment", "none", "--device", "cpu", "--patience", "200"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


@pytest.fixture
def folder(tmp_path):
    return make_image_folder(tmp_path / "pets", num_classes=2, per_class=12, size=32)


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _start_cli_training(workspace, folder) -> subprocess.Popen:
    env = {**os.environ, "RESNET_PILOT_HOME": str(workspace.root), "RESNET_PILOT_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "resnet_core", "train", str(folder), *LONG],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_the_job_manager_waits_for_a_training_in_another_process(workspace, folder, capsys):
    other = _start_cli_training(workspace, folder)
    store = RunStore(workspace)
    jobs = JobManager(workspace, store)
    try:
        # The other process trains (at least one epoch stored, so it is well under way).
        holder = _wait_for(lambda: next((r.id for r in store.list_runs(statuses=["running"])
                                         if store.epochs(r.id)), None), 180, "the CLI run to train")

        # `--no-wait` refuses at once and leaves no run behind.
        before = len(store.list_runs())
        code = main(["train", str(folder), *LONG, "--no-wait"])
        err = capsys.readouterr().err
        assert code == 2
        assert f"run {holder} is training in another process (pid {other.pid})" in err
        assert len(store.list_runs()) == before

        # The dashboard's job waits in the queue and says for what; it does not start.
        config = TrainConfig(dataset=str(folder), weights="none", image_size=32, epochs=1, batch_size=4,
                             augmentation="none", device="cpu")
        run_id = jobs.submit(config)
        snap = _wait_for(lambda: (s := jobs.snapshot(run_id)) and (s.message or "").startswith("waiting") and s, 60,
                         "the job to report that it waits")
        assert snap.status == "queued"
        assert snap.message == f"waiting for the CPU: run {holder} is training in another process (pid {other.pid})"
        time.sleep(2)
        assert jobs.snapshot(run_id).status == "queued" and store.get_run(run_id).status == "queued"
        assert store.get_run(holder).status == "running"

        # The other process dies without a word: the device is free, the job starts and finishes.
        other.send_signal(signal.SIGKILL)
        other.wait(timeout=30)
        final = jobs.wait(run_id, timeout=300)
        assert final.status == "completed", final
        assert store.get_run(run_id).status == "completed"
    finally:
        jobs.shutdown(timeout=60)
        if other.poll() is None:
            other.kill()
            other.wait()


def test_the_command_line_waits_for_the_job_manager_and_says_so(workspace, folder):
    store = RunStore(workspace)
    jobs = JobManager(workspace, store)
    config = TrainConfig(dataset=str(folder), weights="none", image_size=32, epochs=200, batch_size=4,
                         augmentation="none", device="cpu", patience=200)
    training = jobs.submit(config)
    other = None
    try:
        _wait_for(lambda: store.epochs(training), 180, "the dashboard's run to train")
        env = {**os.environ, "RESNET_PILOT_HOME": str(workspace.root), "RESNET_PILOT_OFFLINE": "1"}
        other = subprocess.Popen(
            [sys.executable, "-m", "resnet_core", "train", str(folder), *LONG[:1], "1", *LONG[2:]],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        said = ""
        while "waiting for the CPU" not in said:
            line = other.stderr.readline()
            assert line, f"the command ended without waiting: {said}"
            said += line
        assert f"run {training} is training in another process (pid {os.getpid()})" in said
        waiting = max(r.id for r in store.list_runs())
        assert store.get_run(waiting).status == "queued"
        assert store.get_run(training).status == "running"

        jobs.cancel(training)  # the device is given back, and the command line goes on
        _, rest = other.communicate(timeout=300)
        assert other.returncode == 0, said + rest
        assert store.get_run(waiting).status == "completed"
    finally:
        jobs.shutdown(timeout=60)
        if other is not None and other.poll() is None:
            other.kill()
            other.wait()
