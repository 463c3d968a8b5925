"""ResNet Pilot's dashboard: `streamlit run app.py`.

The navigation follows the user's path: Data → Wizard → Train → Compare → Predict. Each page is a
file under pages/; to add one, add a line to NAVIGATION (a page whose file is missing is left out,
so the app starts while pages are being added).
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.shared import mark_app_entered, selected_dataset

ROOT = Path(__file__).resolve().parent

# (section, page file, title, icon), in the order the sidebar shows them.
NAVIGATION = (
    ("", "pages/home.py", "Home", ":material/home:"),
    ("Prepare", "pages/data.py", "Data", ":material/folder_open:"),
    ("Prepare", "pages/wizard.py", "Wizard", ":material/auto_fix_high:"),
    ("Train & compare", "pages/train.py", "Train", ":material/model_training:"),
    ("Train & compare", "pages/compare.py", "Compare", ":material/leaderboard:"),
    ("Use", "pages/predict.py", "Predict", ":material/image_search:"),
    ("Research", "pages/study.py", "Study", ":material/science:"),
)


def build_navigation() -> dict[str, list]:
    sections: dict[str, list] = {}
    for section, path, title, icon in NAVIGATION:
        if (ROOT / path).is_file():
            page = st.Page(path, title=title, icon=icon, default=path == "pages/home.py")
            sections.setdefault(section, []).append(page)
    return sections


# The icon ships with the app: a Material icon name would make the browser fetch it from a font server.
st.set_page_config(page_title="ResNet Pilot", page_icon=str(ROOT / "assets" / "icon.png"), layout="wide")
# The config hides Streamlit's file-based page list (see .streamlit/config.toml); the app's own
# navigation is shown from here on.
st.set_option("client.showSidebarNavigation", True)
page = st.navigation(build_navigation())
dataset_line = st.sidebar.empty()


def show_dataset_line() -> None:
    dataset = selected_dataset()
    dataset_line.caption(f"Dataset: **{dataset}**" if dataset else "No dataset selected yet")


# Drawn before the page runs, since a page that ends with st.stop() stops this script too (and any
# st.* call after a stop raises again); redrawn after it, so a dataset the page just picked shows at once.
show_dataset_line()
mark_app_entered()
page.run()
show_dataset_line()
