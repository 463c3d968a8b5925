"""A stored run's actions, as the Compare page offers them: name it and note why it was tried, download
its model as a bundle, predict with it, repeat its configuration with other seeds, delete it (asking first)."""
from __future__ import annotations

import streamlit as st

from resnet_core.results.bundle import bundle_name, export_bundle
from resnet_core.runs.repeats import plan_repeats
from resnet_core.runs.store import MAX_NAME_CHARS, MAX_NOTE_CHARS
from resnet_core.views.run_details import has_model
from ui.shared import PAGES, PREDICT_RUN, friendly_errors, services

EXPORT_FORMATS = {"torchscript": "TorchScript (.pt)", "onnx": "ONNX (.onnx)"}
REPEATS = 3  # the Compare page's "Repeat ×3": enough seeds to see the spread, few enough to wait for
REPEAT_QUEUED = "compare_repeat_queued"  # (run id, the queued runs' ids, their seeds)


def label_panel(record) -> None:
    """The run's name and note, shown and edited in place (the ranked table and its CSV show them)."""
    if record.user_note:
        st.caption(f":material/sticky_note_2: {record.user_note}")
    with st.expander("Name and note", icon=":material/edit:", expanded=False):
        # Keys per run: choosing another run shows its own label, not the text typed for this one.
        name = st.text_input("Name", record.name, max_chars=MAX_NAME_CHARS, key=f"compare_name_{record.id}",
                             placeholder="e.g. baseline, small images, more epochs")
        note = st.text_area("Note", record.user_note, max_chars=MAX_NOTE_CHARS, key=f"compare_note_{record.id}",
                            placeholder="Why you tried these settings, what you noticed", height=80)
        if st.button("Save name and note", key="compare_label_save", icon=":material/save:"):
            saved = False
            with friendly_errors(f"rename run {record.id}"):
                services().store.label_run(record.id, name=name, note=note)
                saved = True
            if saved:
                st.toast(f"Run {record.id}: name and note saved.")
                st.rerun()


def model_panel(record) -> None:
    """The run's model as a download (TorchScript or ONNX bundle), or straight to Predict with it."""
    svc = services()
    if not has_model(record, svc.workspace):
        st.info("This run kept no trained model.")
        return
    st.caption("Download the best model with labels.json and preprocess.json, ready for use outside "
               "ResNet Pilot.")
    fmt = st.radio("Format", list(EXPORT_FORMATS), format_func=EXPORT_FORMATS.get, horizontal=True,
                   key="compare_export_format")
    row = st.container(horizontal=True)
    if row.button("Prepare download", key="compare_export", icon=":material/package_2:"):
        with st.spinner(f"Exporting run {record.id} as {EXPORT_FORMATS[fmt]}…"):
            with friendly_errors(f"export run {record.id}"):
                data = export_bundle(svc.workspace, record.id, fmt)
                st.session_state["compare_export_ready"] = (record.id, fmt, data)
    ready = st.session_state.get("compare_export_ready")
    if ready and ready[0] == record.id and ready[1] == fmt:
        row.download_button("Download .zip", ready[2], file_name=bundle_name(record.id, record.model, fmt),
                            mime="application/zip", key="compare_export_download", type="primary",
                            icon=":material/download:")
    if row.button("Predict with this model", key="compare_go_predict", icon=":material/image_search:"):
        st.session_state[PREDICT_RUN] = record.id
        st.switch_page(PAGES["predict"])


def repeat_panel(record) -> None:
    """'Repeat ×3': queue the run's configuration with three new seeds; the ranked table then shows it
    once, with the mean ± standard deviation of its runs."""
    queued = st.session_state.get(REPEAT_QUEUED)
    if queued and queued[0] == record.id:
        st.success(f"Queued runs {', '.join(f'#{i}' for i in queued[1])} with seeds "
                   f"{', '.join(map(str, queued[2]))}: this configuration shows as one row with their mean "
                   "± standard deviation once they finish.", icon=":material/repeat:")
    if not record.is_ranked or record.config is None:
        return
    if st.button(f"Repeat ×{REPEATS}", key="compare_repeat", icon=":material/repeat:",
                 help=f"Train this configuration {REPEATS} more times with new seeds, to see how much of its "
                      "score is the luck of one seed. The table ranks the configuration by the mean."):
        svc = services()
        st.session_state.pop(REPEAT_QUEUED, None)
        with friendly_errors(f"repeat run {record.id}"):
            plan = plan_repeats(svc.store, record, REPEATS)
            ids = [svc.jobs.submit(config, repeat_of=plan.root) for config in plan.configs]
            st.session_state[REPEAT_QUEUED] = (record.id, ids, plan.seeds)
        if st.session_state.get(REPEAT_QUEUED, (None,))[0] == record.id:
            st.rerun()  # outside friendly_errors: a rerun is an exception Streamlit must see


def delete_panel(record, forget_key: str | None = None) -> None:
    """forget_key: a session key that held the run, cleared once it is deleted."""
    asking = st.session_state.get("compare_delete_ask") == record.id
    if not asking:
        if st.button(f"Delete run #{record.id}", key="compare_delete", icon=":material/delete:"):
            st.session_state["compare_delete_ask"] = record.id
            st.rerun()
        return
    st.warning(f"Delete run #{record.id} ({record.description}) with its model and curves? This cannot be undone.")
    row = st.container(horizontal=True)
    if row.button("Yes, delete", key="compare_delete_confirm", type="primary"):
        st.session_state.pop("compare_delete_ask", None)
        deleted = False
        with friendly_errors(f"delete run {record.id}"):
            deleted = services().store.delete_run(record.id)
        if deleted:
            if forget_key:
                st.session_state.pop(forget_key, None)
            st.toast(f"Run {record.id} deleted.")
            st.rerun()
    if row.button("Keep it", key="compare_delete_cancel"):
        st.session_state.pop("compare_delete_ask", None)
        st.rerun()
