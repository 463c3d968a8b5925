"""The Data page's report of a scanned dataset: its numbers, findings, images per class, sample
images and skipped files, then the way on to the Wizard."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from resnet_core.data.registry import DatasetInfo
from resnet_core.data.scan import ScanReport
from resnet_core.views import dataset_view
from resnet_core.views.charts import class_counts_bars
from ui.label_panel import label_section
from ui.progress import progress_bar
from ui.shared import PAGES, PERCENT_FORMAT, as_percent_points, friendly_errors, warnings_box

THUMBS_PER_CLASS = 6
MAX_CLASSES_SHOWN = 12


@st.cache_data(max_entries=4000, show_spinner=False)
def thumbnail(path: str, mtime_ns: int):
    """Small, cached: reopening photos on every rerun would make the page sluggish."""
    return dataset_view.thumbnail(path)


def report_section(current: str, info: DatasetInfo, report: ScanReport, flash_key: str) -> None:
    """flash_key: where a message for after the rerun goes (the page shows it)."""
    st.divider()
    st.subheader(current)
    st.caption(f"Images copied into the workspace: `{info.root}`" if info.imported
               else f"Folder on the server: `{info.root}`")
    smallest = dataset_view.smallest_class(report)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Images", f"{report.num_images:,}", border=True)
    m2.metric("Classes", len(report.classes), border=True)
    m3.metric("Smallest class", report.smallest_class_count, border=True,
              help=f"'{smallest}'" if smallest else None)
    m4.metric("Skipped files", len(report.skipped), border=True,
              help="Files that are not usable images; see below for why")
    warnings_box(report.warnings)
    duplicates_section(info, report, current, flash_key)
    label_section(info, report, flash_key)

    if report.counts:
        counts = pd.DataFrame(dataset_view.counts_rows(report))  # largest class first, everywhere below
        chart, table = st.columns([3, 2])
        chart.plotly_chart(class_counts_bars(counts.to_dict("records"),
                                             st.get_option("theme.primaryColor") or "#2563eb"),
                           key="data_counts_chart")
        table.dataframe(as_percent_points(counts, ("share",)), hide_index=True, key="data_counts_table",
                        height=300 if len(counts) > 8 else "auto",
                        column_config={"share": st.column_config.ProgressColumn(
                            "share", format=PERCENT_FORMAT, min_value=0.0, max_value=100.0)})
        table.download_button("Download CSV", counts.to_csv(index=False), f"{current}-classes.csv",
                              "text/csv", key="data_counts_csv", icon=":material/download:")

        with st.expander("Sample images", expanded=True, icon=":material/photo_library:"):
            by_size = list(counts["class"])  # the chart's and the table's order
            shown = by_size
            if len(by_size) > MAX_CLASSES_SHOWN:
                shown = st.multiselect("Classes to show", by_size,
                                       default=by_size[:MAX_CLASSES_SHOWN], key="data_thumb_classes")
                shown = [c for c in by_size if c in shown]
            samples = dataset_view.class_samples(report, THUMBS_PER_CLASS)
            # Two classes a row, read left to right in the chart's order.
            for first in range(0, len(shown), 2):
                for column, cls in zip(st.columns(2), shown[first:first + 2]):
                    column.markdown(f"**{cls}** · {report.counts[cls]:,} images")
                    column.image([thumbnail(str(p), p.stat().st_mtime_ns if p.exists() else 0)
                                  for p in samples[cls]], width=64)

    if report.skipped:
        with st.expander(f"Skipped files ({len(report.skipped):,})", icon=":material/block:"):
            st.dataframe(pd.DataFrame(dataset_view.skipped_summary(report)), hide_index=True,
                         key="data_skipped_table")
            every = pd.DataFrame(dataset_view.skipped_rows(report))
            st.download_button("Download the full list (CSV)", every.to_csv(index=False),
                               f"{current}-skipped.csv", "text/csv", key="data_skipped_csv",
                               icon=":material/download:")

    if st.button("Next: get a recommendation", key="data_next", type="primary",
                 icon=":material/arrow_forward:", disabled=not report.num_images):
        st.switch_page(PAGES["wizard"])


def duplicates_section(info: DatasetInfo, report: ScanReport, name: str, flash_key: str) -> None:
    """Exact and near-duplicate images: their warnings, then the groups in an expander."""
    if not report.num_images:
        return
    check = None
    with friendly_errors(f"check '{name}' for duplicate images"):
        update, bar = progress_bar("Checking for duplicates")
        check = dataset_view.duplicate_check(info, report, progress=update)
        bar.empty()
    if check is None:
        return
    warnings_box(check.warnings)
    if check.leaks and st.button("Make a new split", key="data_new_split", icon=":material/call_split:",
                                 help="The next run splits the images again, each group of duplicates in "
                                      "one part. Runs made before it were tested on other test images, "
                                      "so compare new runs with new runs."):
        with friendly_errors(f"make a new split for '{name}'"):
            dataset_view.new_split(info)
            st.session_state[flash_key] = ("The next run makes a new split that keeps each group of "
                                       "duplicates in one part.")
            st.rerun()
    if not check.rows:
        return
    with st.expander(f"Duplicate images ({len(check.rows):,} groups)", icon=":material/content_copy:"):
        st.caption("Exact copies (the same file) and near-copies (the same picture resized or saved "
                   "again). " + ("The split keeps each group in one part; a split made before the copies "
                             "were found may not: reset it to make a new one." if check.split_saved
                             else "The split made for the first run keeps each group in one part."))
        rows = pd.DataFrame(check.rows)
        st.dataframe(rows, hide_index=True, key="data_duplicates_table")
        st.download_button("Download the groups (CSV)", rows.to_csv(index=False), f"{name}-duplicates.csv",
                           "text/csv", key="data_duplicates_csv", icon=":material/download:")
