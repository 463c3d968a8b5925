"""The Train page's weights-file upload: kept in the workspace, checked once per file and depth."""
from __future__ import annotations

import streamlit as st

from resnet_core.training.weights_upload import WEIGHTS_EXTENSIONS, save_weights_upload
from resnet_core.views import train_form as tf
from ui.shared import friendly_errors, services

WEIGHTS_FILE_KEY = "train_weights_file"
WEIGHTS_PATH = "train_weights_path"  # where the uploaded file was kept
_WEIGHTS_CHECK = "train_weights_check"  # (path, model, problem or None, description): read once per pair


def weights_file_input(model: str) -> None:
    upload = st.file_uploader("Weights file (.pt / .pth)", type=[e.lstrip(".") for e in WEIGHTS_EXTENSIONS],
                              key=WEIGHTS_FILE_KEY, help=tf.CHOICE_HELP["weights_file"])
    if upload is not None:
        st.session_state[WEIGHTS_PATH] = None
        with friendly_errors("keep the weights file"):
            st.session_state[WEIGHTS_PATH] = str(
                save_weights_upload(services().workspace, upload.name, upload.getvalue()))
    path = st.session_state.get(WEIGHTS_PATH)
    if not path:
        return
    problem, description = weights_file_check(path, model)
    if problem:
        st.error(f"{problem}. Upload another file or choose other starting weights.", icon=":material/error:")
    else:
        name = path.rsplit("/", 1)[-1]
        st.caption(f":material/check_circle: {'U' if upload is not None else 'Still u'}sing {name}: {description}.")


def weights_file_check(path: str, model: str) -> tuple[str | None, str | None]:
    """(problem, description), read once per file and model (a ResNet-101 file is large)."""
    cached = st.session_state.get(_WEIGHTS_CHECK)
    if not cached or cached[:2] != (path, model):
        with st.spinner("Checking the weights file…"):
            cached = (path, model, *tf.weights_file_verdict(path, model))
        st.session_state[_WEIGHTS_CHECK] = cached
    return cached[2], cached[3]
