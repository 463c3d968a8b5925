"""The range test's chart: log-x, raw and smoothed loss, the suggestion marked."""
from __future__ import annotations

import math

from resnet_core.advice.lr_check import RANGE_STAGE
from resnet_core.advice.lr_job import LRJobSnapshot
from resnet_core.training.lr_range import LRRange
from resnet_core.views.lr_range_view import PLANNED, RAW, SMOOTHED, SUGGESTED, lr_range_figure, progress_text


def range_result() -> LRRange:
    rates = [10 ** (-6 + i / 4) for i in range(20)]
    smoothed = [2.0 - 0.1 * i if i < 12 else 0.8 + (i - 12) ** 2 for i in range(20)]
    losses = [v + (0.05 if i % 2 else -0.05) for i, v in enumerate(smoothed)]
    losses[-1] = smoothed[-1] = math.inf
    return LRRange(rates=rates, losses=losses, smoothed=smoothed, suggestion=rates[6])


def test_the_chart_is_log_x_with_raw_and_smoothed_loss_and_the_suggestion_marked():
    result = range_result()
    fig = lr_range_figure(result, planned_rate=1e-4)
    assert fig.layout.xaxis.type == "log"
    traces = {t.name: t for t in fig.data}
    assert set(traces) == {RAW, SMOOTHED, SUGGESTED}
    assert len(traces[SMOOTHED].x) == 19 and all(math.isfinite(v) for v in traces[RAW].y)  # the blow-up left out
    assert traces[SUGGESTED].x == (result.suggestion,) and traces[SUGGESTED].y == (result.smoothed[6],)
    notes = [a.text for a in fig.layout.annotations]
    assert any(n.startswith("suggested ") for n in notes) and any(n == "planned 1e-4" for n in notes)
    assert PLANNED


def test_without_a_suggestion_nothing_is_marked():
    result = range_result()
    fig = lr_range_figure(LRRange(result.rates, result.losses, result.smoothed, None))
    assert SUGGESTED not in {t.name for t in fig.data} and not fig.layout.annotations


def test_the_progress_line_gives_the_step_and_the_time_left_at_the_stage_s_own_pace():
    # 40 of 100 steps took 20 s of the stage (decoding took the first 100 s of the job): 30 s left.
    stepping = LRJobSnapshot("running", RANGE_STAGE, 40, 100, seconds=120.0, stage_seconds=20.0)
    assert progress_text(stepping) == "Training at rising learning rates: step 40 of 100 · about 30 s left"
    decoding = LRJobSnapshot("running", "decoding", 1280, 5120, seconds=40.0, stage_seconds=40.0)
    assert progress_text(decoding) == "Decoding the images: 1,280 of 5,120 · about 2 min left"
    assert progress_text(LRJobSnapshot("running", stage_seconds=3.0, seconds=3.0)) == \
        "Starting the range test… · 3.0s so far"
