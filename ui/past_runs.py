"""On the Train page: a name and note for the run about to start, and the dataset's past runs."""
from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from resnet_core.runs.store import MAX_NAME_CHARS, MAX_NOTE_CHARS
from resnet_core.views.past_runs import past_run_rows, past_runs_caption
from ui.shared import PERCENT_FORMAT, as_percent_points, services

NAME_KEY = "train_run_name"
NOTE_KEY = "train_run_note"


def label_inputs() -> None:
    """The run's name and note, beside the settings (both optional)."""
    c1, c2 = st.columns([1, 2])
    c1.text_input("Run name (optional)", key=NAME_KEY, max_chars=MAX_NAME_CHARS,
                  placeholder="e.g. baseline", help="Shown on Compare, in its CSV and in `runs`; "
                                                    "change it later on Compare.")
    c2.text_input("Note (optional)", key=NOTE_KEY, max_chars=MAX_NOTE_CHARS,
                  placeholder="Why you try these settings")


def label_values() -> dict[str, str]:
    """{'name': ..., 'note': ...} as typed, for JobManager.submit."""
    return {"name": st.session_state.get(NAME_KEY) or "", "note": st.session_state.get(NOTE_KEY) or ""}


def clear_labels() -> None:
    """After a start: the name and note belonged to that run, not to the next one."""
    for key in (NAME_KEY, NOTE_KEY):
        st.session_state.pop(key, None)


def past_runs_table(dataset: str) -> None:
    records = services().store.list_runs(dataset=dataset)
    if not records:
        return
    rows = past_run_rows(records, dataset, datetime.now(UTC))
    st.markdown(f"**Past runs on {dataset}**")
    st.dataframe(as_percent_points(pd.DataFrame(rows), ["Test Acc"]), hide_index=True, key="train_past_runs",
                 column_config={"Run": st.column_config.NumberColumn("Run", format="#%d", width=56),
                                "Test Acc": st.column_config.NumberColumn("Test accuracy", format=PERCENT_FORMAT)})
    st.caption(past_runs_caption(len(records), len(rows), dataset))
