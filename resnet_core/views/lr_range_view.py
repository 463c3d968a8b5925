"""The learning-rate range test as a chart: loss against the rate on a log axis, the smoothed loss over
the raw one, the suggested rate marked (and the planned rate, to compare)."""
from __future__ import annotations

import math

import plotly.graph_objects as go

from resnet_core.advice.estimate import eta_seconds
from resnet_core.advice.lr_check import RANGE_STAGE
from resnet_core.advice.lr_job import LRJobSnapshot
from resnet_core.advice.recommend import format_number
from resnet_core.text import format_duration, format_time_left
from resnet_core.training.lr_range import LRRange
from resnet_core.views.charts import _LAYOUT, BEST_COLOUR, MUTED_COLOUR, TRAIN_COLOUR, VAL_COLOUR

RAW, SMOOTHED, SUGGESTED, PLANNED = "loss (each step)", "loss (smoothed)", "suggested rate", "planned rate"
_STAGES = {"starting": "Starting the range test", "scanning": "Scanning the dataset",
           "decoding": "Decoding the images", RANGE_STAGE: "Training at rising learning rates"}
CANCELLED_TEXT = "The range test was cancelled; nothing was changed. Start it again when you like."


def progress_text(snap: LRJobSnapshot) -> str:
    """'Training at rising learning rates: step 40 of 100 · about 12 s left', the time left estimated
    from the stage's own pace (decoding and training steps go at different speeds)."""
    label = _STAGES.get(snap.stage, snap.stage.capitalize())
    if not snap.total:
        return f"{label}… · {format_duration(snap.seconds)} so far"
    unit = "step " if snap.stage == RANGE_STAGE else ""
    left = eta_seconds(snap.done, snap.total, snap.stage_seconds)
    return f"{label}: {unit}{snap.done:,} of {snap.total:,} · {format_time_left(left)}"


def lr_range_figure(result: LRRange, planned_rate: float | None = None) -> go.Figure:
    """Raw and smoothed loss per rate (log-x); the suggestion as a marked point on the smoothed curve
    and a line, the planned rate as a dotted line. Steps whose loss blew up to infinity are left out."""
    fig = go.Figure()
    raw = [(r, v) for r, v in zip(result.rates, result.losses) if math.isfinite(v)]
    smooth = [(r, v) for r, v in zip(result.rates, result.smoothed) if math.isfinite(v)]
    fig.add_trace(go.Scatter(x=[r for r, _ in raw], y=[v for _, v in raw], name=RAW, mode="lines",
                             line=dict(color=MUTED_COLOUR, width=1)))
    fig.add_trace(go.Scatter(x=[r for r, _ in smooth], y=[v for _, v in smooth], name=SMOOTHED, mode="lines",
                             line=dict(color=TRAIN_COLOUR, width=2.5)))
    if result.suggestion is not None:
        at = min(smooth, key=lambda p: abs(math.log(p[0]) - math.log(result.suggestion)))
        fig.add_trace(go.Scatter(x=[result.suggestion], y=[at[1]], name=SUGGESTED, mode="markers",
                                 marker=dict(color=BEST_COLOUR, size=12, symbol="diamond"),
                                 hovertemplate=f"suggested {format_number(result.suggestion)}<extra></extra>"))
        fig.add_vline(x=result.suggestion, line=dict(color=BEST_COLOUR, dash="dash"),
                      annotation_text=f"suggested {format_number(result.suggestion)}",
                      annotation_position="top left")
    if planned_rate is not None:
        fig.add_vline(x=planned_rate, line=dict(color=VAL_COLOUR, dash="dot"),
                      annotation_text=f"planned {format_number(planned_rate)}", annotation_position="bottom right")
    finite = [v for _, v in smooth]
    top = max(finite[0], min(finite) * 2) if finite else None  # past the blow-up the curve only distracts
    fig.update_layout(**_LAYOUT, height=340, title="Learning-rate range test",
                      xaxis=dict(type="log", title="learning rate", exponentformat="power"),
                      yaxis=dict(title="training loss", range=[0, top * 1.1] if top else None))
    return fig
