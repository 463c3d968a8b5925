"""The live view of one run, as the Train page shows it: progress while it waits, prepares and trains,
how it ended and its scores once over, its curves and notes, and the other runs in progress.

It is a fragment that reruns every second while a job is active and triggers one full rerun of the
page when the run it follows ends. The words and numbers come from resnet_core.views.run_view.
"""
from __future__ import annotations

import streamlit as st

from resnet_core.runs.runner import error_log_path
from resnet_core.status import RunStatus
from resnet_core.views import run_view as rv
from resnet_core.views.charts import training_curves
from ui.shared import LAST_RUN, PAGES, PREDICT_RUN, select_dataset, services

SEEN_ACTIVE = "train_seen_active"  # the run the live view last saw running
CANCEL_ASKED = "train_cancel_asked"  # the run this session asked to cancel
POLL_S = 1.0
OUTCOME_ICONS = {RunStatus.COMPLETED: ":material/check_circle:", RunStatus.CANCELLED: ":material/cancel:",
                 RunStatus.FAILED: ":material/error:", RunStatus.INTERRUPTED: ":material/pause_circle:"}


def live_section(view: rv.RunView) -> None:
    """The followed run, polled while it or another job is active."""
    polling = view.is_active or bool(services().jobs.snapshots(active_only=True))
    st.fragment(live_fragment, run_every=POLL_S if polling else None)(view.run_id)


def followed_view() -> rv.RunView | None:
    svc = services()
    # Only the run this session started or chose: another tab's runs are listed, never followed.
    run_id = rv.train_focus(st.session_state.get(LAST_RUN), svc.jobs.snapshots(active_only=True)).followed
    if run_id is None:
        return None
    view = rv.load_view(svc.jobs, svc.store, run_id)
    if view is None:  # deleted meanwhile
        st.session_state.pop(LAST_RUN, None)
    return view


def live_fragment(run_id: int) -> None:
    svc = services()
    view = rv.load_view(svc.jobs, svc.store, run_id)
    if view is None:
        st.info(f"Run {run_id} no longer exists.")
        return
    if view.is_active:
        st.session_state[SEEN_ACTIVE] = run_id
    elif st.session_state.get(SEEN_ACTIVE) == run_id:
        # It just ended: redraw the whole page once (final results, buttons, polling off).
        del st.session_state[SEEN_ACTIVE]
        st.rerun(scope="app")
    st.subheader(view.title)
    st.caption(rv.run_caption(view))
    if view.is_active:
        draw_progress(view)
    else:
        draw_outcome(view)
    if view.history:
        st.plotly_chart(curves_for(view), key="train_curves", config={"displayModeBar": False})
    if view.notes:
        with st.expander(f"Notes from the run ({len(view.notes)})", expanded=not view.is_active,
                         icon=":material/info:"):
            st.markdown("\n".join(f"- {note}" for note in view.notes))
    other_jobs(run_id)


def curves_for(view: rv.RunView):
    """The loss/accuracy figure, rebuilt only when an epoch ends (not on every batch-level poll)."""
    stamp = (view.run_id, len(view.history), view.best_epoch, view.stopped_epoch, view.status)
    cached = st.session_state.get("train_curves_cache")
    if cached is None or cached[0] != stamp:
        cached = (stamp, training_curves(view.history, best_epoch=view.best_epoch or None,
                                         stopped_epoch=view.stopped_epoch, planned_epochs=view.epochs))
        st.session_state["train_curves_cache"] = cached
    return cached[1]


def metrics_row(items: list[tuple[str, object]]) -> None:
    for column, (label, value) in zip(st.columns(len(items)), items, strict=True):
        column.metric(label, value)


def draw_progress(view: rv.RunView) -> None:
    svc = services()
    fraction, text, training = rv.live_progress(view, svc.jobs.snapshots(active_only=True))
    st.progress(fraction, text=text)
    if training:
        metrics_row(rv.live_metrics(view))
    if view.source != "job":
        st.caption("This run is training in another process; cancel it there.")
    else:
        asked = st.session_state.get(CANCEL_ASKED) == view.run_id
        if not asked and st.button("Cancel", key="train_cancel", icon=":material/stop:",
                                   help="Stops after the current batch and keeps the best model so far."):
            svc.jobs.cancel(view.run_id)
            st.session_state[CANCEL_ASKED] = asked = view.run_id
        if asked:
            st.info(rv.cancel_text(view, cancel_asked=True), icon=":material/hourglass_top:")


def draw_outcome(view: rv.RunView) -> None:
    notice = rv.outcome_notice(view)
    if notice:
        getattr(st, notice[0])(notice[1], icon=OUTCOME_ICONS[view.status])
    details = error_log_path(services().workspace, view.run_id) if view.status == RunStatus.FAILED else None
    if details:
        st.caption(f"The full details are in `{details}` and in the server log.")
    if rv.final_metrics(view):
        metrics_row(rv.final_metrics(view))
    row = st.container(horizontal=True)
    if row.button("Compare runs", key="train_go_compare", icon=":material/leaderboard:"):
        st.switch_page(PAGES["compare"])
    if rv.can_predict_with(view) and row.button("Predict with it", key="train_go_predict",
                                                 icon=":material/image_search:"):
        st.session_state[PREDICT_RUN] = view.run_id
        st.switch_page(PAGES["predict"])


def other_jobs(followed: int | None) -> None:
    """Runs in progress that this session does not follow (another tab's, say), each with Show."""
    snapshots = services().jobs.snapshots(active_only=True)
    others = rv.train_focus(followed, snapshots).others
    if not others:
        if followed is None:  # the list emptied: redraw once without it, which stops the polling
            st.rerun(scope="app")
        return
    st.markdown("**Other runs in progress**" if followed else "**Runs in progress**")
    for snap in others:
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        c1.markdown(rv.job_line(snap, snapshots))
        if c2.button("Show", key=f"train_follow_{snap.run_id}"):
            follow(snap.run_id, snap.dataset)


def other_jobs_section() -> None:
    """With no run of its own to follow, the page lists the runs in progress, polled while there are any."""
    if services().jobs.snapshots(active_only=True):
        st.fragment(other_jobs, run_every=POLL_S)(None)


def follow(run_id: int, dataset: str) -> None:
    """Follow this run from now on; its dataset becomes the session's (the sidebar names what it watches)."""
    st.session_state[LAST_RUN] = run_id
    st.session_state.pop(SEEN_ACTIVE, None)
    select_dataset(dataset)
    st.rerun(scope="app")
