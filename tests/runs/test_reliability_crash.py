"""Crashes and restarts: a training process killed with SIGKILL loses nothing it stored, and
`resume` / `rerun` bring the work back from the command line."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from resnet_core.cli import main
from resnet_core.cli.train import ConsoleProgress
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.jobs import JobManager
from resnet_core.runs.store import NOTE_NEVER_STARTED, NOTE_OWNER_GONE, RunStore
from resnet_core.training.checkpoints import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["chat noir", "犬"]
EPOCHS = 6
TRAIN_ARGS = ["--image-size", "32", "--batch-size", "4", "--weights", "none", "--augment", "none",
              "--freeze-backbone", "--device", "cpu"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


@pytest.fixture
def folder(tmp_path) -> Path:
    return make_image_folder(tmp_path / "mes images", num_classes=2, per_class=8, size=32, names=CLASSES)


def child_env(workspace) -> dict[str, str]:
    return {**os.environ, "RESNET_PILOT_HOME": str(workspace.root), "PYTHONPATH": str(REPO)}


def cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sigkill_mid_training_then_recover_and_resume(workspace, folder, capsys):
    proc = subprocess.Popen(
        [sys.executable, "-m", "resnet_core", "train", str(folder), "--epochs", str(EPOCHS),
         "--patience", str(EPOCHS), *TRAIN_ARGS, "--json"],
        env=child_env(workspace), cwd=folder.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watcher = RunStore(workspace)
    try:
        deadline = time.monotonic() + 180
        run_id = None
        while time.monotonic() < deadline and proc.poll() is None:
            runs = watcher.list_runs()
            if runs and watcher.epochs(runs[0].id):
                run_id = runs[0].id
                break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    watcher.close()
    assert run_id is not None, "the training never stored an epoch"

    # A new process opens the workspace.
    store = RunStore(workspace)
    assert store.get_run(run_id).status == "running"  # what the dead process left
    assert store.recover_interrupted() == [run_id]
    record = store.get_run(run_id)
    assert record.status == "interrupted" and NOTE_OWNER_GONE in record.notes
    kept = store.epochs(run_id)
    assert 1 <= len(kept) < EPOCHS and [e["epoch"] for e in kept] == list(range(1, len(kept) + 1))
    assert record.epoch_ended == len(kept)
    run_dir = workspace.run_dir(run_id)
    model, meta = load_checkpoint(run_dir / "best.pt")
    assert meta["classes"] == CLASSES and 1 <= meta["epoch"] <= len(kept) + 1
    assert (run_dir / "last.pt").is_file()
    assert store.integrity_check() == "ok"

    code, out, _ = cli(capsys, ["runs"])
    assert code == 0 and re.search(rf"^{run_id}\s.*\binterrupted\b", out, re.M)
    assert "resume ID" in out

    code, out, err = cli(capsys, ["resume", str(run_id), "--json"])
    assert code == 0, err
    result = json.loads(out)
    assert result["run_id"] == run_id and result["status"] == "completed"
    assert result["epoch_ended"] == EPOCHS and result["test_acc"] is not None
    resumed_after = int(re.search(r"Resumed after epoch (\d+)", " ".join(result["warnings"])).group(1))
    # last.pt is written at intervals when epochs are short (engine._Checkpoints), so it may trail the
    # epochs the store saw, or lead them by the one a killed process never stored.
    assert 1 <= resumed_after <= len(kept) + 1
    # The progress bar picks up the numbering where the dead process stopped.
    assert f"epoch {resumed_after + 1}/{EPOCHS}" in err and f"epoch 1/{EPOCHS}" not in err
    after = store.epochs(run_id)
    assert [e["epoch"] for e in after] == list(range(1, EPOCHS + 1))
    # The epochs from before the crash that last.pt held are kept as they were; later ones trained again.
    same = min(resumed_after, len(kept))
    assert after[:same] == kept[:same]
    final = store.get_run(run_id)
    assert final.started_at == record.started_at and final.config == record.config
    assert load_checkpoint(run_dir / "best.pt")[1]["classes"] == CLASSES
    assert not (run_dir / "last.pt").exists()  # a completed run cannot be resumed: no dead weight
    assert store.integrity_check() == "ok"
    store.close()


def test_queued_runs_of_a_dead_process_show_as_never_started_and_can_be_rerun(workspace, folder, capsys,
                                                                            monkeypatch):
    # A dashboard process queues a run, then is killed before starting it.
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from resnet_core.config import TrainConfig
        from resnet_core.runs.runner import create_run
        from resnet_core.runs.store import RunStore
        from resnet_core.workspace import Workspace
        ws = Workspace.default()
        config = TrainConfig(dataset={str(folder)!r}, weights="none", fine_tune=False,
                             augmentation="none", epochs=2, batch_size=4, learning_rate=1e-3,
                             image_size=32, device="cpu")
        print(create_run(config, ws, RunStore(ws)), flush=True)
        time.sleep(600)
    """)], env=child_env(workspace), stdout=subprocess.PIPE, text=True)
    try:
        queued = int(child.stdout.readline())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    code, out, _ = cli(capsys, ["runs"])
    assert code == 0 and re.search(rf"^{queued}\s.*interrupted \(never started\)", out, re.M)
    code, out, _ = cli(capsys, ["runs", "--json"])
    row = json.loads(out)[0]
    assert row["run_id"] == queued and row["status"] == "interrupted"
    assert row["started_at"] is None and NOTE_NEVER_STARTED in row["notes"]

    code, out, err = cli(capsys, ["resume", str(queued)])
    assert code == 2 and err.startswith("error:") and "never started" in err and f"rerun {queued}" in err

    code, out, err = cli(capsys, ["rerun", str(queued), "--json"])
    assert code == 0, err
    again = json.loads(out)
    assert again["rerun_of"] == queued and again["run_id"] != queued
    assert again["status"] == "completed" and again["test_acc"] is not None
    store = RunStore(workspace)
    assert store.get_run(again["run_id"]).config == store.get_run(queued).config
    assert store.get_run(queued).status == "interrupted"  # the original is left as it was

    # A completed run has nothing to resume.
    code, _, err = cli(capsys, ["resume", str(again["run_id"])])
    assert code == 2 and "completed" in err and "rerun" in err

    # Ctrl-C during a run stores it as interrupted, and resume finishes it.
    def ctrl_c(self, state):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(ConsoleProgress, "after_epoch", ctrl_c)
        code, _, err = cli(capsys, ["rerun", str(queued)])
    assert code == 130 and "resume" in err
    stopped = store.list_runs()[0]
    assert stopped.status == "interrupted" and [e["epoch"] for e in store.epochs(stopped.id)] == [1]

    # Its model has two outputs: a third class appearing in the folder blocks the resume, clearly.
    extra = make_image_folder(folder, num_classes=1, per_class=4, size=32, names=["oiseau"]) / "oiseau"
    code, _, err = cli(capsys, ["resume", str(stopped.id)])
    assert code == 2 and "classes" in err and "oiseau" in err and "rerun" in err
    assert store.get_run(stopped.id).status == "interrupted"  # left as it was
    shutil.rmtree(extra)
    code, out, err = cli(capsys, ["resume", str(stopped.id), "--json"])
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"
    assert [e["epoch"] for e in store.epochs(stopped.id)] == [1, 2]
    store.close()


def test_resume_refuses_what_it_cannot_do_with_a_hint(workspace, folder, capsys):
    from resnet_core.config import TrainConfig
    from resnet_core.runs.runner import create_run

    code, _, err = cli(capsys, ["resume", "42"])
    assert code == 2 and "run 42 not found" in err and "runs" in err
    code, _, err = cli(capsys, ["rerun", "seven"])
    assert code == 2 and "whole number" in err
    code, _, err = cli(capsys, ["rerun", "9" * 30])
    assert code == 2 and "not found" in err
    store = RunStore(workspace)
    config = TrainConfig(dataset=str(folder), weights="none", epochs=1, image_size=32, device="cpu")
    busy = create_run(config, workspace, store)
    store.mark_running(busy)  # running in a live process (this one)
    code, _, err = cli(capsys, ["resume", str(busy)])
    assert code == 2 and "running in another process" in err
    assert store.get_run(busy).status == "running"

    # The dashboard's resume refuses alike, with the same words.
    never = create_run(config, workspace, store)
    store.finish_run(never, "interrupted")
    jm = JobManager(workspace, store)
    with pytest.raises(ValueError, match="running in another process"):
        jm.resume(busy)
    with pytest.raises(ValueError, match=r"never started\); re-run it instead"):
        jm.resume(never)
    assert store.get_run(never).status == "interrupted" and jm.snapshots() == []
    jm.shutdown()
    store.close()
