"""A scored run keeps its per-image test and validation outputs in its folder (predictions.npz)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from resnet_core.config import TrainConfig
from resnet_core.data.synthetic import make_image_folder
from resnet_core.results.predict import load_predictor
from resnet_core.results.tta import flip_gain
from resnet_core.runs.predictions import PREDICTIONS_NAME, load_predictions
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.runs.store import RunStore
from resnet_core.training.calibration import fit_temperature, read_temperature


@pytest.fixture
def scored_run(workspace, tmp_path, offline_torch_home, monkeypatch):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")
    folder = make_image_folder(tmp_path / "imgs", num_classes=3, per_class=12, size=32)
    config = TrainConfig(dataset=str(folder), weights="none", image_size=32, epochs=2, batch_size=8,
                         learning_rate=1e-3, augmentation="none", device="cpu")
    store = RunStore(workspace)
    run_id = create_run(config, workspace, store)
    assert execute_run(run_id, config, workspace, store) == "completed"
    yield store.get_run(run_id), workspace.run_dir(run_id)
    store.close()


def test_the_test_split_predictions_are_stored_and_agree_with_the_score(scored_run):
    record, folder = scored_run
    p = load_predictions(folder)
    assert (folder / PREDICTIONS_NAME).stat().st_size < 20_000  # compact
    assert len(p.test_true) == record.num_test == record.final_metrics["test_images"]
    assert p.test_logits.shape == (record.num_test, 3) and p.val_logits.shape == (record.num_val, 3)
    assert np.isclose(p.test_correct.mean(), record.test_acc)
    wrong = {m["path"] for m in record.final_metrics["misclassified"]}
    assert wrong == set(p.test_paths[~p.test_correct])


def test_a_scored_run_is_calibrated_on_its_validation_split(scored_run):
    record, folder = scored_run
    p = load_predictions(folder)
    t = read_temperature(folder)
    assert t == p.temperature == record.final_metrics["temperature"]
    assert t == fit_temperature(torch.from_numpy(p.val_logits), torch.from_numpy(p.val_true))
    assert load_predictor(folder).temperature == t


def test_the_mirrored_test_images_are_scored_so_the_flip_gain_is_measured(scored_run):
    record, folder = scored_run
    p = load_predictions(folder)
    assert p.test_logits_mirrored.shape == p.test_logits.shape
    assert not np.allclose(p.test_logits_mirrored, p.test_logits)  # really other inputs
    gain = flip_gain(p)
    assert gain.plain == pytest.approx(record.test_acc) and 0 <= gain.flipped <= 1
    assert gain.test_images == record.num_test
