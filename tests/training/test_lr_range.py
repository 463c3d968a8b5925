"""The learning-rate range test: the suggestion lies where the loss falls."""
from __future__ import annotations

import math
import threading

import pytest

from resnet_core.config import TrainConfig
from resnet_core.data.prepare import prepare_data
from resnet_core.data.synthetic import make_image_folder
from resnet_core.training.callbacks import CancelTraining
from resnet_core.training.lr_range import lr_range_test, rate_schedule, steepest_descent, sweep


def quadratic_step():
    """Gradient descent on f(w) = w²/2 from w = 1, ten steps per rate: the loss after them falls for
    rates up to 1 (fastest near 1) and grows once the rate passes 2, where the iteration diverges."""
    state = {"w": 1.0}

    def step(rate: float) -> float:
        w = 1.0
        for _ in range(10):
            w -= rate * w
        state["w"] = w
        return min(w * w / 2, 1e12)
    return step


def test_the_suggestion_lies_where_the_loss_falls():
    result = sweep(quadratic_step(), rate_schedule(1e-4, 10.0, 200))
    assert result.suggestion is not None
    # Where the loss falls with the rate: between 1e-3 (barely moving) and 1 (the minimum).
    assert 1e-2 <= result.suggestion <= 1.0
    at = result.rates.index(result.suggestion)  # on the falling part of the smoothed curve, before its low
    assert result.smoothed[at] < result.smoothed[at - 1] and at <= result.smoothed.index(min(result.smoothed))
    assert result.rates[-1] < 10.0  # stopped once the loss blew up


def test_a_loss_that_never_falls_gives_no_suggestion():
    assert sweep(lambda rate: 1.0 + rate, rate_schedule(1e-4, 1.0, 50)).suggestion is None
    assert steepest_descent([1e-3, 1e-2], [1.0, 0.5]) is None


def test_each_step_is_reported_and_a_cancel_stops_the_sweep_before_the_next_step():
    cancel, stepped, reported = threading.Event(), [], []

    def step(rate: float) -> float:
        stepped.append(rate)
        return 1.0

    def on_step(done: int, total: int) -> None:
        reported.append((done, total))
        if done == 3:
            cancel.set()

    with pytest.raises(CancelTraining, match="cancelled"):
        sweep(step, rate_schedule(1e-4, 1.0, 50), cancel, on_step)
    assert len(stepped) == 3 and reported == [(1, 50), (2, 50), (3, 50)]


def test_bad_ranges_are_refused():
    with pytest.raises(ValueError):
        rate_schedule(1.0, 1e-3, 10)


def test_on_images_the_suggested_rate_is_within_the_swept_range(workspace, tmp_path, monkeypatch,
                                                                offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")
    folder = make_image_folder(tmp_path / "imgs", num_classes=3, per_class=16, size=32)
    config = TrainConfig(dataset=str(folder), weights="none", augmentation="none", image_size=32, batch_size=8,
                         device="cpu")
    result = lr_range_test(config, prepare_data(config, workspace), steps=60, start=1e-6, end=10.0)
    assert result.suggestion is not None and 1e-6 < result.suggestion < 10.0
    assert len(result.rates) == len(result.losses) == len(result.smoothed)
    lowest = min(v for v in result.smoothed if math.isfinite(v))
    assert lowest < result.smoothed[0]  # the loss did fall somewhere along the way
