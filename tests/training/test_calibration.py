"""Temperature scaling: fitted on validation logits, it makes an over-confident model honest."""
from __future__ import annotations

import numpy as np
import torch

from resnet_core.results.calibration import calibration_report, expected_calibration_error, softmax
from resnet_core.runs.predictions import RunPredictions
from resnet_core.training.calibration import fit_temperature, read_temperature, write_calibration


def overconfident_logits(n: int, seed: int, classes: int = 4, scale: float = 4.0):
    """A calibrated model's logits (labels drawn from its own probabilities) multiplied by `scale`:
    the same winners, but far surer than it is right."""
    g = torch.Generator().manual_seed(seed)
    honest = torch.randn(n, classes, generator=g) * 1.5
    true = torch.multinomial(honest.softmax(1), 1, generator=g)[:, 0]
    return honest * scale, true


def test_temperature_lowers_ece_on_an_overconfident_model_and_keeps_accuracy():
    val_logits, val_true = overconfident_logits(600, seed=1)
    test_logits, test_true = overconfident_logits(1000, seed=2)
    t = fit_temperature(val_logits, val_true)
    assert 3 < t < 5  # undoes the ×4 over-confidence
    report = calibration_report(RunPredictions(
        test_paths=np.array([f"{i}.png" for i in range(1000)]), test_true=test_true.numpy(),
        test_logits=test_logits.numpy(), val_true=val_true.numpy(), val_logits=val_logits.numpy(),
        temperature=t))
    assert report.ece_before > 0.2
    assert report.ece_after < 0.05 and report.ece_after < report.ece_before / 4
    before = softmax(test_logits.numpy()).argmax(1)
    assert report.accuracy == (before == test_true.numpy()).mean()  # the same winners
    assert abs(sum(b.count for b in report.bins_after) - 1000) == 0


def test_a_calibrated_model_keeps_a_temperature_near_one():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2000, 3, generator=g) * 2
    true = torch.multinomial(logits.softmax(1), 1, generator=g)[:, 0]  # labels drawn from its own beliefs
    assert 0.85 < fit_temperature(logits, true) < 1.15
    assert expected_calibration_error(softmax(logits.numpy()), true.numpy()) < 0.05


def test_no_validation_images_leave_the_model_as_it_is(tmp_path):
    assert fit_temperature(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)) == 1.0
    assert read_temperature(tmp_path) == 1.0  # no calibration.json
    write_calibration(tmp_path, 1.7, val_images=12)
    assert read_temperature(tmp_path) == 1.7
    (tmp_path / "calibration.json").write_text("{broken", encoding="utf-8")
    assert read_temperature(tmp_path) == 1.0
