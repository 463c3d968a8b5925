"""When the process exits while a run trains (Ctrl-C on the server), the training stops at its next
batch, is stored as interrupted with its last epoch saved, and the process exits cleanly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from resnet_core.config import TrainConfig
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.jobs import JobManager
from resnet_core.runs.recovery import resume_problem
from resnet_core.runs.store import RunStore
from resnet_core.workspace import ENV_VAR, Workspace

REPO_ROOT = Path(__file__).resolve().parents[2]


def long_run(folder) -> TrainConfig:
    """Hundreds of epochs of tiny images: still training whenever the test stops it."""
    return TrainConfig(dataset=str(folder), weights="none", image_size=32, epochs=200, batch_size=4,
                       learning_rate=1e-3, augmentation="none", patience=200, device="cpu")


def wait_for_an_epoch(manager: JobManager, run_id: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = manager.snapshot(run_id)
        if snap.status == "running" and len(snap.history) >= 1:
            return
        assert snap.is_active, snap
        time.sleep(0.05)
    raise AssertionError("the run trained no epoch in time")


def test_stop_for_exit_interrupts_the_training_resumably_and_its_thread_ends(workspace, tmp_path, offline_torch_home):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=10, size=32)
    store = RunStore(workspace)
    manager = JobManager(workspace, store)
    run_id = manager.submit(long_run(folder))
    queued = manager.submit(long_run(folder))
    wait_for_an_epoch(manager, run_id)

    assert manager.stop_for_exit(timeout=120)  # the worker reached a batch boundary and ended
    assert not [t for t in __import__("threading").enumerate() if t.name == f"train-run-{run_id}"]
    record = store.get_run(run_id)
    assert record.status == "interrupted" and record.test_acc is None  # no test pass on the way out
    assert any("server stopped" in n for n in record.notes)
    assert resume_problem(record, workspace, rerun="") is None  # its last epoch was saved: resumable
    assert store.get_run(queued).status == "queued"  # recovery marks it at the next start
    with pytest.raises(RuntimeError, match="shut down"):
        manager.submit(long_run(folder))
    store.close()


CHILD = textwrap.dedent("""
    import faulthandler, signal, sys, time
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks where it hangs, if it does
    from resnet_core.config import TrainConfig
    from resnet_core.runs.jobs import JobManager
    from resnet_core.runs.store import RunStore
    from resnet_core.workspace import Workspace

    workspace = Workspace.default()
    store = RunStore(workspace)
    manager = JobManager(workspace, store)
    run_id = manager.submit(TrainConfig(dataset=sys.argv[1], weights="none", image_size=32, epochs=200,
                                        batch_size=4, learning_rate=1e-3, augmentation="none", patience=200,
                                        device="cpu"))
    while len(manager.snapshot(run_id).history) < 1:
        time.sleep(0.05)
    print(run_id, flush=True)
    while True:  # the main thread waits, as Streamlit's does, until Ctrl-C
        time.sleep(0.1)
""")


def test_ctrl_c_while_a_run_trains_exits_cleanly_and_leaves_the_run_interrupted(workspace, tmp_path,
                                                                                offline_torch_home):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=10, size=32)
    env = {**os.environ, ENV_VAR: str(workspace.root), "RESNET_PILOT_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    # A shell starting a job in the background makes it ignore SIGINT, and Python then installs no
    # KeyboardInterrupt handler: the child gets SIGINT's default back, as from a terminal.
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(folder)], env=env, cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        run_id = int(child.stdout.readline())
        child.send_signal(signal.SIGINT)
        try:
            _, err = child.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGUSR1)  # every thread's stack to stderr, then give up
            time.sleep(2)
            child.kill()
            _, err = child.communicate()
            pytest.fail(f"the process did not exit within 180 s of Ctrl-C; its threads:\n{err[-6000:]}")
    finally:
        if child.poll() is None:
            child.kill()
    # Python's exit status after an unhandled Ctrl-C in the main thread; before, the training thread
    # was torn down mid-batch and the process aborted ('terminate called without an active exception').
    assert child.returncode in (1, -signal.SIGINT, 130), (child.returncode, err[-2000:])
    assert "terminate called" not in err
    store = RunStore(Workspace.at(workspace.root))
    try:
        record = store.get_run(run_id)
        assert record.status == "interrupted" and any("server stopped" in n for n in record.notes)
    finally:
        store.close()
