"""Compare's ranked table: the study's columns with the dashboard's (name, status, class-fair scores, tie
mark, interval, trade-off, split leaks, the settings, note), one table per number of training images, its
CSV, and what it ranks by."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from resnet_core.results.ranking import SETTING_COLUMNS, STUDY_COLUMNS
from resnet_core.results.trust import TIE_HELP
from resnet_core.views import glossary
from resnet_core.views.trust_view import BALANCED_CI_COLUMN, CI_COLUMN, F1_CI_COLUMN, TIE_COLUMN, with_trust_text
from ui.shared import as_percent_points, class_fair_columns, study_columns

TABLE_CONFIG = {
    "run_id": st.column_config.NumberColumn("Run", format="#%d", width=56),  # narrow: room for Status
    **study_columns(),
    "Pareto": st.column_config.CheckboxColumn("Best trade-off", help=glossary.BEST_TRADE_OFF),
    "Status": st.column_config.TextColumn("Status", width="small",
                                          help="'cancelled': stopped by hand after an evaluation; ranked on "
                                               "the best model it kept."),
    **class_fair_columns(),
    TIE_COLUMN: st.column_config.TextColumn(TIE_COLUMN, width="small", help=TIE_HELP),
    CI_COLUMN: st.column_config.TextColumn(CI_COLUMN, help="95% bootstrap interval of the test accuracy "
                                           "over the test images."),
    BALANCED_CI_COLUMN: st.column_config.TextColumn(BALANCED_CI_COLUMN, help="95% bootstrap interval of the "
                                                    "balanced accuracy over the test images."),
    F1_CI_COLUMN: st.column_config.TextColumn(F1_CI_COLUMN, help="95% bootstrap interval of the macro-F1 "
                                              "over the test images."),
    "Repeats": st.column_config.NumberColumn("Repeats", format="×%d",
                                             help="Runs of this configuration with different seeds: its "
                                                  "scores and time are their mean, and it ranks by the mean."),
    "Test Acc SD": st.column_config.NumberColumn("± SD", format="± %.1f",
                                                 help="Standard deviation of the test accuracy over the "
                                                      "repeats, in percentage points."),
    "Balanced Acc SD": st.column_config.NumberColumn("Balanced ± SD", format="± %.1f",
                                                     help="Standard deviation of the balanced accuracy "
                                                          "over the repeats, in percentage points."),
    "Training Time SD": st.column_config.NumberColumn("Time ± SD", format="± %.0f s",
                                                      help="Standard deviation of the training time over "
                                                           "the repeats."),
    "Split Leaks": st.column_config.NumberColumn("Split leaks", help="Test images with a copy or near-copy "
                                                 "among the run's training images: its test accuracy is optimistic."),
    "Name": st.column_config.TextColumn("Name", help="Your name for the run: set it below, under One run in "
                                                     "detail, or with `python -m resnet_core rename`."),
    "Note": st.column_config.TextColumn("Note", width="large"),
    "Epochs": st.column_config.NumberColumn("Epochs", format="%d", help="Epochs planned; Epoch Ended says "
                                                                        "where early stopping ended it."),
    "Batch Size": st.column_config.NumberColumn("Batch size", format="%d",
                                                help="The batch size it trained with (lowered when memory ran out)."),
    "Learning Rate": st.column_config.NumberColumn("Learning rate", format="%.1e"),
    "Image Size": st.column_config.NumberColumn("Image size", format="%d px"),
    "Weights": st.column_config.TextColumn("Weights", help="What the network started from: ImageNet weights, "
                                                           "random initialisation, or a file of yours."),
}
SETTINGS = [c for c in SETTING_COLUMNS if c not in ("Name", "Note")]  # between the scores and the note
ACCURACY_COLUMNS = ("Val Acc", "Test Acc", "Balanced Acc", "Macro F1", "Test Acc SD", "Balanced Acc SD")
RANK_BALANCED = "compare_rank_balanced"


def rank_by_toggle() -> str:
    """What the table ranks by: 'accuracy' (the study's order) or 'balanced' when the toggle is on."""
    return "balanced" if st.toggle(
        "Rank by balanced accuracy", key=RANK_BALANCED,
        help="Order by the mean of the per-class recalls instead of test accuracy: on imbalanced classes a "
             "model can score high accuracy by favouring the large ones. The Study page ranks by accuracy, "
             "as the reference study does.") else "accuracy"


# ----- the ranking --------------------------------------------------------------------------------

def ranking_section(table: pd.DataFrame, dataset: str) -> None:
    sizes = sorted(table["Images"].dropna().unique())
    # A run cancelled by hand can rank too: say so beside its number when there is one.
    status = ["Status"] if (table["Status"] != "completed").any() else []
    # A configuration repeated with other seeds: its row holds means; say over how many and how spread.
    repeated = ["Repeats", "Test Acc SD", "Balanced Acc SD", "Training Time SD"] if (
        table["Repeats"] > 1).any() else []
    shown = with_trust_text(table)
    # Runs whose split let copies of test images into training: marked, and said why.
    leaky = ["Split Leaks"] if (table["Split Leaks"].fillna(0) > 0).any() else []
    if leaky:
        st.warning("Some runs were tested on images with a copy in their training images (Split leaks): "
                   "their test accuracy is optimistic. Make a new split on the Data page and train again.",
                   icon=":material/warning:")
    at = STUDY_COLUMNS.index("Test Acc") + 1  # the class-fair scores beside accuracy
    # The study's columns keep their order; the user's name leads, the settings and the note follow.
    columns = ["run_id", *status, "Name", *STUDY_COLUMNS[:at], "Balanced Acc", "Macro F1", *STUDY_COLUMNS[at:],
               TIE_COLUMN, CI_COLUMN, BALANCED_CI_COLUMN, F1_CI_COLUMN, *repeated, "Pareto", *leaky, *SETTINGS, "Note"]
    for size in sizes if len(sizes) > 1 else [None]:
        part = shown if size is None else shown[shown["Images"] == size]
        if size is not None:
            st.markdown(f"**{int(size):,} training images**")
        st.dataframe(as_percent_points(part[columns], ACCURACY_COLUMNS), hide_index=True,
                     column_config=TABLE_CONFIG, key=f"compare_table_{'all' if size is None else int(size)}")
    if len(sizes) == 1:
        st.caption(f"{int(sizes[0]):,} training images · the same test images for every run · "
                   "click a column header to sort.")
    if repeated:
        st.caption("A configuration with repeats (×N) is one row: the mean of its runs, ranked by the mean, "
                   "± their standard deviation.")
    st.download_button("Download CSV", table.to_csv(index=False).encode("utf-8"),
                       file_name=f"{dataset}-runs.csv", mime="text/csv", key="compare_csv",
                       icon=":material/download:")
