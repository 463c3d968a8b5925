"""The Wizard's learning-rate range test: behind a button, for the race's winner or the cards' pick,
run in the background (progress, time left, Cancel), then drawn as loss against the rate with the
suggested rate marked."""
from __future__ import annotations

import streamlit as st

from resnet_core.advice.lr_job import CANCELLED, DONE, FAILED, RUNNING, current_job, start_job
from resnet_core.views.lr_range_view import CANCELLED_TEXT, lr_range_figure, progress_text
from ui.race_panel import RESULT as RACE_RESULT
from ui.shared import services

POLL_S = 1.0


def lr_panel(dataset: str, rec) -> None:
    raced = st.session_state.get(RACE_RESULT)
    race = raced[1].result if raced and raced[0] == (dataset, repr(rec.why)) else None
    key = (dataset, repr(rec.why), race.winner_key if race else None)
    st.markdown("**Learning rate**")
    st.caption("A range test: about a hundred training steps with the rate rising from 1e-7 to 1; the "
               "suggested rate is where the smoothed loss falls fastest. It tests "
               + ("the race's winner." if race and race.winning else "the cards' pick (race first to test its "
                  "winner)."))
    job = current_job(services().workspace, dataset, key)
    running = job is not None and job.snapshot().state == RUNNING
    st.fragment(range_test_status, run_every=POLL_S if running else None)(dataset, rec, race, key, running)


def range_test_status(dataset: str, rec, race, key, polling: bool) -> None:
    """The start button, the running test's progress and Cancel (polled), or its outcome."""
    workspace = services().workspace
    job = current_job(workspace, dataset, key)
    snap = job.snapshot() if job else None
    if snap is not None and snap.state == RUNNING:
        st.progress(snap.fraction, text=progress_text(snap))
        if st.button("Cancel the range test", key="wizard_lr_cancel", icon=":material/cancel:"):
            job.cancel()
        return
    if polling:  # it ended since the page was drawn: redraw the page without the polling
        st.rerun(scope="app")
    if snap is not None and snap.state == CANCELLED:
        st.info(CANCELLED_TEXT, icon=":material/cancel:")
    elif snap is not None and snap.state == FAILED:
        st.error(f"Could not run the range test: {snap.error}", icon=":material/error:")
    label = "Find a learning rate again" if snap is not None and snap.state == DONE else "Find a learning rate"
    if st.button(label, key="wizard_lr_range", icon=":material/show_chart:"):
        start_job(workspace, dataset, key, rec, race=race)
        st.rerun(scope="app")
    if snap is not None and snap.state == DONE:
        check = snap.result
        st.info(check.verdict(), icon=":material/show_chart:")
        st.plotly_chart(lr_range_figure(check.result, check.config.learning_rate), key="wizard_lr_chart")
        st.caption(f"Tested: {check.candidate}.")
