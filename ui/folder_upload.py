"""The folder uploader of the Data page: a small component shipped in assets/folder_upload that sends
the chosen folder in a few large batches (Streamlit's own uploader sends one request per file and
loses files on large folders), and the Python half that saves each batch and acknowledges it."""
from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from resnet_core.data.scan import DatasetError
from resnet_core.data.upload import FolderUpload, UploadError, parse_batch, parse_manifest
from resnet_core.workspace import Workspace

log = logging.getLogger(__name__)

_ASSETS = Path(__file__).resolve().parents[1] / "assets" / "folder_upload"
_component = components.declare_component("folder_upload", path=str(_ASSETS))


def upload_state_key(key: str) -> str:
    """Where the session keeps the FolderUpload of the uploader with this key."""
    return f"{key}__upload"


def _error_key(key: str) -> str:
    return f"{key}__error"


def current_upload(key: str) -> FolderUpload | None:
    return st.session_state.get(upload_state_key(key))


def forget_upload(key: str) -> None:
    """Drop the upload (after its import, or to start over); files not imported are deleted."""
    upload = st.session_state.pop(upload_state_key(key), None)
    if upload is not None:
        upload.discard()


def _on_value(key: str, workspace: Workspace) -> None:
    """Runs before the script: save what the browser just sent, so the render acknowledges it."""
    value = st.session_state.get(key)
    upload = current_upload(key)
    st.session_state.pop(_error_key(key), None)
    try:
        if isinstance(value, (bytes, bytearray, memoryview)):
            batch = parse_batch(value)
            if upload is not None and batch.upload_id == upload.upload_id:
                upload.receive(batch)
        elif isinstance(value, dict) and value.get("kind") == "manifest":
            manifest = parse_manifest(value)
            if upload is None or upload.upload_id != manifest.upload_id:
                forget_upload(key)  # a new folder was chosen: the old one's files go
                st.session_state[upload_state_key(key)] = FolderUpload(manifest, workspace)
        elif isinstance(value, dict) and value.get("kind") == "done":
            if upload is not None and value.get("upload") == upload.upload_id:
                failed = value.get("failed")
                upload.finish([str(n) for n in failed] if isinstance(failed, list) else [])
    except UploadError as e:
        # Not what our page sends: log it and let the browser's retry or the missing count speak.
        log.warning("A folder-upload message was refused: %s", e)
    except DatasetError as e:
        st.session_state[_error_key(key)] = str(e)


def folder_uploader(key: str, workspace: Workspace) -> FolderUpload | None:
    """Draw the uploader; returns the upload under way or arrived (None before a folder is chosen)."""
    upload = current_upload(key)
    state = {"upload": upload.upload_id if upload else None,
             "batches": sorted(upload.batches) if upload else [],
             "finished": bool(upload and upload.finished)}
    _component(state=state, key=key, default=None, on_change=partial(_on_value, key, workspace))
    if _error_key(key) in st.session_state:
        st.error(st.session_state[_error_key(key)], icon=":material/error:")
    return current_upload(key)
