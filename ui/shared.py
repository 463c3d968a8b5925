"""What every page needs: the shared services, the user's current selections, and friendly errors."""
from __future__ import annotations

import contextlib
import logging
import runpy
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from resnet_core.data.registry import DatasetInfo, list_datasets
from resnet_core.data.sample import ensure_sample_dataset
from resnet_core.fsutil import os_error_sentence
from resnet_core.runs.recovery import startup
from resnet_core.runs.repair import RepairReport, repair
from resnet_core.runs.store import RunStore, StoreError, store_error
from resnet_core.workspace import Workspace, default_root

if TYPE_CHECKING:  # the job manager brings torch: loaded when the services are first built
    from resnet_core.runs.jobs import JobManager

log = logging.getLogger("resnet_pilot.ui")

APP_ROOT = Path(__file__).resolve().parent.parent

# Page files, for st.switch_page / st.page_link. The order is the user's path. Home is a file of
# its own (not a function in app.py) because switch_page/page_link reach function pages only
# through their Page object.
PAGES = {
    "home": "pages/home.py",
    "data": "pages/data.py",
    "wizard": "pages/wizard.py",
    "train": "pages/train.py",
    "compare": "pages/compare.py",
    "predict": "pages/predict.py",
    "study": "pages/study.py",
}

# st.session_state keys shared between pages.
DATASET = "selected_dataset"  # name of the dataset the user works on
_SYNCED = "{}_synced_selection"  # per Dataset box: the selection it last matched
PLAN = "train_prefill"  # the TrainConfig the wizard hands to the Train page
LAST_RUN = "last_run_id"  # the run the Train page follows
PREDICT_RUN = "predict_run_id"


@dataclass(frozen=True)
class Services:
    workspace: Workspace
    store: RunStore
    jobs: JobManager


@st.cache_resource(show_spinner=False)
def _services_for(root: str) -> Services:
    """One store and one job manager per server process (and workspace), shared by every session."""
    # Imported here, not at the top: it loads torch (seconds), and app.py imports this module before
    # it draws the navigation.
    from resnet_core.runs.jobs import JobManager

    workspace = Workspace.at(root)
    store = RunStore(workspace)
    report = startup(workspace, store)  # runs of dead processes → interrupted; leftovers removed
    if report.interrupted:
        log.info("marked runs %s as interrupted (their process stopped)", report.interrupted)
    return Services(workspace, store, JobManager(workspace, store))


def services() -> Services:
    """The shared services; when the run database cannot be opened, its one plain message (and the
    way to the Home page, which offers the repair) instead of the page."""
    found, problem = services_or_problem()
    if found is None:
        st.error(problem, icon=":material/database:")
        st.page_link(PAGES["home"], label="Repair it on the Home page", icon=":material/build:")
        st.stop()
    return found


def services_or_problem() -> tuple[Services | None, str | None]:
    try:
        return _services_for(str(default_root())), None
    except StoreError as e:
        return None, str(e)


def repair_database() -> RepairReport:
    """Set the damaged run database aside and rebuild it from the run folders (runs/repair.py)."""
    _services_for.clear()  # a store left open on the damaged file must not be reused
    return repair(Workspace.at(default_root()))


@contextlib.contextmanager
def friendly_errors(action: str) -> Iterator[None]:
    """Show a failure as a message that says what went wrong, never a traceback."""
    try:
        yield
    except (ValueError, StoreError) as e:  # ours speak to the user already
        st.error(f"Could not {action}: {e}")
    except OSError as e:
        st.error(f"Could not {action}: {os_error_sentence(e)}")
    except sqlite3.DatabaseError as e:  # the database went bad while the server ran
        log.exception("run database error while trying to %s", action)
        st.error(f"Could not {action}: {store_error(Workspace(default_root()).db_path, e)}")
    except Exception as e:  # a bug: still no traceback for the user, but keep it in the server log
        log.exception("unexpected error while trying to %s", action)
        st.error(f"Could not {action}: an unexpected problem ({type(e).__name__}). The details are in the "
                 "server log; try again, and report it if it repeats.")


# Accuracies and shares in tables: percentage points with one decimal. Streamlit's "percent" format
# shows as many decimals as a value has (100% beside 83.33%), so tables get the values ×100
# (as_percent_points) and this printf format.
PERCENT_FORMAT = "%.1f%%"


def study_columns() -> dict:
    """Column settings of the reference study's columns, shared by the Compare and Study tables."""
    return {
        "Model": st.column_config.TextColumn("Model"),
        "Val Loss": st.column_config.NumberColumn("Val Loss", format="%.4f"),
        "Val Acc": st.column_config.NumberColumn("Val Acc", format=PERCENT_FORMAT),
        "Test Acc": st.column_config.NumberColumn("Test Acc", format=PERCENT_FORMAT),
        "Training Time": st.column_config.NumberColumn("Training Time", format="%.0f s",
                                                       help="Seconds of training, data preparation not included."),
        "Epoch Ended": st.column_config.NumberColumn("Epoch Ended", format="%d"),
        "Rank": st.column_config.NumberColumn("Rank", format="%d"),
    }


def class_fair_columns() -> dict:
    """Column settings of balanced accuracy and macro-F1, shared by the Compare and Study tables."""
    return {
        "Balanced Acc": st.column_config.NumberColumn("Balanced Acc", format=PERCENT_FORMAT,
                                                      help="The mean of the per-class recalls: every class "
                                                           "counts the same, however many test images it has."),
        "Macro F1": st.column_config.NumberColumn("Macro F1", format=PERCENT_FORMAT,
                                                  help="The mean of the per-class F1 scores."),
    }


def warnings_box(texts) -> None:
    """Warnings in one box (a bullet each when there are several), not a stack of boxes."""
    texts = list(texts)
    if len(texts) == 1:
        st.warning(texts[0], icon=":material/warning:")
    elif texts:
        st.warning("\n".join(f"- {text}" for text in texts), icon=":material/warning:")


def as_percent_points(frame, columns):
    """A copy of a DataFrame with these fraction columns ×100, to show with PERCENT_FORMAT."""
    return frame.assign(**{c: frame[c] * 100 for c in columns if c in frame.columns})


_ENTERED = "_app_entry_point_ran"


def mark_app_entered() -> None:
    """Called by app.py before it runs a page: this session goes through the navigation."""
    st.session_state[_ENTERED] = True


def through_the_app() -> None:
    """Run the app's entry point first when a page was opened on its own.

    A link straight to a page (a bookmark of /train) on a freshly started server makes Streamlit run
    the file under pages/ by itself, with its own plain page list and none of app.py's navigation,
    sidebar or start-up. Every page calls this first: in that case it runs app.py, which picks the
    same page through st.navigation and runs it properly, and stops the bare run.

    Why it stays: Streamlit treats pages/ beside the entry script as a multipage folder and, until
    st.navigation has been called once in the server process, serves /train by running
    pages/train.py alone; no configuration option turns that off, and renaming the folder would
    break the product's layout (and old bookmarks answer "page not found").
    """
    if st.session_state.get(_ENTERED):
        return
    runpy.run_path(str(APP_ROOT / "app.py"), run_name="__main__")
    st.stop()


def page_exists(key: str) -> bool:
    """True when the page file is there (app.py leaves missing pages out of the navigation)."""
    return (APP_ROOT / PAGES[key]).is_file()


def selected_dataset() -> str | None:
    return st.session_state.get(DATASET)


def select_dataset(name: str | None) -> None:
    st.session_state[DATASET] = name


def dataset_select(names: list[str], key: str, *, where=None, start_among: list[str] | None = None,
                   **selectbox_options) -> str:
    """The Dataset box of a page: it starts on the dataset chosen anywhere else (else the first of
    start_among, by default of names), and a choice made here becomes the selection everywhere."""
    candidates = start_among or names
    preferred, box = selected_dataset(), st.session_state.get(key)
    synced = st.session_state.get(_SYNCED.format(key))  # the selection when this box last drew
    # A box not yet set, or one the selection moved away from elsewhere (another page, a run this
    # session now follows) while the box kept its value, starts on the selection.
    if box not in names or (preferred != synced and box == synced and preferred in candidates):
        st.session_state[key] = preferred if preferred in candidates else candidates[0]
    dataset = (where or st).selectbox("Dataset", names, key=key, **selectbox_options)
    st.session_state[_SYNCED.format(key)] = dataset
    if dataset != selected_dataset():
        select_dataset(dataset)
    return dataset


def import_sample() -> tuple[DatasetInfo, bool] | None:
    """Import the built-in sample (or find it, imported earlier) and select it.

    Returns (its dataset, whether it was imported now), or None when it failed (the message is shown).
    """
    with friendly_errors("import the sample dataset"), st.spinner("Importing the sample…"):
        info, created = ensure_sample_dataset(services().workspace)
        select_dataset(info.name)
        return info, created
    return None


def sample_button(key: str, *, where=None, label: str = "Use the sample dataset",
                  **button_options) -> tuple[DatasetInfo, bool] | None:
    """The button that imports the built-in sample (or selects it, imported earlier): what
    import_sample returns once clicked and done, else None."""
    if (where or st).button(label, key=key, icon=":material/checkroom:", **button_options):
        return import_sample()
    return None


def workspace_datasets() -> list[DatasetInfo]:
    """The workspace's datasets; none when they cannot be listed (the message is shown)."""
    with friendly_errors("list the datasets"):
        return list_datasets(services().workspace)
    return []


def no_dataset_yet(key_prefix: str, text: str) -> None:
    """A page's empty state: what it needs, a way to the Data page and the built-in sample."""
    st.info(text, icon=":material/folder_open:")
    row = st.container(horizontal=True)
    if row.button("Go to Data", key=f"{key_prefix}_go_data", type="primary", icon=":material/folder_open:"):
        st.switch_page(PAGES["data"])
    if sample_button(f"{key_prefix}_use_sample", where=row):
        st.rerun()
