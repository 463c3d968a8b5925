"""Training-time estimate: a real (tiny) throughput probe, and the arithmetic that scales it to a run."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from resnet_core.advice import estimate


def plan(epochs: int, eval_every: int = 1) -> SimpleNamespace:
    return SimpleNamespace(epochs=epochs, eval_every=eval_every)


def test_probe_measures_a_positive_rate_and_caches_it(monkeypatch):
    assert estimate.cached_throughput("resnet18", 4, 32, True, "cpu", steps=2) is None
    rate = estimate.probe_throughput("resnet18", 4, 32, True, "cpu", steps=2)
    assert rate > 0
    assert estimate.cached_throughput("resnet18", 4, 32, True, "cpu", steps=2) == rate

    def fail(*args, **kwargs):
        raise AssertionError("the second probe of the same setting must come from the cache")

    monkeypatch.setattr(estimate, "_measure", fail)
    assert estimate.probe_throughput("resnet18", 4, 32, True, "cpu", steps=2) == rate


def test_probe_with_frozen_backbone_runs(monkeypatch):
    assert estimate.probe_throughput("resnet18", 2, 32, False, "cpu", steps=1) > 0


@pytest.mark.parametrize("args", [("resnet34", 4, 32, True, "cpu"), ("resnet18", 4, 8, True, "cpu"),
                                  ("resnet18", 0, 32, True, "cpu")])
def test_probe_rejects_bad_settings(args):
    with pytest.raises(ValueError):
        estimate.probe_throughput(*args, steps=1)


def test_cpu_probe_caps_the_batch_by_pixels_and_gpu_keeps_it():
    assert estimate.probe_batch_size(64, "cpu") == 8  # 224 px: 8 images a step
    assert estimate.probe_batch_size(64, "cpu", image_size=64) == 24
    assert estimate.probe_batch_size(64, "cpu", image_size=32) == 64  # small images: the real batch
    assert estimate.probe_batch_size(512, "cpu", image_size=32) == 98
    assert estimate.probe_batch_size(4, "cpu") == 4
    assert estimate.probe_batch_size(1, "cpu") == 2  # BatchNorm needs two images
    assert estimate.probe_batch_size(64, "cuda") == 64


def test_only_small_images_are_probed_unasked_on_cpu():
    assert estimate.probe_is_cheap(32, "cpu")
    assert not estimate.probe_is_cheap(224, "cpu")
    assert estimate.probe_is_cheap(224, "cuda")


def test_estimate_scales_with_epochs_and_images():
    base = estimate.estimate_training_time(plan(10), num_train=700, num_val=150, images_per_s=100)
    assert base.seconds == pytest.approx(10 * 700 / 100 + 10 * 150 / 300)
    assert estimate.estimate_training_time(plan(20), 700, 150, 100).seconds == pytest.approx(2 * base.seconds)
    assert estimate.estimate_training_time(plan(10), 1400, 300, 100).seconds == pytest.approx(2 * base.seconds)
    assert estimate.estimate_training_time(plan(10), 700, 150, 200).seconds == pytest.approx(base.seconds / 2)


def test_estimate_counts_evaluations_and_the_test_pass():
    est = estimate.estimate_training_time(plan(5, eval_every=2), 100, 60, 10, num_test=30)
    assert est.evaluations == 3  # epochs 2, 4 and the last
    assert est.eval_images_per_s == pytest.approx(30)
    assert est.seconds == pytest.approx(5 * 100 / 10 + (3 * 60 + 30) / 30)
    measured = estimate.estimate_training_time(plan(5, eval_every=2), 100, 60, 10, eval_images_per_s=60)
    assert measured.eval_images_per_s == 60


def test_estimate_accepts_a_train_config():
    from resnet_core.config import TrainConfig

    config = TrainConfig(dataset="d", epochs=4, eval_every=1)
    assert estimate.estimate_training_time(config, 10, 0, 10).seconds == pytest.approx(4)


@pytest.mark.parametrize("rate", [0, -1, float("nan"), None])
def test_estimate_rejects_a_useless_rate(rate):
    with pytest.raises(ValueError):
        estimate.estimate_training_time(plan(1), 10, 10, rate)


def test_describe_says_time_and_measured_rate():
    text = estimate.estimate_training_time(plan(4), 180 * 60, 0, 180).describe()
    assert text == "about 4 min on this machine (measured: 180 images/s)"


def test_slow_rates_keep_a_decimal():
    assert estimate.format_rate(2.36) == "2.4"
    assert estimate.format_rate(1250.4) == "1,250"
    assert "measured: 2.4 images/s" in estimate.estimate_training_time(plan(1), 10, 0, 2.4).describe()


def test_split_counts_add_up_to_the_images():
    train, val, test = estimate.split_counts(1000)
    assert (train, val, test) == (700, 150, 150)
    assert sum(estimate.split_counts(7)) == 7


def test_eta_from_the_rate_so_far():
    assert estimate.eta_seconds(0, 10, 5.0) is None
    assert estimate.eta_seconds(5, 10, 5.0) == pytest.approx(5.0)
    assert estimate.eta_seconds(10, 10, 5.0) == 0
