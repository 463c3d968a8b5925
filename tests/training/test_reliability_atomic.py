"""A crash in the middle of writing a checkpoint never leaves a damaged one behind."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest
import torch

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.data.synthetic import make_image_folder
from resnet_core.fsutil import atomic_write_bytes
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.runs.store import RunStore
from resnet_core.training.checkpoints import load_checkpoint, save_checkpoint
from resnet_core.training.models import build_model

CLASSES = ["chat noir", "犬"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


def model(seed: int):
    torch.manual_seed(seed)
    return build_model("resnet18", len(CLASSES)).eval()


def temp_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def assert_is(path, expected, epoch: int) -> None:
    loaded, meta = load_checkpoint(path)
    assert meta["epoch"] == epoch and meta["classes"] == CLASSES
    for key, value in expected.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_a_failed_rename_keeps_the_old_best_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run" / "best.pt"
    old = model(1)
    save_checkpoint(path, old, CLASSES, 32, epoch=1, config={})

    def crash(src, dst):
        raise OSError(errno.EIO, "simulated crash while renaming")

    with monkeypatch.context() as m, pytest.raises(OSError, match="simulated"):
        m.setattr(os, "replace", crash)
        save_checkpoint(path, model(2), CLASSES, 32, epoch=2, config={})
    assert_is(path, old, epoch=1)
    assert temp_files(path.parent) == []


def test_a_disk_full_halfway_through_keeps_the_old_best_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run" / "best.pt"
    old = model(1)
    save_checkpoint(path, old, CLASSES, 32, epoch=1, config={})
    real_fdopen = os.fdopen

    class HalfWriter:
        """Writes half the bytes, then the disk is full."""

        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def __getattr__(self, name):
            return getattr(self.f, name)

    with monkeypatch.context() as m, pytest.raises(OSError, match="No space"):
        m.setattr(os, "fdopen", lambda fd, mode="r", *a, **kw: HalfWriter(real_fdopen(fd, mode, *a, **kw)))
        save_checkpoint(path, model(2), CLASSES, 32, epoch=2, config={})
    assert_is(path, old, epoch=1)
    assert temp_files(path.parent) == []  # the half-written temp file was removed


def test_leftover_temp_files_are_ignored_and_cleaned_on_the_next_write(tmp_path):
    path = tmp_path / "run" / "best.pt"
    save_checkpoint(path, model(1), CLASSES, 32, epoch=1, config={})
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # What a writer killed with SIGKILL between writing and renaming leaves behind.
    leftover = path.parent / f".best.pt.pid{gone.pid}-k1ll.tmp"
    leftover.write_bytes(b"\x80\x02half a pickle")
    assert_is(path, model(1), epoch=1)  # ignored by the reader

    new = model(3)
    save_checkpoint(path, new, CLASSES, 32, epoch=3, config={})
    assert not leftover.exists()
    assert temp_files(path.parent) == []
    assert_is(path, new, epoch=3)
    atomic_write_bytes(tmp_path / "x.bin", b"1")
    assert (tmp_path / "x.bin").read_bytes() == b"1"


def test_a_crash_while_saving_mid_training_keeps_the_last_good_checkpoints(workspace, tmp_path,
                                                                             monkeypatch, capsys):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=8, size=32, names=CLASSES)
    config = TrainConfig(dataset=str(folder), weights="none", fine_tune=False, augmentation="none",
                         epochs=3, batch_size=4, learning_rate=1e-3, image_size=32, patience=5,
                         device="cpu")
    store = RunStore(workspace)
    run_id = create_run(config, workspace, store)
    run_dir = workspace.run_dir(run_id)
    real_replace, saves = os.replace, []

    def replace(src, dst):
        if str(dst).endswith("last.pt"):
            saves.append(dst)
            if len(saves) == 2:  # the end of epoch 2
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(os, "replace", replace)
        assert execute_run(run_id, config, workspace, store) == "failed"

    record = store.get_run(run_id)
    assert record.status == "failed" and "the disk is full" in record.error  # in plain words (issue 18)
    loaded, meta = load_checkpoint(run_dir / "best.pt")
    assert meta["epoch"] in (1, 2) and meta["classes"] == CLASSES
    last = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)
    assert last["epoch"] == 1  # epoch 2's state never replaced it
    assert temp_files(run_dir) == []

    # The run continues from the intact epoch-1 state.
    assert main(["resume", str(run_id), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed" and out["epoch_ended"] == 3 and out["test_acc"] is not None
    assert [e["epoch"] for e in store.epochs(run_id)] == [1, 2, 3]
    store.close()
