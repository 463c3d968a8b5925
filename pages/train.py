"""Train: the settings (pre-filled by the Wizard), a Start button, and the live view of the training.

The form's values live in st.session_state under the widget keys below, so they survive leaving the
page and coming back. What the form offers and the TrainConfig it builds come from
resnet_core.views.train_form; the live view of the followed run is ui/live_run.py.
"""
from __future__ import annotations

import streamlit as st

from resnet_core.advice.limits import clamp_to_limits
from resnet_core.advice.planning import plan_training
from resnet_core.config import AUGMENTATIONS, CLASS_BALANCE, DEVICES, MODEL_LABELS, MODELS, WEIGHT_LABELS, TrainConfig
from resnet_core.data.augment import DESCRIPTIONS as AUGMENTATION_DESCRIPTIONS
from resnet_core.data.registry import list_datasets
from resnet_core.hardware import detect_hardware
from resnet_core.status import RANKED, RunStatus
from resnet_core.views import run_view as rv
from resnet_core.views import train_form as tf
from ui.forms import remember_form, restore_form
from ui.live_run import follow, followed_view, live_section, other_jobs_section
from ui.past_runs import clear_labels, label_inputs, label_values, past_runs_table
from ui.shared import (
    PAGES,
    PLAN,
    dataset_select,
    friendly_errors,
    import_sample,
    services,
    through_the_app,
)
from ui.train_time import train_time_line
from ui.weights_file import WEIGHTS_PATH, weights_file_check, weights_file_input

through_the_app()

KEYS = {name: f"train_{name}" for name in tf.FORM_FIELDS}  # widget keys by TrainConfig field
DATASET_KEY = "train_dataset"
_SAVED = "train_form_saved"  # the form's values, kept while its widgets are off screen
_APPLIED = "train_prefill_applied"  # which plan / defaults last filled the form (their key)
_PREFILL = "train_prefill_values"  # that TrainConfig, to tell which fields the user changed
_PATIENCE_FOLLOWS = "train_patience_follows"  # patience tracks the epochs until the user sets it


# ----- the form -----------------------------------------------------------------------------------

def apply_values(config: TrainConfig, source: tuple) -> None:
    """Fill the form from a plan or the defaults (only when the source changed)."""
    for name, value in tf.form_values(config).items():
        st.session_state[KEYS[name]] = value
    st.session_state.update({WEIGHTS_PATH: config.weights_path, _PREFILL: config, _APPLIED: source,
                             _PATIENCE_FOLLOWS: True})


def on_epochs_change() -> None:
    """Keep patience at the wizard's share of the epochs, unless the user chose a patience."""
    if st.session_state.get(_PATIENCE_FOLLOWS, True):
        val_images = tf.validation_split_size(st.session_state[DATASET_KEY], services().workspace)
        st.session_state[KEYS["patience"]] = tf.form_patience(int(st.session_state[KEYS["epochs"]]), val_images)


def on_patience_change() -> None:
    st.session_state[_PATIENCE_FOLLOWS] = False


def wizard_defaults(dataset: str) -> TrainConfig | None:
    """The wizard's plan for this dataset with nothing chosen by the user."""
    with st.spinner("Reading the dataset to suggest settings…"), friendly_errors(f"suggest settings for {dataset}"):
        return plan_training(dataset, services().workspace).config
    return None


def number(where, name: str, fields: dict[str, tf.NumberField], **kwargs):
    """A number widget of the form, as train_form describes it."""
    f = fields[name]
    with where:
        return st.number_input(f.label, f.min_value, f.max_value, step=f.step, format=f.format, key=KEYS[name],
                               help=f.help, **kwargs)


def settings_section(datasets: list[str]) -> None:
    restore_form(_SAVED)
    plan: TrainConfig | None = st.session_state.get(PLAN)
    if plan and st.session_state.get(_APPLIED) != ("plan", plan.key()):
        if plan.dataset in datasets:
            st.session_state[DATASET_KEY] = plan.dataset
        apply_values(plan, ("plan", plan.key()))

    with st.container(border=True):
        top = st.columns([2, 3], vertical_alignment="bottom")
        dataset = dataset_select(datasets, DATASET_KEY, where=top[0], help=tf.CHOICE_HELP["dataset"])
        if not plan and st.session_state.get(_APPLIED) != ("defaults", dataset):
            defaults = wizard_defaults(dataset)
            if defaults:
                apply_values(defaults, ("defaults", dataset))
        top[1].caption(tf.source_caption(plan, dataset))
        if not plan:
            top[1].page_link(PAGES["wizard"], label="Open the Wizard", icon=":material/auto_fix_high:")

        c1, c2, c3 = st.columns(3)
        model = c1.selectbox("Model", MODELS, key=KEYS["model"], format_func=MODEL_LABELS.get,
                             help=tf.CHOICE_HELP["model"])
        weights = c2.selectbox("Starting weights", list(WEIGHT_LABELS), key=KEYS["weights"],
                               format_func=WEIGHT_LABELS.get, help=tf.CHOICE_HELP["weights"])
        c3.radio("Layers to train", (True, False), key=KEYS["fine_tune"], horizontal=True,
                 format_func=lambda v: "Fine-tune all" if v else "Head only (frozen backbone)",
                 help=tf.CHOICE_HELP["fine_tune"])
        if weights == "file":
            weights_file_input(model)
        if random_init := tf.random_init_warning(model, weights):
            st.warning(random_init, icon=":material/warning:")

        limits = tf.form_limits(model, weights)
        changed, messages = clamp_to_limits({n: st.session_state.get(KEYS[n]) for n in limits}, limits, model)
        for name, value in changed.items():  # before the widgets exist, so they show it
            st.session_state[KEYS[name]] = value
        for message in messages:
            st.info(message, icon=":material/tune:")
        fields = tf.number_fields(limits, model)

        c1, c2, c3 = st.columns(3)
        epochs = int(number(c1, "epochs", fields, on_change=on_epochs_change))
        number(c2, "batch_size", fields)
        number(c3, "learning_rate", fields)
        c1, c2, c3 = st.columns(3)
        c1.selectbox("Augmentation", AUGMENTATIONS, key=KEYS["augmentation"], format_func=str.capitalize,
                     help=tf.CHOICE_HELP["augmentation"])
        number(c2, "patience", fields, on_change=on_patience_change)
        c2.caption(tf.patience_hint(epochs, tf.validation_split_size(dataset, services().workspace)))
        number(c3, "eval_every", fields)
        c1.caption(AUGMENTATION_DESCRIPTIONS[st.session_state[KEYS["augmentation"]]])
        c1, c2, c3 = st.columns(3)
        number(c1, "image_size", fields)
        number(c2, "seed", fields)
        hardware = detect_hardware().describe()
        c3.selectbox("Device", DEVICES, key=KEYS["device"], help=tf.CHOICE_HELP["device"],
                     format_func=lambda d: f"auto ({hardware})" if d == "auto" else d)
        c1.selectbox("Class balance", CLASS_BALANCE, key=KEYS["class_balance"], format_func=tf.class_balance_label,
                     help=tf.CHOICE_HELP["class_balance"])
        if choices := tf.device_choices():  # only with two GPUs or more
            c2.selectbox("Devices", choices, key=KEYS["devices"], format_func=tf.devices_label,
                         help=tf.CHOICE_HELP["devices"])
            c2.caption(tf.batch_caption(st.session_state[KEYS["batch_size"]],
                                        st.session_state.get(KEYS["devices"], 1)))
        form_now = {name: st.session_state.get(key) for name, key in KEYS.items()}
        if choices:
            for note in tf.devices_notes(form_now, dataset, st.session_state.get(_PREFILL)):
                c2.caption(note)
        if tf.subset_note(plan):
            st.caption(tf.subset_note(plan))
        train_time_line(form_now, dataset, st.session_state.get(_PREFILL))
        label_inputs()
        start = st.button("Start training", key="train_start", type="primary", icon=":material/play_arrow:")
    remember_form(_SAVED, [DATASET_KEY, *KEYS.values()])
    if start:
        start_run(dataset)
    past_runs_table(dataset)


def start_run(dataset: str) -> None:
    values = {name: st.session_state[key] for name, key in KEYS.items()}
    path = st.session_state.get(WEIGHTS_PATH)
    file_problem = weights_file_check(path, values["model"])[0] if values["weights"] == "file" and path else None
    problem = tf.weights_file_problem(values["weights"], path, file_problem)
    if problem:  # a file's own fault is already shown under it
        st.error(problem, icon=":material/block:")
        return
    with friendly_errors("start the training"):
        run_id = services().jobs.submit(tf.config_from_form(values, dataset, st.session_state.get(_PREFILL), path),
                                        **label_values())
        clear_labels()
        follow(run_id, dataset)


# ----- interrupted runs ---------------------------------------------------------------------------

def interrupted_section() -> None:
    svc = services()
    runs = svc.store.list_runs(statuses=[RunStatus.INTERRUPTED])
    if not runs:
        return
    st.subheader("Interrupted runs")
    st.caption("The server stopped while these were training or waiting. Resume continues from the last "
               "saved epoch; Re-run starts the same settings from scratch.")
    for record in runs:
        with st.container(border=True):
            c1, c2, c3 = st.columns([4, 1, 1], vertical_alignment="center")
            c1.markdown(rv.interrupted_line(record, len(svc.store.epochs(record.id))))
            can_resume = rv.resumable(svc.workspace, record.id)
            if c2.button("Resume", key=f"train_resume_{record.id}", disabled=not can_resume,
                         help=None if can_resume else "No epoch was saved; re-run it instead."):
                with friendly_errors(f"resume run {record.id}"):
                    follow(svc.jobs.resume(record.id), record.dataset)
            if c3.button("Re-run", key=f"train_rerun_{record.id}", disabled=record.config is None):
                with friendly_errors(f"re-run run {record.id}"):
                    follow(svc.jobs.submit(record.config), record.dataset)


# ----- the page -----------------------------------------------------------------------------------

def new_run_section(dataset_names: list[str]) -> None:
    """The form for a run, or the way to a first dataset."""
    if dataset_names:
        settings_section(dataset_names)
        return
    st.info("There is no dataset yet. Import a folder of labelled images (one subfolder per class) or "
            "try the built-in sample on the Data page.", icon=":material/folder_open:")
    row = st.container(horizontal=True)
    if row.button("Go to Data", key="train_go_data", type="primary", icon=":material/upload:"):
        st.switch_page(PAGES["data"])
    if row.button("Use the sample dataset", key="train_use_sample", icon=":material/checkroom:") and import_sample():
        st.rerun()


st.title("Train")
st.caption("Start a run with the Wizard's settings (or your own) and watch it learn. Runs keep going "
           "when you leave this page.")
dataset_names = [d.name for d in list_datasets(services().workspace)]
current = followed_view()
if current is None:
    other_jobs_section()  # another session's runs: listed, not followed
    new_run_section(dataset_names)
    finished = len(services().store.list_runs(statuses=list(RANKED))) if dataset_names else 0
    if finished:
        st.page_link(PAGES["compare"], label=rv.finished_runs_link(finished), icon=":material/leaderboard:")
else:
    # The followed run keeps its place at the top while it trains and after it ends; the form for
    # another run stays folded below it, so finishing does not push the results down the page.
    live_section(current)
    with st.expander("Start another run", icon=":material/add_circle:"):
        new_run_section(dataset_names)
interrupted_section()
