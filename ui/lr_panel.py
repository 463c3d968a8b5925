"""The Wizard's learning-rate range test: behind a button, for the race's winner or the cards' pick,
drawn as loss against the rate with the suggested rate marked."""
from __future__ import annotations

import streamlit as st

from resnet_core.advice.lr_check import lr_check_on_data
from resnet_core.views.lr_range_view import lr_range_figure
from ui.race_panel import RESULT as RACE_RESULT
from ui.shared import friendly_errors, services

RESULT = "wizard_lr_result"  # (key, LRCheck) of the last range test


def lr_panel(dataset: str, rec) -> None:
    raced = st.session_state.get(RACE_RESULT)
    race = raced[1].result if raced and raced[0] == (dataset, repr(rec.why)) else None
    key = (dataset, repr(rec.why), race.winner_key if race else None)
    st.markdown("**Learning rate**")
    st.caption("A range test: about a hundred training steps with the rate rising from 1e-7 to 1; the "
               "suggested rate is where the smoothed loss falls fastest. It tests "
               + ("the race's winner." if race and race.winning else "the cards' pick (race first to test its "
                  "winner)."))
    if st.button("Find a learning rate", key="wizard_lr_range", icon=":material/show_chart:"):
        with st.spinner("Training briefly at rising learning rates…"), friendly_errors("run the range test"):
            st.session_state[RESULT] = (key, lr_check_on_data(dataset, services().workspace, rec, race=race))
    stored = st.session_state.get(RESULT)
    if not stored or stored[0] != key:
        return
    check = stored[1]
    st.info(check.verdict(), icon=":material/show_chart:")
    st.plotly_chart(lr_range_figure(check.result, check.config.learning_rate), key="wizard_lr_chart")
    st.caption(f"Tested: {check.candidate}.")
