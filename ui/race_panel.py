"""The Wizard's 'Check on my data': the race among the cards' candidates on the user's images, its progress,
and what it measured beside the cards' advice."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from resnet_core.advice.check_on_data import check_on_data
from resnet_core.advice.estimate import cached_throughput, estimate_training_time
from resnet_core.advice.race import DEFAULT_BUDGET_SHARE
from resnet_core.hardware import resolve_device
from resnet_core.views.race_view import race_rows
from ui.shared import friendly_errors, services

RESULT = "wizard_race_result"  # (dataset, recommendation key, RaceCheck) of the last race
DEFAULT_MINUTES = 5.0


def default_minutes(rec, num_train: int, num_val: int, device: str) -> float:
    """15% of the recommended run's time when the Wizard measured this machine's rate, else 5 minutes."""
    rate = cached_throughput(rec.model, rec.batch_size, rec.image_size, rec.fine_tune, device)
    if not rate:
        return DEFAULT_MINUTES
    seconds = estimate_training_time(rec, num_train, num_val, rate).seconds
    return round(max(0.5, DEFAULT_BUDGET_SHARE * seconds / 60), 1)


def race_panel(dataset: str, rec, weights_available, num_train: int, num_val: int) -> None:
    device = str(resolve_device("auto"))  # where the race and the recommended run would train
    st.subheader("Check on my data")
    st.caption("A short race before the long run: the cards' pick and the alternatives they leave open train "
               "briefly on small parts of your training images at 64 px; the better half by validation loss "
               "goes on to twice the images. The test images are never used. Stop it with Streamlit's Stop "
               "button (top right).")
    key = (dataset, repr(rec.why))  # a new recommendation makes an earlier race stale
    minutes = st.number_input("Time for the race (minutes)", min_value=0.5, max_value=240.0, step=0.5,
                              value=default_minutes(rec, num_train, num_val, device), key="wizard_race_minutes",
                              help="About 15% of the recommended run's estimated time by default.")
    if st.button("Check on my data", key="wizard_race", icon=":material/sports_score:"):
        bar = st.progress(0.0, text="Preparing the images for the race…")

        def progress(done: int, total: int, what: str) -> None:
            bar.progress(min(1.0, done / total) if total else 0.0, text=f"Race: {done} of {total} trials · {what}")

        with friendly_errors("check the advice on your data"):
            check = check_on_data(dataset, services().workspace, rec, budget_s=minutes * 60, device=device,
                                  weights_available=weights_available, progress=progress)
            st.session_state[RESULT] = (key, check)
        bar.empty()
    stored = st.session_state.get(RESULT)
    if not stored or stored[0] != key:
        return
    check = stored[1]
    (st.success if check.result.winner_key == check.result.candidates[0].key else st.warning)(
        check.verdict, icon=":material/sports_score:")
    st.dataframe(pd.DataFrame(race_rows(check.result)), hide_index=True, key="wizard_race_table",
                 column_config={"Val loss": st.column_config.NumberColumn(format="%.3f"),
                                "Val acc": st.column_config.NumberColumn(format="percent"),
                                "From": st.column_config.TextColumn(width="large")})
    st.caption(f"Budget {check.budget_text}; used {check.result.used_s:,.0f} s at {check.result.image_size} px.")
