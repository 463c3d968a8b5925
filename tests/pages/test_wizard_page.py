"""Wizard page: inputs (typed or from the selected dataset), the recommendation card, the measured
time estimate and handing the plan to the Train page."""
from __future__ import annotations

import threading

import pytest
from page_helpers import APP, metrics
from streamlit.testing.v1 import AppTest

from resnet_core.advice import estimate
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from ui.shared import DATASET, PLAN

JOIN_S = 60  # a bound for a hung thread, never a measured time


@pytest.fixture
def app(env):
    at = AppTest.from_file(APP, default_timeout=30).run()
    return at.switch_page("pages/wizard.py")


def plan_for(at, images: int, classes: int, gpu_gb: float | None, priority: str = "balanced",
             smallest: int | None = None) -> AppTest:
    at.run()
    at.number_input(key="wizard_images").set_value(images)
    at.number_input(key="wizard_classes").set_value(classes)
    at.number_input(key="wizard_smallest").set_value(smallest if smallest is not None else images // classes)
    at.radio(key="wizard_priority").set_value(priority)
    at.radio(key="wizard_device").set_value("CPU" if gpu_gb is None else "GPU").run()
    if gpu_gb is not None:
        at.number_input(key="wizard_gpu_mem").set_value(gpu_gb).run()
    assert not at.exception and not at.error
    return at


def test_empty_state_still_plans_from_typed_numbers(app):
    app.run()
    assert not app.exception and not app.error
    assert any("No dataset yet" in m.value for m in app.markdown)
    assert app.button(key="wizard_to_data") and app.button(key="wizard_use_sample")
    assert "Model" in metrics(app)  # a plan for the typed defaults
    assert app.button(key="wizard_train").disabled


@pytest.mark.parametrize("images, classes, gpu, priority, model, batch", [
    (3000, 10, 8.0, "balanced", "ResNet50", 8),
    (300, 10, None, "balanced", "ResNet18", None),
    (30000, 10, 24.0, "accuracy", "ResNet101", None),
])
def test_recommendations_for_dataset_and_gpu(app, images, classes, gpu, priority, model, batch):
    plan_for(app, images, classes, gpu, priority)
    shown = metrics(app)
    assert shown["Model"] == model
    if batch is not None:
        assert int(shown["Batch size"]) == batch
    if gpu is None:
        assert int(shown["Batch size"]) <= 8
    why = " ".join(m.value for m in app.markdown)
    assert "**Model** —" in why and "**Learning rate** —" in why  # every setting has its reason


def test_resnet101_is_not_chosen_on_cpu(app):
    plan_for(app, 8000, 10, None, "accuracy")
    assert metrics(app)["Model"] != "ResNet101"
    alternatives = " ".join(m.value for m in app.markdown)
    assert "**ResNet101** — No GPU" in alternatives


def test_tiny_dataset_warns(app):
    plan_for(app, 30, 3, None, smallest=5)
    (box,) = app.warning  # the findings share one box, a bullet each
    assert "22 training images is below" in box.value and "smallest class has 5 images" in box.value
    assert box.value.startswith("- ") and "\n- " in box.value


def test_other_hardware_says_the_estimate_is_for_this_machine(app):
    plan_for(app, 3000, 10, 80.0)
    assert any("this estimate is for this machine" in i.value for i in app.info)


def test_measure_shows_the_estimate(app, monkeypatch):
    calls, cache = [], {}

    def fake_probe(model, batch_size, image_size, fine_tune, device, steps=3):
        calls.append((model, batch_size, image_size))
        cache[(model, batch_size, image_size)] = 50.0
        return 50.0

    def fake_cached(model, batch_size, image_size, fine_tune, device, steps=3):
        return cache.get((model, batch_size, image_size))

    monkeypatch.setattr(estimate, "probe_throughput", fake_probe)
    monkeypatch.setattr(estimate, "cached_throughput", fake_cached)
    plan_for(app, 1000, 10, None)
    assert "Estimated training time" not in metrics(app)  # 224 px on a CPU: only when asked
    app.button(key="wizard_measure").click().run()
    assert not app.exception and not app.error
    assert calls == [("resnet18", 8, 224)]
    assert "Estimated training time" in metrics(app)
    assert any("measured: 50 images/s" in c.value for c in app.caption)
    assert "wizard_measure" not in [b.key for b in app.button]  # the button gave way to the result
    app.run()  # the measurement is kept, not repeated
    assert len(calls) == 1 and "Estimated training time" in metrics(app)


def test_selected_dataset_prefills_and_train_hands_over_the_plan(app, workspace, tmp_path, monkeypatch):
    # Its 32 px images plan 32 px, where the time probe would run by itself: not what this test is about.
    monkeypatch.setattr(estimate, "probe_is_cheap", lambda image_size, device: False)
    info = register_folder(make_image_folder(tmp_path / "pets", num_classes=3, per_class=[12, 12, 9]),
                           workspace)
    app.session_state[DATASET] = info.name
    app.run()
    assert not app.exception and not app.error
    assert app.number_input(key="wizard_images").value == 33
    assert app.number_input(key="wizard_classes").value == 3
    assert app.number_input(key="wizard_smallest").value == 9
    assert any("From the scan of 'pets'" in c.value for c in app.caption)
    model = metrics(app)["Model"]
    app.button(key="wizard_train").click().run()
    assert not app.exception
    plan = app.session_state[PLAN]
    assert plan.dataset == "pets" and plan.model == model.lower()
    assert plan.weights == "auto" and "model" in plan.recommended
    assert "Wizard" not in [t.value for t in app.title]  # now on the Train page


def test_a_new_session_is_offered_the_existing_datasets(app, workspace, tmp_path):
    # Nothing selected in this session (a new browser tab), but the workspace has two datasets.
    register_folder(make_image_folder(tmp_path / "birds", num_classes=2, per_class=5), workspace)
    register_folder(make_image_folder(tmp_path / "pets", num_classes=3, per_class=[12, 12, 9]), workspace)
    app.run()
    assert not app.exception and not app.error
    assert not any("No dataset" in m.value for m in app.markdown)
    box = app.selectbox(key="wizard_dataset")
    assert box.options == ["birds", "pets"]
    assert box.value == "pets"  # the newest one, as none was used yet
    assert app.session_state[DATASET] == "pets"
    assert app.number_input(key="wizard_images").value == 33
    assert not app.button(key="wizard_train").disabled
    # Choosing the other one refills the numbers from its scan and selects it everywhere.
    app.selectbox(key="wizard_dataset").set_value("birds").run()
    assert app.number_input(key="wizard_images").value == 10
    assert app.session_state[DATASET] == "birds"


def test_use_sample_selects_it(app, workspace):
    app.run()
    app.button(key="wizard_use_sample").click().run()
    assert not app.exception and not app.error
    assert app.session_state[DATASET] == "fashion-mnist-sample"
    assert app.number_input(key="wizard_images").value == 300
    assert not app.button(key="wizard_train").disabled


def test_answers_survive_a_visit_to_another_page(app):
    plan_for(app, 3000, 10, 24.0, "accuracy")
    app.switch_page("pages/data.py").run()
    app.switch_page("pages/wizard.py").run()
    assert not app.exception
    assert app.number_input(key="wizard_images").value == 3000
    assert app.radio(key="wizard_device").value == "GPU"
    assert app.number_input(key="wizard_gpu_mem").value == 24.0
    assert app.radio(key="wizard_priority").value == "accuracy"


# ----- the wizard that learns: measured runs beside the cards ------------------------------------

# What a run planned by the wizard records as recommended (everything it filled but the weights).
WIZARD_SETTINGS = ("model", "fine_tune", "augmentation", "epochs", "batch_size", "learning_rate", "patience",
                   "eval_every", "image_size")


def add_measured_run(dataset: str, model: str, fine_tune: bool, augmentation: str, test_acc: float,
                     seconds: float, num_train: int = 23, edited: tuple[str, ...] = ()) -> int:
    """A finished run as the store keeps it, without training (the panel reads only the store): the
    wizard's settings, apart from those `edited` by hand."""
    from resnet_core.config import TrainConfig
    from ui.shared import services

    store = services().store
    config = TrainConfig(dataset=dataset, model=model, fine_tune=fine_tune, augmentation=augmentation,
                         weights="none", max_train_images=num_train,
                         recommended=tuple(s for s in WIZARD_SETTINGS if s not in edited))
    run_id = store.create_run(config, "unused", 33, num_train, 5, 5)
    store.finish_run(run_id, "completed", {"test_acc": test_acc, "val_acc": test_acc, "val_loss": 1 - test_acc,
                                           "train_time_s": seconds, "epoch_ended": 3})
    return run_id


def the_pick(at) -> tuple[str, bool, str]:
    """The card's pick as the page shows it: (model, fine_tune, augmentation)."""
    shown = metrics(at)
    return shown["Model"].lower(), shown["Fine-tuning"] == "All layers", shown["Augmentation"].lower()


@pytest.fixture
def pets(app, workspace, tmp_path):
    info = register_folder(make_image_folder(tmp_path / "pets", num_classes=3, per_class=[12, 12, 9]),
                           workspace)
    app.session_state[DATASET] = info.name
    app.run()
    assert not app.exception
    return app


def test_without_measured_runs_the_wizard_points_to_the_study(pets):
    assert "No finished runs on this dataset yet" in " ".join(c.value for c in pets.caption)
    assert not [d for d in pets.dataframe if "Configuration" in d.value.columns]


def test_measured_runs_that_beat_the_pick_are_shown_as_a_disagreement(pets):
    model, fine_tune, augmentation = the_pick(pets)
    pick = add_measured_run("pets", model, fine_tune, augmentation, 0.60, 30.0)
    winner = add_measured_run("pets", "resnet50", False, "none", 0.90, 12.0)
    add_measured_run("other", "resnet50", False, "none", 0.99, 1.0)  # another dataset: not counted
    pets.run()
    assert not pets.exception and not pets.error
    text = " ".join(m.value for m in pets.markdown)
    assert "Measured on your data" in text
    assert "Measurement disagrees with the cards" in text
    assert "ranked 2nd of 2; ResNet50 was 30.0 points better" in text
    (table,) = [d.value for d in pets.dataframe if "Configuration" in d.value.columns]
    assert list(table["Run"]) == [winner, pick]  # best first
    assert list(table["Wizard's pick"]) == [False, True]
    assert list(table["Test Acc"]) == pytest.approx([90.0, 60.0])  # percentage points, one decimal shown


def test_measured_runs_that_confirm_the_pick_say_so(pets):
    model, fine_tune, augmentation = the_pick(pets)
    add_measured_run("pets", model, fine_tune, augmentation, 0.85, 30.0)
    add_measured_run("pets", model, not fine_tune, "none", 0.50, 10.0)
    pets.run()
    assert not pets.exception and not pets.error
    text = " ".join(m.value for m in pets.markdown)
    assert "Measurement agrees with the cards" in text
    assert "ranked 1st of 2" in text and "the measurement agrees with the model cards" in text


def test_imbalanced_classes_get_the_balanced_sampler_and_the_train_form_keeps_it(app, workspace, tmp_path):
    info = register_folder(make_image_folder(tmp_path / "skewed", num_classes=3, per_class=[30, 10, 8]),
                           workspace)
    app.session_state[DATASET] = info.name
    app.run()
    assert app.number_input(key="wizard_largest").value == 30
    advice = " ".join(i.value for i in app.info)
    assert "Balanced sampler: the largest class has 3.8× the images of the smallest" in advice
    app.button(key="wizard_train").click().run()
    assert not app.exception
    assert app.session_state[PLAN].class_balance == "balanced_sampler"
    assert app.selectbox(key="train_class_balance").value == "balanced_sampler"
    # Classes within 3× of each other: no weighting, and nothing to say about it up front.
    app.switch_page("pages/wizard.py").run()
    app.number_input(key="wizard_largest").set_value(20).run()
    assert not any("Class-weighted" in i.value for i in app.info)


def test_a_run_with_settings_edited_by_hand_is_not_the_wizards_pick(pets):
    """As the Study page says: the study's 'with augmentation' run at the wizard's settings is the pick
    (the cards' heavy augmentation measured as standard), not a heavy-augmentation run whose epochs
    were typed by hand."""
    model, fine_tune, augmentation = the_pick(pets)
    assert augmentation == "heavy"  # the case the study measures as 'with augmentation'
    study_run = add_measured_run("pets", model, fine_tune, "standard", 0.60, 30.0)
    add_measured_run("pets", model, not fine_tune, "none", 0.50, 10.0)
    add_measured_run("pets", "resnet50", fine_tune, "none", 0.55, 40.0)
    add_measured_run("pets", model, fine_tune, augmentation, 0.30, 5.0, edited=("epochs",))
    pets.run()
    assert not pets.exception and not pets.error
    text = " ".join(m.value for m in pets.markdown)
    assert "ranked 1st of 4" in text and "Measurement agrees with the cards" in text
    (table,) = [d.value for d in pets.dataframe if "Configuration" in d.value.columns]
    assert list(table.loc[table["Wizard's pick"], "Run"]) == [study_run]


def test_what_won_on_an_earlier_dataset_of_the_same_kind_is_shown(pets, workspace, tmp_path):
    """'birds' (colour, 3 classes, 32 px, as 'pets') counts; 'scans' (grayscale) does not."""
    from PIL import Image

    assert not [c for c in pets.markdown if c.value == "**On your earlier datasets**"]
    register_folder(make_image_folder(tmp_path / "birds", num_classes=3, per_class=12, seed=3), workspace)
    scans = make_image_folder(tmp_path / "scans", num_classes=3, per_class=12, seed=4)
    for path in scans.rglob("*.png"):
        Image.open(path).convert("L").save(path)
    register_folder(scans, workspace)
    add_measured_run("birds", "resnet50", False, "none", 0.90, 12.0)
    add_measured_run("birds", "resnet18", True, "heavy", 0.70, 12.0)
    add_measured_run("scans", "resnet101", True, "light", 0.99, 12.0)
    pets.run()
    assert not pets.exception and not pets.error
    shown = " ".join(m.value for m in pets.markdown)
    assert "**On your earlier datasets**" in shown
    assert "On your earlier dataset of this kind, ResNet50 won" in shown
    assert "On 'birds' (23 training images, 3 classes, colour, 32 px), ResNet50 was best of 2" in shown
    assert "'scans'" not in shown and "99.0%" not in shown


class HeldRace:
    """Stands in for check_on_data (the real race runs in tests/advice/test_race_job.py): reads the
    images, finishes a first trial, then waits for the test to release it, so the page is seen while
    the race runs; released, it finishes with the second candidate winning, or (cancelled) raises with
    the first trial measured. Every job the page starts is kept to wait for."""

    def __init__(self, monkeypatch):
        import ui.race_panel
        from resnet_core.advice import race_job

        self.reached, self.release, self.jobs, self.asked = threading.Event(), threading.Event(), [], {}
        self.fail: Exception | None = None
        monkeypatch.setattr(race_job, "check_on_data", self.check)
        real_start = ui.race_panel.start_job

        def start_job(*args, **kw):
            self.jobs.append(real_start(*args, **kw))
            return self.jobs[-1]

        monkeypatch.setattr(ui.race_panel, "start_job", start_job)

    def check(self, dataset, workspace, rec, *, budget_s, cancel, progress, on_prepare, **kw):
        from resnet_core.advice.check_on_data import RaceCheck
        from resnet_core.advice.race import RaceCancelled, RaceResult, Trial, race_candidates

        self.asked.update(dataset=dataset, budget_s=budget_s)
        if self.fail is not None:
            raise self.fail
        candidates = race_candidates(rec, dataset)
        trials = [Trial(c.name, c.key, 0, 8, 3, 0.9 - i / 10, 0.5, 5.0) for i, c in enumerate(candidates[:2])]
        on_prepare("decoding", 33, 33)
        progress(1, 5, f"round 1: {candidates[1].name}")
        self.reached.set()
        assert self.release.wait(JOIN_S)
        if cancel.is_set():
            raise RaceCancelled(RaceResult(candidates=candidates, budget_s=budget_s, used_s=12.0, cancelled=True,
                                           trials=trials[:1], winner_key=candidates[0].key))
        progress(5, 5, "done")
        result = RaceResult(candidates=candidates, budget_s=budget_s, used_s=42.0, winner_key=candidates[1].key,
                            trials=trials)
        return RaceCheck(result, None, "about 1m 0s", result.verdict(candidates[0].key))

    def start(self, at, minutes: float = 1.0) -> AppTest:
        at.number_input(key="wizard_race_minutes").set_value(minutes)
        at.button(key="wizard_race").click().run()
        assert self.reached.wait(JOIN_S)
        return at.run()  # the page while the race runs

    def finish(self, at) -> AppTest:
        self.release.set()
        self.jobs[-1].thread.join(JOIN_S)
        assert not self.jobs[-1].thread.is_alive()
        return at.run()


def race_table(at):
    return next((d.value for d in at.dataframe if "Candidate" in d.value.columns), None)


def test_check_on_my_data_races_in_the_background_then_shows_every_candidate_with_the_verdict(pets, monkeypatch):
    held = HeldRace(monkeypatch)
    held.start(pets)
    assert not pets.exception and not pets.error
    assert held.asked == {"dataset": "pets", "budget_s": 60.0}
    (bar,) = pets.get("progress")
    assert bar.proto.text.startswith("Race: 1 of 5 trials done · now round 1: ")
    assert bar.proto.text.endswith(" left of the 1-minute budget")
    assert pets.button(key="wizard_race_cancel") and not [b for b in pets.button if b.key == "wizard_race"]
    assert pets.button(key="wizard_train") and race_table(pets) is None  # the page is usable meanwhile
    assert "Stop button" not in " ".join(c.value for c in pets.caption)

    held.finish(pets)
    assert not pets.exception and not pets.error
    assert any("disagrees with the cards" in w.value for w in pets.warning)
    table = race_table(pets)
    assert len(table) >= 3 and table.iloc[0]["Pick"] == "★"
    assert table["From"].str.len().min() > 0
    captions = " ".join(c.value for c in pets.caption)
    assert "Budget about 1m 0s; used 42 s" in captions
    assert "It tests the race's winner." in captions  # the range test goes on from the race's winner
    assert not pets.get("progress") and not [b for b in pets.button if b.key == "wizard_race_cancel"]


def test_a_race_goes_on_while_the_user_visits_another_page(pets, monkeypatch):
    held = HeldRace(monkeypatch)
    held.start(pets)
    pets.switch_page("pages/data.py").run()
    assert not pets.exception
    pets.switch_page("pages/wizard.py").run()
    assert "1 of 5 trials done" in pets.get("progress")[0].proto.text  # the same race, still running
    held.finish(pets)
    assert len(held.jobs) == 1 and race_table(pets) is not None


def test_a_cancelled_race_says_so_and_shows_what_it_measured(pets, monkeypatch):
    held = HeldRace(monkeypatch)
    held.start(pets)
    pets.button(key="wizard_race_cancel").click().run()
    held.finish(pets)
    assert held.jobs[0].snapshot().state == "cancelled"
    assert not pets.exception and not pets.error
    assert not any("the cards" in w.value for w in [*pets.warning, *pets.success])  # no verdict from a part
    assert any("The race was cancelled; below is what it measured" in i.value for i in pets.info)
    table = race_table(pets)
    assert table["Val loss"].notna().sum() == 1 and table.iloc[0]["Pick"] == "★"
    assert "It tests the cards' pick" in " ".join(c.value for c in pets.caption)  # a partial race is not used
    pets.button(key="wizard_race").click().run()  # started again: a new race
    assert len(held.jobs) == 2 and held.jobs[1] is not held.jobs[0]
    held.finish(pets)
    assert any("disagrees with the cards" in w.value for w in pets.warning)


@pytest.fixture
def pets_at_rate(app, workspace, tmp_path, monkeypatch):
    """The pets dataset on the Wizard with this machine's speed for the recommended run cached (None: not
    measured, and not measured by the page either); returns the page run and what the budget was asked."""
    import ui.race_panel
    from resnet_core.views import race_view

    def open_at(rate: float | None):
        asked = []

        def budget(rec, *counts):
            asked.append((rec, counts))
            return race_view.race_budget(rec, *counts)

        monkeypatch.setattr(estimate, "cached_throughput", lambda *a, **k: rate)
        monkeypatch.setattr(estimate, "probe_is_cheap", lambda image_size, device: False)
        monkeypatch.setattr(ui.race_panel, "race_budget", budget)
        info = register_folder(make_image_folder(tmp_path / "pets", num_classes=3, per_class=[12, 12, 9]),
                               workspace)
        app.session_state[DATASET] = info.name
        app.run()
        assert not app.exception and not app.error
        return app, asked

    return open_at


def test_a_measured_speed_sets_the_race_budget_to_15_percent_and_says_it_before_the_race(pets_at_rate):
    from resnet_core.text import format_duration

    at, asked = pets_at_rate(0.5)
    rec, (num_train, num_val, num_test, _device) = asked[-1]
    assert (num_train, num_val, num_test) == estimate.split_counts(33)
    seconds = estimate.estimate_training_time(rec, num_train, num_val, 0.5, num_test=num_test).seconds
    minutes = round(max(30.0, 0.15 * seconds) / 60, 1)
    assert at.number_input(key="wizard_race_minutes").value == minutes != 5.0
    captions = " ".join(c.value for c in at.caption)
    assert (f"The race gets about {format_duration(minutes * 60)} (15% of the recommended run's estimated "
            f"{format_duration(seconds)})." in captions)
    assert at.button(key="wizard_race") and not at.get("progress")  # said before the race starts
    at.number_input(key="wizard_race_minutes").set_value(minutes * 2).run()  # the user's own budget is said too
    assert f"The race gets about {format_duration(minutes * 120)} (" in " ".join(c.value for c in at.caption)


def test_without_a_measured_speed_the_race_gets_five_minutes_and_says_how_to_size_it(pets_at_rate):
    at, _ = pets_at_rate(None)
    assert at.number_input(key="wizard_race_minutes").value == 5.0
    captions = " ".join(c.value for c in at.caption)
    assert "The race gets about 5m 0s. Measure the training time above" in captions


def test_a_race_that_fails_says_why_plainly(pets, monkeypatch):
    from resnet_core.data.prepare import DataError

    held = HeldRace(monkeypatch)
    held.fail = DataError("dataset 'pets' has no training images after the split")
    pets.button(key="wizard_race").click().run()
    held.jobs[-1].thread.join(JOIN_S)
    pets.run()
    (error,) = pets.error
    assert error.value == "Could not run the race: dataset 'pets' has no training images after the split"
    assert pets.button(key="wizard_race") and race_table(pets) is None


def test_patience_says_what_an_evaluation_is(app):
    plan_for(app, 300, 5, None)
    patience = next(m for m in app.metric if m.label == "Patience")
    assert patience.value.endswith(" evaluations")  # not the jargon 'evals'
    assert "validation images" in patience.help and "stops early" in patience.help


def test_a_reason_opens_its_card_with_the_quote_marked(app):
    plan_for(app, 300, 5, None)
    app.button(key="wizard_source_batch_size").click().run()
    assert not app.exception
    marked = [m.value for m in app.markdown if ":orange-background[**" in m.value]
    assert marked and "Reduce batch\\_size to 4-8 for CPU" in marked[0]


def test_on_a_cpu_the_batch_follows_this_machines_measurement_with_the_cards_sentence_beside_it(app, monkeypatch):
    import ui.cpu_speed_panel as panel
    from resnet_core.advice.cpu_speed import CpuSpeed
    from resnet_core.hardware import detect_hardware

    asked = []

    def fake_measure(model, card_batch, card_size, max_batch, machine, **kwargs):
        asked.append((model, card_batch, card_size, max_batch))
        return CpuSpeed(model, True, machine, ((8, 224, 20.0), (16, 224, 24.0), (64, 224, 32.0)))

    monkeypatch.setattr(panel, "measure_cpu_speed", fake_measure)
    plan_for(app, 1000, 10, None)
    assert detect_hardware().device == "cpu"  # the test machine trains on its CPU, as the plan does
    assert int(metrics(app)["Batch size"]) == 8  # nothing measured yet: the card's
    app.button(key="wizard_cpu_measure").click().run()
    assert not app.exception and not app.error
    assert asked == [("resnet18", 8, 224, 128)]  # the card's batch and size, up to the card's largest batch

    batch = next(m for m in app.metric if m.label == "Batch size")
    assert batch.value == "64"
    assert 'the ResNet-18 card says "Reduce batch_size to 4-8 for CPU"' in batch.help
    assert "batch 64 measured 1.6× faster per image than 8" in batch.help
    assert any("224 px: batch 8 → 20 images/s, batch 16 → 24 images/s, batch 64 → 32 images/s" in m.value
               for m in app.markdown)
    # The time estimate uses the plan's own measured batch, and says nothing that contradicts it.
    assert "Estimated training time" in metrics(app)
    captions = " ".join(c.value for c in app.caption)
    assert "Measured here with the plan's batches of 64 at 224 px" in captions
    assert "hardly depends" not in captions
    assert "wizard_measure" not in [b.key for b in app.button]
    # A plan for a GPU does not follow what this CPU measured.
    plan_for(app, 1000, 10, 8.0)
    assert "measured" not in next(m for m in app.metric if m.label == "Batch size").help


class HeldRangeTest:
    """Stands in for the range test (tested for real in tests/advice/test_lr_job.py): reports a first
    step, then waits for the test to release it, so the page is seen while the job runs; every job the
    page starts is kept to wait for."""

    def __init__(self, monkeypatch, fail: Exception | None = None):
        import ui.lr_panel
        from resnet_core.advice import lr_job

        self.reached, self.release, self.fail, self.jobs = threading.Event(), threading.Event(), fail, []
        monkeypatch.setattr(lr_job, "lr_check_on_data", self.check)
        real_start = ui.lr_panel.start_job

        def start_job(*args, **kw):
            self.jobs.append(real_start(*args, **kw))
            return self.jobs[-1]

        monkeypatch.setattr(ui.lr_panel, "start_job", start_job)

    def check(self, dataset, workspace, rec, *, race, cancel, progress, **kw):
        from resnet_core.advice.lr_check import RANGE_STAGE, LRCheck, leading_config
        from resnet_core.training.lr_range import rate_schedule, sweep

        progress(RANGE_STAGE, 1, 80)
        self.reached.set()
        assert self.release.wait(JOIN_S)
        if self.fail is not None:
            raise self.fail
        config, words = leading_config(rec, dataset, race)
        falling = sweep(lambda rate: 2.0 / (1.0 + 100 * rate) + rate ** 2, rate_schedule(1e-5, 10.0, 80), cancel,
                        lambda done, total: progress(RANGE_STAGE, done, total))
        return LRCheck(config, words, falling)

    def start(self, at) -> AppTest:
        at.button(key="wizard_lr_range").click().run()
        assert self.reached.wait(JOIN_S)
        return at.run()  # the page while the job runs

    def finish(self, at) -> AppTest:
        self.release.set()
        self.jobs[-1].thread.join(JOIN_S)
        assert not self.jobs[-1].thread.is_alive()
        return at.run()


def test_find_a_learning_rate_runs_in_the_background_then_draws_the_suggestion(pets, monkeypatch):
    held = HeldRangeTest(monkeypatch)
    assert not pets.get("plotly_chart")
    held.start(pets)
    assert not pets.exception and not pets.error
    (bar,) = pets.get("progress")
    assert "Training at rising learning rates: step 1 of 80 · " in bar.proto.text and " left" in bar.proto.text
    assert pets.button(key="wizard_lr_cancel") and not [b for b in pets.button if b.key == "wizard_lr_range"]
    assert pets.button(key="wizard_train")  # the rest of the page is drawn while the test runs

    held.finish(pets)
    assert not pets.exception and not pets.error
    assert any("The loss falls fastest near" in i.value for i in pets.info)
    (chart,) = pets.get("plotly_chart")
    assert '"type":"log"' in chart.proto.spec.replace(" ", "") and "suggested rate" in chart.proto.spec
    assert "Tested: the cards' pick." in " ".join(c.value for c in pets.caption)
    assert pets.button(key="wizard_lr_range").label == "Find a learning rate again"
    assert not pets.get("progress") and not [b for b in pets.button if b.key == "wizard_lr_cancel"]


def test_a_range_test_goes_on_while_the_user_visits_another_page(pets, monkeypatch):
    held = HeldRangeTest(monkeypatch)
    held.start(pets)
    pets.switch_page("pages/data.py").run()
    assert not pets.exception
    pets.switch_page("pages/wizard.py").run()
    assert "step 1 of 80" in pets.get("progress")[0].proto.text  # the same test, still running
    held.finish(pets)
    assert len(held.jobs) == 1 and pets.get("plotly_chart")


def test_a_cancelled_range_test_says_so_and_can_start_again(pets, monkeypatch):
    held = HeldRangeTest(monkeypatch)
    held.start(pets)
    pets.button(key="wizard_lr_cancel").click().run()
    held.finish(pets)
    assert held.jobs[0].snapshot().state == "cancelled"
    assert not pets.exception and not pets.error and not pets.get("plotly_chart")
    assert "The range test was cancelled" in " ".join(i.value for i in pets.info)
    assert pets.button(key="wizard_lr_range").label == "Find a learning rate"
    pets.button(key="wizard_lr_range").click().run()  # started again: a new job
    assert len(held.jobs) == 2 and held.jobs[1] is not held.jobs[0]
    held.finish(pets)
    assert pets.get("plotly_chart")


def test_a_range_test_that_fails_says_why_plainly(pets, monkeypatch):
    from resnet_core.data.prepare import DataError

    held = HeldRangeTest(monkeypatch, fail=DataError("dataset 'pets' has no training images after the split"))
    held.start(pets)
    held.finish(pets)
    (error,) = pets.error
    assert error.value == "Could not run the range test: dataset 'pets' has no training images after the split"
    assert pets.button(key="wizard_lr_range")
