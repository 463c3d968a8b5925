"""Wizard: dataset, hardware and goals in; the ResNet and settings the model cards advise out, each
with its reason, and how long training would take on this machine."""
from __future__ import annotations

import streamlit as st

from resnet_core.advice import estimate
from resnet_core.advice.cpu_speed import planned_rate
from resnet_core.advice.planning import median_size
from resnet_core.advice.recommend import WEIGHT_CHOICES
from resnet_core.config import MODEL_LABELS, PRIORITIES, TASK_KINDS, WEIGHT_LABELS, describe_config
from resnet_core.data.augment import DESCRIPTIONS as AUGMENTATION_DESCRIPTIONS
from resnet_core.data.registry import dataset_report, get_dataset
from resnet_core.hardware import detect_hardware
from resnet_core.views import glossary
from resnet_core.views.journey import likely_dataset
from resnet_core.views.wizard import (
    WHY_LABELS,
    WizardInputs,
    cpu_machine,
    cpu_probe_plan,
    cpu_speeds_here,
    dataset_numbers,
    hardware_defaults,
    planned_hardware,
    plans_other_hardware,
    recommend_for,
    time_estimate,
    train_prefill,
    why_lines,
)
from ui.cards import card_buttons
from ui.cpu_speed_panel import cpu_speed_panel
from ui.earlier_panel import earlier_panel
from ui.lr_panel import lr_panel
from ui.measured_panel import measured_panel
from ui.race_panel import race_panel
from ui.shared import (
    PAGES,
    PLAN,
    dataset_select,
    friendly_errors,
    page_exists,
    sample_button,
    selected_dataset,
    services,
    through_the_app,
    warnings_box,
    workspace_datasets,
)

through_the_app()

DATASET_KEY = "wizard_dataset"
PREFILLED_FOR = "wizard_prefilled_for"  # which dataset the number inputs were last filled from
SAVED = "wizard_answers"  # the answers, kept while other pages are shown
NUMBER_KEYS = ("wizard_images", "wizard_classes", "wizard_smallest", "wizard_largest")
TYPED_DEFAULTS = {"num_images": 1000, "num_classes": 10, "smallest_class": 100, "largest_class": 100}
svc = services()
ws = svc.workspace
hw = detect_hardware()

st.title("Wizard")
st.caption("Three questions, then the ResNet and settings the model cards advise for your data and "
           "hardware — each with its reason.")

# The dataset the numbers come from: any dataset of the workspace, offered right here.
all_datasets = workspace_datasets()
names = [d.name for d in all_datasets]
name, report = None, None
if names:
    # A new visit starts from the dataset picked elsewhere, or the one most recently used or added.
    likely = likely_dataset(names, selected_dataset(), svc.store.list_runs(), {d.name: d.created for d in all_datasets})
    top = st.columns([2, 3], vertical_alignment="bottom")
    name = dataset_select(names, DATASET_KEY, where=top[0], start_among=[likely],
                          help="Its scan fills in the numbers below; change them to plan for other data.")
    top[1].page_link(PAGES["data"], label="See its report, or add a dataset, on the Data page",
                     icon=":material/folder_open:")
    with friendly_errors(f"read the dataset '{name}'"):
        report = dataset_report(get_dataset(name, ws))
else:
    with st.container(border=True):
        st.markdown("**No dataset yet.** Import one on the Data page or try the sample — or type your "
                    "numbers below to plan ahead.")
        buttons = st.container(horizontal=True)
        if buttons.button("Go to Data", key="wizard_to_data", icon=":material/folder_open:"):
            st.switch_page(PAGES["data"])
        if sample_button("wizard_use_sample", where=buttons):
            st.rerun()

# Widget values live in session state. Streamlit forgets a page's widgets while another page is
# shown, so the answers are also kept under SAVED and restored on return; the dataset numbers are
# refilled from the scan whenever the selected dataset changes.
scan_numbers = dataset_numbers(report) if report is not None else TYPED_DEFAULTS
source = name if report is not None else ""
device_default, mem_default = hardware_defaults(hw)
defaults = {"wizard_images": max(1, scan_numbers["num_images"]), "wizard_classes": max(1, scan_numbers["num_classes"]),
            "wizard_smallest": scan_numbers["smallest_class"], "wizard_largest": scan_numbers["largest_class"],
            "wizard_device": device_default,
            "wizard_gpu_mem": mem_default, "wizard_priority": "balanced", "wizard_task": "simple",
            "wizard_weights": "auto"}
saved = st.session_state.get(SAVED, {})
if st.session_state.get(PREFILLED_FOR) != source:
    saved = {k: v for k, v in saved.items() if k not in NUMBER_KEYS}
    for key in NUMBER_KEYS:
        st.session_state[key] = defaults[key]
for key, value in defaults.items():
    if key not in st.session_state:
        st.session_state[key] = saved.get(key, value)
st.session_state[PREFILLED_FOR] = source

col_data, col_hw, col_goal = st.columns(3)
with col_data.container(border=True, height="stretch"):
    st.markdown("**1 · Dataset**")
    images = st.number_input("Images", min_value=1, step=100, key="wizard_images")
    classes = st.number_input("Classes", min_value=1, step=1, key="wizard_classes")
    smallest = st.number_input("Images in the smallest class", min_value=0, step=10, key="wizard_smallest")
    largest = st.number_input("Images in the largest class", min_value=0, step=10, key="wizard_largest",
                              help="At 3× the smallest class or more, the plan weights the loss by class.")
    if report is None:
        st.caption("Typed numbers: planning without a dataset.")
    elif (images, classes, smallest, largest) != (scan_numbers["num_images"], scan_numbers["num_classes"],
                                                  scan_numbers["smallest_class"], scan_numbers["largest_class"]):
        st.caption(f"Changed from the scan of '{name}' ({scan_numbers['num_images']:,} images): "
                   "the plan is for the numbers above.")
    else:
        st.caption(f"From the scan of '{name}'.")
with col_hw.container(border=True, height="stretch"):
    st.markdown("**2 · Hardware**")
    device = st.radio("Train on", ["CPU", "GPU"], key="wizard_device", horizontal=True)
    gpu_mem = st.number_input("GPU memory (GB)", min_value=1.0, max_value=1024.0, step=1.0,
                              key="wizard_gpu_mem", disabled=device != "GPU")
    st.caption(f"Detected here: {hw.describe()}")
with col_goal.container(border=True, height="stretch"):
    st.markdown("**3 · Goals**")
    priority = st.radio("Priority", PRIORITIES, key="wizard_priority", horizontal=True,
                        format_func=str.capitalize)
    task = st.radio("Task", TASK_KINDS, key="wizard_task", horizontal=True, format_func=str.capitalize,
                    help="Fine-grained: classes that differ in small details (bird species, car models).")
    weights = st.selectbox("Starting weights", WEIGHT_CHOICES, key="wizard_weights",
                           format_func=WEIGHT_LABELS.get)

st.session_state[SAVED] = {key: st.session_state[key] for key in defaults}

inputs = WizardInputs(num_images=int(images), num_classes=int(classes), smallest_class=int(smallest),
                      gpu_mem_gb=float(gpu_mem) if device == "GPU" else None, priority=priority, task=task,
                      weights=weights, median_size=median_size(report) if report is not None else None,
                      largest_class=int(largest))
card_rec = rec = None
speeds = cpu_speeds_here(inputs, hw, ws.root)  # a CPU plan follows what this CPU measured
with friendly_errors("make a recommendation"):
    card_rec = recommend_for(inputs)
    rec = recommend_for(inputs, speeds) if speeds else card_rec
if rec is None:
    st.stop()

# The recommendation card.
st.subheader("Recommendation")
with st.container(border=True):
    st.caption(f"{describe_config(rec.model, rec.fine_tune, rec.augmentation)} · "
               f"{'ImageNet weights' if rec.weights == 'imagenet' else 'random initialisation'}")
    why = rec.why
    row1 = st.columns(4)
    row1[0].metric("Model", MODEL_LABELS[rec.model], help=why["model"])
    row1[1].metric("Batch size", rec.batch_size, help=why["batch_size"])
    row1[2].metric("Epochs", rec.epochs, help=why["epochs"])
    row1[3].metric("Learning rate", f"{rec.learning_rate:g}", help=why["learning_rate"])
    row2 = st.columns(4)
    row2[0].metric("Augmentation", rec.augmentation.capitalize(),
                   help=f"{AUGMENTATION_DESCRIPTIONS[rec.augmentation]}. {why['augmentation']}")
    row2[1].metric("Fine-tuning", "All layers" if rec.fine_tune else "Head only", help=why["fine_tune"])
    row2[2].metric("Patience", f"{rec.patience} evaluations", help=f"{glossary.PATIENCE}\n\n{why['patience']}")
    row2[3].metric("Image size", f"{rec.image_size} px", help=why["image_size"])
    if rec.class_balance != "none":
        st.info(rec.class_balance_reason, icon=":material/balance:")
    with st.expander("Why these settings", icon=":material/menu_book:"):
        st.markdown("\n".join(f"- {line}" for line in why_lines(rec)))
        st.caption("Read a reason's quotes in the card or study they come from:")
        card_buttons(why, WHY_LABELS, key="wizard_source")
    with st.expander("Other models, and why not", icon=":material/compare_arrows:"):
        st.markdown("\n".join(f"- **{MODEL_LABELS[a['model']]}** — {a['why_not']}" for a in rec.alternatives))
warnings_box(rec.warnings)
if report is not None:
    with friendly_errors("read the measured runs"):
        measured_panel(name, rec)
with friendly_errors("read what your earlier datasets measured"):
    earlier_panel(name if report is not None else None, inputs.num_images, inputs.num_classes, rec)

# Training time on this machine, measured rather than guessed.
st.subheader("Training time on this machine")
with friendly_errors("estimate the training time"):
    if machine := cpu_machine(inputs, hw):
        cpu_speed_panel(cpu_probe_plan(card_rec, speeds), machine)
    decision = estimate.probe_decision([rec])  # the rule the Study page follows too
    (probe,) = decision.probes
    exact = planned_rate(speeds, rec)  # the plan's own batch and size, measured here
    rate = exact or estimate.cached_throughput(*probe)  # measured before, by any session: same machine
    clicked = False
    if decision.ask_first and rate is None:
        st.caption(f"Runs a few real training steps of {MODEL_LABELS[rec.model]} here; takes a few "
                   "seconds to a minute on a CPU.")
        clicked = st.button("Measure training time", key="wizard_measure", icon=":material/timer:")
    if rate is None and (decision.cheap or clicked):
        with st.spinner(f"Measuring {MODEL_LABELS[rec.model]} on {hw.describe()}…"):
            rate = estimate.probe_throughput(*probe)
        if clicked:
            st.rerun()  # redraw without the button that asked for it
    if rate is not None:
        shown = time_estimate(rec, inputs.num_images, rate, probe[4], training_active=bool(svc.jobs.active_run_ids()),
                              exact_batch=exact is not None)
        st.metric("Estimated training time", shown.metric, help=shown.help)
        st.caption(shown.caption)
    if plans_other_hardware(inputs, hw):
        st.info(f"You planned for {planned_hardware(inputs)}; this estimate is for this machine ({hw.describe()}).",
                icon=":material/info:")

can_train = report is not None
if can_train:
    race_panel(name, rec, rec.weights == "imagenet", *estimate.split_counts(inputs.num_images))
    lr_panel(name, rec)
st.divider()
if st.button("Train with these settings", key="wizard_train", type="primary", disabled=not can_train,
             icon=":material/model_training:"):
    with friendly_errors("prepare the training settings"):
        st.session_state[PLAN] = train_prefill(rec, weights, name)
        if page_exists("train"):
            st.switch_page(PAGES["train"])
        st.success("Settings saved for the Train page.")
if not can_train:
    st.caption("Import a dataset (or use the sample) to train with these settings." if not names
               else f"'{name}' could not be read (see above): choose another dataset to train.")
