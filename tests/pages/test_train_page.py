"""The Train page: empty state, pre-fill from the Wizard, limits, a run to the end, cancel, interrupted runs."""
from __future__ import annotations

import json

import pytest
from page_helpers import APP, TIMEOUT, texts
from streamlit.testing.v1 import AppTest

from resnet_core.advice import estimate
from resnet_core.config import TrainConfig
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from ui.shared import DATASET, LAST_RUN, PLAN, services


def open_train() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception, at.exception
    return at


def set_tiny_settings(at: AppTest, epochs: int = 2) -> None:
    """Small and fast: no ImageNet weights (none offline anyway), 32 px, batch 8."""
    at.selectbox(key="train_weights").set_value("none").run()
    at.number_input(key="train_image_size").set_value(32)
    at.number_input(key="train_epochs").set_value(epochs)
    at.number_input(key="train_batch_size").set_value(8)
    at.number_input(key="train_learning_rate").set_value(1e-3)
    at.selectbox(key="train_augmentation").set_value("none")
    at.run()


def test_without_a_dataset_it_points_to_the_data_page(env):
    at = open_train()
    assert "no dataset yet" in texts(at.info)
    assert not [b for b in at.button if b.key == "train_start"]
    at.button(key="train_go_data").click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Data"]


def test_without_a_plan_the_wizard_defaults_fill_the_form(tiny):
    at = open_train()
    assert at.selectbox(key="train_dataset").value == "tiny"
    assert "wizard's defaults" in texts(at.caption)
    assert at.selectbox(key="train_model").value == "resnet18"  # no GPU here
    assert at.number_input(key="train_epochs").value >= 1


def test_a_plan_from_the_wizard_fills_every_field(tiny):
    plan = TrainConfig(dataset="tiny", model="resnet50", weights="none", fine_tune=False, augmentation="light",
                       epochs=12, batch_size=16, learning_rate=2e-4, patience=2, eval_every=2, image_size=64,
                       seed=7, device="cpu")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state[PLAN] = plan
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert "Settings from the Wizard" in texts(at.caption)
    assert at.selectbox(key="train_model").value == "resnet50"
    assert at.selectbox(key="train_weights").value == "none"
    assert at.radio(key="train_fine_tune").value is False
    assert at.selectbox(key="train_augmentation").value == "light"
    assert at.selectbox(key="train_device").value == "cpu"
    for key, value in (("epochs", 12), ("batch_size", 16), ("patience", 2), ("eval_every", 2),
                       ("image_size", 64), ("seed", 7)):
        assert at.number_input(key=f"train_{key}").value == value, key
    assert at.number_input(key="train_learning_rate").value == pytest.approx(2e-4)
    assert not at.info  # nothing had to be changed


def test_a_plan_fills_the_form_once_and_a_new_plan_fills_it_again(tiny):
    plan = TrainConfig(dataset="tiny", weights="none", epochs=12, batch_size=16, learning_rate=2e-4, image_size=64)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state[PLAN] = plan
    at.run()
    at.switch_page("pages/train.py").run()
    at.number_input(key="train_epochs").set_value(5).run()
    at.run()
    assert at.number_input(key="train_epochs").value == 5  # the same plan keeps the user's change
    at.session_state[PLAN] = plan.replace(epochs=8)
    at.run()
    assert not at.exception
    assert at.number_input(key="train_epochs").value == 8


def test_editing_epochs_keeps_patience_at_the_floor_a_small_validation_split_needs_and_says_why(tiny):
    at = open_train()  # 'tiny' validates on 6 images: fewer than 100, so patience is never below 3
    at.number_input(key="train_epochs").set_value(5).run()
    assert not at.exception
    assert at.number_input(key="train_patience").value == 3
    assert "the validation split has only 6 images" in texts(at.caption)
    # A patience the user chose stays as it is.
    at.number_input(key="train_patience").set_value(4).run()
    at.number_input(key="train_epochs").set_value(6).run()
    assert at.number_input(key="train_patience").value == 4


def test_values_outside_the_card_ranges_are_limited_with_a_message(tiny):
    # The ResNet-101 card allows batch sizes up to 32 and, with ImageNet weights, 20 epochs.
    plan = TrainConfig(dataset="tiny", model="resnet101", weights="imagenet", epochs=90, batch_size=128,
                       learning_rate=1e-4)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state[PLAN] = plan
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert at.number_input(key="train_epochs").value == 20
    assert at.number_input(key="train_batch_size").value == 32
    messages = texts(at.info)
    assert "Epochs 90 is outside" in messages and "Batch size 128 is outside" in messages
    # Switching to ResNet-18 widens the range again; the values stay as they are.
    at.selectbox(key="train_model").set_value("resnet18").run()
    assert at.number_input(key="train_batch_size").value == 32 and not at.info


def test_random_initialisation_is_warned_where_the_weights_are_chosen(tiny):
    at = open_train()  # offline, no ImageNet weights on disk: 'auto' falls back to random initialisation
    assert at.selectbox(key="train_weights").value == "auto"
    assert any("No ImageNet weights for ResNet18" in w.value and "random initialisation" in w.value
               for w in at.warning), texts(at.warning)
    at.selectbox(key="train_weights").set_value("none").run()
    assert any("Starting weights 'none'" in w.value for w in at.warning)


def test_a_weights_file_is_required_before_starting(tiny):
    at = open_train()
    at.selectbox(key="train_weights").set_value("file").run()
    assert at.file_uploader(key="train_weights_file")
    at.button(key="train_start").click().run()
    assert not at.exception
    assert "no file is uploaded" in texts(at.error)
    assert services().store.list_runs() == []


def test_a_corrupt_weights_file_is_refused_on_upload_and_never_starts(tiny):
    import random

    at = open_train()
    at.selectbox(key="train_weights").set_value("file").run()
    at.file_uploader(key="train_weights_file").set_value(
        ("bogus.pt", random.Random(3).randbytes(2048), "application/octet-stream")).run()
    assert not at.exception
    errors = texts(at.error)
    assert "bogus.pt is not a readable PyTorch weights file" in errors
    assert "code or objects" not in errors
    at.button(key="train_start").click().run()
    assert not at.exception
    assert "Not started" in texts(at.error)
    assert services().store.list_runs() == []  # refused before a run was created


def test_a_fitting_weights_file_is_described_and_rechecked_for_another_depth(tiny, tmp_path):
    import torch
    import torchvision

    path = tmp_path / "r18.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    at = open_train()
    at.selectbox(key="train_model").set_value("resnet18").run()
    at.selectbox(key="train_weights").set_value("file").run()
    at.file_uploader(key="train_weights_file").set_value(("r18.pt", path.read_bytes(), "application/octet-stream"))
    at.run()
    assert not at.error
    assert "r18.pt: ResNet18 weights" in texts(at.caption)
    at.selectbox(key="train_model").set_value("resnet50").run()
    assert "holds ResNet18 weights" in texts(at.error) and "ResNet50 was chosen" in texts(at.error)
    at.button(key="train_start").click().run()
    assert "Not started" in texts(at.error) and services().store.list_runs() == []


def test_start_a_run_and_see_it_finish(tiny):
    at = open_train()
    set_tiny_settings(at, epochs=2)
    at.text_input(key="train_run_name").set_value("first try")
    at.text_input(key="train_run_note").set_value("two epochs to see it work")
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    run_id = at.session_state[LAST_RUN]
    assert at.get("progress"), "a progress bar while the run is queued or training"
    snap = services().jobs.wait(run_id, timeout=240)
    assert snap is not None and snap.status == "completed", snap
    at.run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy"].endswith("%") and metrics["Epoch ended"] == "2"
    assert "Finished" in texts(at.success)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = {t.get("meta") for t in spec["data"]}
    assert {"train_loss", "val_loss", "train_acc", "val_acc", "best"} <= names
    assert [b for b in at.button if b.key == "train_go_compare"]
    # The finished run stays on top; the form for another run is folded below it.
    assert texts(at.subheader).startswith(f"Run #{run_id} · first try · ")
    another = next(e for e in at.expander if e.label == "Start another run")
    assert another.button(key="train_start")
    record = services().store.get_run(run_id)
    assert record.config.image_size == 32 and record.config.weights == "none" and record.config.epochs == 2
    assert (record.name, record.user_note) == ("first try", "two epochs to see it work")
    # The name and note belonged to that run: the form for the next one starts without them.
    assert at.text_input(key="train_run_name").value == "" and at.text_input(key="train_run_note").value == ""


def test_the_past_runs_of_the_chosen_dataset_are_listed_with_name_status_accuracy_and_when(tiny, env, tmp_path):
    store = services().store
    scored = store.create_run(TrainConfig(dataset="tiny"), "unused", 36, 24, 6, 6, name="baseline")
    store.finish_run(scored, "completed", {"test_acc": 0.8333, "epoch_ended": 1})
    failed = store.create_run(TrainConfig(dataset="tiny", model="resnet50"), "unused", 36, 24, 6, 6)
    store.finish_run(failed, "failed", error="out of memory")
    make_image_folder(tmp_path / "other", num_classes=2, per_class=12, size=32)
    register_folder(tmp_path / "other", env, name="other")
    elsewhere = store.create_run(TrainConfig(dataset="other"), "unused", 24, 16, 4, 4, name="not this one")

    at = open_train()
    at.selectbox(key="train_dataset").set_value("tiny").run()
    table = at.dataframe[0].value
    assert list(table.columns) == ["Run", "Name", "Model", "Status", "Test Acc", "When"]
    assert list(table["Run"]) == [failed, scored]  # newest first, this dataset's only
    assert list(table["Name"]) == ["", "baseline"] and list(table["Status"]) == ["failed", "completed"]
    assert table["Test Acc"].iloc[1] == pytest.approx(83.33) and table["Test Acc"].isna().iloc[0]
    assert list(table["When"]) == ["just now", "just now"]
    assert "2 runs on tiny" in texts(at.caption)

    at.selectbox(key="train_dataset").set_value("other").run()
    assert not at.exception
    assert list(at.dataframe[0].value["Run"]) == [elsewhere]


def test_cancel_a_running_run(tiny):
    at = open_train()
    set_tiny_settings(at, epochs=100)
    at.button(key="train_start").click().run()
    run_id = at.session_state[LAST_RUN]
    at.button(key="train_cancel").click().run()
    assert not at.exception
    snap = services().jobs.wait(run_id, timeout=120)
    assert snap.status == "cancelled"
    at.run()
    assert f"Run #{run_id} was cancelled" in texts(at.warning)
    assert services().store.get_run(run_id).status == "cancelled"


def test_a_second_session_lists_the_active_run_without_taking_it_over(tiny):
    first = open_train()
    set_tiny_settings(first, epochs=100)
    first.button(key="train_start").click().run()
    run_id = first.session_state[LAST_RUN]
    second = open_train()  # a new browser tab: no run of its own
    assert LAST_RUN not in second.session_state
    assert f"Run #{run_id}" not in texts(second.subheader)
    assert second.button(key="train_start"), "the form for its own run"
    second.button(key=f"train_follow_{run_id}").click().run()  # chosen by hand: now followed
    assert second.session_state[LAST_RUN] == run_id
    assert texts(second.subheader).startswith(f"Run #{run_id}")
    services().jobs.cancel(run_id)
    services().jobs.wait(run_id, timeout=120)


def test_following_another_sessions_run_selects_its_dataset(tiny, env, tmp_path):
    make_image_folder(tmp_path / "other", num_classes=2, per_class=12, size=32)
    register_folder(tmp_path / "other", env, name="other")
    # Another tab trains on "other"; this tab works on "tiny" and chooses to watch that run.
    theirs = services().jobs.submit(TrainConfig(dataset="other", weights="none", epochs=100, batch_size=8,
                                                image_size=32, augmentation="none", device="cpu"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state[DATASET] = "tiny"
    at.run()
    at.switch_page("pages/train.py").run()
    assert at.selectbox(key="train_dataset").value == "tiny"
    at.button(key=f"train_follow_{theirs}").click().run()
    assert not at.exception
    assert texts(at.subheader).startswith(f"Run #{theirs}")
    assert at.session_state[DATASET] == "other"  # what the sidebar's "Dataset:" line names
    assert at.selectbox(key="train_dataset").value == "other"  # the form below agrees with it
    at.run()
    assert at.session_state[DATASET] == "other"  # and it stays so
    services().jobs.cancel(theirs)
    services().jobs.wait(theirs, timeout=120)


def test_after_cancel_the_page_stays_on_its_run_and_lists_another_sessions_run(tiny, env, tmp_path):
    make_image_folder(tmp_path / "other", num_classes=2, per_class=12, size=32)
    register_folder(tmp_path / "other", env, name="other")
    mine = open_train()
    set_tiny_settings(mine, epochs=100)
    mine.button(key="train_start").click().run()
    my_run = mine.session_state[LAST_RUN]
    # Another tab queues a run on another dataset behind it.
    theirs = services().jobs.submit(TrainConfig(dataset="other", weights="none", epochs=100, batch_size=8,
                                                image_size=32, augmentation="none", device="cpu"))
    mine.button(key="train_cancel").click().run()
    assert not mine.exception
    assert f"Cancelling run #{my_run}" in texts(mine.info) + texts(mine.warning)
    assert services().jobs.wait(my_run, timeout=120).status == "cancelled"
    mine.run()
    assert not mine.exception
    assert mine.session_state[LAST_RUN] == my_run
    assert texts(mine.subheader).startswith(f"Run #{my_run}")
    assert f"Run #{my_run} was cancelled" in texts(mine.warning)
    assert mine.button(key=f"train_follow_{theirs}"), "the other tab's run only in the list"
    services().jobs.cancel(theirs)
    services().jobs.wait(theirs, timeout=120)


def test_interrupted_runs_offer_resume_and_rerun(tiny):
    store = services().store
    config = TrainConfig(dataset="tiny", weights="none", epochs=1, batch_size=8, image_size=32,
                         augmentation="none")
    run_id = store.create_run(config, "unused", 36, 24, 6, 6)
    store.finish_run(run_id, "interrupted")
    at = open_train()
    assert "Interrupted runs" in texts(at.subheader)
    resume = at.button(key=f"train_resume_{run_id}")
    assert resume.disabled  # nothing saved to resume from
    (services().workspace.run_dir(run_id) / "last.pt").write_bytes(b"saved epoch")
    at.run()
    assert not at.button(key=f"train_resume_{run_id}").disabled
    at.button(key=f"train_rerun_{run_id}").click().run()
    assert not at.exception
    new_id = at.session_state[LAST_RUN]
    assert new_id != run_id and store.get_run(new_id).config.to_dict() == config.to_dict()
    services().jobs.wait(new_id, timeout=120)


def test_a_failed_run_shows_its_short_message_and_where_the_details_are(tiny):
    store = services().store
    config = TrainConfig(dataset="tiny", weights="none", epochs=1, batch_size=8, image_size=32,
                         augmentation="none")
    run_id = store.create_run(config, "unused", 36, 24, 6, 6)
    store.finish_run(run_id, "failed", error="internal error (ValueError: shapes differ)")
    log_file = services().workspace.run_dir(run_id) / "error.log"
    log_file.write_text("Traceback (most recent call last):\n  File engine.py\nValueError: shapes differ\n")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state[LAST_RUN] = run_id
    at.run()
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception, at.exception
    assert "Training failed: internal error (ValueError: shapes differ)" in texts(at.error)
    shown = texts(at.caption)
    assert str(log_file) in shown and "server log" in shown
    assert "Traceback" not in texts(at.error) + shown


@pytest.fixture
def slow_measured_speed(monkeypatch):
    """Every speed probe measures 0.5 images/s at once; the calls are counted and the rates kept
    in a cache of this test's own."""
    calls = []

    def measure(*args):
        calls.append(args)
        return 0.5
    monkeypatch.setattr(estimate, "_cache", {})
    monkeypatch.setattr(estimate, "_measure", measure)
    return calls


def test_the_settings_show_a_time_estimate_measured_once_then_following_the_edits(tiny, slow_measured_speed):
    at = open_train()
    at.selectbox(key="train_device").set_value("cpu")
    set_tiny_settings(at, epochs=2)
    assert "on this machine, from the measured speed" not in texts(at.caption)
    assert not slow_measured_speed  # nothing measured until asked
    at.button(key="train_estimate").click().run()
    assert not at.exception
    # 2 epochs × 24 training images at 0.5/s, and 2 × 6 validation + 6 test images at 3× that: 1 min 48 s.
    assert "About 2 min on this machine, from the measured speed (0.5 images/s)" in texts(at.caption)
    assert not [b for b in at.button if b.key == "train_estimate"]
    at.number_input(key="train_epochs").set_value(4).run()  # the same speed: no new measurement
    assert "About 4 min on this machine" in texts(at.caption) and len(slow_measured_speed) == 1
    at.number_input(key="train_batch_size").set_value(16).run()  # another setting: measured on request
    assert "on this machine, from the measured speed" not in texts(at.caption)
    assert [b for b in at.button if b.key == "train_estimate"] and len(slow_measured_speed) == 1
