"""Home: what ResNet Pilot does, where the user stands on the path, and what this machine offers."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from resnet_core.config import MODEL_LABELS
from resnet_core.data.registry import list_datasets
from resnet_core.data.sample import SAMPLE_DESCRIPTION
from resnet_core.training.weights import download_imagenet_weights, weights_status
from resnet_core.views import journey
from resnet_core.views.machine_check import HARDWARE, can_offer_download, checks_pending
from resnet_core.views.run_details import predictable_runs
from ui.progress import download_bar
from ui.shared import (
    PAGES,
    PLAN,
    friendly_errors,
    page_exists,
    repair_database,
    sample_button,
    select_dataset,
    selected_dataset,
    services_or_problem,
    through_the_app,
)

through_the_app()

STATUS_BADGE = {journey.DONE: ":green-badge[:material/check: Done]",
                journey.CURRENT: ":blue-badge[:material/arrow_forward: You are here]",
                journey.READY: ":violet-badge[:material/play_arrow: Ready]",
                journey.TODO: ":gray-badge[Later]"}
STEP_ICONS = {"data": ":material/folder_open:", "wizard": ":material/auto_fix_high:",
              "train": ":material/model_training:", "compare": ":material/leaderboard:",
              "predict": ":material/image_search:"}

POLL_S = 1.0
REPAIRED = "home_repair_report"  # what the repair recovered, shown after the rerun that follows it

st.title("ResNet Pilot")
if REPAIRED in st.session_state:
    st.success(st.session_state.pop(REPAIRED).replace("\n", "  \n"), icon=":material/build:")
svc, database_problem = services_or_problem()
if svc is None:
    st.error(database_problem, icon=":material/database:")
    st.caption("Repair moves the damaged file aside (it is kept, renamed with the time) and puts every run "
               "back from its folder: settings, per-epoch metrics, final scores, status and notes.")
    if st.button("Repair the run database", key="home_repair", type="primary", icon=":material/build:"):
        with friendly_errors("repair the run database"), st.spinner("Rebuilding the run list…"):
            st.session_state[REPAIRED] = repair_database().describe()
            st.rerun()
    st.stop()
ws = svc.workspace

st.markdown(
    "Turn a folder of labelled images into a working image classifier. "
    "ResNet Pilot checks your images, recommends ResNet-18, -50 or -101 with settings that fit your data "
    "and hardware, and trains it while you watch. "
    "Every run is kept and ranked by accuracy and training time, and the best one can label new images.")

with friendly_errors("read the workspace"):
    all_datasets = list_datasets(ws)
    runs = svc.store.list_runs()
    dataset = selected_dataset()
    if dataset and dataset not in {d.name for d in all_datasets}:
        select_dataset(None)  # deleted in another session
        dataset = None
    summary = journey.summarize(len(all_datasets), runs, models=len(predictable_runs(runs, ws)), dataset=dataset)
    steps = journey.journey(dataset, len(all_datasets), bool(st.session_state.get(PLAN)), summary)

    # The path as a stepper: one card per step, the current one marked and offered as the next click.
    st.subheader("Your path")
    for column, step in zip(st.columns(len(steps)), steps):
        # 'distribute' keeps every card's link on the bottom line, however long its caption.
        with column.container(border=True, height="stretch", vertical_alignment="distribute"):
            with st.container(gap="small"):
                st.markdown(f"**{step.number} · {step.title}**  \n{STATUS_BADGE[step.status]}")
                st.caption(step.detail)
            if page_exists(step.key):
                st.page_link(PAGES[step.key], label=f"Open {step.title}", icon=STEP_ICONS[step.key])
    current = journey.current_step(steps)
    actions = st.container(horizontal=True, vertical_alignment="center")
    if current is not None and page_exists(current.key) and actions.button(f"Continue: {current.title}", key="home_continue",
                                           type="primary", icon=":material/arrow_forward:"):
        st.switch_page(PAGES[current.key])
    if not all_datasets:
        if sample_button("home_sample", where=actions, label="Try the built-in sample dataset",
                         help=SAMPLE_DESCRIPTION):
            st.switch_page(PAGES["data"])

    st.subheader("At a glance")
    a, b, c = st.columns(3)
    a.metric("Datasets", summary.datasets, border=True)
    b.metric("Runs", summary.runs, border=True, help=summary.runs_breakdown())
    best = summary.best
    c.metric("Best test accuracy", "—" if best is None else f"{best.test_acc:.1%}", border=True,
             help=None if best is None else "The selected dataset's best run when it has one, else the best "
                                            "over all datasets; a small test split makes the figure rough.")
    c.caption(best.detail() if best else "No run with a test accuracy yet")


def machine_status() -> None:
    """Polled while the checks run; once they are over, the page draws their results."""
    if checks_pending():
        st.caption(":material/progress_activity: Checking this machine… (hardware, and whether the "
                   "ImageNet weights can be downloaded from here)")
    else:
        st.rerun(scope="app")


def hardware_section() -> None:
    with friendly_errors("detect the hardware"):
        hw = HARDWARE.result().value()
        st.markdown(f":material/memory: **Hardware:** {hw.describe()}")
        if hw.device == "cpu":
            st.caption("Training runs on the CPU: ResNet-18 on small images is practical; "
                       "the wizard plans for that, or for another machine's GPU if you tell it.")


def weights_section() -> None:
    with friendly_errors("check the ImageNet weights"):
        status = weights_status()
        # The weights server is probed once per process, in the background (RESNET_PILOT_OFFLINE=1: never).
        online = can_offer_download()
        cols = st.columns(len(status))
        for column, (arch, info) in zip(cols, status.items()):
            label = MODEL_LABELS[arch]
            if info["available"]:
                column.markdown(f":green[:material/check_circle:] **{label}** ImageNet weights available")
                continue
            column.markdown(f":orange[:material/cancel:] **{label}** ImageNet weights not found")
            if online and column.button("Download ImageNet weights", key=f"home_download_{arch}",
                                        icon=":material/download:", help=f"torchvision's file, into `{info['path']}`"):
                show = download_bar(column, f"Downloading {label}")
                with friendly_errors(f"download the {label} weights"):
                    download_imagenet_weights(arch, progress=show)
                    st.rerun()
        missing = [(arch, Path(info["path"])) for arch, info in status.items() if not info["available"]]
        if missing:
            files = ", ".join(f"`{path.name}` ({MODEL_LABELS[arch]})" for arch, path in missing)
            folder = missing[0][1].parent
            how = ("Download them above (torchvision's files, stored in its cache)" if online else
                   f"The download server does not answer from here: copy {files} into `{folder}` "
                   "(torchvision's files, downloaded once where there is internet access)")
            st.info(
                f"Without ImageNet weights, training starts from random initialisation and the run shows a "
                f"warning; the wizard adapts its plan (higher learning rate, more epochs). "
                f"{how}, or supply a weights file (.pt/.pth) on the Train page.",
                icon=":material/info:")


st.subheader("This machine")
# Slow checks run in the background: the page draws at once and says what it is still checking.
if checks_pending():
    st.fragment(machine_status, run_every=POLL_S)()
else:
    hardware_section()
    weights_section()

st.caption(f"Workspace folder: `{ws.root}` — datasets, runs and the run database live here.")
