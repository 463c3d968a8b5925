"""The Wizard's 'Check on my data': the race among the cards' candidates on the user's images, run in the
background (progress, time left within its budget, Cancel), and what it measured beside the cards' advice."""
from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from resnet_core.advice.race_job import CANCELLED, DONE, FAILED, RUNNING, current_job, start_job
from resnet_core.hardware import resolve_device
from resnet_core.views.race_view import (
    MAX_MINUTES,
    MIN_MINUTES,
    budget_caption,
    cancelled_text,
    race_budget,
    race_progress_text,
    race_rows,
)
from ui.shared import services

RESULT = "wizard_race_result"  # (dataset, recommendation key, RaceCheck) of the last race
POLL_S = 1.0


def race_panel(dataset: str, rec, weights_available, num_train: int, num_val: int, num_test: int) -> None:
    device = str(resolve_device("auto"))  # where the race and the recommended run would train
    st.subheader("Check on my data")
    st.caption("A short race before the long run: the cards' pick and the alternatives they leave open train "
               "briefly on small parts of your training images at 64 px; the better half by validation loss "
               "goes on to twice the images. The test images are never used. It runs in the background: "
               "the page stays usable, and Cancel keeps what the race measured so far.")
    key = (dataset, repr(rec.why))  # a new recommendation makes an earlier race stale
    budget = race_budget(rec, num_train, num_val, num_test, device)
    minutes = st.number_input("Time for the race (minutes)", min_value=MIN_MINUTES, max_value=MAX_MINUTES, step=0.5,
                              value=budget.minutes, key="wizard_race_minutes",
                              help="About 15% of the recommended run's estimated time by default.")
    st.caption(budget_caption(minutes, budget.recommended_s))
    job = current_job(services().workspace, dataset, key)
    snap = job.snapshot() if job else None
    if snap is not None and snap.state == DONE:
        st.session_state[RESULT] = (key, snap.result)  # the range test below tests the race's winner
    running = snap is not None and snap.state == RUNNING
    start = functools.partial(start_job, services().workspace, dataset, key, rec, budget_s=minutes * 60,
                              device=device, weights_available=weights_available)
    st.fragment(race_status, run_every=POLL_S if running else None)(dataset, key, start, running)


def race_status(dataset: str, key, start, polling: bool) -> None:
    """The start button, the running race's progress and Cancel (polled), or its outcome."""
    job = current_job(services().workspace, dataset, key)
    snap = job.snapshot() if job else None
    if snap is not None and snap.state == RUNNING:
        st.progress(snap.fraction, text=race_progress_text(snap))
        if st.button("Cancel the race", key="wizard_race_cancel", icon=":material/cancel:"):
            job.cancel()
        return
    if polling:  # it ended since the page was drawn: redraw the page (and the range test) without polling
        st.rerun(scope="app")
    if st.button("Check on my data", key="wizard_race", icon=":material/sports_score:"):
        start()
        st.rerun(scope="app")
    if snap is not None and snap.state == CANCELLED:
        st.info(cancelled_text(snap.partial), icon=":material/cancel:")
        if snap.partial is not None and snap.partial.scores():
            race_table(snap.partial)
        return
    if snap is not None and snap.state == FAILED:
        st.error(f"Could not run the race: {snap.error}", icon=":material/error:")
        return
    stored = st.session_state.get(RESULT)
    if not stored or stored[0] != key:
        return
    check = stored[1]
    (st.success if check.result.winner_key == check.result.candidates[0].key else st.warning)(
        check.verdict, icon=":material/sports_score:")
    race_table(check.result)
    st.caption(f"Budget {check.budget_text}; used {check.result.used_s:,.0f} s at {check.result.image_size} px.")


def race_table(result) -> None:
    st.dataframe(pd.DataFrame(race_rows(result)), hide_index=True, key="wizard_race_table",
                 column_config={"Val loss": st.column_config.NumberColumn(format="%.3f"),
                                "Val acc": st.column_config.NumberColumn(format="percent"),
                                "From": st.column_config.TextColumn(width="large")})
