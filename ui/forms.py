"""Keeping a form's values while its widgets are off screen.

Streamlit forgets a widget's value once the widget is not drawn (another page, a collapsed branch).
A page saves its form's keys after drawing it and puts them back before drawing it again.
"""
from __future__ import annotations

from collections.abc import Iterable

import streamlit as st


def restore_form(saved_key: str) -> None:
    """Put back what the user had in the widgets saved under saved_key (only ones not set now)."""
    for key, value in st.session_state.get(saved_key, {}).items():
        if key not in st.session_state:
            st.session_state[key] = value


def remember_form(saved_key: str, keys: Iterable[str]) -> None:
    """Save the current values of these widget keys under saved_key."""
    st.session_state[saved_key] = {k: st.session_state[k] for k in keys if k in st.session_state}
