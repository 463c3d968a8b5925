"""The training engine from the outside: accuracy, early stopping, cancel, OOM, NaN, frozen backbone, resume."""
from __future__ import annotations

import random
import shutil

import pytest
import torch

from resnet_core.config import TrainConfig
from resnet_core.data.prepare import DataError, prepare_data
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.runs.store import RunStore
from resnet_core.training.callbacks import (
    EarlyStopping,
    FitState,
    FunctionCallback,
    StopTraining,
)
from resnet_core.training.checkpoints import load_checkpoint
from resnet_core.training.engine import fit
from resnet_core.training.models import build_model


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


def _config(folder, **kw) -> TrainConfig:
    base = dict(dataset=str(folder), model="resnet18", weights="none", image_size=32, epochs=3, batch_size=8,
                learning_rate=1e-3, augmentation="none", patience=3, seed=0, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def _data(workspace, folder, **kw):
    cfg = _config(folder, **kw)
    return cfg, prepare_data(cfg, workspace)


def test_learnable_dataset_reaches_high_validation_accuracy(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=3, per_class=20, size=32)
    cfg, data = _data(workspace, folder, epochs=5, augmentation="light")
    result = fit(cfg, data)
    assert result.status == "completed"
    assert result.val_acc >= 0.8
    assert result.test_acc >= 0.7
    assert len(result.history) == 5
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < first["train_loss"]
    for row in result.history:
        assert {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s",
                "images_per_s"} <= set(row)
        assert row["images_per_s"] > 0
    # The cosine schedule decays the learning rate.
    assert result.history[-1]["lr"] < result.history[0]["lr"] <= cfg.learning_rate
    report = result.test_report
    assert len(report["confusion"]) == 3 and sum(map(sum, report["confusion"])) == report["test_images"]
    assert {c["class"] for c in report["per_class"]} == {"class_0", "class_1", "class_2"}


def test_constant_schedule_keeps_the_starting_learning_rate(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=6, size=32)
    cfg, data = _data(workspace, folder, epochs=2, schedule="constant", augmentation="none")
    result = fit(cfg, data)
    assert [row["lr"] for row in result.history] == [cfg.learning_rate] * 2


def test_early_stopping_rule_counts_evaluations_since_best():
    cfg = TrainConfig(dataset="x", patience=2)
    state = FitState(config=cfg, classes=["a", "b"], num_train=1, num_val=1, num_test=1, device="cpu",
                     batch_size=1)
    stopper = EarlyStopping(2)
    losses = [1.0, 0.8, 0.9, None, 0.85]  # None: an epoch without evaluation does not count
    for epoch, loss in enumerate(losses, start=1):
        state.epoch = epoch
        state.history.append({"epoch": epoch, "val_loss": loss})
        if loss is not None and loss < state.best_val_loss:
            state.best_val_loss, state.best_epoch = loss, epoch
        if epoch < 5:
            stopper.after_epoch(state)
    with pytest.raises(StopTraining, match="not improved for 2 evaluation"):
        stopper.after_epoch(state)


def test_early_stopping_ends_a_run_whose_validation_loss_rises(workspace, tmp_path):
    # Random labels: the network memorises the training images and validation loss climbs.
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=24, size=32)
    files = sorted(folder.rglob("*.png"))
    random.Random(0).shuffle(files)
    for i, f in enumerate(files):
        target = folder / f"class_{i % 2}" / f"r_{f.name}"
        shutil.move(f, target)
    cfg, data = _data(workspace, folder, epochs=25, patience=2, learning_rate=3e-3)
    result = fit(cfg, data)
    assert result.stopped_early
    assert result.epoch_ended < 25
    assert "validation loss had not improved" in result.stop_reason
    assert result.epoch_ended == result.best_epoch + 2
    # The reported validation figures are those of the best epoch, not the last.
    best = next(h for h in result.history if h["epoch"] == result.best_epoch)
    assert result.val_loss == best["val_loss"] == min(h["val_loss"] for h in result.history)


def test_cancel_stops_mid_epoch_and_keeps_what_was_learned(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=3, per_class=16, size=32)
    store = RunStore(workspace)
    cfg = _config(folder, epochs=4, batch_size=4)
    run_id = create_run(cfg, workspace, store)
    event = __import__("threading").Event()
    seen = []

    def after_batch(state):
        seen.append((state.epoch, state.batch))
        if state.epoch == 2 and state.batch == 2:
            event.set()

    status = execute_run(run_id, cfg, workspace, store, callbacks=[FunctionCallback(after_batch=after_batch)],
                         cancel_event=event)
    record = store.get_run(run_id)
    assert status == record.status == "cancelled"
    assert seen[-1] == (2, 2)  # stopped between batches, in the middle of epoch 2
    assert [e["epoch"] for e in store.epochs(run_id)] == [1]
    assert record.test_acc is not None  # scored with the best checkpoint from epoch 1
    assert (workspace.run_dir(run_id) / "best.pt").exists()


def test_simulated_out_of_memory_halves_the_batch_and_finishes(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=16, size=32)
    cfg, data = _data(workspace, folder, epochs=2, batch_size=16)
    raised = []

    def after_batch(state):
        if state.batch_size == 16 and not raised:
            raised.append(state.epoch)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    result = fit(cfg, data, callbacks=[FunctionCallback(after_batch=after_batch)])
    assert raised == [1]
    assert result.status == "completed" and result.batch_size == 8
    assert any("Out of memory at batch size 16" in n and "batch size 8" in n for n in result.notes)
    assert len(result.history) == 2


def test_nan_loss_stops_the_run_with_a_clear_message(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=12, size=32)
    store = RunStore(workspace)
    cfg = _config(folder, epochs=3)

    def poison(state):
        if state.epoch == 1 and state.batch == 1:
            with torch.no_grad():
                state.model.head.weight.fill_(float("nan"))

    run_id = create_run(cfg, workspace, store)
    status = execute_run(run_id, cfg, workspace, store, callbacks=[FunctionCallback(after_batch=poison)])
    record = store.get_run(run_id)
    assert status == record.status == "failed"
    assert "diverged" in record.error and "lower learning rate" in record.error
    assert "nan" in record.error.lower()


@pytest.mark.parametrize("augmentation", ["none", "standard"])
def test_frozen_backbone_really_stays_frozen(workspace, tmp_path, augmentation):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=12, size=32)
    cfg, data = _data(workspace, folder, epochs=2, fine_tune=False, augmentation=augmentation)
    initial = build_model("resnet18", 2, weights="none", generator=torch.Generator().manual_seed(cfg.seed))
    result = fit(cfg, data, checkpoint_dir=tmp_path / "run")
    trained, _ = load_checkpoint(tmp_path / "run" / "best.pt")
    before, after = initial.state_dict(), trained.state_dict()
    backbone_keys = [k for k in before if k.startswith("backbone.")]
    assert backbone_keys
    for k in backbone_keys:  # weights and BatchNorm running statistics alike
        assert torch.equal(before[k], after[k]), k
    assert not torch.equal(before["head.weight"], after["head.weight"])
    if augmentation == "none":
        assert any("features computed once" in n for n in result.notes)


def test_resume_continues_from_the_last_saved_epoch(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=12, size=32)
    cfg, data = _data(workspace, folder, epochs=4)
    run_dir = tmp_path / "run"

    def stop_after_two(state):
        if state.epoch == 2:
            raise KeyboardInterrupt  # stands in for the process dying after epoch 2 was saved

    with pytest.raises(KeyboardInterrupt):
        fit(cfg, data, callbacks=[FunctionCallback(after_epoch=stop_after_two)], checkpoint_dir=run_dir)
    assert (run_dir / "last.pt").exists() and (run_dir / "best.pt").exists()
    seen = []
    result = fit(cfg, data, callbacks=[FunctionCallback(before_epoch=lambda s: seen.append(s.epoch))],
                 checkpoint_dir=run_dir, resume=True)
    assert seen == [3, 4]
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    assert result.test_acc is not None and any("Resumed after epoch 2" in n for n in result.notes)


def test_resume_without_a_saved_epoch_is_refused(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=6, size=32)
    cfg, data = _data(workspace, folder)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        fit(cfg, data, checkpoint_dir=tmp_path / "empty", resume=True)


def test_one_class_is_refused_with_a_message(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=1, per_class=10, size=32)
    with pytest.raises(DataError, match="at least 2"):
        prepare_data(_config(folder), workspace)


def test_training_subset_is_stratified_and_sized(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=30, size=32)
    cfg, data = _data(workspace, folder, max_train_images=10)
    assert len(data.train_idx) == 10
    assert sorted(data.labels[data.train_idx].tolist()) == [0] * 5 + [1] * 5
    _, full = _data(workspace, folder)
    assert torch.equal(full.test_idx, data.test_idx)  # every size is scored on the same test images
