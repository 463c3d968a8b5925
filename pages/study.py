"""Study: the cost-performance study on the user's own data. Every depth × fine-tuning or frozen
backbone × augmentation at several training-set sizes, all scored on the same test images, ranked
per size as in the reference study, with the learning curve, cost against accuracy and a written
conclusion.

The plan's inputs live in st.session_state under the widget keys below (kept while other pages are
shown). Launching queues the runs in the shared job manager and returns at once; the lower half
(ui/study_results.py) polls their progress while any is active and redraws the whole page when a
configuration finishes.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from resnet_core.advice import estimate
from resnet_core.advice.recommend import WEIGHT_CHOICES
from resnet_core.config import AUGMENTATIONS, MODEL_LABELS, MODELS, WEIGHT_LABELS
from resnet_core.data.augment import DESCRIPTIONS as AUGMENTATION_DESCRIPTIONS
from resnet_core.study.plan import StudyPlan
from resnet_core.study.run import estimate_study_time, gpu_slots
from resnet_core.views.study_plan_view import (
    OVERRIDE_INPUTS,
    SplitCounts,
    StudyInputs,
    configs_to_run,
    estimate_words,
    measure_prompt,
    plan_for,
    plan_numbers,
    plan_rows,
    random_start_models,
    split_counts,
    study_inputs,
)
from resnet_core.views.study_view import Cell, read_sizes, size_label, study_cells, suggested_sizes, training_modes_text
from ui.forms import remember_form, restore_form
from ui.shared import dataset_select, friendly_errors, no_dataset_yet, services, through_the_app, workspace_datasets
from ui.study_results import flash, launch, open_study_section, show_flash

through_the_app()

DATASET_KEY = "study_dataset"
SIZES_KEY = "study_sizes"
MODELS_KEY = "study_models"
AUGS_KEY = "study_augmentations"
WEIGHTS_KEY = "study_weights"
FROZEN_KEY = "study_frozen_random"
OVERRIDE_KEYS = {"epochs": "study_epochs", "batch_size": "study_batch_size", "learning_rate": "study_lr",
                 "image_size": "study_image_size"}
FORM_KEYS = (DATASET_KEY, SIZES_KEY, MODELS_KEY, AUGS_KEY, WEIGHTS_KEY, FROZEN_KEY, *OVERRIDE_KEYS.values())
_SAVED = "study_form_saved"  # the inputs, kept while their widgets are off screen
_SIZES_FOR = "study_sizes_for"  # the dataset the sizes were suggested for
_COUNTS = "study_split_counts"  # (dataset, train, val, test, classes), read once per dataset
_PLANNED = "study_planned"  # (inputs, plan or error message): planning reads the dataset, so once

svc = services()
ws = svc.workspace


# ----- the dataset --------------------------------------------------------------------------------

def dataset_counts(dataset: str) -> SplitCounts | None:
    """The dataset's split counts, read once per dataset and session."""
    cached = st.session_state.get(_COUNTS)
    if cached and cached[0] == dataset:
        return cached[1]
    counts = None
    with friendly_errors(f"read the dataset '{dataset}'"):
        counts = split_counts(dataset, ws)
        st.session_state[_COUNTS] = (dataset, counts)
    return counts


# ----- the plan -----------------------------------------------------------------------------------

def normalise_sizes() -> None:
    """Typed sizes arrive as text: keep them as numbers, and say which could not be read."""
    st.session_state[SIZES_KEY], bad = read_sizes(st.session_state.get(SIZES_KEY, []))
    if bad:
        flash("error", " ".join(bad), where="sizes")


def plan_inputs(dataset: str, num_train: int, num_classes: int):
    """Draw the plan's inputs; returns (the StudyInputs or None, the place for the line on how
    each depth is trained, which only the plan can say: it is filled once the plan is made)."""
    options, defaults = suggested_sizes(num_train, num_classes)
    if st.session_state.get(_SIZES_FOR) != dataset:
        st.session_state[SIZES_KEY] = defaults
        st.session_state[_SIZES_FOR] = dataset
    chosen = [s for s in st.session_state.get(SIZES_KEY, []) if isinstance(s, int)]
    options = sorted(set(options) | set(chosen))
    st.session_state.setdefault(MODELS_KEY, ["resnet18", "resnet50"])
    st.session_state.setdefault(AUGS_KEY, ["none", "standard"])
    st.session_state.setdefault(WEIGHTS_KEY, "auto")
    st.session_state.setdefault(FROZEN_KEY, False)

    # Prefix filtering: a typed "100" must not select the option "110 training images" on Enter.
    sizes = st.multiselect("Training-set sizes", options, key=SIZES_KEY, accept_new_options=True,
                           filter_mode="prefix",
                           format_func=lambda v: size_label(v, num_train), on_change=normalise_sizes,
                           placeholder="Pick or type a number of training images",
                           help="Each size trains on a stratified subset of the training split; the "
                                "smaller subsets are part of the larger ones. Type any number to add it.")
    show_flash("sizes")
    c1, c2, c3 = st.columns(3)
    models = c1.multiselect("Depths", MODELS, key=MODELS_KEY, format_func=MODEL_LABELS.get,
                            help="ResNet-101 is slow without a GPU.")
    augs = c2.multiselect("Augmentations", AUGMENTATIONS, key=AUGS_KEY, format_func=str.capitalize,
                          help="\n".join(f"- **{k}**: {v}" for k, v in AUGMENTATION_DESCRIPTIONS.items()))
    weights = c3.selectbox("Starting weights", WEIGHT_CHOICES, key=WEIGHTS_KEY,
                           format_func=WEIGHT_LABELS.get)
    modes_line = st.empty()
    random_start = random_start_models(models, weights)
    include_frozen = False
    if random_start:
        include_frozen = st.checkbox("Include frozen random backbones", key=FROZEN_KEY)
        st.caption(f"No ImageNet weights for {', '.join(random_start)} here, so a frozen backbone would be "
                   "random: only its last layer learns and it stays near chance. Left out unless included, "
                   "as a baseline.")

    with st.expander("Override the wizard's settings (optional)", icon=":material/tune:"):
        st.caption("Empty fields keep the wizard's choice for each size and depth, from the model cards.")
        for column, field in zip(st.columns(len(OVERRIDE_INPUTS)), OVERRIDE_INPUTS):
            column.number_input(field.label, field.low, field.high, value=None, step=field.step, format=field.format,
                                key=OVERRIDE_KEYS[field.name], placeholder="wizard's")
    overrides = {name: st.session_state.get(key) for name, key in OVERRIDE_KEYS.items()}
    inputs = study_inputs(dataset, sizes, models, augs, include_frozen, weights, overrides)
    if isinstance(inputs, str):
        st.warning(inputs, icon=":material/warning:")
        return None, modes_line
    return inputs, modes_line


def current_plan(inputs: StudyInputs) -> StudyPlan | None:
    """The plan for these inputs, kept while they stay the same (planning reads the dataset)."""
    cached = st.session_state.get(_PLANNED)
    if not cached or cached[0] != inputs:
        with st.spinner("Planning the study…"):
            cached = (inputs, *plan_for(inputs, ws))
        st.session_state[_PLANNED] = cached
    if cached[2]:
        st.error(cached[2], icon=":material/error:")
    return cached[1]


def plan_summary(plan: StudyPlan, cells: list[Cell]) -> None:
    """The plan in numbers with its estimated time, then its runs and notes folded away."""
    n = plan_numbers(plan, cells)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Runs", n.runs, help=f"{n.per_size} configurations × {n.sizes} sizes")
    m2.metric("Configurations per size", n.per_size)
    m3.metric("Already done", f"{n.done} of {n.runs}",
              help="A configuration counts as done when a completed run with the same settings exists.")
    with m4:
        note = estimate_metric(plan, cells)
    if note:
        st.caption(note)
    if n.all_done:
        st.success(f"All {n.runs} configurations are done. Launching again runs nothing new.",
                   icon=":material/check_circle:")
    rows = plan_rows(plan, cells)
    with st.expander(f"The {len(plan.entries)} runs and their settings", icon=":material/list:"):
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="study_plan_table", column_config={
            "Configuration": st.column_config.TextColumn("Configuration", width="large"),
            "Learning rate": st.column_config.NumberColumn("Learning rate", format="%.1e"),
            "Image size": st.column_config.NumberColumn("Image size", format="%d px")})
    if plan.notes:
        with st.expander(f"Notes on this plan ({len(plan.notes)})", icon=":material/info:"):
            st.markdown("\n".join(f"- {note}" for note in plan.notes))


def estimate_metric(plan: StudyPlan, cells: list[Cell]) -> str | None:
    """The measured time for the configurations not done yet, or a button to measure it (the probe
    runs by itself only when cheap); returns the sentence to show under the metrics."""
    todo = configs_to_run(plan, cells)
    if not todo:
        st.metric("Estimated time", "nothing left")
        return None
    decision = estimate.probe_decision(todo)
    clicked = False
    if decision.ask_first:
        clicked = st.button("Measure the training time", key="study_measure", icon=":material/timer:",
                            help=f"Runs a few training steps of each setting here ({len(decision.probes)} in "
                                 "all): seconds to a minute on a CPU.")
        if not clicked:
            return measure_prompt(decision)
    est = None
    with friendly_errors("estimate the study's time"):
        with st.spinner("Measuring…"):
            est = estimate_study_time(plan, store=svc.store, devices=max(1, len(gpu_slots())), round_robin=True)
    if est is None:
        return None
    if clicked:
        st.rerun()  # redraw without the button that asked for it
    words = estimate_words(est, training_active=bool(svc.jobs.active_run_ids()))
    st.metric("Estimated time (upper bound)", words.metric,
              help="Every run counted to its last epoch at the speed measured here.")
    return words.caption


def plan_section(dataset: str, counts: SplitCounts) -> str | None:
    """The inputs, the plan, its estimate and Launch; returns the planned study's id."""
    st.subheader("Plan")
    with st.container(border=True):
        args, modes_line = plan_inputs(dataset, counts.train, counts.classes)
        remember_form(_SAVED, FORM_KEYS)
        if args is None:
            return None
        plan = current_plan(args)
        if plan is None:
            return None
        modes_line.caption(training_modes_text(plan))
        cells = study_cells(plan, svc.store, svc.jobs.snapshots())
        plan_summary(plan, cells)
        if st.button("Launch study", key="study_launch", type="primary", icon=":material/rocket_launch:"):
            launch(plan)
        caption = plan_numbers(plan, cells).launch_caption()
        if caption:
            st.caption(caption)
    return plan.study_id


# ----- the page -----------------------------------------------------------------------------------

st.title("Study")
st.caption("Which ResNet and which training choices give the best accuracy for the time on your data? "
           "Every configuration at several dataset sizes, scored on the same test images and ranked.")

restore_form(_SAVED)
names = [d.name for d in workspace_datasets()]
if not names:
    no_dataset_yet("study", "No dataset yet. A study needs labelled images: import a folder on the Data page, "
                   "or try the built-in sample.")
    st.stop()
top = st.columns([2, 3], vertical_alignment="bottom")
dataset = dataset_select(names, DATASET_KEY, where=top[0])
counts = dataset_counts(dataset)
if counts is None:
    st.stop()
top[1].caption(counts.text())

planned = plan_section(dataset, counts)
st.divider()
open_study_section(dataset, planned)
