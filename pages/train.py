"""Train: the settings (pre-filled by the Wizard), a Start button, and the live view of the training.

The form's values live in st.session_state under the widget keys below, so they survive leaving the
page and coming back. The live view is a fragment that reruns every second while a job is active and
triggers one full rerun when the run it follows ends.
"""
from __future__ import annotations

import streamlit as st

from resnet_core.advice.planning import plan_training, weights_availability
from resnet_core.advice.recommend import card_limits, patience_for
from resnet_core.config import (
    AUGMENTATIONS,
    CLASS_BALANCE,
    CLASS_BALANCE_LABELS,
    DEVICES,
    LIMITS,
    MODEL_LABELS,
    MODELS,
    WEIGHT_LABELS,
    TrainConfig,
)
from resnet_core.data import augment
from resnet_core.data.registry import list_datasets
from resnet_core.hardware import detect_hardware
from resnet_core.text import format_duration, format_loss, format_percent
from resnet_core.training.weights_upload import (
    WEIGHTS_EXTENSIONS,
    check_weights_file,
    save_weights_upload,
)
from resnet_core.views.charts import training_curves
from resnet_core.views.run_view import (
    RunView,
    load_view,
    prep_text,
    progress_text,
    queue_text,
    resumable,
    run_to_follow,
)
from ui.forms import remember_form, restore_form
from ui.shared import (
    LAST_RUN,
    PAGES,
    PLAN,
    PREDICT_RUN,
    dataset_select,
    friendly_errors,
    import_sample,
    services,
    through_the_app,
)

through_the_app()

# Form fields (TrainConfig names) and their widget keys.
FIELDS = ("model", "weights", "fine_tune", "augmentation", "epochs", "batch_size", "learning_rate",
          "patience", "eval_every", "image_size", "seed", "device", "class_balance")
KEYS = {name: f"train_{name}" for name in FIELDS}
DATASET_KEY = "train_dataset"
WEIGHTS_FILE_KEY = "train_weights_file"
_SAVED = "train_form_saved"  # the form's values, kept while its widgets are off screen
_APPLIED = "train_prefill_applied"  # which plan / defaults last filled the form
_PREFILL = "train_prefill_values"  # those values, to tell which fields the user changed
_WEIGHTS_PATH = "train_weights_path"
_WEIGHTS_CHECK = "train_weights_check"  # (path, model, problem or None, description): read once per pair
_SEEN_ACTIVE = "train_seen_active"  # the run the live view last saw running
_PATIENCE_FOLLOWS = "train_patience_follows"  # patience tracks the epochs until the user sets it
POLL_S = 1.0

FIELD_LABELS = {"epochs": "Epochs", "batch_size": "Batch size", "learning_rate": "Learning rate",
                "patience": "Patience", "eval_every": "Evaluate every", "image_size": "Image size"}


# ----- keeping the form -----------------------------------------------------------------------

def apply_values(values: dict, source: tuple) -> None:
    """Fill the form from a plan or the defaults (only when the source changed)."""
    for name in FIELDS:
        if name in values and values[name] is not None:
            st.session_state[KEYS[name]] = values[name]
    st.session_state[_WEIGHTS_PATH] = values.get("weights_path")
    st.session_state[_PREFILL] = dict(values)
    st.session_state[_APPLIED] = source
    st.session_state[_PATIENCE_FOLLOWS] = True


def on_epochs_change() -> None:
    """Keep patience at the study's share of the epochs, unless the user chose a patience."""
    if st.session_state.get(_PATIENCE_FOLLOWS, True):
        st.session_state[KEYS["patience"]] = patience_for(int(st.session_state[KEYS["epochs"]]))


def on_patience_change() -> None:
    st.session_state[_PATIENCE_FOLLOWS] = False


def wizard_defaults(dataset: str) -> dict | None:
    """The wizard's plan for this dataset with nothing chosen by the user."""
    with st.spinner("Reading the dataset to suggest settings…"):
        with friendly_errors(f"suggest settings for {dataset}"):
            return plan_training(dataset, services().workspace).config.to_dict()
    return None


# ----- limits -----------------------------------------------------------------------------------

def form_limits(model: str, weights: str) -> dict[str, tuple[float, float]]:
    """The card's ranges (wider without ImageNet weights), config.LIMITS for the other numbers."""
    random_init = weights == "none" or (weights == "auto" and not weights_availability("auto").get(model, False))
    return {**LIMITS, **card_limits(model, random_init=random_init)}


def clamp_to_limits(limits: dict[str, tuple[float, float]], model: str) -> list[str]:
    """Bring out-of-range values into range before their widgets exist; say what changed."""
    messages = []
    for name in ("epochs", "batch_size", "learning_rate", "patience", "eval_every", "image_size"):
        key, (lo, hi) = KEYS[name], limits[name]
        value = st.session_state.get(key)
        if value is None:
            continue
        if value < lo or value > hi:
            new = min(max(value, lo), hi)
            source = "the ResNet model card's" if name in ("epochs", "batch_size", "learning_rate") else "the"
            messages.append(f"{FIELD_LABELS[name]} {value:g} is outside {source} range for "
                            f"{MODEL_LABELS[model]} ({lo:g}–{hi:g}); set to {new:g}.")
            st.session_state[key] = new if name == "learning_rate" else int(new)
    return messages


# ----- the settings -------------------------------------------------------------------------------

def settings_section(datasets: list[str]) -> None:
    restore_form(_SAVED)
    plan = st.session_state.get(PLAN)
    if plan and st.session_state.get(_APPLIED) != ("plan", repr(plan)):
        if plan.get("dataset") in datasets:
            st.session_state[DATASET_KEY] = plan["dataset"]
        apply_values(plan, ("plan", repr(plan)))

    with st.container(border=True):
        top = st.columns([2, 3], vertical_alignment="bottom")
        dataset = dataset_select(datasets, DATASET_KEY, where=top[0],
                                 help="The images to train on; each run uses the dataset's saved split.")
        if not plan and st.session_state.get(_APPLIED) != ("defaults", dataset):
            defaults = wizard_defaults(dataset)
            if defaults:
                apply_values(defaults, ("defaults", dataset))
        with top[1]:
            if plan:
                where = "" if plan.get("dataset") == dataset else f" (planned for {plan.get('dataset')})"
                st.caption(f"Settings from the Wizard{where} — change anything you like.")
            else:
                st.caption("Settings from the wizard's defaults — open the Wizard to tailor them.")
                st.page_link(PAGES["wizard"], label="Open the Wizard", icon=":material/auto_fix_high:")

        c1, c2, c3 = st.columns(3)
        model = c1.selectbox("Model", MODELS, key=KEYS["model"], format_func=lambda m: MODEL_LABELS[m],
                             help="Deeper models can be more accurate but train slower and need more images.")
        weights = c2.selectbox("Starting weights", list(WEIGHT_LABELS), key=KEYS["weights"],
                               format_func=WEIGHT_LABELS.get,
                               help="ImageNet weights give a head start; 'auto' falls back to random "
                                    "initialisation when they are not on this machine.")
        c3.radio("Layers to train", (True, False), key=KEYS["fine_tune"], horizontal=True,
                 format_func=lambda v: "Fine-tune all" if v else "Head only (frozen backbone)",
                 help="Fine-tuning adapts every layer; a frozen backbone trains only the last layer: "
                      "faster, but usually less accurate.")
        if weights == "file":
            weights_file_input(model)

        limits = form_limits(model, weights)
        for message in clamp_to_limits(limits, model):
            st.info(message, icon=":material/tune:")

        c1, c2, c3 = st.columns(3)
        epochs = c1.number_input("Epochs", *map(int, limits["epochs"]), step=1, key=KEYS["epochs"],
                                 on_change=on_epochs_change,
                                 help=f"The {MODEL_LABELS[model]} card's range: "
                                      f"{limits['epochs'][0]:g}–{limits['epochs'][1]:g}.")
        c2.number_input("Batch size", *map(int, limits["batch_size"]), step=1, key=KEYS["batch_size"],
                        help="Images per step; smaller if the GPU runs out of memory (training halves it "
                             "by itself if needed).")
        c3.number_input("Learning rate", float(limits["learning_rate"][0]), float(limits["learning_rate"][1]),
                        step=1e-5, format="%.1e", key=KEYS["learning_rate"],
                        help=f"The {MODEL_LABELS[model]} card's range: {limits['learning_rate'][0]:g}–"
                             f"{limits['learning_rate'][1]:g}.")

        c1, c2, c3 = st.columns(3)
        c1.selectbox("Augmentation", AUGMENTATIONS, key=KEYS["augmentation"],
                     format_func=str.capitalize,
                     help="\n".join(f"- **{k}**: {v}" for k, v in augment.DESCRIPTIONS.items()))
        lo, hi = patience_for(int(epochs), "speed"), patience_for(int(epochs), "accuracy")
        c2.number_input("Patience (evaluations)", *map(int, limits["patience"]), step=1, key=KEYS["patience"],
                        on_change=on_patience_change,
                        help="Stop when validation loss has not improved for this many evaluations. The "
                             "cost-performance study suggests 10–20% of the epochs.")
        c2.caption(f"10–20% of {int(epochs)} epochs: {lo}–{hi}" if lo != hi else
                   f"10–20% of {int(epochs)} epochs: {lo}")
        c3.number_input("Evaluate every (epochs)", *map(int, limits["eval_every"]), step=1,
                        key=KEYS["eval_every"], help="How often to score the validation images.")
        c1.caption(augment.DESCRIPTIONS[st.session_state[KEYS["augmentation"]]])

        c1, c2, c3 = st.columns(3)
        c1.number_input("Image size (px)", *map(int, limits["image_size"]), step=16, key=KEYS["image_size"],
                        help="Images are resized and centre-cropped to this square; the cards use 224.")
        c2.number_input("Seed", 0, 2**31 - 1, step=1, key=KEYS["seed"],
                        help="Same seed, same settings: the same run again.")
        hardware = detect_hardware().describe()
        c3.selectbox("Device", DEVICES, key=KEYS["device"],
                     format_func=lambda d: f"auto ({hardware})" if d == "auto" else d,
                     help="Where to train; 'auto' picks the GPU when there is one.")
        c1.selectbox("Class balance", CLASS_BALANCE, key=KEYS["class_balance"],
                     format_func=CLASS_BALANCE_LABELS.get,
                     help="With unequal classes, a class-weighted loss keeps the model from favouring the "
                          "large ones (the Wizard recommends it at 3× or more).")

        if plan and plan.get("max_train_images"):
            st.caption(f"Trains on a stratified subset of {plan['max_train_images']:,} training images "
                       "(set in the Wizard).")
        start = st.button("Start training", key="train_start", type="primary", icon=":material/play_arrow:")
    remember_form(_SAVED, [DATASET_KEY, *KEYS.values()])
    if start:
        start_run(dataset, plan)


def weights_file_input(model: str) -> None:
    upload = st.file_uploader("Weights file (.pt / .pth)", type=[e.lstrip(".") for e in WEIGHTS_EXTENSIONS],
                              key=WEIGHTS_FILE_KEY,
                              help="A state dict or checkpoint of a ResNet of the chosen depth; its "
                                   "classification layer is replaced to fit your classes.")
    if upload is not None:
        st.session_state[_WEIGHTS_PATH] = None
        with friendly_errors("keep the weights file"):
            st.session_state[_WEIGHTS_PATH] = str(
                save_weights_upload(services().workspace, upload.name, upload.getvalue()))
    path = st.session_state.get(_WEIGHTS_PATH)
    if not path:
        return
    name = path.rsplit("/", 1)[-1]
    problem, description = weights_file_check(path, model)
    if problem:
        st.error(f"{problem}. Upload another file or choose other starting weights.", icon=":material/error:")
    else:
        st.caption(f":material/check_circle: {'U' if upload is not None else 'Still u'}sing {name}: {description}.")


def weights_file_check(path: str, model: str) -> tuple[str | None, str | None]:
    """(problem, description) of the weights file for this model, read once per file and model (a
    ResNet-101 file is large)."""
    cached = st.session_state.get(_WEIGHTS_CHECK)
    if not cached or cached[:2] != (path, model):
        problem, description = None, None
        with st.spinner("Checking the weights file…"):
            try:
                description = check_weights_file(path, model)
            except (ValueError, OSError) as e:  # WeightsError is a ValueError
                problem = str(e)
        cached = (path, model, problem, description)
        st.session_state[_WEIGHTS_CHECK] = cached
    return cached[2], cached[3]


def form_values(dataset: str, plan: dict | None) -> dict:
    values = {name: st.session_state[KEYS[name]] for name in FIELDS}
    for name in ("epochs", "batch_size", "patience", "eval_every", "image_size", "seed"):
        values[name] = int(values[name])
    values["learning_rate"] = float(values["learning_rate"])
    values["dataset"] = dataset
    values["weights_path"] = st.session_state.get(_WEIGHTS_PATH) if values["weights"] == "file" else None
    prefill = st.session_state.get(_PREFILL) or {}
    # A field stays 'recommended' only while the user left it as the wizard set it.
    values["recommended"] = tuple(f for f in prefill.get("recommended", ()) if values.get(f) == prefill.get(f))
    if plan and plan.get("max_train_images"):
        values["max_train_images"] = int(plan["max_train_images"])
    return values


def start_run(dataset: str, plan: dict | None) -> None:
    values = form_values(dataset, plan)
    if values["weights"] == "file" and not values["weights_path"]:
        st.error("Starting weights is set to 'a weights file', but no file is uploaded: upload a .pt or "
                 "a .pth file, or choose another starting-weights option.")
        return
    if values["weights"] == "file":
        problem, _ = weights_file_check(values["weights_path"], values["model"])
        if problem:  # the reason is already shown under the file
            name = values["weights_path"].rsplit("/", 1)[-1]
            st.error(f"Not started: {name} cannot be used as starting weights (see the message under the "
                     "file). Upload another file or choose other starting weights.", icon=":material/block:")
            return
    run_id = None
    with friendly_errors("start the training"):
        run_id = services().jobs.submit(TrainConfig(**values))
    if run_id is not None:
        st.session_state[LAST_RUN] = run_id
        st.session_state.pop(_SEEN_ACTIVE, None)
        st.rerun()


# ----- the live view ------------------------------------------------------------------------------

def followed_view() -> RunView | None:
    svc = services()
    run_id = run_to_follow(st.session_state.get(LAST_RUN), svc.jobs.snapshots(active_only=True))
    if run_id is None:
        return None
    st.session_state[LAST_RUN] = run_id
    view = load_view(svc.jobs, svc.store, run_id)
    if view is None:  # deleted meanwhile
        st.session_state.pop(LAST_RUN, None)
    return view


def live_section(view: RunView) -> None:
    polling = view.is_active or bool(services().jobs.snapshots(active_only=True))
    st.fragment(live_fragment, run_every=POLL_S if polling else None)(view.run_id)


def live_fragment(run_id: int) -> None:
    svc = services()
    view = load_view(svc.jobs, svc.store, run_id)
    if view is None:
        st.info(f"Run {run_id} no longer exists.")
        return
    if view.is_active:
        st.session_state[_SEEN_ACTIVE] = run_id
    elif st.session_state.get(_SEEN_ACTIVE) == run_id:
        # It just ended: redraw the whole page once (final results, buttons, polling off).
        del st.session_state[_SEEN_ACTIVE]
        st.rerun(scope="app")
    draw_run(view)
    other_jobs(run_id)


def draw_run(view: RunView) -> None:
    st.subheader(f"Run #{view.run_id} · {view.description}")
    device = f" · {view.device}" if view.device else ""
    st.caption(f"Dataset **{view.dataset}** · {view.epochs} epochs planned{device}")
    if view.is_active:
        draw_progress(view)
    else:
        draw_outcome(view)
    if view.history:
        st.plotly_chart(curves_for(view), key="train_curves", config={"displayModeBar": False})
    if view.notes:
        with st.expander(f"Notes from the run ({len(view.notes)})", expanded=not view.is_active,
                         icon=":material/info:"):
            st.markdown("\n".join(f"- {note}" for note in view.notes))


def curves_for(view: RunView):
    """The loss/accuracy figure, rebuilt only when an epoch ends (not on every batch-level poll)."""
    stamp = (view.run_id, len(view.history), view.best_epoch, view.stopped_epoch, view.status)
    cached = st.session_state.get("train_curves_cache")
    if cached is None or cached[0] != stamp:
        figure = training_curves(view.history, best_epoch=view.best_epoch or None,
                                 stopped_epoch=view.stopped_epoch, planned_epochs=view.epochs)
        cached = (stamp, figure)
        st.session_state["train_curves_cache"] = cached
    return cached[1]


def draw_progress(view: RunView) -> None:
    svc = services()
    if view.status == "queued":
        st.progress(0.0, text=queue_text(view, svc.jobs.snapshots(active_only=True)))
    elif view.status == "preparing" or view.phase in ("scanning", "decoding"):
        text, fraction = prep_text(view.prep)
        st.progress(fraction, text=f"Preparing · {text}")
    else:
        st.progress(min(1.0, max(0.0, view.progress)), text=progress_text(view))
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Learning rate", f"{view.lr:.2e}" if view.lr else "—")
        m2.metric("Images / s", f"{view.images_per_s:,.0f}" if view.images_per_s else "—")
        m3.metric("Elapsed", format_duration(view.elapsed_s) if view.source == "job" else "—")
        last_val = next((h for h in reversed(view.history) if h.get("val_acc") is not None), None)
        m4.metric("Val accuracy", format_percent(last_val["val_acc"]) if last_val else "—")
    if view.source == "job":
        if st.button("Cancel", key="train_cancel", icon=":material/stop:",
                     help="Stops after the current batch and keeps the best model so far."):
            svc.jobs.cancel(view.run_id)
            st.toast(f"Cancelling run {view.run_id}…")
    else:
        st.caption("This run is training in another process; cancel it there.")


def draw_outcome(view: RunView) -> None:
    if view.status == "completed":
        how = (f"stopped early at epoch {view.final.get('epoch_ended')}: {view.message}" if view.stopped_early
               and view.message else f"trained {view.final.get('epoch_ended') or view.epoch} epochs")
        st.success(f"Finished — {how}.", icon=":material/check_circle:")
    elif view.status == "cancelled":
        st.warning(f"Cancelled{': ' + view.message if view.message else ''}. The best model so far was kept.",
                   icon=":material/cancel:")
    elif view.status == "failed":
        st.error(f"Training failed: {view.message or 'no message was recorded'}", icon=":material/error:")
    elif view.status == "interrupted":
        st.warning("Interrupted: the server stopped while this run was training. Resume or re-run it below.",
                   icon=":material/pause_circle:")
    f = view.final
    if view.status in ("completed", "cancelled") and f:
        cols = st.columns(6)
        cols[0].metric("Test accuracy", format_percent(f.get("test_acc")))
        cols[1].metric("Val accuracy", format_percent(f.get("val_acc")))
        cols[2].metric("Val loss", format_loss(f.get("val_loss")))
        cols[3].metric("Training time", format_duration(f.get("train_time_s")))
        cols[4].metric("Epoch ended", f.get("epoch_ended") or "—")
        cols[5].metric("Best epoch", f.get("best_epoch") or "—")
    row = st.container(horizontal=True)
    if row.button("Compare runs", key="train_go_compare", icon=":material/leaderboard:"):
        st.switch_page(PAGES["compare"])
    if view.status in ("completed", "cancelled") and f.get("test_acc") is not None:
        if row.button("Predict with it", key="train_go_predict", icon=":material/image_search:"):
            st.session_state[PREDICT_RUN] = view.run_id
            st.switch_page(PAGES["predict"])


def other_jobs(followed: int) -> None:
    svc = services()
    others = [s for s in svc.jobs.snapshots(active_only=True) if s.run_id != followed]
    if not others:
        return
    st.markdown("**Other runs in progress**")
    for snap in others:
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        state = (queue_text(load_view(svc.jobs, svc.store, snap.run_id), svc.jobs.snapshots(active_only=True))
                 if snap.status == "queued" else f"{snap.status} · {snap.progress:.0%}")
        c1.markdown(f"#{snap.run_id} · {snap.description} · {snap.dataset} — {state}")
        if c2.button("Show", key=f"train_follow_{snap.run_id}"):
            st.session_state[LAST_RUN] = snap.run_id
            st.rerun(scope="app")


# ----- interrupted runs ---------------------------------------------------------------------------

def interrupted_section() -> None:
    svc = services()
    runs = svc.store.list_runs(statuses=["interrupted"])
    if not runs:
        return
    st.subheader("Interrupted runs")
    st.caption("The server stopped while these were training or waiting. Resume continues from the last "
               "saved epoch; Re-run starts the same settings from scratch.")
    for record in runs:
        with st.container(border=True):
            c1, c2, c3 = st.columns([4, 1, 1], vertical_alignment="center")
            done = len(svc.store.epochs(record.id))
            c1.markdown(f"**#{record.id} · {record.description}** · {record.dataset} · "
                        f"{done} epoch{'s' if done != 1 else ''} saved")
            can_resume = resumable(svc.workspace, record.id)
            if c2.button("Resume", key=f"train_resume_{record.id}", disabled=not can_resume,
                         help=None if can_resume else "No epoch was saved; re-run it instead."):
                with friendly_errors(f"resume run {record.id}"):
                    follow(svc.jobs.resume(record.id))
            if c3.button("Re-run", key=f"train_rerun_{record.id}", disabled=record.config is None):
                with friendly_errors(f"re-run run {record.id}"):
                    follow(svc.jobs.submit(record.config))


def follow(run_id: int) -> None:
    st.session_state[LAST_RUN] = run_id
    st.session_state.pop(_SEEN_ACTIVE, None)
    st.rerun()


# ----- the page -----------------------------------------------------------------------------------

st.title("Train")
st.caption("Start a run with the Wizard's settings (or your own) and watch it learn. Runs keep going "
           "when you leave this page.")

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


dataset_names = [d.name for d in list_datasets(services().workspace)]
current = followed_view()
if current is None:
    new_run_section(dataset_names)
    finished = len(services().store.list_runs(statuses=["completed", "cancelled"])) if dataset_names else 0
    if finished:
        st.page_link(PAGES["compare"], label=f"See the {finished} finished run{'s' if finished != 1 else ''} "
                     "ranked on Compare", icon=":material/leaderboard:")
else:
    # The followed run keeps its place at the top while it trains and after it ends; the form for
    # another run stays folded below it, so finishing does not push the results down the page.
    live_section(current)
    with st.expander("Start another run", icon=":material/add_circle:"):
        new_run_section(dataset_names)
interrupted_section()
