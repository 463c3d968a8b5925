"""A damaged run database loses nothing: `repair` sets it aside and rebuilds the registry from the run
folders (settings, per-epoch metrics, final scores, status, notes); every command says the same
plain thing about the database."""
from __future__ import annotations

import json

import pytest

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.data.synthetic import make_image_folder
from resnet_core.fsutil import atomic_write_json
from resnet_core.runs.store import RUN_FILE, RunStore


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


def _config(**kw) -> TrainConfig:
    return TrainConfig(**{"dataset": "pets", "weights": "none", "image_size": 32, "epochs": 2, **kw})


def make_runs(workspace) -> dict[int, dict]:
    """Three runs as training leaves them, and the registry's view of them."""
    store = RunStore(workspace)
    done = store.create_run(_config(), "/data/pets", 40, 28, 6, 6, name="baseline", note="first try")
    store.mark_running(done)
    store.add_epoch(done, {"epoch": 1, "train_loss": 0.9, "train_acc": 0.5, "val_loss": 0.8, "val_acc": 0.6,
                           "lr": 1e-3, "epoch_time_s": 1.5, "images_per_s": 20.0})
    store.add_epoch(done, {"epoch": 2, "train_loss": 0.5, "train_acc": 0.8, "val_loss": 0.4, "val_acc": 0.9,
                           "lr": 1e-5, "epoch_time_s": 1.4, "images_per_s": 21.0})
    store.add_note(done, "16 images is below the card's minimum")
    store.finish_run(done, "completed", {"val_loss": 0.4, "val_acc": 0.9, "test_acc": 0.85, "train_time_s": 3.0,
                                         "epoch_ended": 2, "best_epoch": 2, "stopped_early": False,
                                         "final_metrics": {"test_loss": 0.45, "batch_size": 8}})
    failed = store.create_run(_config(model="resnet50"), "/data/pets", 40, 28, 6, 6)
    store.mark_running(failed)
    store.add_epoch(failed, {"epoch": 1, "train_loss": 1.2, "train_acc": 0.4})
    store.finish_run(failed, "failed", error="the disk is full: 3 MB free in /ws")
    # A folder written before run folders kept run.json: its config and its final metrics.
    old = store.create_run(_config(augmentation="none", fine_tune=False), "/data/pets", 40, 28, 6, 6)
    store.finish_run(old, "completed", {"test_acc": 0.7})
    (workspace.run_dir(old) / RUN_FILE).unlink()
    atomic_write_json(workspace.run_dir(old) / "metrics.json", {
        "history": [{"epoch": 1, "train_loss": 0.7, "train_acc": 0.6, "val_loss": 0.6, "val_acc": 0.7}],
        "val_loss": 0.6, "val_acc": 0.7, "test_acc": 0.7, "train_time_s": 2.0, "epoch_ended": 1,
        "best_epoch": 1, "stopped_early": False, "final_metrics": {"test_loss": 0.61}})
    before = {r.id: {"record": r, "epochs": store.epochs(r.id)} for r in store.list_runs()}
    store.close()
    return before


def test_repair_rebuilds_the_registry_from_the_run_folders(workspace, tmp_path, capsys):
    before = make_runs(workspace)
    folder = make_image_folder(tmp_path / "cats", num_classes=2, per_class=4, size=32)
    (workspace.runs_dir / "99").mkdir()  # a stray folder with nothing readable
    (workspace.runs_dir / "99" / "config.json").write_text("{broken")
    workspace.db_path.write_bytes(b"overwritten by something else" * 200)

    # Every command says the same plain thing, and how to fix it.
    assert main(["runs", "--json"]) == 2
    err = capsys.readouterr().err
    assert "resnet_core repair" in err and "unexpected" not in err and "StoreError" not in err
    assert main(["train", str(folder), "--weights", "none", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "resnet_core repair" in err and "unexpected" not in err and "StoreError" not in err

    assert main(["repair"]) == 0
    out = capsys.readouterr().out
    assert "set aside as runs.sqlite.damaged-" in out
    assert "Recovered 3 runs" in out and "1 failed" in out and "2 completed" in out
    assert "runs/99" in out
    aside = list(workspace.root.glob("runs.sqlite.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"overwritten")

    store = RunStore(workspace)
    after = {r.id: r for r in store.list_runs()}
    assert set(after) == set(before)
    for run_id, was in before.items():
        now, old = after[run_id], was["record"]
        assert now.config == old.config and now.status == old.status and now.dataset == old.dataset
        assert (now.test_acc, now.error) == (old.test_acc, old.error)
        assert (now.name, now.user_note) == (old.name, old.user_note)  # the user's label comes back too
        if run_id != max(before):  # the old folder's metrics.json knows more than its row did
            assert (now.val_acc, now.best_epoch) == (old.val_acc, old.best_epoch)
        assert now.notes[:-1] == old.notes and "Recovered" in now.notes[-1]
    done, failed, old = sorted(before)
    assert store.epochs(done) == before[done]["epochs"]
    assert store.epochs(failed) == before[failed]["epochs"]
    assert after[done].final_metrics == {"test_loss": 0.45, "batch_size": 8}
    assert (after[done].name, after[done].user_note) == ("baseline", "first try")
    assert (after[done].num_images, after[done].dataset_root) == (40, "/data/pets")
    # The old folder: its metrics.json gives its epochs and scores.
    assert [e["epoch"] for e in store.epochs(old)] == [1] and after[old].test_acc == 0.7
    assert after[old].final_metrics == {"test_loss": 0.61}
    # New runs continue after the recovered ids.
    assert store.create_run(_config(), "/data/pets", 40, 28, 6, 6) == max(before) + 1
    store.close()

    # A second repair finds a sound database and changes nothing.
    assert main(["repair", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["moved_to"] is None and report["recovered"] == {}


def test_a_removed_database_is_rebuilt_too(workspace, tmp_path, capsys):
    before = make_runs(workspace)
    workspace.db_path.unlink()
    make_image_folder(tmp_path / "x", num_classes=2, per_class=2, size=32)
    assert RunStore(workspace).list_runs() == []  # a fresh database forgets every run...
    assert main(["repair"]) == 0  # ...until repair puts them back
    assert "Recovered 3 runs" in capsys.readouterr().out
    assert {r.id for r in RunStore(workspace).list_runs()} == set(before)
