"""`predict` says whether its probabilities are calibrated: in the text and in the JSON."""
from __future__ import annotations

import json

import pytest
import torch

from resnet_core.cli import main
from resnet_core.data.imageio import load_uint8, model_input
from resnet_core.training.calibration import write_calibration


@pytest.fixture
def image(image_folder):
    return sorted(image_folder.rglob("*.png"))[0]


def test_a_calibrated_run_says_so_and_gives_the_temperature(untrained_run, image, capsys):
    folder, model = untrained_run
    write_calibration(folder, 1.8, val_images=30)
    assert main(["predict", "--run", "7", str(image), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["calibrated"] is True and out["temperature"] == 1.8
    with torch.no_grad():  # and the probabilities are the calibrated ones
        expected = torch.softmax(model(model_input(load_uint8(image, 32)[None])) / 1.8, 1)[0]
    top = out["predictions"][0]["predictions"]
    assert [p["probability"] for p in top] == pytest.approx(sorted(expected.tolist(), reverse=True), abs=1e-5)

    assert main(["predict", "--run", "7", str(image)]) == 0
    assert "Probabilities calibrated on the validation split (temperature 1.80)" in capsys.readouterr().out


def test_a_run_without_a_temperature_says_its_probabilities_are_not_calibrated(untrained_run, image, capsys):
    assert main(["predict", "--run", "7", str(image), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["calibrated"] is False and out["temperature"] == 1.0

    assert main(["predict", "--run", "7", str(image)]) == 0
    text = capsys.readouterr().out
    assert "not calibrated: this run has no fitted temperature" in text
    assert "calibrated on the validation split" not in text
