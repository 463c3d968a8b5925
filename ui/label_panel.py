"""The Data page's label check: its cost before it starts, a progress bar with cancel while it runs,
then the likely mislabels as thumbnails to exclude or move, and the decisions with their undo."""
from __future__ import annotations

import streamlit as st

from resnet_core.data.handle import DatasetHandle
from resnet_core.data.registry import DatasetInfo
from resnet_core.data.scan import ScanReport
from resnet_core.results.label_job import current_job, forget_job, start_job
from resnet_core.views import label_view
from ui.shared import friendly_errors, services

POLL_S = 1.0
THUMB_PX = 96
CARDS_PER_ROW = 4


@st.cache_data(max_entries=64, show_spinner=False)
def cost_line(source, num_images: int, num_classes: int) -> str:
    """Measured once per dataset size and feature source: timing the model takes a second."""
    return label_view.cost_line(source, num_images, num_classes)


def label_section(info: DatasetInfo, report: ScanReport, flash_key: str) -> None:
    if not report.num_images:
        return
    workspace = services().workspace
    handle = DatasetHandle(info, report)
    panel = None
    with friendly_errors(f"read the label check of '{info.name}'"):
        panel = label_view.label_panel(handle, workspace)
    if panel is None:
        return
    with st.expander("Images that may be mislabelled", expanded=bool(panel.cards or panel.decisions),
                     icon=":material/label_important:"):
        st.caption("Each image is scored by a linear head that never saw it (5-fold cross-validation on "
                   "backbone features); an image whose folder disagrees with a confident prediction is "
                   "listed, most suspicious first. Your decisions are kept in the workspace: your folder "
                   "is never changed.")
        job = current_job(info.meta_dir)
        running = job is not None and job.snapshot().state == "running"
        st.fragment(check_status, run_every=POLL_S if running else None)(handle, panel)
        if panel.summary():
            st.caption(panel.summary())
        suspects_grid(info, panel, flash_key)
        decisions_list(info, panel, flash_key)


def check_status(handle: DatasetHandle, panel: label_view.LabelPanel) -> None:
    """The start button with the cost, or the running check's progress and cancel (polled)."""
    info = handle.info
    job = current_job(info.meta_dir)
    snap = job.snapshot() if job else None
    if snap is not None and snap.state == "running":
        st.progress(min(1.0, snap.fraction), text=label_view.progress_text(snap))
        if st.button("Cancel the check", key="data_labels_cancel", icon=":material/cancel:"):
            job.cancel()
        return
    if snap is not None and snap.state in ("done", "failed", "cancelled"):
        forget_job(info.meta_dir)
        if snap.state == "failed":
            st.session_state["data_labels_error"] = snap.error
        elif snap.state == "cancelled":
            st.session_state["data_labels_error"] = "The label check was cancelled; nothing was changed."
        st.rerun(scope="app")  # the whole panel shows the new findings
    if message := st.session_state.pop("data_labels_error", None):
        st.warning(message, icon=":material/info:")
    if panel.source is None:
        st.info(panel.unavailable, icon=":material/model_training:")
        return
    with friendly_errors("measure the label check's cost"):
        st.caption(cost_line(panel.source, handle.report.num_images, len(handle.report.classes)))
    label = "Check the labels again" if panel.check else "Check the labels"
    if st.button(label, key="data_labels_start", icon=":material/fact_check:"):
        start_job(handle, services().workspace, panel.source)
        st.rerun(scope="app")


def suspects_grid(info: DatasetInfo, panel: label_view.LabelPanel, flash_key: str) -> None:
    if not panel.cards:
        return
    more = panel.undecided - len(panel.cards)
    st.markdown(f"**Likely mislabels** — the {len(panel.cards)} most suspicious"
                + (f" of {panel.undecided:,}" if more > 0 else ""))
    for first in range(0, len(panel.cards), CARDS_PER_ROW):
        for column, card in zip(st.columns(CARDS_PER_ROW), panel.cards[first:first + CARDS_PER_ROW]):
            i = label_view.widget_id(card.path)
            column.image(str(card.file), width=THUMB_PX)
            column.caption(card.caption)
            if column.button("Exclude", key=f"data_labels_exclude_{i}", icon=":material/block:"):
                act(lambda c=card: label_view.exclude(info, c.path), flash_key)
            to_class = column.selectbox("Move to", card.move_to, key=f"data_labels_to_{i}",
                                        help="The suggested class first; any other class can be chosen.")
            if column.button("Move", key=f"data_labels_move_{i}", icon=":material/drive_file_move:",
                             disabled=to_class is None):
                act(lambda c=card, to=to_class: label_view.move(info, c.path, to), flash_key)


def decisions_list(info: DatasetInfo, panel: label_view.LabelPanel, flash_key: str) -> None:
    if not panel.decisions:
        return
    st.markdown(f"**Your decisions** ({len(panel.decisions):,}) — used by the next split and runs")
    for d in panel.decisions:
        text, button = st.columns([5, 1], vertical_alignment="center")
        text.markdown(label_view.decision_line(d))
        if button.button("Undo", key=f"data_labels_undo_{label_view.widget_id(d.path)}", icon=":material/undo:"):
            act(lambda p=d.path: label_view.undo_decision(info, p), flash_key)


def act(action, flash_key: str) -> None:
    done = None
    with friendly_errors("record the decision"):
        done = action()
    if done:
        st.session_state[flash_key] = done
        st.rerun()
