"""The Train page's time estimate under its settings, or an "Estimate the time" button to measure first."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from resnet_core.advice import estimate
from resnet_core.config import TrainConfig
from resnet_core.views.study_plan_view import split_counts
from resnet_core.views.train_time import form_config, train_time
from ui.shared import friendly_errors, services


def train_time_line(values: Mapping[str, Any], dataset: str, filled_from: TrainConfig | None) -> None:
    config = form_config(values, dataset, filled_from)
    if config is None:
        return
    with friendly_errors("estimate the training time"):
        shown = train_time(config, split_counts(dataset, services().workspace))
        if not shown.ask_first:
            st.caption(shown.line)
            return
        if st.button("Estimate the time", key="train_estimate", icon=":material/timer:", type="tertiary",
                     help="Runs a few real training steps of these settings here: seconds to a minute on a "
                          "CPU. Measured once per setting, then the estimate follows your edits."):
            with st.spinner("Measuring the training speed…"):
                estimate.probe_throughput(*shown.probe)
            st.rerun()
