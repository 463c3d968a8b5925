"""Study: the cost-performance study on the user's own data. Every depth × fine-tuning or frozen
backbone × augmentation at several training-set sizes, all scored on the same test images, ranked
per size as in the reference study, with the learning curve, cost against accuracy and a written
conclusion.

The plan's inputs live in st.session_state under the widget keys below (kept while other pages are
shown). Launching queues the runs in the shared job manager and returns at once; a fragment polls
their progress while any is active and redraws the whole page when a configuration finishes.
"""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from resnet_core.advice import estimate
from resnet_core.advice.planning import weights_availability
from resnet_core.advice.recommend import WEIGHT_CHOICES
from resnet_core.config import AUGMENTATIONS, LIMITS, MODEL_LABELS, MODELS, WEIGHT_LABELS
from resnet_core.data.augment import DESCRIPTIONS as AUGMENTATION_DESCRIPTIONS
from resnet_core.data.registry import dataset_report, get_dataset, list_datasets
from resnet_core.data.splits import get_split
from resnet_core.hardware import resolve_device
from resnet_core.results.trust import TIE_HELP
from resnet_core.study.plan import StudyPlan, list_studies, plan_study
from resnet_core.study.run import cancel_study, estimate_study_time, run_study
from resnet_core.study.summary import format_tables, study_conclusion, study_tables
from resnet_core.text import format_rough_duration
from resnet_core.views.charts import cost_performance, learning_curves
from resnet_core.views.study_view import (
    Cell,
    chart_rows,
    finished_count,
    grid_column,
    overall_progress,
    parse_sizes,
    progress_grid,
    result_rows,
    size_label,
    study_cells,
    suggested_sizes,
    training_modes_text,
)
from resnet_core.views.trust_view import CI_COLUMN, TIE_COLUMN
from ui.forms import remember_form, restore_form
from ui.shared import (
    PAGES,
    as_percent_points,
    dataset_select,
    friendly_errors,
    import_sample,
    services,
    study_columns,
    through_the_app,
)

through_the_app()

DATASET_KEY = "study_dataset"
SIZES_KEY = "study_sizes"
MODELS_KEY = "study_models"
AUGS_KEY = "study_augmentations"
WEIGHTS_KEY = "study_weights"
FROZEN_KEY = "study_frozen_random"
OVERRIDE_KEYS = {"epochs": "study_epochs", "batch_size": "study_batch_size", "learning_rate": "study_lr",
                 "image_size": "study_image_size"}
OPEN_KEY = "study_open"  # the study shown under "Progress and results"
FORM_KEYS = (DATASET_KEY, SIZES_KEY, MODELS_KEY, AUGS_KEY, WEIGHTS_KEY, FROZEN_KEY, *OVERRIDE_KEYS.values())
_SAVED = "study_form_saved"  # the inputs, kept while their widgets are off screen
_SIZES_FOR = "study_sizes_for"  # the dataset the sizes were suggested for
_COUNTS = "study_split_counts"  # (dataset, train, val, test, classes), read once per dataset
_PLANNED = "study_planned"  # (inputs, plan or error message): planning reads the dataset, so once
_FLASH = "study_flash"  # (kind, message) shown once after the rerun that follows an action
_DRAWN = "study_drawn"  # (study id, completed, active) the last full run drew
POLL_S = 1.5
FLASH_S = 8.0  # how long a message about an action stays

TABLE_CONFIG = {
    **study_columns(),
    "Best trade-off": st.column_config.CheckboxColumn("Best trade-off",
                                                      help="On the Pareto front of its size: no other "
                                                           "configuration is both more accurate and faster."),
    "Run": st.column_config.NumberColumn("Run", format="#%d"),
    "Status": st.column_config.TextColumn("Status"),
    TIE_COLUMN: st.column_config.TextColumn(TIE_COLUMN, width="small", help=TIE_HELP),
    CI_COLUMN: st.column_config.TextColumn(CI_COLUMN, help="95% bootstrap interval of the test accuracy "
                                           "over the test images."),
}
TABLE_COLUMNS = ["Model", "Val Loss", "Val Acc", "Test Acc", "Training Time", "Epoch Ended", "Rank",
                 TIE_COLUMN, CI_COLUMN, "Best trade-off", "Run"]

svc = services()
ws = svc.workspace


# ----- keeping the inputs -------------------------------------------------------------------------

def flash(kind: str, message: str, where: str = "progress") -> None:
    """A message for the rerun that follows an action, drawn where it belongs (the sizes or the progress)."""
    st.session_state[_FLASH] = (kind, message, where, time.monotonic())


def show_flash(where: str) -> None:
    """Shown for a few seconds of reruns: the polling's own reruns would otherwise wipe it at once."""
    item = st.session_state.get(_FLASH)
    if not item or item[2] != where:
        return
    kind, message, _, when = item
    if time.monotonic() - when > FLASH_S:
        st.session_state.pop(_FLASH, None)
        return
    icons = {"success": ":material/check_circle:", "info": ":material/info:", "warning": ":material/stop_circle:",
             "error": ":material/error:"}
    getattr(st, kind)(message, icon=icons[kind])


# ----- the dataset --------------------------------------------------------------------------------

def split_counts(dataset: str) -> tuple[int, int, int, int] | None:
    """(train, val, test, classes) of the dataset's saved split, read once per dataset and session."""
    cached = st.session_state.get(_COUNTS)
    if cached and cached[0] == dataset:
        return cached[1:]
    counts = None
    with friendly_errors(f"read the dataset '{dataset}'"):
        info = get_dataset(dataset, ws)
        split = get_split(info, dataset_report(info))
        counts = (len(split.train), len(split.val), len(split.test), len(split.classes))
        st.session_state[_COUNTS] = (dataset, *counts)
    return counts


def empty_state() -> None:
    st.info("No dataset yet. A study needs labelled images: import a folder on the Data page, or try the "
            "built-in sample.", icon=":material/science:")
    row = st.container(horizontal=True)
    if row.button("Go to Data", key="study_go_data", type="primary", icon=":material/folder_open:"):
        st.switch_page(PAGES["data"])
    if row.button("Use the sample dataset", key="study_use_sample", icon=":material/checkroom:") and import_sample():
        st.rerun()


# ----- the plan -----------------------------------------------------------------------------------

def normalise_sizes() -> None:
    """Typed sizes arrive as text: keep them as numbers, and say which could not be read."""
    values = st.session_state.get(SIZES_KEY, [])
    kept, bad = [], []
    for value in values:
        try:
            kept.extend(parse_sizes([value]))
        except ValueError as e:
            bad.append(str(e))
    st.session_state[SIZES_KEY] = sorted(set(kept))
    if bad:
        flash("error", " ".join(bad), where="sizes")


def plan_inputs(dataset: str, num_train: int, num_classes: int):
    """Draw the plan's inputs; returns (plan_study's arguments or None, the place for the line on how
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
    available = weights_availability(weights)
    random_start = [MODEL_LABELS[m] for m in models if not available.get(m, False)]
    include_frozen = False
    if random_start:
        include_frozen = st.checkbox("Include frozen random backbones", key=FROZEN_KEY)
        st.caption(f"No ImageNet weights for {', '.join(random_start)} here, so a frozen backbone would be "
                   "random: only its last layer learns and it stays near chance. Left out unless included, "
                   "as a baseline.")

    with st.expander("Override the wizard's settings (optional)", icon=":material/tune:"):
        st.caption("Empty fields keep the wizard's choice for each size and depth, from the model cards.")
        o1, o2, o3, o4 = st.columns(4)
        o1.number_input("Epochs", *map(int, LIMITS["epochs"]), value=None, step=1, key=OVERRIDE_KEYS["epochs"],
                        placeholder="wizard's")
        o2.number_input("Batch size", *map(int, LIMITS["batch_size"]), value=None, step=1,
                        key=OVERRIDE_KEYS["batch_size"], placeholder="wizard's")
        o3.number_input("Learning rate", *map(float, LIMITS["learning_rate"]), value=None, step=1e-5,
                        format="%.1e", key=OVERRIDE_KEYS["learning_rate"], placeholder="wizard's")
        o4.number_input("Image size (px)", *map(int, LIMITS["image_size"]), value=None, step=16,
                        key=OVERRIDE_KEYS["image_size"], placeholder="wizard's")
    overrides = {name: st.session_state.get(key) for name, key in OVERRIDE_KEYS.items()}
    if not sizes:
        st.warning("Pick at least one training-set size.", icon=":material/warning:")
        return None, modes_line
    if not models or not augs:
        st.warning(f"Pick at least one {'depth' if not models else 'augmentation'}.", icon=":material/warning:")
        return None, modes_line
    return {"dataset": dataset, "sizes": tuple(int(s) for s in sizes), "models": tuple(models),
            "augmentations": tuple(augs), "include_frozen_random": bool(include_frozen), "weights": weights,
            "overrides": tuple(sorted((k, v) for k, v in overrides.items() if v is not None))}, modes_line


def current_plan(args: dict) -> StudyPlan | None:
    """plan_study for these inputs, kept while they stay the same (planning reads the dataset)."""
    cached = st.session_state.get(_PLANNED)
    if not cached or cached[0] != args:
        plan, error = None, None
        try:
            with st.spinner("Planning the study…"):
                plan = plan_study(args["dataset"], args["sizes"], models=args["models"],
                                  augmentations=args["augmentations"],
                                  include_frozen_random=args["include_frozen_random"],
                                  overrides=dict(args["overrides"]), workspace=ws, weights=args["weights"])
        except ValueError as e:  # StudyError and the config's own range errors
            error = f"Cannot plan this study: {e}"
        except Exception as e:  # a bug: no traceback for the user
            error = f"Cannot plan this study: unexpected {type(e).__name__}: {e}."
        cached = (args, plan, error)
        st.session_state[_PLANNED] = cached
    if cached[2]:
        st.error(cached[2], icon=":material/error:")
    return cached[1]


def plan_summary(plan: StudyPlan, cells: list[Cell]) -> None:
    """The plan in numbers with its estimated time, then its runs and notes folded away."""
    per_size = len(plan.entries) // max(1, len(plan.sizes))
    done = sum(1 for c in cells if c.status == "completed")
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Runs", len(plan.entries), help=f"{per_size} configurations × {len(plan.sizes)} sizes")
    m2.metric("Configurations per size", per_size)
    m3.metric("Already done", f"{done} of {len(plan.entries)}",
              help="A configuration counts as done when a completed run with the same settings exists.")
    with m4:
        note = estimate_metric(plan, cells)
    if note:
        st.caption(note)
    if done == len(cells):
        st.success(f"All {len(plan.entries)} configurations are done. Launching again runs nothing new.",
                   icon=":material/check_circle:")
    rows = [{"Training images": e.num_images, "Configuration": e.description, "Epochs": e.config.epochs,
             "Batch size": e.config.batch_size, "Learning rate": e.config.learning_rate,
             "Augmentation": e.config.augmentation, "Image size": e.config.image_size,
             "Status": c.text} for e, c in zip(plan.entries, cells)]
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
    todo = [e.config for e, c in zip(plan.entries, cells) if c.status != "completed"]
    if not todo:
        st.metric("Estimated time", "nothing left")
        return None
    probes = {(c.model, c.batch_size, c.image_size, c.fine_tune, resolve_device(c.device)) for c in todo}
    cheap = all(estimate.probe_is_cheap(p[2], p[4]) for p in probes)
    measured = all(estimate.cached_throughput(*p) is not None for p in probes)
    clicked = False
    if not cheap and not measured:
        clicked = st.button("Measure the training time", key="study_measure", icon=":material/timer:",
                            help=f"Runs a few training steps of each setting here ({len(probes)} in all): "
                                 "seconds to a minute on a CPU.")
        if not clicked:
            return (f"Training time: measured on request, by a few training steps of each of the {len(probes)} "
                    "settings here (seconds to a minute on a CPU).")
    est = None
    with friendly_errors("estimate the study's time"):
        with st.spinner("Measuring…"):
            est = estimate_study_time(plan, store=svc.store)
    if est is None:
        return None
    if clicked:
        st.rerun()  # redraw without the button that asked for it
    words = format_rough_duration(est.seconds)
    st.metric("Estimated time (upper bound)", "< 1 min" if est.seconds < 60 else words,
              help="Every run counted to its last epoch at the speed measured here.")
    notes = [f"Estimated time: at most {words} for the {est.remaining} configuration(s) still to run, at the "
             "speed measured on this machine. An upper bound: every run is counted to its last epoch, and "
             "early stopping usually ends runs sooner.", "Not counted: reading the images once per run."]
    if svc.jobs.active_run_ids():
        notes.append("Training was in progress while measuring, so the speed may be understated.")
    return " ".join(notes)


def launch(plan: StudyPlan) -> None:
    result = None
    with friendly_errors("launch the study"):
        result = run_study(plan, ws, svc.store, jobs=svc.jobs)
    if result is None:
        return
    st.session_state[OPEN_KEY] = plan.study_id
    st.session_state.pop(_DRAWN, None)
    skipped = f" {len(result.skipped)} finished configuration(s) skipped." if result.skipped else ""
    if result.ran:
        flash("success", f"Queued {len(result.ran)} run(s); they train one after another.{skipped}")
    else:
        flash("info", f"Nothing new to run: every configuration is done or already queued.{skipped}")
    st.rerun()


def plan_section(dataset: str, counts: tuple[int, int, int, int]) -> str | None:
    """The inputs, the plan, its estimate and Launch; returns the planned study's id."""
    num_train, num_val, num_test, num_classes = counts
    st.subheader("Plan")
    with st.container(border=True):
        args, modes_line = plan_inputs(dataset, num_train, num_classes)
        remember_form(_SAVED, FORM_KEYS)
        if args is None:
            return None
        plan = current_plan(args)
        if plan is None:
            return None
        modes_line.caption(training_modes_text(plan))
        cells = study_cells(plan, svc.store, svc.jobs.snapshots())
        plan_summary(plan, cells)
        done = sum(1 for c in cells if c.status == "completed")
        if st.button("Launch study", key="study_launch", type="primary", icon=":material/rocket_launch:"):
            launch(plan)
        if 0 < done < len(cells):
            st.caption(f"{done} of {len(cells)} configurations are done already: Launch runs only the other "
                       f"{len(cells) - done}, so a stopped study resumes where it was.")
        elif not done:
            st.caption("Runs queue in the background: you can leave this page and come back. Launching the same "
                       "plan again never repeats a finished configuration.")
    return plan.study_id


# ----- progress -----------------------------------------------------------------------------------

def cached_estimates(plan: StudyPlan) -> tuple[float, ...] | None:
    """Seconds per entry from rates measured earlier in this process (never probes: this runs every poll)."""
    rates = {}
    for e in plan.entries:
        c = e.config
        key = (c.model, c.batch_size, c.image_size, c.fine_tune, resolve_device(c.device))
        rate = estimate.cached_throughput(*key)
        if rate is None:
            return None
        rates[key[:4]] = rate
    try:
        est = estimate_study_time(plan, lambda c: rates[(c.model, c.batch_size, c.image_size, c.fine_tune)])
    except ValueError:
        return None
    return est.per_entry


def progress_section(plan: StudyPlan, show_resume: bool) -> None:
    cells = study_cells(plan, svc.store, svc.jobs.snapshots())
    state = overall_progress(cells)
    st.session_state[_DRAWN] = (plan.study_id, state.completed, state.is_active)
    show_flash("progress")
    st.fragment(progress_fragment, run_every=POLL_S if state.is_active else None)(plan, show_resume)


def progress_fragment(plan: StudyPlan, show_resume: bool) -> None:
    cells = study_cells(plan, svc.store, svc.jobs.snapshots())
    state = overall_progress(cells, cached_estimates(plan))
    if st.session_state.get(_DRAWN) != (plan.study_id, state.completed, state.is_active):
        # A configuration finished (or the study stopped): redraw the tables, charts and buttons.
        st.rerun(scope="app")
    st.progress(state.fraction, text=state.text())
    grid = pd.DataFrame(progress_grid(plan, cells))
    st.dataframe(grid, hide_index=True, key="study_grid", column_config={
        "Configuration": st.column_config.TextColumn("Configuration", width="medium"),
        **{grid_column(n): st.column_config.TextColumn(size_label(n, plan.num_train_available))
           for n in plan.sizes}})
    now = [c for c in cells if c.status in ("running", "preparing")]
    if now:
        c = now[0]
        st.caption(f"Now training: {c.config} on {c.num_images:,} images (run #{c.run_id}). "
                   "Follow it live on the Train page.")
    row = st.container(horizontal=True)
    if state.is_active:
        if row.button("Stop the study", key="study_stop", icon=":material/stop:",
                      help="Cancels the queued runs and stops the running one after its current batch. "
                           "Finished configurations are kept."):
            stopped = cancel_study(plan, svc.store, svc.jobs)
            flash("warning", f"Stopping {len(stopped)} run(s). Finished configurations are kept; launch the "
                             "study again to resume.")
            st.rerun(scope="app")
        row.page_link(PAGES["train"], label="Watch on the Train page", icon=":material/model_training:")
    elif state.is_complete:
        return
    elif show_resume:
        if row.button("Resume this study", key="study_resume", type="primary", icon=":material/play_arrow:",
                      help="Runs only the configurations not finished; finished ones are skipped."):
            launch(plan)
    elif any(c.run_id is not None for c in cells):
        st.caption(f"Stopped with {state.total - state.completed} configuration(s) to go. Launch the study again "
                   "(above) to resume: finished configurations are skipped.")


# ----- results ------------------------------------------------------------------------------------

def results_section(plan: StudyPlan) -> None:
    tables = study_tables(plan, svc.store)
    if not finished_count(tables):
        st.info("Results appear here as configurations finish: one ranked table per size, the learning "
                "curve, cost against accuracy and a written conclusion.", icon=":material/hourglass_top:")
        return
    picks = plan.wizard_pick_names()
    with st.container(border=True):
        st.markdown("**Conclusion**")
        st.markdown("\n".join(f"- {line}" for line in study_conclusion(tables, picks)))

    rows = result_rows(tables)
    frame = pd.DataFrame(rows)
    same_pick = len({pick_words(p) for p in plan.wizard_picks.values()}) == 1
    if same_pick:
        st.caption(f"The wizard's pick at every size: {pick_words(next(iter(plan.wizard_picks.values())))}.")
    waiting = []
    for table in tables:
        n = table["num_images"]
        part = frame[frame["Training images"] == n]
        if part["Rank"].isna().all():
            waiting.append(f"{n:,}")
            continue
        st.markdown(f"**{n:,} training images**")
        pick = plan.wizard_picks.get(n)
        if pick and not same_pick:
            st.caption(f"The wizard's pick at this size: {pick_words(pick)}.")
        columns = TABLE_COLUMNS + (["Status"] if (part["Status"] != "completed").any() else [])
        st.dataframe(as_percent_points(part[columns], ("Val Acc", "Test Acc")), hide_index=True,
                     column_config=TABLE_CONFIG, key=f"study_table_{n}",
                     placeholder="—")
    if waiting:
        st.caption(f"{', '.join(waiting)} training images: no configuration has finished yet.")
    st.caption(f"Ranked within each size by test accuracy, then validation loss, then training time · the same "
               f"{plan.num_test:,} test images for every run · click a column header to sort.")
    row = st.container(horizontal=True)
    row.download_button("Download CSV", frame.to_csv(index=False).encode("utf-8"),
                        file_name=f"{plan.study_id}.csv", mime="text/csv", key="study_csv",
                        icon=":material/download:")
    row.download_button("Download as Markdown", format_tables(tables).encode("utf-8"),
                        file_name=f"{plan.study_id}.md", mime="text/markdown", key="study_markdown",
                        icon=":material/description:", help="The tables in the reference study's layout.")

    curve_tab, cost_tab = st.tabs(["Learning curve", "Cost against accuracy"])
    with curve_tab:
        if len(tables) > 1:
            st.caption("Test accuracy at each size: a line still rising means more data still helps.")
            st.plotly_chart(learning_curves(tables), key="study_learning_curve", config={"displayModeBar": False})
        else:
            st.caption("Study two or more sizes to see whether more data still helps.")
    with cost_tab:
        st.caption("Test accuracy against training time, one colour per size. Up and to the left is better; "
                   "the dashed line joins the configurations no other of the same size beats on both.")
        figure = cost_performance(chart_rows(tables))
        figure.update_layout(height=440)  # room for a legend entry per size above the plot
        st.plotly_chart(figure, key="study_cost_chart", config={"displayModeBar": False})


def pick_words(pick: dict) -> str:
    """'ResNet18 + fine-tuning + heavy augmentation (measured here as ResNet18 + fine-tuning + augmentation)'."""
    closest = "" if pick["config"] == pick["wizard"] else f" (measured here as {pick['config']})"
    return f"{pick['wizard']}{closest}"


def study_label(plan: StudyPlan) -> str:
    """'tiny: 4 configurations at 12, 24 training images · 2 epochs, 32 px · 8/8 done · planned …':
    the settings tell apart studies of the same sizes."""
    cells = study_cells(plan, svc.store)
    done = sum(1 for c in cells if c.status == "completed")
    epochs = sorted({e.config.epochs for e in plan.entries})
    pixels = sorted({e.config.image_size for e in plan.entries})
    span = f"{epochs[0]}–{epochs[-1]} epochs" if len(epochs) > 1 else f"{epochs[0]} epoch{'s' * (epochs[0] != 1)}"
    settings = f"{span}, {'/'.join(map(str, pixels))} px"
    when = plan.created[:16].replace("T", " ") if plan.created else ""
    return f"{plan.name} · {settings} · {done}/{len(cells)} done" + (f" · planned {when}" if when else "")


def open_study_section(dataset: str, planned_id: str | None) -> None:
    studies = list_studies(ws, dataset)
    st.subheader("Progress and results")
    if not studies:
        st.caption("No study on this dataset yet: plan one above and launch it.")
        return
    by_id = {p.study_id: p for p in studies}
    if st.session_state.get(OPEN_KEY) not in by_id:
        st.session_state[OPEN_KEY] = planned_id if planned_id in by_id else studies[0].study_id
    if len(studies) > 1:
        st.selectbox("Study", list(by_id), key=OPEN_KEY, format_func=lambda i: study_label(by_id[i]),
                     help="Every study of this dataset, newest first.")
    else:
        st.caption(study_label(studies[0]))
    plan = by_id[st.session_state[OPEN_KEY]]
    progress_section(plan, show_resume=plan.study_id != planned_id)
    results_section(plan)


# ----- the page -----------------------------------------------------------------------------------

st.title("Study")
st.caption("Which ResNet and which training choices give the best accuracy for the time on your data? "
           "Every configuration at several dataset sizes, scored on the same test images and ranked.")

restore_form(_SAVED)
names = []
with friendly_errors("list the datasets"):
    names = [d.name for d in list_datasets(ws)]
if not names:
    empty_state()
    st.stop()
top = st.columns([2, 3], vertical_alignment="bottom")
dataset = dataset_select(names, DATASET_KEY, where=top[0])
counts = split_counts(dataset)
if counts is None:
    st.stop()
top[1].caption(f"{counts[0]:,} training · {counts[1]:,} validation · {counts[2]:,} test images in "
               f"{counts[3]} classes. Every run is scored on the same test images.")

planned = plan_section(dataset, counts)
st.divider()
open_study_section(dataset, planned)
