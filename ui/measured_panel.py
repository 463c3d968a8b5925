"""The Wizard's 'Measured on your data': what finished runs on this dataset say, beside the cards' advice."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from resnet_core.advice.measured import measured_advice, measured_ranking
from resnet_core.views.wizard import measured_rows
from ui.shared import PAGES, PERCENT_FORMAT, as_percent_points, page_exists, services

# How the measured runs stand against the cards' pick (measured.MeasuredRanking.verdict).
VERDICT_BADGES = {"agrees": ("Measurement agrees with the cards", "green", ":material/check:"),
                  "close": ("The cards' pick is within a point of the best", "blue", ":material/check:"),
                  "disagrees": ("Measurement disagrees with the cards", "orange", ":material/warning:"),
                  "unmeasured": ("The cards' pick is not measured yet", "gray", ":material/help:")}
MEASURED_SHOWN = 6


def measured_panel(dataset: str, rec) -> None:
    """The wizard that learns: what finished runs on this dataset say, beside the cards' advice."""
    store = services().store
    ranking = measured_ranking(dataset, store, rec)
    study_link = page_exists("study")
    if ranking is None:
        st.caption("No finished runs on this dataset yet. Once some are measured (the Study page runs every "
                   "configuration), the wizard shows here how they compare with the cards.")
        if study_link:
            st.page_link(PAGES["study"], label="Measure on the Study page", icon=":material/science:")
        return
    with st.container(border=True):
        label, colour, icon = VERDICT_BADGES[ranking.verdict]
        head = st.container(horizontal=True, vertical_alignment="center")
        head.markdown("**Measured on your data**")
        head.badge(label, color=colour, icon=icon)
        st.markdown("\n".join(f"- {line}" for line in measured_advice(dataset, store, rec)))
        rows = measured_rows(ranking, MEASURED_SHOWN)
        st.dataframe(as_percent_points(pd.DataFrame(rows), ("Test Acc",)), hide_index=True,
                     key="wizard_measured_runs", column_config={
            "Run": st.column_config.NumberColumn("Run", format="#%d", width="small"),
            "Test Acc": st.column_config.NumberColumn("Test Acc", format=PERCENT_FORMAT),
            "Wizard's pick": st.column_config.CheckboxColumn("Wizard's pick", width="small")})
        more = len(ranking.runs) - MEASURED_SHOWN
        st.caption(f"The best run of each configuration at {ranking.num_train:,} training images, best first"
                   + (f" ({more} more not shown)." if more > 0 else "."))
        if study_link:
            st.page_link(PAGES["study"], label="Measure more on the Study page", icon=":material/science:")
