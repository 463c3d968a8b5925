"""Data: bring a labelled image folder in, see what in it is usable, and pick the dataset to work on."""
from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

import pandas as pd
import streamlit as st

from resnet_core.data import importing
from resnet_core.data.registry import (
    DatasetInfo,
    dataset_origin,
    dataset_report,
    get_dataset,
    register_folder,
)
from resnet_core.data.sample import (
    SAMPLE_DESCRIPTION,
    SAMPLE_NAME,
)
from resnet_core.data.server_roots import check_server_folder, folder_policy
from resnet_core.runs.recovery import DatasetInUseError, delete_dataset_checked
from resnet_core.views import dataset_view
from ui.dataset_report import report_section
from ui.folder_upload import folder_uploader, forget_upload
from ui.progress import progress_bar
from ui.shared import (
    friendly_errors,
    sample_button,
    select_dataset,
    selected_dataset,
    services,
    through_the_app,
    workspace_datasets,
)

through_the_app()

FLASH = "data_flash"  # a message to show after the rerun that follows an import or a delete
CONFIRM_DELETE = "data_confirm_delete"
UPLOAD_KEY = "data_upload_folder"

svc = services()
ws = svc.workspace


# ----- helpers: progress with ETA, thumbnails, actions ------------------------------------------

def finish_import(info: DatasetInfo, message: str) -> None:
    select_dataset(info.name)
    st.session_state[FLASH] = message
    st.rerun()


@st.fragment
def upload_folder_tab() -> None:
    """The folder upload reruns on its own as batches arrive, not the whole page."""
    st.caption("Choose the folder that holds one subfolder per class. Every file is counted: the import "
               "is offered once all of them have arrived. 20,000 small images take under a minute; for much "
               "larger folders a folder on the server is quickest (nothing is copied).")
    upload = folder_uploader(UPLOAD_KEY, ws)
    if upload is None:
        return
    mb = upload.chosen_bytes / 1e6
    st.caption(f"{upload.received_files:,} of {upload.chosen_files:,} files ({mb:,.1f} MB) from the folder "
               f"'{upload.top_folder()}' have arrived.")
    if not upload.finished and not upload.complete:
        # The uploader shows the progress; nothing to import yet.
        st.caption("The import is offered once every file has arrived. If sending stopped (the page was "
                   "left or reloaded), choose the folder again.")
        return
    missing = upload.missing()
    name = st.text_input("Dataset name", key="data_upload_dir_name", placeholder=upload.top_folder())
    if not missing:
        if st.button("Import folder", key="data_upload_dir_import", type="primary"):
            import_upload(upload, dataset_view.dataset_name(name, upload.top_folder()), accept_missing=False)
        return
    st.error(f"{len(missing):,} of the {upload.chosen_files:,} chosen files did not arrive: "
             f"{dataset_view.names_line(missing)}. {dataset_view.too_large_line(upload.too_large())}Choose "
             "the folder again to retry, upload it as a .zip, or import the files that arrived knowing these "
             "are left out.", icon=":material/error:")
    with st.expander(f"Missing files ({len(missing):,})"):
        st.dataframe(pd.DataFrame({"file": missing}), hide_index=True, key="data_upload_missing")
    if st.button(f"Import the {upload.received_files:,} that arrived ({len(missing):,} missing)",
                 key="data_upload_dir_import_partial", disabled=not upload.received_files):
        import_upload(upload, dataset_view.dataset_name(name, upload.top_folder()), accept_missing=True)


def import_upload(upload, name: str, accept_missing: bool) -> None:
    with friendly_errors("import the uploaded folder"), st.spinner(f"Saving {upload.received_files:,} files…"):
        info = upload.import_as(name, accept_missing=accept_missing)
        forget_upload(UPLOAD_KEY)
        left_out = upload.chosen_files - upload.received_files
        finish_import(info, f"Imported {upload.received_files:,} files as '{info.name}'"
                      + (f" ({left_out:,} of the {upload.chosen_files:,} chosen were missing)." if left_out
                         else f" (all {upload.chosen_files:,} chosen)."))


# ----- page ------------------------------------------------------------------------------------

st.title("Data")
st.caption("Bring in a folder of labelled images — one subfolder per class — and check what a model "
           "will learn from.")

if FLASH in st.session_state:
    st.success(st.session_state.pop(FLASH), icon=":material/check_circle:")

all_datasets = workspace_datasets()
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
        imported = sample_button("data_sample_quick", type="primary")
        if imported:
            finish_import(imported[0], f"Imported the sample as '{imported[0].name}'.")

# Four ways in.
limit_mb = st.get_option("server.maxUploadSize")
with st.expander("Add a dataset", expanded=not all_datasets, icon=":material/add_circle:"):
    up_dir, up_zip, on_server, builtin = st.tabs(
        ["Upload a folder", "Upload a .zip", "Folder on the server", "Built-in sample"])
    with up_dir:
        upload_folder_tab()
    with up_zip:
        st.caption(f"A .zip of the dataset folder, up to {limit_mb:,} MB (a larger file is refused before it "
                   "is sent).")
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
                    info = importing.import_dataset(zip_path, dataset_view.dataset_name(name, Path(archive.name).stem),
                                                    ws, progress=update)
                    bar.empty()
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
                images = dataset_report(info).num_images  # the scan the report below shows (cached)
                files = dataset_origin(info).get("files_in_archive", images)
                others = files - images
                skipped = (f" ({others:,} other file{' is' if others == 1 else 's are'} listed under Skipped "
                           "files)") if others > 0 else ""
                finish_import(info, f"Imported '{archive.name}' as '{info.name}': {images:,} images from "
                                    f"{files:,} files in the archive{skipped}.")
    with on_server:
        st.caption("A folder on the machine running ResNet Pilot. It is read, never changed, and not "
                   "copied: the dataset refers to it.")
        # Others may reach a server that does not listen on localhost: it reads only under the data roots.
        policy = folder_policy(st.get_option("server.address"), ws)
        if not policy.local:
            st.caption(policy.describe())
        # A form: Enter in "Folder path" submits it, as the Add button does.
        with st.form("data_path_form", border=False):
            path = st.text_input("Folder path", key="data_path", placeholder="/data/pets")
            name = st.text_input("Dataset name", key="data_path_name", placeholder="taken from the folder name")
            add = st.form_submit_button("Add folder", key="data_path_add", type="primary")
        if add:
            if not path.strip():
                st.error("Type the path of a folder whose subfolders are the classes, then add it.")
            else:
                with friendly_errors("add the folder"):
                    check_server_folder(path.strip(), policy)
                    info = register_folder(path.strip(), ws, name=name.strip() or None)
                    finish_import(info, f"Added the folder as '{info.name}'.")
    with builtin:
        st.caption(SAMPLE_DESCRIPTION)
        imported = sample_button("data_sample", label="Use the sample", type="primary")
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
        report_section(current, info, report, flash_key=FLASH)
elif all_datasets:
    st.info("Choose a dataset above to see its report.", icon=":material/arrow_upward:")
