"""A run that could never start is refused before it exists: a missing weights file or a device this
machine lacks gives the message and leaves no failed run behind."""
from __future__ import annotations

import pytest
import torch

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.jobs import JobManager
from resnet_core.runs.store import RunStore

TRAIN = ["--epochs", "1", "--image-size", "32", "--batch-size", "4", "--augment", "none"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


@pytest.fixture
def folder(tmp_path):
    return make_image_folder(tmp_path / "pets", num_classes=2, per_class=8, size=32)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def test_cli_refuses_a_missing_weights_file_before_a_run_exists(workspace, folder, tmp_path, capsys):
    missing = tmp_path / "my-weights.pt"
    code = main(["train", str(folder), *TRAIN, "--weights", str(missing), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert "my-weights.pt" in err and "not found" in err and "Traceback" not in err
    assert RunStore(workspace).list_runs() == []


def test_cli_refuses_cuda_on_a_machine_without_one_before_a_run_exists(workspace, folder, capsys, no_gpu):
    code = main(["train", str(folder), *TRAIN, "--weights", "none", "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2
    assert "cuda" in err and "no NVIDIA GPU" in err and "Traceback" not in err
    assert RunStore(workspace).list_runs() == []


def test_job_manager_refuses_both_before_a_run_exists(workspace, folder, tmp_path, no_gpu):
    store = RunStore(workspace)
    jobs = JobManager(workspace, store)
    base = dict(dataset=str(folder), image_size=32, epochs=1, batch_size=4, augmentation="none")
    try:
        with pytest.raises(ValueError, match="not found"):
            jobs.submit(TrainConfig(**base, weights="file", weights_path=str(tmp_path / "gone.pth"),
                                    device="cpu"))
        with pytest.raises(ValueError, match="no NVIDIA GPU"):
            jobs.submit(TrainConfig(**base, weights="none", device="cuda"))
    finally:
        jobs.shutdown()
    assert store.list_runs() == []
