"""Plotly figures for the dashboard: training curves, cost-performance, learning curves, confusion matrix,
per-class scores, top-k.

Pure functions: data in, a plotly Figure out. Nothing here draws or knows about Streamlit, so the
pages only hand the figure to `st.plotly_chart` and tests can inspect the traces.
"""
from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from resnet_core.results.ranking import RankedRun
from resnet_core.status import RunStatus
from resnet_core.text import finite_or_none, format_duration
from resnet_core.views import glossary

TRAIN_COLOUR = "#4C78A8"
VAL_COLOUR = "#F58518"
BEST_COLOUR = "#2CA02C"
STOP_COLOUR = "#D62728"
FRONT_COLOUR = "#D62728"
MUTED_COLOUR = "#9AA5B1"
# One colour per group of runs in the cost-performance chart (cycled when there are more groups).
GROUP_COLOURS = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2")
# A name the confusion matrix's clickable layer carries, so a page can recognise its points.
CONFUSION_CELLS = "cells"

_LAYOUT = dict(template="plotly_white", margin=dict(l=10, r=10, t=40, b=10),
               legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0))


def _series(history: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """Epochs and values of one metric, leaving out epochs where it was not measured."""
    xs, ys = [], []
    for row in history:
        value = finite_or_none(row.get(key))
        if value is not None and row.get("epoch") is not None:
            xs.append(int(row["epoch"]))
            ys.append(value)
    return xs, ys


# ----- training curves -----------------------------------------------------------------------

def training_curves(history: Sequence[dict[str, Any]], best_epoch: int | None = None,
                    stopped_epoch: int | None = None, planned_epochs: int | None = None) -> go.Figure:
    """Loss (left) and accuracy (right) per epoch, train and validation.

    best_epoch (the checkpoint kept) is marked on both panels; stopped_epoch, when early stopping
    ended the run, gets its own marker. planned_epochs fixes the x range so a live chart does not
    jump around while epochs arrive.
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1)
    for col, metric in ((1, "loss"), (2, "acc")):
        for split, colour in (("train", TRAIN_COLOUR), ("val", VAL_COLOUR)):
            xs, ys = _series(history, f"{split}_{metric}")
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines+markers", name=f"{'Train' if split == 'train' else 'Validation'}",
                legendgroup=split, showlegend=col == 1, line=dict(color=colour),
                meta=f"{split}_{metric}",
                hovertemplate=f"epoch %{{x}}<br>{split} {metric}: %{{y:.4f}}<extra></extra>"), row=1, col=col)
    if best_epoch:
        _mark_epoch(fig, history, best_epoch, f"Best epoch {best_epoch}", BEST_COLOUR, "star-open", "best")
    if stopped_epoch and stopped_epoch != best_epoch:
        _mark_epoch(fig, history, stopped_epoch, f"Early stop at epoch {stopped_epoch}", STOP_COLOUR,
                    "x-thin-open", "stop")
    fig.update_xaxes(title_text="epoch", rangemode="tozero" if not history else "normal")
    if planned_epochs:
        fig.update_xaxes(range=[0.5, max(planned_epochs, 1) + 0.5])
    fig.update_yaxes(title_text="loss", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02], tickformat=".0%", row=1, col=2)
    fig.update_layout(height=340, hovermode="x unified", **_LAYOUT)
    return fig


def _mark_epoch(fig: go.Figure, history: Sequence[dict[str, Any]], epoch: int, label: str, colour: str,
                symbol: str, meta: str) -> None:
    """A dotted vertical line on both panels plus a hollow marker ringing the validation point (which
    stays visible inside it), in the legend."""
    for col in (1, 2):
        fig.add_vline(x=epoch, line=dict(color=colour, dash="dot", width=1.5), row=1, col=col)
    row = next((r for r in history if r.get("epoch") == epoch), {})
    for col, key in ((1, "val_loss"), (2, "val_acc")):
        value = finite_or_none(row.get(key))
        if value is None:
            continue
        fig.add_trace(go.Scatter(
            x=[epoch], y=[value], mode="markers", name=label, legendgroup=meta, showlegend=col == 1,
            cliponaxis=False,  # a marker at 100% is drawn whole
            marker=dict(color=colour, size=17, symbol=symbol, line=dict(color=colour, width=2)),
            meta=meta, hovertemplate=f"{label}<extra></extra>"), row=1, col=col)


# ----- cost-performance ----------------------------------------------------------------------

def _size_label(num_images: int | None) -> str:
    return "unknown size" if num_images is None or num_images < 0 else f"{num_images:,} training images"


def cost_performance(rows: Iterable[RankedRun]) -> go.Figure:
    """Test accuracy against training time; the Pareto front of each group drawn as a line.

    rows: ranking.ranked_rows() output. One colour per training-set size, since only runs of one
    size compete.
    """
    groups: dict[int, list[RankedRun]] = defaultdict(list)
    for row in rows:
        if finite_or_none(row.test_acc) is None:
            continue
        groups[row.num_images if row.num_images is not None else -1].append(row)
    fig = go.Figure()
    several = len(groups) > 1
    accs = [r.test_acc for group in groups.values() for r in group]
    low = _accuracy_floor(accs)
    timed_all = [r for group in groups.values() for r in group if finite_or_none(r.train_time_s) is not None]
    x_span = max((r.train_time_s for r in timed_all), default=1.0) or 1.0
    # One placement over all groups, so labels of different sizes keep apart too.
    placed = label_positions([(r.train_time_s, r.test_acc) for r in timed_all], x_span, 1.0 - low)
    by_run = {id(r): p for r, p in zip(timed_all, placed)}
    positions = {size: [by_run[id(r)] for r in group if finite_or_none(r.train_time_s) is not None]
                 for size, group in groups.items()}
    for i, size in enumerate(sorted(groups)):
        group = groups[size]
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        suffix = f" · {_size_label(size)}" if several else ""
        timed = [r for r in group if finite_or_none(r.train_time_s) is not None]
        fig.add_trace(go.Scatter(
            x=[r.train_time_s for r in timed], y=[r.test_acc for r in timed],
            mode="markers+text", name=f"Runs{suffix}", meta="runs",
            text=[f"#{r.run_id}" for r in timed], textposition=positions[size], cliponaxis=False,
            customdata=[[r.run_id, r.description, r.rank, format_duration(r.train_time_s),
                         "" if r.status == RunStatus.COMPLETED else f" ({r.status})"]
                        for r in timed],
            marker=dict(size=[15 if r.pareto else 10 for r in timed], color=colour,
                        line=dict(color="white", width=1)),
            hovertemplate=("<b>#%{customdata[0]} %{customdata[1]}%{customdata[4]}</b><br>test accuracy "
                           "%{y:.1%}<br>training time %{customdata[3]}<br>rank %{customdata[2]}<extra></extra>")))
        front = sorted((r for r in timed if r.pareto), key=lambda r: (r.train_time_s, r.test_acc))
        if front:
            fig.add_trace(go.Scatter(
                x=[r.train_time_s for r in front], y=[r.test_acc for r in front],
                mode="lines", name=f"{glossary.BEST_TRADE_OFFS}{suffix}", meta="pareto",
                line=dict(color=FRONT_COLOUR if not several else colour, dash="dash", width=2),
                hovertemplate=_FRONT_HELP))
            last = front[-1]
            fig.add_annotation(x=last.train_time_s, y=last.test_acc, text=glossary.BEST_TRADE_OFFS,
                               showarrow=True, arrowhead=0, ax=40, ay=30,
                               font=dict(color=FRONT_COLOUR if not several else colour))
    fig.update_xaxes(title_text="training time (s)", rangemode="tozero")
    # Accuracy ends at 100%; markers and labels there draw over the edge (cliponaxis=False) instead.
    fig.update_yaxes(title_text="test accuracy", tickformat=".0%", range=[low, 1.0])
    # The legend sits higher than elsewhere: labels of runs at 100% take the space above the plot.
    fig.update_layout(height=400, **{**_LAYOUT, "margin": dict(l=10, r=10, t=80, b=10),
                                     "legend": {**_LAYOUT["legend"], "y": 1.14}})
    return fig


# The line's hover explains the word, as the Compare page's metric help does; wrapped, as Plotly does not.
_FRONT_HELP = (f"<b>{glossary.BEST_TRADE_OFFS}</b><br>" + "<br>".join(textwrap.wrap(glossary.BEST_TRADE_OFF, 60))
               + "<extra></extra>")


def _accuracy_floor(accs: Iterable[float]) -> float:
    """The bottom of an accuracy axis: a round 10% step some way below the worst value, at least 0."""
    low = min(accs, default=0.0)
    return max(0.0, math.floor((low - 0.05) * 10) / 10)


# Where a point's label may go, in the order they are tried.
_LABEL_PLACES = ("top center", "bottom center", "middle right", "middle left")


def label_positions(points: Sequence[tuple[float, float]], x_span: float, y_span: float,
                    near: tuple[float, float] = (0.08, 0.08)) -> list[str]:
    """A Plotly textposition for each (x, y) point so the labels of close points do not overlap.

    Points closer than `near` (fractions of the axes' spans) count as neighbours; each point takes
    the first place in _LABEL_PLACES no neighbour placed before it has taken. The fractions are
    generous so that labels stay apart on a phone's narrow chart too.
    """
    x_span, y_span = x_span or 1.0, y_span or 1.0
    order = sorted(range(len(points)), key=lambda i: points[i])
    chosen: dict[int, str] = {}
    for i in order:
        x, y = points[i]
        taken = {chosen[j] for j in chosen
                 if abs(points[j][0] - x) / x_span < near[0] and abs(points[j][1] - y) / y_span < near[1]}
        chosen[i] = next((p for p in _LABEL_PLACES if p not in taken), _LABEL_PLACES[0])
    return [chosen[i] for i in range(len(points))]


# ----- learning curve ------------------------------------------------------------------------

def learning_curves(tables: Sequence[dict[str, Any]]) -> go.Figure:
    """Test accuracy against training-set size, a line per configuration: does more data still help?

    tables: study.study_tables() output ({"num_images": N, "rows": [{"config", "test_acc", "rank",
    "run_id", ...}]}); only finished configurations (with a rank) are drawn. The best configuration
    of the largest size is drawn thicker. The x axis is logarithmic when the sizes span 10× or more.
    """
    points: dict[str, list[tuple[int, float, Any, Any]]] = defaultdict(list)
    for table in sorted(tables, key=lambda t: t["num_images"]):
        for row in table["rows"]:
            acc = finite_or_none(row.get("test_acc"))
            if acc is None or row.get("rank") is None:
                continue
            points[row["config"]].append((int(table["num_images"]), acc, row.get("rank"), row.get("run_id")))
    sizes = sorted({n for pts in points.values() for n, *_ in pts})
    leader = None
    if sizes:
        last = [(rank, config) for config, pts in points.items() for n, _, rank, _ in pts if n == sizes[-1]]
        leader = min(last)[1] if last else None
    fig = go.Figure()
    for i, (config, pts) in enumerate(points.items()):
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        fig.add_trace(go.Scatter(
            x=[n for n, *_ in pts], y=[acc for _, acc, *_ in pts], mode="lines+markers", name=config,
            meta=config, line=dict(color=colour, width=4 if config == leader else 2),
            marker=dict(size=9 if config == leader else 7, color=colour),
            customdata=[[f"{n:,}", rank, run_id] for n, _, rank, run_id in pts],
            hovertemplate=(f"<b>{config}</b><br>%{{customdata[0]}} training images<br>test accuracy "
                           "%{y:.1%}<br>rank %{customdata[1]} · run #%{customdata[2]}<extra></extra>")))
    log = len(sizes) > 1 and sizes[-1] >= 10 * sizes[0]
    fig.update_xaxes(title_text="training images" + (" (log scale)" if log else ""),
                     type="log" if log else "linear", tickvals=sizes, ticktext=[f"{n:,}" for n in sizes])
    accs = [acc for pts in points.values() for _, acc, *_ in pts]
    fig.update_traces(cliponaxis=False)  # a point at 100% sits on the axis' end, not cut in half
    fig.update_yaxes(title_text="test accuracy", tickformat=".0%", range=[_accuracy_floor(accs), 1.0])
    fig.update_layout(height=420, hovermode="closest", **{**_LAYOUT, "margin": dict(l=10, r=10, t=60, b=10)})
    return fig


# ----- confusion matrix ----------------------------------------------------------------------

# Axis labels of the confusion matrix: longer names are shortened in the middle (the end often tells
# similar names apart: 'class_001'), and the full name shows on hover; the columns' labels turn when
# many classes or long names would overlap side by side.
LABEL_MAX_CHARS = 14
TILT_CLASSES = 6  # more classes than this: the column labels are tilted
TILT_CHARS = 6  # a label longer than this: tilted too


def short_label(name: str, max_chars: int = LABEL_MAX_CHARS) -> str:
    """'a_very_long_class_name' → 'a_very_…s_name': the start and the end, at most max_chars long."""
    if len(name) <= max_chars:
        return name
    tail = (max_chars - 1) // 3
    return f"{name[:max_chars - 1 - tail]}…{name[len(name) - tail:]}"


def confusion_axis_labels(classes: Sequence[str]) -> dict[str, Any]:
    """How the matrix's axes name the classes: their full names as the tick values (what a click and
    the hover report), short labels as the text, the columns' angle and the label size."""
    shown = [short_label(c) for c in classes]
    tilt = len(classes) > TILT_CLASSES or any(len(s) > TILT_CHARS for s in shown)
    angle = -90 if len(classes) > 20 else -45 if tilt else 0
    font = 9 if len(classes) > 30 else 11 if len(classes) > 15 else 12
    return {"tickvals": list(classes), "ticktext": shown, "tickangle": angle, "font_size": font}


def confusion_heatmap(classes: Sequence[str], matrix: Sequence[Sequence[int]]) -> go.Figure:
    """Counts of true (rows) against predicted (columns) classes, the count written in each cell.

    Plotly heatmaps report no click selections, so an invisible layer of markers (named
    CONFUSION_CELLS) sits on the cell centres: clicking a cell selects its marker, whose x is the
    predicted and y the true class. Long or many class names are shortened and tilted on the axes
    (confusion_axis_labels); the hover names the cell's classes in full.
    """
    classes = [str(c) for c in classes]
    z = [[int(v) for v in row] for row in matrix]
    if len(z) != len(classes) or any(len(row) != len(classes) for row in z):
        raise ValueError(f"the confusion matrix must be {len(classes)}×{len(classes)} for {len(classes)} classes")
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        z=z, x=classes, y=classes, colorscale="Blues", texttemplate="%{z}", showscale=False,
        hovertemplate="true %{y}<br>predicted %{x}<br>%{z} images<extra></extra>", name="confusion"))
    xs = [p for _ in classes for p in classes]
    ys = [t for t in classes for _ in classes]
    counts = [z[i][j] for i in range(len(classes)) for j in range(len(classes))]
    cell = max(12, min(60, int(420 / max(len(classes), 1))))
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers", name=CONFUSION_CELLS, meta=CONFUSION_CELLS, showlegend=False,
        customdata=counts, marker=dict(symbol="square", size=cell, color="rgba(0,0,0,0)"),
        selected=dict(marker=dict(color="rgba(0,0,0,0)")),
        unselected=dict(marker=dict(opacity=0)),
        hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata} images<extra></extra>"))
    labels = confusion_axis_labels(classes)
    ticks = dict(tickmode="array", tickvals=labels["tickvals"], ticktext=labels["ticktext"],
                 tickfont=dict(size=labels["font_size"]), automargin=True)
    fig.update_xaxes(title_text="predicted", side="bottom", type="category", showgrid=False,
                     tickangle=labels["tickangle"], **ticks)
    fig.update_yaxes(title_text="true", autorange="reversed", type="category", showgrid=False, **ticks)
    if len(classes) > 20:  # a count in each of hundreds of small cells is only noise
        fig.update_traces(texttemplate=None, selector=dict(type="heatmap"))
    size = min(720, 140 + 40 * len(classes))
    if labels["tickangle"]:  # room under the matrix for the tilted names
        size += int(6 * max(len(t) for t in labels["ticktext"]))
    fig.update_layout(height=size, clickmode="event+select", dragmode=False,
                      **{**_LAYOUT, "margin": dict(l=10, r=10, t=20, b=10)})
    return fig


def selected_cell(selection: Any) -> tuple[str, str] | None:
    """(true, predicted) of the confusion-matrix cell a plotly selection event points at, else None.

    Accepts Streamlit's selection state (attribute or dict access) or a plain dict of points.
    """
    if selection is None:
        return None
    sel = selection.get("selection") if isinstance(selection, dict) else getattr(selection, "selection", None)
    sel = sel if sel is not None else selection
    points = sel.get("points") if isinstance(sel, dict) else getattr(sel, "points", None)
    for point in points or []:
        point = dict(point)
        if "x" in point and "y" in point:
            return str(point["y"]), str(point["x"])
    return None


# ----- per-class scores ----------------------------------------------------------------------

def per_class_bars(per_class: Sequence[dict[str, Any]]) -> go.Figure:
    """Grouped bars of precision, recall and F1 for each class (the engine's test report rows)."""
    names = [str(r["class"]) for r in per_class]
    fig = go.Figure()
    for key, label, colour in (("precision", "Precision", TRAIN_COLOUR), ("recall", "Recall", VAL_COLOUR),
                               ("f1", "F1", BEST_COLOUR)):
        fig.add_trace(go.Bar(x=names, y=[finite_or_none(r.get(key)) or 0.0 for r in per_class], name=label,
                             marker_color=colour, meta=key,
                             hovertemplate=f"%{{x}}<br>{label} %{{y:.1%}}<extra></extra>"))
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_layout(barmode="group", height=320, **_LAYOUT)
    return fig


# ----- top-k ---------------------------------------------------------------------------------

def top_k_bars(predictions: Sequence[dict[str, Any]]) -> go.Figure:
    """Horizontal bars of class probabilities, the most probable at the top.

    predictions: Predictor.predict() output, [{"class": name, "probability": p}, ...] best first.
    """
    names = [str(p["class"]) for p in predictions]
    probs = [float(p["probability"]) for p in predictions]
    colours = [TRAIN_COLOUR if i == 0 else MUTED_COLOUR for i in range(len(probs))]
    fig = go.Figure(go.Bar(
        x=probs, y=names, orientation="h", marker_color=colours, text=[f"{p:.1%}" for p in probs],
        textposition="auto", name="probability",
        hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title_text="probability")
    fig.update_layout(height=max(160, 60 + 40 * len(names)), showlegend=False,
                      **{**_LAYOUT, "margin": dict(l=10, r=10, t=10, b=10)})
    return fig


def class_counts_bars(rows: Sequence[dict[str, Any]], colour: str) -> go.Figure:
    """Images per class as bars, in the rows' order (dataset_view.counts_rows: largest class first)."""
    fig = go.Figure(go.Bar(x=[r["class"] for r in rows], y=[r["images"] for r in rows],
                           text=[r["images"] for r in rows], marker_color=colour))
    fig.update_layout(title="Images per class", height=340, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis_title=None, yaxis_title="images")
    return fig
