"""When the engine writes its checkpoints: rarely enough not to dominate short epochs, never too late."""
from __future__ import annotations

import pytest
import torch

from resnet_core.config import TrainConfig
from resnet_core.data.prepare import prepare_data
from resnet_core.data.synthetic import make_image_folder
from resnet_core.training import engine
from resnet_core.training.callbacks import CancelTraining, FunctionCallback
from resnet_core.training.checkpoints import load_checkpoint


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


@pytest.fixture
def tiny(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=8, size=32)
    cfg = TrainConfig(dataset=str(folder), weights="none", fine_tune=False, augmentation="none", epochs=4,
                      batch_size=4, learning_rate=1e-2, image_size=32, patience=10, device="cpu")
    return cfg, prepare_data(cfg, workspace)


@pytest.fixture
def saved_epochs(monkeypatch):
    """The epochs whose resume state (last.pt) was written, in order."""
    saved: list[int] = []
    real = engine._save_training_state

    def spy(path, model, optimizer, state, best_state):
        saved.append(state.epoch)
        real(path, model, optimizer, state, best_state)

    monkeypatch.setattr(engine, "_save_training_state", spy)
    return saved


def test_short_epochs_write_the_first_and_the_last_epoch_only(tiny, tmp_path, monkeypatch, saved_epochs):
    monkeypatch.setattr(engine, "CHECKPOINT_INTERVAL_PER_WRITE_COST", 1e9)
    cfg, data = tiny
    result = engine.fit(cfg, data, checkpoint_dir=tmp_path / "run")
    assert saved_epochs == [1, 4]
    last = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=True)
    assert last["epoch"] == 4 and [h["epoch"] for h in last["history"]] == [1, 2, 3, 4]
    _, meta = load_checkpoint(tmp_path / "run" / "best.pt")
    assert meta["epoch"] == result.best_epoch


def test_without_throttling_every_epoch_is_written(tiny, tmp_path, monkeypatch, saved_epochs):
    monkeypatch.setattr(engine, "CHECKPOINT_INTERVAL_PER_WRITE_COST", 0)
    cfg, data = tiny
    engine.fit(cfg, data, checkpoint_dir=tmp_path / "run")
    assert saved_epochs == [1, 2, 3, 4]


def test_a_stop_between_epochs_writes_the_state_it_stopped_at(tiny, tmp_path, monkeypatch, saved_epochs):
    monkeypatch.setattr(engine, "CHECKPOINT_INTERVAL_PER_WRITE_COST", 1e9)
    cfg, data = tiny

    def die_after_three(state):
        if state.epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.fit(cfg, data, callbacks=[FunctionCallback(after_epoch=die_after_three)],
                   checkpoint_dir=tmp_path / "run")
    assert saved_epochs == [1, 3]
    resumed = engine.fit(cfg, data, checkpoint_dir=tmp_path / "run", resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]


def test_a_cancel_mid_epoch_keeps_the_best_weights_but_no_half_epoch_state(tiny, tmp_path, monkeypatch,
                                                                           saved_epochs):
    monkeypatch.setattr(engine, "CHECKPOINT_INTERVAL_PER_WRITE_COST", 1e9)
    cfg, data = tiny

    def cancel_in_epoch_three(state):
        if state.epoch == 3 and state.batch == 1:
            raise CancelTraining("stop")

    result = engine.fit(cfg, data, callbacks=[FunctionCallback(after_batch=cancel_in_epoch_three)],
                        checkpoint_dir=tmp_path / "run")
    assert result.status == "cancelled"
    assert saved_epochs == [1]  # epoch 2 was never due, and epoch 3's weights are half-trained
    _, meta = load_checkpoint(tmp_path / "run" / "best.pt")
    assert meta["epoch"] == result.best_epoch


def test_a_frozen_backbone_is_left_out_of_the_resume_state_and_checked_on_resume(tiny, tmp_path, monkeypatch):
    cfg, data = tiny
    run = tmp_path / "run"

    def stop_after_two(state):
        if state.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.fit(cfg, data, callbacks=[FunctionCallback(after_epoch=stop_after_two)], checkpoint_dir=run)
    last = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    assert last["model"] and not any(k.startswith("backbone.") for k in last["model"])
    assert not any(k.startswith("backbone.") for k in last["best_model"])
    assert (run / "last.pt").stat().st_size < 1_000_000 < (run / "best.pt").stat().st_size

    # Same starting weights (same seed): resumes, and the best checkpoint is complete.
    resumed = engine.fit(cfg, data, checkpoint_dir=run, resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    best, _ = load_checkpoint(run / "best.pt")
    assert any(k.startswith("backbone.") for k in best.state_dict())

    # Different starting weights (another seed builds another random backbone): refused with a reason.
    with pytest.raises(KeyboardInterrupt):
        engine.fit(cfg, data, callbacks=[FunctionCallback(after_epoch=stop_after_two)], checkpoint_dir=run)
    with pytest.raises(ValueError, match="frozen backbone changed"):
        engine.fit(cfg.replace(seed=1), data, checkpoint_dir=run, resume=True)
