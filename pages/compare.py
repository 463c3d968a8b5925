"""Compare: the ranked runs of a dataset (the study's table), cost against accuracy, and one run in detail."""
from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from resnet_core.data.imageio import ImageLoadError, open_rgb
from resnet_core.data.registry import list_datasets
from resnet_core.results.bundle import bundle_name, export_bundle
from resnet_core.results.ranking import STUDY_COLUMNS, comparison_table, ranked_rows
from resnet_core.results.trust import TIE_HELP
from resnet_core.status import ACTIVE
from resnet_core.views.calibration_view import calibration_text, reliability_figure, run_calibration
from resnet_core.views.charts import (
    confusion_heatmap,
    cost_performance,
    per_class_bars,
    selected_cell,
    training_curves,
)
from resnet_core.views.run_details import (
    confusion_pairs,
    has_model,
    misclassified_images,
    per_class_rows,
    run_label,
    score_report,
    unranked_runs,
)
from resnet_core.views.trust_view import CI_COLUMN, TIE_COLUMN, interval_lines, with_trust_text
from ui.shared import (
    PAGES,
    PERCENT_FORMAT,
    PREDICT_RUN,
    as_percent_points,
    dataset_select,
    friendly_errors,
    services,
    study_columns,
    through_the_app,
)

through_the_app()

RUN_KEY = "compare_run"
CONFUSION_KEY = "compare_confusion"
ALL_PAIRS = "all"
ARROW = "\u2192"  # joins true and predicted class in a pair's key
THUMBS_SHOWN = 24
EXPORT_FORMATS = {"torchscript": "TorchScript (.pt)", "onnx": "ONNX (.onnx)"}

TABLE_CONFIG = {
    "run_id": st.column_config.NumberColumn("Run", format="#%d", width=56),  # narrow: room for Status
    **study_columns(),
    "Pareto": st.column_config.CheckboxColumn("Best trade-off", help="On the Pareto front: no other run is "
                                              "both more accurate and faster."),
    "Status": st.column_config.TextColumn("Status", width="small",
                                          help="'cancelled': stopped by hand after an evaluation; ranked on "
                                               "the best model it kept."),
    TIE_COLUMN: st.column_config.TextColumn(TIE_COLUMN, width="small", help=TIE_HELP),
    CI_COLUMN: st.column_config.TextColumn(CI_COLUMN, help="95% bootstrap interval of the test accuracy "
                                           "over the test images."),
}
ACCURACY_COLUMNS = ("Val Acc", "Test Acc")


# ----- the ranking --------------------------------------------------------------------------------

def ranking_section(table: pd.DataFrame, dataset: str) -> None:
    sizes = sorted(table["Images"].dropna().unique())
    # A run cancelled by hand can rank too: say so beside its number when there is one.
    status = ["Status"] if (table["Status"] != "completed").any() else []
    shown = with_trust_text(table)
    columns = ["run_id", *status, *STUDY_COLUMNS, TIE_COLUMN, CI_COLUMN, "Pareto"]
    for size in sizes if len(sizes) > 1 else [None]:
        part = shown if size is None else shown[shown["Images"] == size]
        if size is not None:
            st.markdown(f"**{int(size):,} training images**")
        st.dataframe(as_percent_points(part[columns], ACCURACY_COLUMNS), hide_index=True,
                     column_config=TABLE_CONFIG, key=f"compare_table_{'all' if size is None else int(size)}")
    if len(sizes) == 1:
        st.caption(f"{int(sizes[0]):,} training images · the same test images for every run · "
                   "click a column header to sort.")
    st.download_button("Download CSV", table.to_csv(index=False).encode("utf-8"),
                       file_name=f"{dataset}-runs.csv", mime="text/csv", key="compare_csv",
                       icon=":material/download:")


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
        ranked = [row["run_id"] for row in ranked_rows(choices) if row["Rank"] == 1]
        st.session_state[RUN_KEY] = ranked[0] if ranked else ids[0]
    st.subheader("One run in detail")
    run_id = st.selectbox("Run", ids, key=RUN_KEY, format_func=lambda i: run_label(by_id[i]),
                          help="Best-ranked first by default.")
    record = by_id[run_id]
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
        calibration = run_calibration(svc.workspace, run_id)
        if calibration is None:
            st.info("No calibration for this run: it kept no test predictions (not scored, or scored by an "
                    "older version).")
        else:
            st.markdown(calibration_text(calibration))
            st.plotly_chart(reliability_figure(calibration), key="compare_reliability",
                            config={"displayModeBar": False})
    delete_panel(record)


def pair_key(run_id: int) -> str:
    """One pair selector per run: its options and counts are that run's."""
    return f"compare_pair_{run_id}"


def pick_cell(run_id: int) -> None:
    """A click on the confusion matrix chooses the same (true, predicted) pair as the select box."""
    cell = selected_cell(st.session_state.get(CONFUSION_KEY))
    if cell is not None:
        st.session_state[pair_key(run_id)] = f"{cell[0]}{ARROW}{cell[1]}"


def confusion_panel(record, report) -> None:
    left, right = st.columns([1, 1])
    with left:
        st.plotly_chart(confusion_heatmap(report.classes, report.confusion), key=CONFUSION_KEY,
                        on_select=functools.partial(pick_cell, record.id), selection_mode="points",
                        config={"displayModeBar": False})
        st.caption(f"{report.test_images} test images · rows: true class, columns: predicted. "
                   "Click a cell to see its images.")
    with right:
        key = pair_key(record.id)
        pairs = confusion_pairs(report)
        options = [ALL_PAIRS] + [f"{t}{ARROW}{p}" for t, p, _ in pairs]
        counts = {f"{t}{ARROW}{p}": n for t, p, n in pairs}
        if st.session_state.get(key) not in options:
            clicked = st.session_state.get(key)
            if clicked and ARROW in clicked:
                t, p = clicked.split(ARROW, 1)
                st.caption("That cell is a correct prediction." if t == p else "No test images in that cell.")
            st.session_state[key] = ALL_PAIRS

        def describe(option: str) -> str:
            if option == ALL_PAIRS:
                return f"all ({len(report.misclassified)})"
            t, p = option.split(ARROW, 1)
            return f"true {t} → predicted {p} ({counts[option]})"

        choice = st.selectbox("Misclassified test images", options, key=key, format_func=describe)
        true, predicted = (None, None) if choice == ALL_PAIRS else choice.split(ARROW, 1)
        thumbnails(misclassified_images(record, report, true, predicted))


def thumbnails(items: list[dict]) -> None:
    if not items:
        st.success("No misclassified test images here.", icon=":material/check:")
        return
    cols = st.columns(4)
    for i, item in enumerate(items[:THUMBS_SHOWN]):
        with cols[i % 4]:
            caption = f"{item['true']} → {item['predicted']} ({item['probability']:.0%})"
            if item["file"] is None:
                st.caption(f"{caption} · image no longer on disk")
                continue
            try:
                image = open_rgb(item["file"])
                image.thumbnail((160, 160))
                st.image(image, caption=caption, width="stretch")
            except ImageLoadError as e:
                st.caption(f"{caption} · unreadable: {e}")
    if len(items) > THUMBS_SHOWN:
        st.caption(f"Showing {THUMBS_SHOWN} of {len(items)}.")


def model_panel(record) -> None:
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


def delete_panel(record) -> None:
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
            st.session_state.pop(RUN_KEY, None)
            st.toast(f"Run {record.id} deleted.")
            st.rerun()
    if row.button("Keep it", key="compare_delete_cancel"):
        st.session_state.pop("compare_delete_ask", None)
        st.rerun()


# ----- the page -----------------------------------------------------------------------------------

st.title("Compare")
st.caption("Every scored run of a dataset ranked as in the cost-performance study: accuracy first, "
           "then what it cost. Pick one to see where it goes wrong.")

svc = services()
all_runs = svc.store.list_runs()
dataset_names = sorted({d.name for d in list_datasets(svc.workspace)} | {r.dataset for r in all_runs})
if not all_runs:
    st.info("No runs yet. Train a model and it will be ranked here.", icon=":material/leaderboard:")
    row = st.container(horizontal=True)
    if row.button("Go to Train", key="compare_go_train", type="primary", icon=":material/model_training:"):
        st.switch_page(PAGES["train"])
    if not dataset_names and row.button("Go to Data", key="compare_go_data", icon=":material/upload:"):
        st.switch_page(PAGES["data"])
    st.stop()

with_runs = [d for d in dataset_names if any(r.dataset == d for r in all_runs)]
dataset = dataset_select(dataset_names, "compare_dataset", start_among=with_runs,
                         format_func=lambda d: d if d in with_runs else f"{d} (no runs yet)")
records = [r for r in all_runs if r.dataset == dataset]
table = comparison_table(records, svc.workspace)
active = [r for r in records if r.status in ACTIVE]
if active:
    st.info(f"{len(active)} run{'s are' if len(active) > 1 else ' is'} still training or waiting; "
            "they appear here when they finish.", icon=":material/hourglass_top:")
    st.page_link(PAGES["train"], label="Watch on the Train page", icon=":material/model_training:")

if table.empty:
    st.info("No scored runs for this dataset yet.", icon=":material/leaderboard:")
    if st.button("Go to Train", key="compare_go_train", type="primary", icon=":material/model_training:"):
        st.switch_page(PAGES["train"])
else:
    best = table.iloc[0]
    m1, m2, m3 = st.columns(3)
    m1.metric("Scored runs", len(table))
    cancelled = " (cancelled by hand; ranked on the best model it kept)" if best["Status"] == "cancelled" else ""
    m2.metric("Best test accuracy", f"{best['Test Acc']:.1%}",
              help=f"Run #{best['run_id']}: {best['Model']}{cancelled}")
    m3.metric("On the Pareto front", int(table["Pareto"].sum()),
              help="Runs no other run beats on both accuracy and training time.")
    ranking_section(table, dataset)
    st.subheader("Cost against accuracy")
    st.caption("Up and to the left is better. The dashed line joins the runs no other run beats on both.")
    st.plotly_chart(cost_performance(ranked_rows(records)), key="compare_scatter",
                    config={"displayModeBar": False})
unranked_section(records)
st.divider()
run_section(records, dataset)
