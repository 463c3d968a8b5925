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


# ---- running out of memory ---------------------------------------------------------------------

def _out_of_memory():
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_mid_epoch_applies_no_batch_twice(workspace, tmp_path, monkeypatch):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=16, size=32)
    cfg, data = _data(workspace, folder, epochs=1, batch_size=4, augmentation="light")
    real_batch_input = engine._batch_input
    training_batches = []
    trained_on = []

    def batch_input(pixels, idx, speed, augmentation, gen):
        if gen is not None:  # a training batch (evaluation passes no generator)
            training_batches.append(len(idx))
            if len(training_batches) == 3:
                raise _out_of_memory()  # the third batch does not fit: two have been applied
            trained_on.extend(idx.tolist())
        return real_batch_input(pixels, idx, speed, augmentation, gen)

    monkeypatch.setattr(engine, "_batch_input", batch_input)
    result = fit(cfg, data)
    assert result.status == "completed" and result.batch_size == 2
    assert sorted(trained_on) == sorted(data.train_idx.tolist())  # every training image once, none twice
    note = next(n for n in result.notes if "Out of memory at batch size 4" in n)
    assert "batch size 2" in note and "image 9 of" in note


@pytest.mark.parametrize("fine_tune", [True, False])  # False: the frozen backbone's features computed once
def test_out_of_memory_while_evaluating_halves_the_evaluation_batch(workspace, tmp_path, monkeypatch, fine_tune):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=16, size=32)
    cfg, data = _data(workspace, folder, epochs=2, fine_tune=fine_tune)
    real_batch_input = engine._batch_input
    evaluated = []

    def batch_input(pixels, idx, speed, augmentation, gen):
        if gen is None:  # an evaluation batch
            if len(idx) > 2:
                raise _out_of_memory()
            evaluated.append(len(idx))
        return real_batch_input(pixels, idx, speed, augmentation, gen)

    monkeypatch.setattr(engine, "_batch_input", batch_input)
    result = fit(cfg, data)
    assert result.status == "completed"
    assert result.val_loss is not None and result.test_acc is not None
    assert evaluated and max(evaluated) <= 2
    assert any("Out of memory while evaluating" in n and "batches of 2" in n for n in result.notes), result.notes


# ---- --weights auto after the network went away -------------------------------------------------

def test_auto_weights_fall_back_to_random_when_the_download_fails_after_a_positive_probe(
        workspace, tmp_path, monkeypatch):
    import urllib.error

    from resnet_core.runs.runner import create_run, execute_run
    from resnet_core.runs.store import RunStore
    from resnet_core.training import weights

    monkeypatch.delenv("RESNET_PILOT_OFFLINE")
    monkeypatch.setattr(weights, "_probe_result", True)  # the network answered earlier in this process

    def offline_now(*args, **kwargs):
        raise urllib.error.URLError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline_now)
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=8, size=32)
    store = RunStore(workspace)
    cfg = _config(folder, weights="auto", epochs=1)
    run_id = create_run(cfg, workspace, store)
    assert execute_run(run_id, cfg, workspace, store) == "completed"
    record = store.get_run(run_id)
    assert record.status == "completed" and record.test_acc is not None
    assert any("could not be downloaded" in n and "random initialisation" in n for n in record.notes), record.notes
    # The failed download is remembered: the next run does not wait for it again.
    assert weights.resolve_weights("auto", "resnet18")[0] == "none"


# ---- the reported test score is best.pt's ------------------------------------------------------

def test_a_run_that_stopped_past_its_best_epoch_reports_the_test_score_of_best_pt(workspace, tmp_path, monkeypatch):
    import random
    import shutil

    from resnet_core.training.checkpoints import load_checkpoint

    monkeypatch.setenv("RESNET_PILOT_CPU_BF16", "0")  # float32 throughout, so both passes compute alike
    # Random labels: the network memorises the training images and validation loss climbs.
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=24, size=32)
    files = sorted(folder.rglob("*.png"))
    random.Random(0).shuffle(files)
    for i, f in enumerate(files):
        shutil.move(f, folder / f"class_{i % 2}" / f"r_{f.name}")
    cfg, data = _data(workspace, folder, epochs=25, patience=2, learning_rate=3e-3)
    result = fit(cfg, data, checkpoint_dir=tmp_path / "run")
    assert result.best_epoch < result.epoch_ended

    model, meta = load_checkpoint(tmp_path / "run" / "best.pt")
    assert meta["epoch"] == result.best_epoch
    speed = engine.speed_settings(torch.device("cpu"), cfg.batch_size)
    test = engine.evaluate(model, data.pixels, data.test_idx, data.labels[data.test_idx], speed)
    assert result.test_loss == pytest.approx(test["loss"], rel=1e-6, abs=1e-7)
    assert result.test_acc == test["acc"]
