"""The Study page's lower half: a saved study's progress (polled while it runs), its ranked tables,
charts and conclusion, and the message shown after an action (launch, stop). The plan half is
pages/study.py; all numbers come from resnet_core.views and resnet_core.study."""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from resnet_core.results.trust import TIE_HELP
from resnet_core.study.plan import StudyPlan, list_studies
from resnet_core.study.race_compare import race_against_study
from resnet_core.study.run import cancel_study, gpu_slots, run_study
from resnet_core.study.summary import format_tables, study_conclusion, study_tables
from resnet_core.views import glossary
from resnet_core.views.charts import cost_performance, learning_curves
from resnet_core.views.study_plan_view import cached_estimates, pick_words, same_pick_everywhere, study_label
from resnet_core.views.study_view import (
    chart_rows,
    finished_count,
    grid_column,
    overall_progress,
    progress_grid,
    result_rows,
    size_label,
    study_cells,
)
from resnet_core.views.trust_view import CI_COLUMN, TIE_COLUMN
from ui.shared import PAGES, as_percent_points, class_fair_columns, friendly_errors, services, study_columns

OPEN_KEY = "study_open"  # the study shown under "Progress and results"
_FLASH = "study_flash"  # (kind, message) shown once after the rerun that follows an action
_DRAWN = "study_drawn"  # (study id, completed, active) the last full run drew
POLL_S = 1.5
FLASH_S = 8.0  # how long a message about an action stays

TABLE_CONFIG = {
    **study_columns(),
    **class_fair_columns(),
    "Best trade-off": st.column_config.CheckboxColumn("Best trade-off",
                                                      help=glossary.BEST_TRADE_OFF + " Within its size."),
    "Run": st.column_config.NumberColumn("Run", format="#%d"),
    "Status": st.column_config.TextColumn("Status"),
    TIE_COLUMN: st.column_config.TextColumn(TIE_COLUMN, width="small", help=TIE_HELP),
    CI_COLUMN: st.column_config.TextColumn(CI_COLUMN, help="95% bootstrap interval of the test accuracy "
                                           "over the test images."),
}
TABLE_COLUMNS = ["Model", "Val Loss", "Val Acc", "Test Acc", "Training Time", "Epoch Ended", "Rank",
                 "Balanced Acc", "Macro F1", TIE_COLUMN, CI_COLUMN, "Best trade-off", "Run"]

PERCENT_COLUMNS = ("Val Acc", "Test Acc", "Balanced Acc", "Macro F1")  # fractions, shown as percentages


# ----- messages after an action ------------------------------------------------------------------

def flash(kind: str, message: str, where: str = "progress") -> None:
    """A message for the rerun that follows an action, drawn where it belongs (the sizes or the progress)."""
    st.session_state[_FLASH] = (kind, message, where, time.monotonic())


def show_flash(where: str) -> None:
    """Shown for a few seconds of reruns: the polling's own reruns would otherwise wipe it at once."""
    item = st.session_state.get(_FLASH)
    if not item or item[2] != where:
        return
    kind, message, _, when = item
    if time.monotonic() - when > FLASH_S:
        st.session_state.pop(_FLASH, None)
        return
    icons = {"success": ":material/check_circle:", "info": ":material/info:", "warning": ":material/stop_circle:",
             "error": ":material/error:"}
    getattr(st, kind)(message, icon=icons[kind])


def launch(plan: StudyPlan) -> None:
    result = None
    with friendly_errors("launch the study"):
        slots = gpu_slots()
        result = run_study(plan, services().workspace, services().store, jobs=services().jobs, slots=slots)
    if result is None:
        return
    st.session_state[OPEN_KEY] = plan.study_id
    st.session_state.pop(_DRAWN, None)
    skipped = f" {len(result.skipped)} finished configuration(s) skipped." if result.skipped else ""
    if result.ran:
        how = f"{len(slots)} at once, one per GPU" if slots else "one after another"
        flash("success", f"Queued {len(result.ran)} run(s); they train {how}.{skipped}")
    else:
        flash("info", f"Nothing new to run: every configuration is done or already queued.{skipped}")
    st.rerun()


# ----- progress -----------------------------------------------------------------------------------

def progress_section(plan: StudyPlan, show_resume: bool) -> None:
    cells = study_cells(plan, services().store, services().jobs.snapshots())
    state = overall_progress(cells)
    st.session_state[_DRAWN] = (plan.study_id, state.completed, state.is_active)
    show_flash("progress")
    st.fragment(progress_fragment, run_every=POLL_S if state.is_active else None)(plan, show_resume)


def progress_fragment(plan: StudyPlan, show_resume: bool) -> None:
    cells = study_cells(plan, services().store, services().jobs.snapshots())
    state = overall_progress(cells, cached_estimates(plan))
    if st.session_state.get(_DRAWN) != (plan.study_id, state.completed, state.is_active):
        # A configuration finished (or the study stopped): redraw the tables, charts and buttons.
        st.rerun(scope="app")
    st.progress(state.fraction, text=state.text())
    grid = pd.DataFrame(progress_grid(plan, cells))
    st.dataframe(grid, hide_index=True, key="study_grid", column_config={
        "Configuration": st.column_config.TextColumn("Configuration", width="medium"),
        **{grid_column(n): st.column_config.TextColumn(size_label(n, plan.num_train_available))
           for n in plan.sizes}})
    now = [c for c in cells if c.status in ("running", "preparing")]
    if now:
        c = now[0]
        st.caption(f"Now training: {c.config} on {c.num_images:,} images (run #{c.run_id}). "
                   "Follow it live on the Train page.")
    row = st.container(horizontal=True)
    if state.is_active:
        if row.button("Stop the study", key="study_stop", icon=":material/stop:",
                      help="Cancels the queued runs and stops the running one after its current batch. "
                           "Finished configurations are kept."):
            stopped = cancel_study(plan, services().store, services().jobs)
            flash("warning", f"Stopping {len(stopped)} run(s). Finished configurations are kept; launch the "
                             "study again to resume.")
            st.rerun(scope="app")
        row.page_link(PAGES["train"], label="Watch on the Train page", icon=":material/model_training:")
    elif state.is_complete:
        return
    elif show_resume:
        if row.button("Resume this study", key="study_resume", type="primary", icon=":material/play_arrow:",
                      help="Runs only the configurations not finished; finished ones are skipped."):
            launch(plan)
    elif any(c.run_id is not None for c in cells):
        st.caption(f"Stopped with {state.total - state.completed} configuration(s) to go. Launch the study again "
                   "(above) to resume: finished configurations are skipped.")


# ----- results ------------------------------------------------------------------------------------

def results_section(plan: StudyPlan) -> None:
    tables = study_tables(plan, services().store)
    if not finished_count(tables):
        st.info("Results appear here as configurations finish: one ranked table per size, the learning "
                "curve, cost against accuracy and a written conclusion.", icon=":material/hourglass_top:")
        return
    picks = plan.wizard_pick_names()
    with st.container(border=True):
        st.markdown("**Conclusion**")
        st.markdown("\n".join(f"- {line}" for line in study_conclusion(tables, picks)))
    race_box(plan, tables)

    rows = result_rows(tables)
    frame = pd.DataFrame(rows)
    same_pick = same_pick_everywhere(plan)
    if same_pick:
        st.caption(f"The wizard's pick at every size: {same_pick}.")
    waiting = []
    for table in tables:
        n = table["num_images"]
        part = frame[frame["Training images"] == n]
        if part["Rank"].isna().all():
            waiting.append(f"{n:,}")
            continue
        st.markdown(f"**{n:,} training images**")
        pick = plan.wizard_picks.get(n)
        if pick and same_pick is None:
            st.caption(f"The wizard's pick at this size: {pick_words(pick)}.")
        columns = TABLE_COLUMNS + (["Status"] if (part["Status"] != "completed").any() else [])
        st.dataframe(as_percent_points(part[columns], PERCENT_COLUMNS), hide_index=True,
                     column_config=TABLE_CONFIG, key=f"study_table_{n}",
                     placeholder="—")
    if waiting:
        st.caption(f"{', '.join(waiting)} training images: no configuration has finished yet.")
    st.caption(f"Ranked within each size by test accuracy, then validation loss, then training time · the same "
               f"{plan.num_test:,} test images for every run · click a column header to sort.")
    row = st.container(horizontal=True)
    row.download_button("Download CSV", frame.to_csv(index=False).encode("utf-8"),
                        file_name=f"{plan.study_id}.csv", mime="text/csv", key="study_csv",
                        icon=":material/download:")
    row.download_button("Download as Markdown", format_tables(tables).encode("utf-8"),
                        file_name=f"{plan.study_id}.md", mime="text/markdown", key="study_markdown",
                        icon=":material/description:", help="The tables in the reference study's layout.")

    curve_tab, cost_tab = st.tabs(["Learning curve", "Cost against accuracy"])
    with curve_tab:
        if len(tables) > 1:
            st.caption("Test accuracy at each size: a line still rising means more data still helps.")
            st.plotly_chart(learning_curves(tables), key="study_learning_curve", config={"displayModeBar": False})
        else:
            st.caption("Study two or more sizes to see whether more data still helps.")
    with cost_tab:
        st.caption("Test accuracy against training time, one colour per size. Up and to the left is better; "
                   "the dashed line joins the configurations no other of the same size beats on both.")
        figure = cost_performance(chart_rows(tables))
        figure.update_layout(height=440)  # room for a legend entry per size above the plot
        st.plotly_chart(figure, key="study_cost_chart", config={"displayModeBar": False})


def race_box(plan: StudyPlan, tables) -> None:
    """The Wizard's race on this dataset against the study's best, when both exist."""
    comparison = race_against_study(plan.dataset, tables, services().workspace)
    if comparison is None:
        return
    with st.container(border=True, key="study_race_compare"):
        st.markdown("**The Wizard's race against the study**")
        st.markdown("\n".join(f"- {line}" for line in comparison.sentences()))
        st.caption("The race ('Check on my data' on the Wizard page) trains each candidate briefly on small parts "
                   "of the training images; the study trains every configuration in full.")


def open_study_section(dataset: str, planned_id: str | None) -> None:
    studies = list_studies(services().workspace, dataset)
    st.subheader("Progress and results")
    if not studies:
        st.caption("No study on this dataset yet: plan one above and launch it.")
        return
    by_id = {p.study_id: p for p in studies}
    if st.session_state.get(OPEN_KEY) not in by_id:
        st.session_state[OPEN_KEY] = planned_id if planned_id in by_id else studies[0].study_id
    labels = {i: study_label(p, study_cells(p, services().store)) for i, p in by_id.items()}
    if len(studies) > 1:
        st.selectbox("Study", list(by_id), key=OPEN_KEY, format_func=labels.get,
                     help="Every study of this dataset, newest first.")
    else:
        st.caption(labels[studies[0].study_id])
    plan = by_id[st.session_state[OPEN_KEY]]
    progress_section(plan, show_resume=plan.study_id != planned_id)
    results_section(plan)
