"""Five-crop test-time augmentation: the crops as torchvision takes them, and its gain measured on the
run's own test split (consistent with the run's test score and with the stored flip measurement)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import torchvision.transforms.functional as TF

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.data.registry import register_folder
from resnet_core.results.predict import FIVE_CROP_ZOOM, load_predictor
from resnet_core.results.tta import flip_gain
from resnet_core.results.tta_measure import GAIN_NAME
from resnet_core.runs.predictions import load_predictions
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.runs.store import RunStore


@pytest.fixture
def trained(image_folder, workspace, offline_torch_home):
    info = register_folder(image_folder, workspace)
    store = RunStore(workspace)
    config = TrainConfig(dataset=info.name, weights="none", fine_tune=True, augmentation="none", epochs=1,
                         batch_size=8, learning_rate=1e-3, image_size=32)
    run_id = create_run(config, workspace, store)
    assert execute_run(run_id, config, workspace, store) == "completed"
    record = store.get_run(run_id)
    store.close()
    return record, workspace


def test_five_crops_average_torchvisions_corner_and_centre_crops(trained):
    record, workspace = trained
    predictor = load_predictor(workspace.run_dir(record.id))
    pixels = predictor.pixels(sorted(Path(record.dataset_root).rglob("*.png"))[0])[None]
    big = round(32 * FIVE_CROP_ZOOM)
    enlarged = torch.nn.functional.interpolate(pixels.float(), size=(big, big), mode="bilinear",
                                               align_corners=False).round().clamp(0, 255).to(torch.uint8)
    crops = TF.five_crop(enlarged, [32, 32])
    expected = sum(predictor.probabilities(c.contiguous()) for c in crops) / 5
    assert torch.allclose(predictor.five_crop_probabilities(pixels), expected, atol=1e-6)
    # It changes the answer; compared as log-probabilities, since a confident model puts ~1.0 on its
    # top class either way and the difference lies in the small ones.
    assert not torch.allclose(expected.log(), predictor.probabilities(pixels).log(), atol=1e-3)


def test_predict_with_five_crops_reports_the_gain_measured_on_the_test_split(trained, capsys):
    record, workspace = trained
    image = sorted(Path(record.dataset_root).rglob("*.png"))[0]
    assert main(["predict", "--run", str(record.id), str(image), "--tta", "five-crop", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tta"] == "five-crop" and out["tta_gain_note"] is None
    top = out["predictions"][0]["predictions"]
    assert 0 < sum(p["probability"] for p in top) <= 1.0001
    gain = out["tta_gain"]
    assert gain["test_images"] == record.num_test
    # Measured on the same images the run was scored on: without augmentation it is the run's test
    # accuracy, and the flip matches what the mirrored test logits kept at training time say.
    assert gain["accuracy"]["none"] == pytest.approx(record.test_acc)
    assert gain["accuracy"]["flip"] == pytest.approx(flip_gain(load_predictions(workspace.run_dir(record.id))).flipped)
    assert 0 <= gain["accuracy"]["five-crop"] <= 1
    print(f"five-crop on {gain['test_images']} test images: {gain['accuracy']}")
    assert (workspace.run_dir(record.id) / GAIN_NAME).is_file()  # measured once, kept

    assert main(["predict", "--run", str(record.id), str(image), "--tta", "five-crop"]) == 0
    assert "five-crop on the run's" in capsys.readouterr().out


def test_the_gain_cannot_be_measured_without_the_test_images_and_says_so(trained, capsys):
    record, workspace = trained
    image = workspace.root.parent / "one.png"
    source = sorted(Path(record.dataset_root).rglob("*.png"))[0]
    shutil.copy(source, image)
    shutil.rmtree(record.dataset_root)
    assert main(["predict", "--run", str(record.id), str(image), "--tta", "five-crop", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tta_gain"] is None and "no longer in" in out["tta_gain_note"]
    assert out["predictions"][0]["predictions"]
