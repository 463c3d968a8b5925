"""Data: bring a labelled image folder in, see what in it is usable, and pick the dataset to work on."""
from __future__ import annotations

import shutil
import time
from pathlib import Path, PurePosixPath

import pandas as pd
import plotly.express as px
import streamlit as st

from resnet_core.advice.estimate import eta_seconds
from resnet_core.data import importing
from resnet_core.data.registry import (
    DatasetInfo,
    dataset_report,
    get_dataset,
    list_datasets,
    register_folder,
)
from resnet_core.data.sample import (
    SAMPLE_DESCRIPTION,
    SAMPLE_NAME,
)
from resnet_core.data.server_roots import check_server_folder, folder_policy
from resnet_core.runs.recovery import DatasetInUseError, delete_dataset_checked
from resnet_core.text import format_rough_duration
from resnet_core.views import dataset_view
from ui.shared import (
    PAGES,
    PERCENT_FORMAT,
    as_percent_points,
    friendly_errors,
    import_sample,
    select_dataset,
    selected_dataset,
    services,
    through_the_app,
    warnings_box,
)

through_the_app()

FLASH = "data_flash"  # a message to show after the rerun that follows an import or a delete
CONFIRM_DELETE = "data_confirm_delete"
THUMBS_PER_CLASS = 6
MAX_CLASSES_SHOWN = 12

svc = services()
ws = svc.workspace


# ----- helpers: progress with ETA, thumbnails, actions ------------------------------------------

def progress_bar(action: str):
    """A progress bar with done/total and the time left, drawn on the first report only (a cached
    scan reports nothing and shows nothing); returns (callback, placeholder to clear)."""
    slot = st.empty()
    started = time.perf_counter()

    def update(done: int, total: int) -> None:
        left = eta_seconds(done, total, time.perf_counter() - started)
        eta = f" — about {format_rough_duration(left)} left" if left is not None and left >= 60 else ""
        slot.progress(min(1.0, done / total) if total else 0.0,
                      text=f"{action}: {done:,} of {total:,} files{eta}")

    return update, slot


@st.cache_data(max_entries=4000, show_spinner=False)
def thumbnail(path: str, mtime_ns: int):
    """Small, cached: reopening photos on every rerun would make the page sluggish."""
    return dataset_view.thumbnail(path)


def finish_import(info: DatasetInfo, message: str) -> None:
    select_dataset(info.name)
    st.session_state[FLASH] = message
    st.rerun()


def derived_name(name: str | None, fallback: str) -> str:
    return (name or "").strip() or fallback


def upload_top_folder(files) -> str:
    """The folder name a directory upload came from ('pets' for 'pets/cat/1.jpg')."""
    parts = PurePosixPath(files[0].name.replace("\\", "/")).parts if files else ()
    return parts[0] if len(parts) > 1 else "uploaded-images"


# ----- page ------------------------------------------------------------------------------------

st.title("Data")
st.caption("Bring in a folder of labelled images — one subfolder per class — and check what a model "
           "will learn from.")

if FLASH in st.session_state:
    st.success(st.session_state.pop(FLASH), icon=":material/check_circle:")

all_datasets: list[DatasetInfo] = []
with friendly_errors("list the datasets"):
    all_datasets = list_datasets(ws)
names = [d.name for d in all_datasets]
if selected_dataset() and selected_dataset() not in names:
    select_dataset(None)  # deleted, perhaps in another browser tab

# Which dataset to work on, and deleting one.
if all_datasets:
    st.subheader("Your datasets")
    # The box shows the selection made anywhere (an import, another page); None shows the placeholder.
    if "data_select" not in st.session_state or st.session_state["data_select"] != selected_dataset():
        st.session_state["data_select"] = selected_dataset()
    by_name = {d.name: d for d in all_datasets}
    pick, delete = st.columns([4, 1], vertical_alignment="bottom")
    # The callback runs before the script, so the sync above never undoes the user's choice.
    choice = pick.selectbox(
        "Dataset to work on", names, key="data_select", placeholder="Choose a dataset",
        on_change=lambda: select_dataset(st.session_state["data_select"]),
        format_func=lambda n: f"{n}  ·  {'imported copy' if by_name[n].imported else 'folder on the server'}")
    if delete.button("Delete…", key="data_delete", disabled=choice is None, icon=":material/delete:",
                     width="stretch"):
        st.session_state[CONFIRM_DELETE] = choice
    target = st.session_state.get(CONFIRM_DELETE)
    if target and target in by_name:
        what = ("its imported images are deleted too" if by_name[target].imported
                else f"the folder {str(by_name[target].root)!r} itself is not touched")
        st.warning(f"Delete the dataset **{target}**? Its runs stay in the run list; {what}.",
                   icon=":material/warning:")
        yes, no, _ = st.columns([1, 1, 4])
        if yes.button("Yes, delete", key="data_delete_confirm", type="primary"):
            st.session_state.pop(CONFIRM_DELETE, None)
            with friendly_errors(f"delete '{target}'"):
                try:
                    # Refused while a queued or running run uses it; its decoded-image cache goes too.
                    delete_dataset_checked(target, ws, svc.store)
                except DatasetInUseError as e:
                    st.error(f"{e} Runs can be cancelled on the Train page.", icon=":material/block:")
                else:
                    if selected_dataset() == target:
                        select_dataset(None)
                    st.session_state[FLASH] = f"Deleted the dataset '{target}'."
                    st.rerun()
        if no.button("Cancel", key="data_delete_cancel"):
            st.session_state.pop(CONFIRM_DELETE, None)
            st.rerun()
else:
    with st.container(border=True):
        st.markdown("**No datasets yet.** Add your own below, or start with the built-in sample in one click.")
        st.caption(SAMPLE_DESCRIPTION)
        if st.button("Use the sample dataset", key="data_sample_quick", type="primary",
                     icon=":material/checkroom:"):
            imported = import_sample()
            if imported:
                finish_import(imported[0], f"Imported the sample as '{imported[0].name}'.")

# Four ways in.
limit_mb = st.get_option("server.maxUploadSize")
with st.expander("Add a dataset", expanded=not all_datasets, icon=":material/add_circle:"):
    up_dir, up_zip, on_server, builtin = st.tabs(
        ["Upload a folder", "Upload a .zip", "Folder on the server", "Built-in sample"])
    with up_dir:
        st.caption(f"Choose the folder that holds one subfolder per class (each file up to {limit_mb:,} MB).")
        files = st.file_uploader("Image folder", accept_multiple_files="directory", key="data_upload_dir")
        if files:  # the uploader lists files one chip at a time; say what was chosen in one line
            size_mb = sum(f.size for f in files) / 1e6
            st.caption(f"{len(files):,} files ({size_mb:,.1f} MB) from the folder '{upload_top_folder(files)}'.")
        name = st.text_input("Dataset name", key="data_upload_dir_name",
                             placeholder=upload_top_folder(files) if files else "taken from the folder name")
        if st.button("Import folder", key="data_upload_dir_import", disabled=not files, type="primary"):
            with friendly_errors("import the uploaded folder"), st.spinner(f"Saving {len(files):,} files…"):
                info = importing.import_uploaded_files(
                    [(f.name, f) for f in files], derived_name(name, upload_top_folder(files)), ws)
                finish_import(info, f"Imported {len(files):,} files as '{info.name}'.")
    with up_zip:
        st.caption(f"A .zip of the dataset folder, up to {limit_mb:,} MB.")
        archive = st.file_uploader("Zip file", type=["zip"], key="data_upload_zip")
        name = st.text_input("Dataset name", key="data_zip_name",
                             placeholder=Path(archive.name).stem if archive else "taken from the file name")
        if st.button("Import zip", key="data_zip_import", disabled=archive is None, type="primary"):
            with friendly_errors("import the zip"):
                scratch = ws.scratch_dir("upload")  # owned by this process, so start-up leaves it alone
                try:
                    # The user's file name, so a message about the archive names the file they chose.
                    zip_path = scratch / (importing.sanitize_component(PurePosixPath(
                        archive.name.replace("\\", "/")).name) or "upload.zip")
                    zip_path.write_bytes(archive.getvalue())
                    update, bar = progress_bar("Extracting")
                    info = importing.import_dataset(zip_path, derived_name(name, Path(archive.name).stem),
                                                    ws, progress=update)
                    bar.empty()
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
                finish_import(info, f"Imported '{archive.name}' as '{info.name}'.")
    with on_server:
        st.caption("A folder on the machine running ResNet Pilot. It is read, never changed, and not "
                   "copied: the dataset refers to it.")
        # Others may reach a server that does not listen on localhost: it reads only under the data roots.
        policy = folder_policy(st.get_option("server.address"), ws)
        if not policy.local:
            st.caption(policy.describe())
        path = st.text_input("Folder path", key="data_path", placeholder="/data/pets")
        name = st.text_input("Dataset name", key="data_path_name",
                             placeholder=Path(path.strip()).name if path.strip() else "taken from the folder name")
        # Not disabled while empty: a typed path is committed by the same click that submits it.
        if st.button("Add folder", key="data_path_add", type="primary"):
            if not path.strip():
                st.error("Type the path of a folder whose subfolders are the classes, then add it.")
            else:
                with friendly_errors("add the folder"):
                    check_server_folder(path.strip(), policy)
                    info = register_folder(path.strip(), ws, name=name.strip() or None)
                    finish_import(info, f"Added the folder as '{info.name}'.")
    with builtin:
        st.caption(SAMPLE_DESCRIPTION)
        if st.button("Use the sample", key="data_sample", type="primary", icon=":material/checkroom:"):
            imported = import_sample()
            if imported:
                info, created = imported
                finish_import(info, f"Imported the sample as '{info.name}'." if created
                              else f"Selected the sample '{SAMPLE_NAME}' (already imported).")

# The scan report of the selected dataset.
current = selected_dataset()
if current:
    report = None
    with friendly_errors(f"scan '{current}'"):
        info = get_dataset(current, ws)
        update, bar = progress_bar("Scanning")
        report = dataset_report(info, progress=update)
        bar.empty()
    if report is not None:
        st.divider()
        st.subheader(current)
        st.caption(f"Images copied into the workspace: `{info.root}`" if info.imported
                   else f"Folder on the server: `{info.root}`")
        smallest = min(report.counts, key=lambda c: (report.counts[c], c)) if report.counts else None
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Images", f"{report.num_images:,}", border=True)
        m2.metric("Classes", len(report.classes), border=True)
        m3.metric("Smallest class", report.smallest_class_count, border=True,
                  help=f"'{smallest}'" if smallest else None)
        m4.metric("Skipped files", len(report.skipped), border=True,
                  help="Files that are not usable images; see below for why")
        warnings_box(report.warnings)

        if report.counts:
            counts = pd.DataFrame(dataset_view.counts_rows(report))  # largest class first, everywhere below
            chart, table = st.columns([3, 2])
            fig = px.bar(counts, x="class", y="images", text="images",
                         color_discrete_sequence=[st.get_option("theme.primaryColor") or "#2563eb"])
            fig.update_layout(title="Images per class", height=340, margin=dict(l=10, r=10, t=40, b=10),
                              xaxis_title=None, yaxis_title="images")
            chart.plotly_chart(fig, key="data_counts_chart")
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
                every = pd.DataFrame([{"file": s.path, "reason": s.reason, "size": s.detail} for s in report.skipped])
                st.download_button("Download the full list (CSV)", every.to_csv(index=False),
                                   f"{current}-skipped.csv", "text/csv", key="data_skipped_csv",
                                   icon=":material/download:")

        if st.button("Next: get a recommendation", key="data_next", type="primary",
                     icon=":material/arrow_forward:", disabled=not report.num_images):
            st.switch_page(PAGES["wizard"])
elif all_datasets:
    st.info("Choose a dataset above to see its report.", icon=":material/arrow_upward:")
