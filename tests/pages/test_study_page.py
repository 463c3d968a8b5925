"""The Study page: empty state, planning on a tiny dataset, the estimate, launch, stop, resume, one
ranked table per size with the conclusion, re-launching running nothing new, reopening a study."""
from __future__ import annotations

import re

import pytest
from page_helpers import APP, TIMEOUT, metrics, texts
from streamlit.testing.v1 import AppTest

from resnet_core.advice import estimate
from ui.shared import DATASET, services

WAIT_S = 120


@pytest.fixture
def probe_only_when_asked(monkeypatch):
    """The tiny images are 32 px, so studies plan 32 px, where the time probe would run by itself on
    every script run (slow on a busy CPU); here it stands for a size where it is not cheap (224 px
    photos on a CPU), and runs only when a test asks for it."""
    monkeypatch.setattr(estimate, "probe_is_cheap", lambda image_size, device: False)


def open_study(dataset: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if dataset:
        at.session_state[DATASET] = dataset
    at.run()
    at.switch_page("pages/study.py")
    at.run()
    assert not at.exception, at.exception
    return at


def plan_tiny(at: AppTest) -> AppTest:
    """2 sizes × ResNet-18 × fine-tune/frozen × none/standard, frozen random included: 8 short runs."""
    at.multiselect(key="study_sizes").set_value([12, 24])
    at.multiselect(key="study_models").set_value(["resnet18"])
    at.multiselect(key="study_augmentations").set_value(["none", "standard"])
    at.selectbox(key="study_weights").set_value("none").run()
    at.checkbox(key="study_frozen_random").check()
    at.number_input(key="study_epochs").set_value(1)
    at.number_input(key="study_batch_size").set_value(12)  # one or two steps an epoch
    at.number_input(key="study_lr").set_value(1e-3)
    at.number_input(key="study_image_size").set_value(32)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    return at


def grid(at: AppTest):
    """The progress grid (st.dataframe keys are not exposed to AppTest): configurations × sizes."""
    return next(d.value for d in at.dataframe if "12 images" in d.value.columns)


def result_tables(at: AppTest) -> list:
    """The ranked tables, one per size, smallest size first."""
    return [d.value for d in at.dataframe if "Rank" in d.value.columns]


def wait_for_jobs() -> None:
    jobs = services().jobs
    for snap in jobs.snapshots(active_only=True):
        final = jobs.wait(snap.run_id, timeout=WAIT_S)
        assert final is not None and not final.is_active, f"run {snap.run_id} still {final.status}"


def test_without_a_dataset_it_points_to_data_and_the_sample(env):
    at = open_study()
    assert "No dataset yet" in texts(at.info)
    assert at.button(key="study_use_sample")
    assert not [b for b in at.button if b.key == "study_launch"]
    at.button(key="study_go_data").click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Data"]


def test_sizes_are_suggested_from_the_training_split(tiny, probe_only_when_asked):
    at = open_study(tiny)
    assert at.selectbox(key="study_dataset").value == "tiny"
    sizes = at.multiselect(key="study_sizes")
    assert sizes.value == [3, 7, 24]  # ~10% (one image per class at least), ~30%, all 24
    assert "24 training images (all)" in sizes.options and "7 training images (29%)" in sizes.options
    assert "24 training · 6 validation · 6 test images in 3 classes" in texts(at.caption)
    assert at.multiselect(key="study_models").value == ["resnet18", "resnet50"]
    assert at.multiselect(key="study_augmentations").value == ["none", "standard"]
    # No ImageNet weights offline: frozen backbones are left out unless included, and the page says why.
    assert "a frozen backbone would be random" in texts(at.caption)
    assert not at.checkbox(key="study_frozen_random").value
    assert metrics(at)["Runs"] == "12"  # 3 sizes × 2 depths × fine-tuned, with and without augmentation
    # The line on how each depth is trained agrees with that count: once, not "twice".
    assert "trained once, fine-tuning all layers" in texts(at.caption) and "twice" not in texts(at.caption)
    # Not cheap: the probe runs only when asked.
    assert "Estimated time (upper bound)" not in metrics(at)
    assert at.button(key="study_measure")
    assert "No study on this dataset yet" in texts(at.caption)


def test_a_typed_size_that_is_not_a_number_is_refused_with_a_message(tiny, probe_only_when_asked):
    at = open_study(tiny)
    at.multiselect(key="study_sizes").set_value([12, "lots"]).run()
    assert not at.exception
    assert "'lots' is not a number of training images" in texts(at.error)
    assert at.multiselect(key="study_sizes").value == [12]


def test_a_size_too_small_for_the_classes_is_a_clear_error(tiny, probe_only_when_asked):
    at = open_study(tiny)
    at.multiselect(key="study_sizes").set_value([2, 24]).run()
    assert not at.exception
    assert "each of the 3 classes needs at least one training image" in texts(at.error)
    assert not [b for b in at.button if b.key == "study_launch"]


def test_plan_estimate_launch_stop_resume_and_results(tiny):
    at = plan_tiny(open_study(tiny))
    shown = metrics(at)
    assert shown["Runs"] == "8" and shown["Already done"] == "0 of 8"
    assert "trained twice" in texts(at.caption)  # frozen random backbones included on request
    assert "Estimated time (upper bound)" in shown  # 32 px: cheap enough to measure at once
    assert "early stopping usually ends runs sooner" in texts(at.caption)

    # Launch, then stop at once: the queued runs are cancelled, nothing is lost.
    at.button(key="study_launch").click().run()
    assert not at.exception, at.exception
    assert "Queued 8 run(s)" in texts(at.success)
    store = services().store
    assert len(store.list_runs(dataset="tiny")) == 8
    at.button(key="study_stop").click().run()
    assert not at.exception
    assert "launch the study again to resume" in texts(at.warning)
    wait_for_jobs()
    at.run()
    stopped = [r for r in store.list_runs(dataset="tiny") if r.status == "cancelled"]
    assert stopped, "stopping the study cancelled nothing"
    cells = grid(at)
    assert list(cells.columns) == ["Configuration", "12 images", "24 images"]
    assert cells.astype(str).apply(lambda col: col.str.contains("cancelled")).to_numpy().any()

    # Launch again: only the configurations not finished run; then one ranked table per size.
    at.button(key="study_launch").click().run()
    assert not at.exception
    wait_for_jobs()
    at.run()
    assert not at.exception, at.exception
    completed = [r for r in store.list_runs(dataset="tiny") if r.status == "completed"]
    assert len(completed) == 8
    tables = result_tables(at)
    assert len(tables) == 2  # one per size
    for table in tables:
        assert list(table.columns[:7]) == ["Model", "Val Loss", "Val Acc", "Test Acc", "Training Time",
                                           "Epoch Ended", "Rank"]
        assert sorted(table["Rank"]) == [1, 2, 3, 4]
        assert set(table["Model"]) == {"ResNet18", "ResNet18 + fine-tuning", "ResNet18 + augmentation",
                                       "ResNet18 + fine-tuning + augmentation"}
    conclusion = texts(at.markdown)
    # A few test images rarely separate runs: the conclusion then says they are tied.
    assert re.search("12 images: (best was|tied for best were)", conclusion)
    assert re.search("24 images: (best was|tied for best were)", conclusion)
    assert "the wizard's pick" in conclusion
    assert "Best test accuracy by size" in conclusion
    assert grid(at)[["12 images", "24 images"]].apply(lambda c: c.str.startswith("✓")).to_numpy().all()
    assert "Estimated time (upper bound)" not in metrics(at)
    assert "All 8 configurations are done" in texts(at.success)

    # Re-launching runs nothing new.
    at.button(key="study_launch").click().run()
    assert not at.exception
    assert "Nothing new to run" in texts(at.info)
    assert len(store.list_runs(dataset="tiny")) == len(completed) + len(stopped)

    # The study is listed and reopens with its results, also after the plan's inputs change.
    at.multiselect(key="study_augmentations").set_value(["none"]).run()
    assert not at.exception
    assert metrics(at)["Already done"] == "4 of 4"  # the same configurations, measured already
    at.multiselect(key="study_sizes").set_value([24]).run()
    assert not at.exception
    assert len(result_tables(at)) == 2  # still showing the launched study
    assert "1 epoch, 32 px · 8/8 done" in texts(at.caption)


def test_with_two_gpus_the_estimate_counts_both(tiny, monkeypatch):
    from resnet_core.study import run as study_run
    monkeypatch.setattr(study_run, "gpu_slots", lambda: ["cuda:0", "cuda:1"])
    # The speed is what it is; this is about the count of devices, so no measuring.
    monkeypatch.setattr(study_run, "probe_throughput", lambda *args: 100.0)
    at = plan_tiny(open_study(tiny))
    assert "Estimated time (upper bound)" in metrics(at)
    assert "2 GPUs each train one configuration at a time" in texts(at.caption)


def test_the_races_pick_is_compared_with_the_studys_best(tiny, probe_only_when_asked):
    """A finished study (stored without training) and a kept race on the same dataset."""
    from resnet_core.advice.dataset_profile import DatasetProfile
    from resnet_core.advice.race import Candidate, RaceResult, Trial
    from resnet_core.advice.race_records import save_race
    from resnet_core.study.plan import plan_study, save_study

    ws, store = services().workspace, services().store
    plan = plan_study(tiny, (12,), models=("resnet18",), augmentations=("none", "standard"), workspace=ws,
                      weights="none", device="cpu", gpu_mem_gb=None)
    save_study(plan, ws)
    for e in plan.entries:
        acc = 0.9 if e.config.augmentation == "standard" else 0.85
        run_id = store.create_run(e.config, "unused", 36, e.num_images, 6, 6)
        store.finish_run(run_id, "completed", {"test_acc": acc, "val_acc": acc, "val_loss": 1 - acc,
                                               "train_time_s": 30.0, "epoch_ended": 1})
    at = open_study(tiny)
    assert "The Wizard's race against the study" not in texts(at.markdown)
    cands = [Candidate(f"aug {a}", {}, "card", e.config) for a, e in zip("ab", plan.entries)]
    plain = next(c for c in cands if c.config.augmentation == "none")
    result = RaceResult(candidates=cands, trials=[Trial(c.name, c.key, 0, 8, 3, 0.5, 0.8, 1.0) for c in cands],
                        winner_key=plain.key, used_s=6.0)
    save_race(ws, tiny, DatasetProfile(24, 3, 32, "colour"), result, complete=True)
    at.run()
    assert not at.exception, at.exception
    shown = texts(at.markdown)
    assert "The Wizard's race against the study" in shown
    assert "The race's pick, ResNet18 + fine-tuning, ranked 2nd of 2 at 12 training images, 5.0 points behind" in shown
    assert "took 60% of the study's" in shown


def test_the_study_table_shows_balanced_accuracy_and_macro_f1(tiny, probe_only_when_asked):
    """A finished study stored without training, each run with its test report's confusion matrix."""
    from resnet_core.study.plan import plan_study, save_study

    ws, store = services().workspace, services().store
    plan = plan_study(tiny, (12,), models=("resnet18",), augmentations=("none", "standard"), workspace=ws,
                      weights="none", device="cpu", gpu_mem_gb=None)
    save_study(plan, ws)
    # 4 of 6 right either way; the augmented run finds every class, the other misses class_2 entirely.
    confusions = {"standard": [[2, 0, 0], [1, 1, 0], [0, 1, 1]], "none": [[2, 0, 0], [0, 2, 0], [1, 1, 0]]}
    for e in plan.entries:
        run_id = store.create_run(e.config, "unused", 36, e.num_images, 6, 6)
        store.finish_run(run_id, "completed", {"test_acc": 4 / 6, "val_acc": 0.5, "val_loss": 1.0,
                                               "train_time_s": 30.0, "epoch_ended": 1,
                                               "final_metrics": {"confusion": confusions[e.config.augmentation]}})
    at = open_study(tiny)
    (table,) = result_tables(at)
    assert {"Balanced Acc", "Macro F1"} <= set(table.columns)
    by_model = table.set_index("Model")
    augmented = next(m for m in by_model.index if "augmentation" in m)
    plain = next(m for m in by_model.index if "augmentation" not in m)
    assert by_model.loc[augmented, "Balanced Acc"] == pytest.approx(100 * (1 + 0.5 + 0.5) / 3)  # as percentages
    assert by_model.loc[plain, "Balanced Acc"] == pytest.approx(100 * (1 + 1 + 0) / 3)
    assert by_model.loc[plain, "Macro F1"] == pytest.approx(100 * (0.8 + 0.8 + 0) / 3)  # F1 0.8 (precision 2/3, recall 1) twice
