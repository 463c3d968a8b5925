"""The model cards themselves, opened from a reason: the card's text with the quoted words marked."""
from __future__ import annotations

import streamlit as st

from resnet_core.advice.card_text import document_text, documents_quoted, highlighted, quotes


@st.dialog("From the source", width="large")
def card_dialog(reason: str) -> None:
    names = documents_quoted(reason)
    st.caption(reason)
    for name, tab in zip(names, st.tabs([n[0].upper() + n[1:] for n in names])):
        text, found = highlighted(document_text(name), quotes(reason))
        with tab:
            if found:
                st.caption(f"The quoted words are marked ({found} found in this document).")
            with st.container(height=480):
                st.markdown(text)


def card_buttons(why: dict[str, str], labels: dict[str, str], key: str) -> None:
    """One 'Read the source' button per reason that quotes a card or the study."""
    row = st.container(horizontal=True)
    for name, reason in why.items():
        if documents_quoted(reason) and row.button(labels.get(name, name), key=f"{key}_{name}",
                                                   icon=":material/menu_book:", type="tertiary"):
            card_dialog(reason)
