"""A run's calibration as the Compare page shows it: ECE before and after its temperature, and the
reliability diagram (confidence against accuracy per bin, on the test split); and the measured gain
of the flip and five-crop test-time augmentations the Predict page offers."""
from __future__ import annotations

import plotly.graph_objects as go

from resnet_core.fsutil import read_json
from resnet_core.results.calibration import CalibrationReport, calibration_report
from resnet_core.results.trust import run_predictions
from resnet_core.results.tta import GAIN_NAME, flip_gain
from resnet_core.workspace import Workspace

BEFORE_COLOUR = "#9AA5B1"
AFTER_COLOUR = "#4C78A8"


def run_calibration(workspace: Workspace, run_id: int) -> CalibrationReport | None:
    """The run's calibration report, or None when it kept no test predictions."""
    predictions = run_predictions(workspace, run_id)
    return None if predictions is None else calibration_report(predictions)


def calibration_text(report: CalibrationReport) -> str:
    """One sentence: the temperature and what it did to the expected calibration error."""
    if report.temperature == 1.0:
        return (f"Expected calibration error {report.ece_before:.1%} on the {report.test_images} test images; "
                "this run has no fitted temperature, so its probabilities are the model's own.")
    direction = ("softened (the model was over-confident)" if report.temperature > 1
                 else "sharpened (the model was under-confident)")
    return (f"Temperature {report.temperature:.2f}, fitted on the validation split, {direction} the "
            f"probabilities: expected calibration error {report.ece_before:.1%} before, "
            f"{report.ece_after:.1%} after, on the {report.test_images} test images. Accuracy is unchanged "
            f"({report.accuracy:.1%}): the most probable class stays the same.")


def reliability_figure(report: CalibrationReport) -> go.Figure:
    """Accuracy against confidence per bin, before and after the temperature; the diagonal is perfect."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line=dict(color="#555", dash="dash", width=1), meta="diagonal"))
    for name, bins, colour, meta in (("before", report.bins_before, BEFORE_COLOUR, "before"),
                                     (f"after (T = {report.temperature:.2f})", report.bins_after, AFTER_COLOUR,
                                      "after")):
        fig.add_trace(go.Scatter(
            x=[b.confidence for b in bins], y=[b.accuracy for b in bins], mode="lines+markers", name=name,
            marker=dict(size=[6 + 14 * (b.count / max(report.test_images, 1)) ** 0.5 for b in bins],
                        color=colour),
            line=dict(color=colour), customdata=[b.count for b in bins], meta=meta,
            hovertemplate="confidence %{x:.0%}<br>accuracy %{y:.0%}<br>%{customdata} images<extra></extra>"))
    fig.update_layout(template="plotly_white", margin=dict(l=10, r=10, t=40, b=10), height=360,
                      title="Reliability on the test split",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
                      xaxis=dict(title="confidence (top probability)", range=[0, 1], tickformat=".0%"),
                      yaxis=dict(title="accuracy", range=[0, 1.02], tickformat=".0%"))
    return fig


def five_crop_gain_text(workspace: Workspace, run_id: int) -> str | None:
    """What five crops did on the run's test images, once measured (results/tta_measure.py); None before."""
    gain = read_json(workspace.run_dir(run_id) / GAIN_NAME, default=None)
    try:
        acc, n = gain["accuracy"], int(gain["test_images"])
        plain, cropped = float(acc["none"]), float(acc["five-crop"])
    except (TypeError, KeyError, ValueError):
        return None
    return (f"Measured on this run's {n} test images: {plain:.1%} without, {cropped:.1%} with five crops "
            f"({(cropped - plain) * 100:+.1f} points). It takes five times the time.")


def flip_gain_text(workspace: Workspace, run_id: int) -> str:
    """What the flip did on the run's test images, for the Predict page's switch."""
    predictions = run_predictions(workspace, run_id)
    gain = None if predictions is None else flip_gain(predictions)
    if gain is None:
        return "Not measured for this run (it was scored before test-time augmentation was measured)."
    return (f"Measured on this run's {gain.test_images} test images: {gain.plain:.1%} without, "
            f"{gain.flipped:.1%} with the flip ({gain.gain * 100:+.1f} points). It takes twice the time.")
