"""`train DIR --devices N`: one run over N processes (torchrun, Gloo on the CPU), from the command line."""
from __future__ import annotations

import json

import pytest

from resnet_core.cli import main
from resnet_core.data.synthetic import make_image_folder


@pytest.fixture(autouse=True)
def _environment(monkeypatch, workspace, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_train_over_two_processes_states_the_global_batch_and_stores_one_run(tmp_path, capsys, workspace):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=8, size=32)
    code = main(["train", str(folder), "--devices", "2", "--device", "cpu", "--weights", "none",
                 "--freeze-backbone", "--augment", "none", "--epochs", "1", "--batch-size", "4",
                 "--image-size", "32", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    assert out["status"] == "completed" and out["config"]["devices"] == 2
    assert "2 devices, batch 4 per device (8 global)" in captured.err
    assert "linear scaling rule" in captured.err
    assert out["test_acc"] is not None
    assert not (workspace.run_dir(out["run_id"]) / "last.pt").exists()  # rank 0 finished it as usual


def test_sync_batchnorm_on_cpu_processes_is_refused_before_any_run_exists(tmp_path, capsys, workspace):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=4, size=32)
    code = main(["train", str(folder), "--devices", "2", "--device", "cpu", "--sync-batchnorm"])
    err = capsys.readouterr().err
    assert code != 0
    assert "SyncBatchNorm needs GPUs" in err and "Traceback" not in err
    assert not workspace.runs_dir.exists() or not any(workspace.runs_dir.iterdir())


def test_prepare_only_stores_the_run_decodes_its_images_and_prints_the_torchrun_command(tmp_path, capsys,
                                                                                         workspace):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=4, size=32)
    code = main(["train", str(folder), "--devices", "4", "--device", "cpu", "--image-size", "32",
                 "--prepare-only", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "queued" and out["devices"] == 4
    assert "--rdzv-backend c10d" in out["command"] and f"--run-id {out['run_id']}" in out["command"]
    assert "-m resnet_core.runs.ddp_worker" in out["command"]
    assert any(workspace.cache_dir.glob("*.u8"))  # the ranks only map it
