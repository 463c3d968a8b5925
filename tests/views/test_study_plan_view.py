"""The Study page's plan as plain data: split counts, checked inputs, the plan in numbers and rows,
the estimate in words, the labels of saved studies, and the probe decision shared with the Wizard."""
from __future__ import annotations

from types import SimpleNamespace

from resnet_core.advice import estimate
from resnet_core.config import LIMITS, TrainConfig
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.study.plan import StudyEntry, StudyPlan
from resnet_core.study.run import StudyEstimate
from resnet_core.views.study_plan_view import (
    OVERRIDE_INPUTS,
    SplitCounts,
    StudyInputs,
    configs_to_run,
    estimate_words,
    pick_words,
    plan_for,
    plan_numbers,
    plan_rows,
    same_pick_everywhere,
    split_counts,
    study_inputs,
    study_label,
)
from resnet_core.views.study_view import read_sizes


def make_plan(epochs=(4, 4), picks=None) -> StudyPlan:
    entries = tuple(StudyEntry(size, TrainConfig(dataset="d", fine_tune=ft, augmentation="none", epochs=ep,
                                                 max_train_images=size, image_size=32, weights="none"))
                    for size, ep in zip((10, 20), epochs) for ft in (False, True))
    return StudyPlan(study_id="d-1", name="d: 2 configurations at 10, 20 training images", dataset="d",
                     sizes=(10, 20), entries=entries, num_val=5, num_test=5, num_train_available=20,
                     wizard_picks=picks or {}, created="2026-01-02T03:04:05+00:00")


def cells(*statuses):
    return [SimpleNamespace(status=s, text=f"said {s}") for s in statuses]


def test_split_counts_read_the_saved_split_and_say_it_in_words(workspace, tmp_path):
    register_folder(make_image_folder(tmp_path / "tiny", num_classes=3, per_class=12, size=32), workspace,
                    name="tiny")
    counts = split_counts("tiny", workspace)
    assert counts == SplitCounts(train=24, val=6, test=6, classes=3)
    assert counts.text().startswith("24 training · 6 validation · 6 test images in 3 classes.")


def test_study_inputs_say_what_is_missing():
    assert study_inputs("d", [], ["resnet18"], ["none"], False, "auto", {}) == "Pick at least one training-set size."
    assert study_inputs("d", [10], [], ["none"], False, "auto", {}) == "Pick at least one depth."
    assert study_inputs("d", [10], ["resnet18"], [], False, "auto", {}) == "Pick at least one augmentation."
    inputs = study_inputs("d", [20, 10], ["resnet18"], ["none"], 0, "auto", {"epochs": 3, "batch_size": None})
    assert inputs == StudyInputs("d", (20, 10), ("resnet18",), ("none",), False, "auto", (("epochs", 3),))
    hash(inputs)  # a page keeps its plan per inputs


def test_planning_errors_come_back_as_a_sentence(workspace):
    inputs = StudyInputs("nowhere", (10,), ("resnet18",), ("none",), False, "auto", ())
    plan, error = plan_for(inputs, workspace)
    assert plan is None and error.startswith("Cannot plan this study: ") and "nowhere" in error


def test_the_plan_in_numbers_and_what_launch_will_do():
    plan = make_plan()
    fresh = plan_numbers(plan, cells("pending", "pending", "pending", "pending"))
    assert (fresh.runs, fresh.per_size, fresh.sizes, fresh.done) == (4, 2, 2, 0)
    assert "Runs queue in the background" in fresh.launch_caption()
    half = plan_numbers(plan, cells("completed", "failed", "completed", "pending"))
    assert half.done == 2 and "Launch runs only the other 2" in half.launch_caption()
    done = plan_numbers(plan, cells(*["completed"] * 4))
    assert done.all_done and done.launch_caption() is None


def test_plan_rows_and_the_configurations_still_to_run():
    plan = make_plan()
    state = cells("completed", "failed", "pending", "pending")
    rows = plan_rows(plan, state)
    assert rows[0] == {"Training images": 10, "Configuration": "ResNet18", "Epochs": 4, "Batch size": 32,
                       "Learning rate": 5e-5, "Augmentation": "none", "Image size": 32, "Status": "said completed"}
    assert [c.fine_tune for c in configs_to_run(plan, state)] == [True, False, True]


def test_the_estimate_in_words_is_an_upper_bound_and_warns_when_training_ran_meanwhile():
    quick = estimate_words(StudyEstimate(30.0, (30.0,), 1), training_active=False)
    assert quick.metric == "< 1 min" and "1 configuration(s)" in quick.caption
    assert "understated" not in quick.caption
    slow = estimate_words(StudyEstimate(7200.0, (3600.0, 3600.0), 2), training_active=True)
    assert slow.metric != "< 1 min" and slow.metric in slow.caption and "understated" in slow.caption


def test_override_inputs_stay_within_the_config_limits():
    by_name = {f.name: f for f in OVERRIDE_INPUTS}
    assert set(by_name) == {"epochs", "batch_size", "learning_rate", "image_size"}
    assert (by_name["epochs"].low, by_name["epochs"].high) == tuple(map(int, LIMITS["epochs"]))
    assert isinstance(by_name["learning_rate"].low, float) and by_name["learning_rate"].format == "%.1e"


def test_labels_of_saved_studies_and_the_wizards_pick_in_words():
    plan = make_plan(epochs=(2, 4), picks={
        10: {"wizard": "ResNet18 + fine-tuning + heavy augmentation", "config": "ResNet18 + fine-tuning + augmentation"},
        20: {"wizard": "ResNet18 + fine-tuning + heavy augmentation", "config": "ResNet18 + fine-tuning + augmentation"}})
    label = study_label(plan, cells("completed", "pending", "pending", "pending"))
    assert label == f"{plan.name} · 2–4 epochs, 32 px · 1/4 done · planned 2026-01-02 03:04"
    assert pick_words(plan.wizard_picks[10]) == ("ResNet18 + fine-tuning + heavy augmentation (measured here as "
                                                 "ResNet18 + fine-tuning + augmentation)")
    assert same_pick_everywhere(plan) == pick_words(plan.wizard_picks[10])
    differ = make_plan(picks={10: {"wizard": "A", "config": "A"}, 20: {"wizard": "B", "config": "B"}})
    assert same_pick_everywhere(differ) is None


def test_typed_sizes_are_kept_as_numbers_and_the_unreadable_ones_said():
    kept, bad = read_sizes([30, "100", "lots", "1,00"])
    assert kept == [30, 100] and len(bad) == 1 and "'lots'" in bad[0]


# ----- the probe decision the Wizard and the Study page share -------------------------------------

def test_a_cheap_unmeasured_probe_runs_unasked_and_a_slow_one_asks_first(monkeypatch):
    monkeypatch.setattr(estimate, "cached_throughput", lambda *probe: None)
    small = TrainConfig(dataset="d", image_size=32, device="cpu")
    large = small.replace(image_size=224)
    cheap = estimate.probe_decision([small, small.replace(epochs=3)])
    assert len(cheap.probes) == 1 and cheap.cheap and not cheap.measured and not cheap.ask_first
    slow = estimate.probe_decision([small, large])
    assert len(slow.probes) == 2 and not slow.cheap and slow.ask_first


def test_a_measured_probe_never_asks(monkeypatch):
    monkeypatch.setattr(estimate, "cached_throughput", lambda *probe: 12.5)
    decision = estimate.probe_decision([TrainConfig(dataset="d", image_size=224, device="cpu")])
    assert decision.measured and not decision.ask_first
    assert not estimate.probe_decision([]).ask_first  # nothing to measure


def test_a_recommendation_without_a_device_is_probed_where_training_would_run():
    rec = SimpleNamespace(model="resnet50", batch_size=16, image_size=64, fine_tune=False)
    model, batch, size, fine_tune, device = estimate.probe_key(rec)
    assert (model, batch, size, fine_tune) == ("resnet50", 16, 64, False)
    assert device == estimate.resolve_device("auto")

