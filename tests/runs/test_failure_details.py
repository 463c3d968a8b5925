"""Nothing is lost about a failure: the full traceback goes to the run's error.log and the server log,
the stored message is short, and a bug is never presented as the user's mistake."""
from __future__ import annotations

import logging

import pytest

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.runs.store import RunStore
from resnet_core.training import engine
from resnet_core.training.callbacks import TrainingDiverged

TRAIN = ["--epochs", "1", "--image-size", "32", "--batch-size", "4", "--weights", "none",
         "--augment", "none", "--device", "cpu"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


@pytest.fixture
def folder(tmp_path):
    return make_image_folder(tmp_path / "pets", num_classes=2, per_class=8, size=32)


def _buggy_epoch(*args, **kwargs):
    return _deep_inside_the_engine()


def _deep_inside_the_engine():
    raise ValueError("operands could not be broadcast together with shapes (4,) (3,)")


def _run(workspace, folder):
    store = RunStore(workspace)
    config = TrainConfig(dataset=str(folder), weights="none", image_size=32, epochs=1, batch_size=4,
                         augmentation="none", device="cpu")
    run_id = create_run(config, workspace, store)
    return store, run_id, execute_run(run_id, config, workspace, store)


def test_a_bug_keeps_its_traceback_and_is_not_called_the_users_mistake(workspace, folder, monkeypatch,
                                                                      caplog):
    monkeypatch.setattr(engine, "train_one_epoch", _buggy_epoch)
    with caplog.at_level(logging.ERROR, logger="resnet_pilot"):
        store, run_id, status = _run(workspace, folder)
    assert status == "failed"
    record = store.get_run(run_id)
    # The short message says it is an internal error, names the exception, and blames nobody's data.
    assert "internal error" in record.error and "ValueError" in record.error
    assert "not caused by your data or settings" in record.error
    assert "Traceback" not in record.error
    # The full traceback, down to the frame that raised, is in the run folder...
    log_file = workspace.run_dir(run_id) / "error.log"
    details = log_file.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in details and "_deep_inside_the_engine" in details
    # ...and in the server log.
    logged = [r for r in caplog.records if r.exc_info and str(run_id) in r.getMessage()]
    assert logged and "_deep_inside_the_engine" in caplog.text


def test_a_users_problem_keeps_its_message_and_its_traceback(workspace, folder, monkeypatch):
    def diverge(*args, **kwargs):
        raise TrainingDiverged("the loss became nan in epoch 1: try a lower learning rate")

    monkeypatch.setattr(engine, "train_one_epoch", diverge)
    store, run_id, status = _run(workspace, folder)
    assert status == "failed"
    assert store.get_run(run_id).error == "the loss became nan in epoch 1: try a lower learning rate"
    assert "diverge" in (workspace.run_dir(run_id) / "error.log").read_text(encoding="utf-8")


def test_cli_prints_the_short_message_and_the_traceback_only_with_debug(workspace, folder, monkeypatch,
                                                                        capsys):
    monkeypatch.setattr(engine, "train_one_epoch", _buggy_epoch)
    code = main(["train", str(folder), *TRAIN])
    err = capsys.readouterr().err
    assert code == 1
    assert "internal error" in err and "error.log" in err
    assert "Traceback" not in err and "_deep_inside_the_engine" not in err

    code = main(["train", str(folder), *TRAIN, "--debug"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback (most recent call last)" in err and "_deep_inside_the_engine" in err
