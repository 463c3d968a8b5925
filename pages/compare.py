"""Compare: the ranked runs of a dataset (the study's table), cost against accuracy, and one run in detail."""
from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from resnet_core.data.imageio import ImageLoadError
from resnet_core.status import ACTIVE
from resnet_core.views import glossary
from resnet_core.views.charts import (
    confusion_heatmap,
    cost_performance,
    per_class_bars,
    selected_cell,
    training_curves,
)
from resnet_core.views.compare_view import compare_datasets, compare_summary
from resnet_core.views.run_details import (
    ALL_PAIRS,
    ARROW,
    default_run,
    empty_cell_note,
    in_rows,
    misclassified_caption,
    misclassified_images,
    pair_choices,
    per_class_rows,
    run_label,
    score_report,
    split_pair,
    square_thumbnail,
    unranked_runs,
)
from resnet_core.views.trust_view import interval_lines
from ui.calibration_panel import calibration_panel
from ui.ranking_table import rank_by_toggle, ranking_section
from ui.run_actions import delete_panel, label_panel, model_panel, repeat_panel
from ui.shared import (
    PAGES,
    PERCENT_FORMAT,
    as_percent_points,
    dataset_select,
    services,
    through_the_app,
    workspace_datasets,
)

through_the_app()

RUN_KEY = "compare_run"
CONFUSION_KEY = "compare_confusion"
PAIR_KEY = "compare_pair_{}"  # one pair selector per run: its options and counts are that run's
THUMBS_SHOWN = 24

def unranked_section(records) -> None:
    rows = unranked_runs(records)
    if not rows:
        return
    st.subheader("Runs without a score")
    st.caption("Failed, cancelled before their first evaluation, or interrupted: not ranked.")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="compare_unranked",
                 column_config={"Run": st.column_config.NumberColumn("Run", format="#%d"),
                                "What happened": st.column_config.TextColumn("What happened", width="large")})


# ----- one run ------------------------------------------------------------------------------------

def run_section(records, dataset: str) -> None:
    choices = list(records)  # newest first; active runs too, so deleting one can say why it must wait
    if not choices:
        return
    ids = [r.id for r in choices]
    by_id = {r.id: r for r in choices}
    if st.session_state.get(RUN_KEY) not in ids:
        st.session_state[RUN_KEY] = default_run(choices, dataset)
    st.subheader("One run in detail")
    run_id = st.selectbox("Run", ids, key=RUN_KEY, format_func=lambda i: run_label(by_id[i]),
                          help="Best-ranked first by default.")
    record = by_id[run_id]
    label_panel(record)
    svc = services()
    if record.error:
        st.error(f"This run failed: {record.error}")
    elif record.status in ACTIVE:
        st.info(f"This run is {record.status}; its scores appear when it finishes.", icon=":material/hourglass_top:")
    tabs = st.tabs(["Curves", "Confusion matrix", "Per class", "Model file", "Calibration"])
    with tabs[0]:
        epochs = svc.store.epochs(run_id)
        if epochs:
            st.plotly_chart(training_curves(epochs, best_epoch=record.best_epoch or None,
                                            stopped_epoch=record.epoch_ended if record.stopped_early else None,
                                            planned_epochs=record.config.epochs if record.config else None),
                            key="compare_curves", config={"displayModeBar": False})
        else:
            st.info("This run finished no epoch, so there are no curves.")
        if record.notes:
            st.markdown("\n".join(f"- {n}" for n in record.notes))
        lines = interval_lines(svc.workspace, run_id)
        if lines:
            st.markdown("\n".join(f"- {line}" for line in lines[:-1]))
            st.caption(lines[-1])
    report = score_report(record)
    with tabs[1]:
        if report is None:
            st.info("No test report: the run was not scored on the test images.")
        else:
            confusion_panel(record, report)
    with tabs[2]:
        if report is None or not report.per_class:
            st.info("No per-class scores for this run.")
        else:
            rows = as_percent_points(pd.DataFrame(per_class_rows(report)), ("Precision", "Recall", "F1"))
            st.dataframe(rows, hide_index=True, key="compare_per_class", column_config={
                name: st.column_config.NumberColumn(name, format=PERCENT_FORMAT)
                for name in ("Precision", "Recall", "F1")})
            st.plotly_chart(per_class_bars(report.per_class), key="compare_per_class_chart",
                            config={"displayModeBar": False})
    with tabs[3]:
        model_panel(record)
    with tabs[4]:
        calibration_panel(svc.workspace, run_id)
    repeat_panel(record)
    delete_panel(record, forget_key=RUN_KEY)


def pick_cell(run_id: int) -> None:
    """A click on the confusion matrix chooses the same (true, predicted) pair as the select box."""
    cell = selected_cell(st.session_state.get(CONFUSION_KEY))
    if cell is not None:
        st.session_state[PAIR_KEY.format(run_id)] = f"{cell[0]}{ARROW}{cell[1]}"


def confusion_panel(record, report) -> None:
    left, right = st.columns([1, 1])
    with left:
        st.plotly_chart(confusion_heatmap(report.classes, report.confusion), key=CONFUSION_KEY,
                        on_select=functools.partial(pick_cell, record.id), selection_mode="points",
                        config={"displayModeBar": False})
        st.caption(f"{report.test_images} test images · rows: true class, columns: predicted. "
                   "Click a cell to see its images.")
    with right:
        key = PAIR_KEY.format(record.id)
        choices = pair_choices(report)
        if st.session_state.get(key) not in choices:
            note = empty_cell_note(st.session_state.get(key))  # a click on a cell without images
            if note:
                st.caption(note)
            st.session_state[key] = ALL_PAIRS
        choice = st.selectbox("Misclassified test images", list(choices), key=key, format_func=choices.get)
        true, predicted = split_pair(choice)
        thumbnails(misclassified_images(record, report, true, predicted), f"compare_all_thumbs_{record.id}")


def thumbnail_cell(item: dict) -> None:
    caption = misclassified_caption(item)
    if item["file"] is None:
        st.caption(f"{caption} · image no longer on disk")
        return
    try:
        st.image(square_thumbnail(item["file"]), caption=caption, width="stretch")
    except ImageLoadError as e:
        st.caption(f"{caption} · unreadable: {e}")


def thumbnails(items: list[dict], show_all_key: str) -> None:
    if not items:
        st.success("No misclassified test images here.", icon=":material/check:")
        return
    # The first THUMBS_SHOWN at once; the rest on request (each is an image read from disk).
    show_all = len(items) > THUMBS_SHOWN and st.toggle(f"Show all {len(items)}", key=show_all_key)
    shown = items if show_all else items[:THUMBS_SHOWN]
    # One row of columns per four items, each image drawn with its own caption: the rows line up.
    for row in in_rows(shown, 4):
        for column, item in zip(st.columns(4), row):
            with column:
                thumbnail_cell(item)
    if len(shown) < len(items):
        st.caption(f"Showing {len(shown)} of {len(items)}: 'Show all {len(items)}' above shows the rest.")


# ----- the page -----------------------------------------------------------------------------------

st.title("Compare")
st.caption("Every scored run of a dataset ranked as in the cost-performance study: accuracy first, "
           "then what it cost. Pick one to see where it goes wrong.")

svc = services()
all_runs = svc.store.list_runs()
dataset_names, with_runs = compare_datasets((d.name for d in workspace_datasets()), all_runs)
if not all_runs:
    st.info("No runs yet. Train a model and it will be ranked here.", icon=":material/leaderboard:")
    row = st.container(horizontal=True)
    if row.button("Go to Train", key="compare_go_train", type="primary", icon=":material/model_training:"):
        st.switch_page(PAGES["train"])
    if not dataset_names and row.button("Go to Data", key="compare_go_data", icon=":material/upload:"):
        st.switch_page(PAGES["data"])
    st.stop()

dataset = dataset_select(dataset_names, "compare_dataset", start_among=with_runs,
                         format_func=lambda d: d if d in with_runs else f"{d} (no runs yet)")
records = [r for r in all_runs if r.dataset == dataset]
rank_by = rank_by_toggle()
summary = compare_summary(records, svc.workspace, rank_by)
if summary.active:
    st.info(summary.active_text(), icon=":material/hourglass_top:")
    st.page_link(PAGES["train"], label="Watch on the Train page", icon=":material/model_training:")

if summary.best is None:
    st.info("No scored runs for this dataset yet.", icon=":material/leaderboard:")
    if st.button("Go to Train", key="compare_go_train", type="primary", icon=":material/model_training:"):
        st.switch_page(PAGES["train"])
else:
    m1, m2, m3 = st.columns(3)
    configurations = len(summary.table)  # a configuration repeated with other seeds is one row
    scored = int(summary.table["Repeats"].sum())
    m1.metric("Scored runs", scored,
              help=f"In {configurations} configurations." if scored != configurations else None)
    best_label, best_score = summary.best_score()
    m2.metric(best_label, f"{best_score:.1%}", help=summary.best_help())
    m3.metric(glossary.BEST_TRADE_OFFS, summary.on_front, help=glossary.BEST_TRADE_OFF)
    ranking_section(summary.table, dataset)
    st.subheader("Cost against accuracy")
    st.caption("Up and to the left is better. The dashed line joins the runs no other run beats on both.")
    st.plotly_chart(cost_performance(summary.rows), key="compare_scatter", config={"displayModeBar": False})
unranked_section(records)
st.divider()
run_section(records, dataset)
