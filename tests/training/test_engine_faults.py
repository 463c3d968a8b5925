"""The engine keeps its promises when something goes wrong or someone else is busy beside it."""
from __future__ import annotations

import threading

import pytest
import torch

from resnet_core.config import TrainConfig
from resnet_core.data.prepare import prepare_data
from resnet_core.data.synthetic import make_image_folder
from resnet_core.training import engine
from resnet_core.training.callbacks import CancelTraining, FunctionCallback
from resnet_core.training.engine import fit


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


def _config(folder, **kw) -> TrainConfig:
    base = dict(dataset=str(folder), model="resnet18", weights="none", image_size=32, epochs=2, batch_size=8,
                learning_rate=1e-3, augmentation="none", patience=3, seed=0, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def _data(workspace, folder, **kw):
    cfg = _config(folder, **kw)
    return cfg, prepare_data(cfg, workspace)


@pytest.fixture
def small(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=10, size=32)
    return _data(workspace, folder)


def _raise_at_second_batch(error):
    def after_batch(state):
        if state.batch == 2:
            raise error
    return after_batch


@pytest.mark.parametrize("error, outcome, reason", [
    (None, "completed", None),
    (CancelTraining("cancelled by the user"), "cancelled", "cancelled by the user"),
    (RuntimeError("the disk went away"), "failed", "RuntimeError: the disk went away"),
    (KeyboardInterrupt(), "interrupted", "KeyboardInterrupt"),
])
def test_after_fit_runs_whatever_happened_and_knows_the_outcome(small, tmp_path, error, outcome, reason):
    cfg, data = small
    seen = []
    ended_by_error = outcome in ("failed", "interrupted")
    events = dict(after_fit=lambda s: seen.append((s.outcome, s.error if ended_by_error else s.stop_reason)))
    if error is not None:
        events["after_batch"] = _raise_at_second_batch(error)
    if ended_by_error:
        with pytest.raises(type(error)):
            fit(cfg, data, callbacks=[FunctionCallback(**events)], checkpoint_dir=tmp_path / "run")
    else:
        fit(cfg, data, callbacks=[FunctionCallback(**events)], checkpoint_dir=tmp_path / "run")
    assert seen == [(outcome, reason)]


def test_a_failing_after_fit_does_not_hide_the_error_that_ended_training(small):
    cfg, data = small

    def broken_after_fit(state):
        raise ValueError("a callback bug")

    with pytest.raises(RuntimeError, match="the disk went away"):
        fit(cfg, data, callbacks=[FunctionCallback(after_batch=_raise_at_second_batch(RuntimeError("the disk went away")),
                                                   after_fit=broken_after_fit)])


# ---- same seed, same run, whatever other threads do with torch's global generator -----------------

def _seeded_run(cfg, data, run_dir):
    """What a run produced: its best weights, its per-epoch metrics (timings left out) and test scores."""
    result = fit(cfg, data, checkpoint_dir=run_dir)
    weights = torch.load(run_dir / "best.pt", weights_only=True)["model"]
    metrics = [{k: v for k, v in row.items() if k not in ("epoch_time_s", "images_per_s")}
               for row in result.history]
    return weights, metrics, (result.test_loss, result.test_acc)


def test_same_seed_same_run_while_another_thread_trains_and_the_estimate_probe_reseeds(
        workspace, tmp_path, monkeypatch):
    from resnet_core.advice import estimate

    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=10, size=32)
    cfg, data = _data(workspace, folder, augmentation="light")  # init, data order and augmentation all count
    alone = _seeded_run(cfg, data, tmp_path / "alone")

    # The time-estimate probe reseeds torch's global generator and draws from it in another thread,
    # exactly while this run builds its model ...
    monkeypatch.setattr(estimate, "_cache", {})
    real_build = engine.build_model

    def build_while_the_probe_runs(*args, **kwargs):
        probe = threading.Thread(target=estimate.probe_throughput, args=("resnet18", 4, 32, True, "cpu", 1))
        probe.start()
        probe.join()
        return real_build(*args, **kwargs)

    monkeypatch.setattr(engine, "build_model", build_while_the_probe_runs)
    # ... and another seeded training draws from it throughout.
    other_cfg, other_data = _data(workspace, folder, seed=7, augmentation="standard", epochs=3)
    other = threading.Thread(target=fit, args=(other_cfg, other_data))
    other.start()
    beside = _seeded_run(cfg, data, tmp_path / "beside")
    other.join()

    assert beside[1] == alone[1]
    assert beside[2] == alone[2]
    assert beside[0].keys() == alone[0].keys()
    for name, tensor in alone[0].items():
        assert torch.equal(beside[0][name], tensor), name
