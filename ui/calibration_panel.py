"""Compare's Calibration tab: a run's ECE before and after temperature scaling, and its reliability diagram."""
from __future__ import annotations

import streamlit as st

from resnet_core.views.calibration_view import calibration_text, reliability_figure, run_calibration
from resnet_core.workspace import Workspace


def calibration_panel(workspace: Workspace, run_id: int) -> None:
    calibration = run_calibration(workspace, run_id)
    if calibration is None:
        st.info("No calibration for this run: it kept no test predictions (not scored, or scored by an "
                "older version).")
        return
    st.markdown(calibration_text(calibration))
    st.plotly_chart(reliability_figure(calibration), key="compare_reliability", config={"displayModeBar": False})
