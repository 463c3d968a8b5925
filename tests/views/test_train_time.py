"""The Train page's time estimate: from a rate measured earlier only, for the training images the run uses."""
from __future__ import annotations

from resnet_core.advice import estimate
from resnet_core.config import TrainConfig
from resnet_core.views.study_plan_view import SplitCounts
from resnet_core.views.train_time import form_config, time_line, train_time

COUNTS = SplitCounts(train=700, val=150, test=150, classes=5)


def test_a_subset_run_is_estimated_over_its_subset_and_a_short_run_reads_as_a_sentence():
    config = TrainConfig(dataset="d", epochs=1, eval_every=1, max_train_images=70)
    line = time_line(config, COUNTS, images_per_s=1000.0)
    assert line.startswith("Under a minute on this machine, from the measured speed (1,000 images/s)")
    assert "over 70 training images" in line


def test_nothing_measured_means_no_estimate_and_no_probe(monkeypatch):
    monkeypatch.setattr(estimate, "_cache", {})
    monkeypatch.setattr(estimate, "_measure", lambda *a: (_ for _ in ()).throw(AssertionError("probed")))
    shown = train_time(TrainConfig(dataset="d", device="cpu"), COUNTS)
    assert shown.ask_first and shown.line is None


def test_a_setting_out_of_range_gives_no_config_rather_than_an_error():
    values = {"model": "resnet18", "weights": "none", "fine_tune": True, "augmentation": "none", "epochs": 0,
              "batch_size": 8, "learning_rate": 1e-3, "patience": 2, "eval_every": 1, "image_size": 32,
              "seed": 0, "device": "cpu", "class_balance": "none", "devices": None}
    assert form_config(values, "d", None) is None
    assert form_config({**values, "epochs": 2}, "d", None).epochs == 2
