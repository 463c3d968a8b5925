"""The Train page's form as plain data: from a TrainConfig to widget values and back."""
from __future__ import annotations

import pytest

from resnet_core.config import ConfigError, TrainConfig
from resnet_core.views.train_form import (
    FORM_FIELDS,
    config_from_form,
    form_patience,
    form_values,
    number_fields,
    patience_hint,
    source_caption,
    subset_note,
    validation_split_size,
    weights_file_problem,
    weights_file_verdict,
)

PLAN = TrainConfig(dataset="pets", model="resnet50", epochs=12, batch_size=16, learning_rate=2e-4,
                   max_train_images=80, recommended=("model", "epochs", "batch_size", "learning_rate"))


def test_an_untouched_form_gives_back_the_plan():
    values = form_values(PLAN)
    assert list(values) == list(FORM_FIELDS)
    assert config_from_form(values, "pets", PLAN, None) == PLAN


def test_changed_fields_are_no_longer_recommended_and_widget_numbers_are_typed():
    values = {**form_values(PLAN), "epochs": 20.0, "batch_size": "8", "learning_rate": 1}
    config = config_from_form(values, "birds", PLAN, "ignored.pt")
    assert (config.epochs, config.batch_size, config.learning_rate) == (20, 8, 1.0)
    assert isinstance(config.epochs, int) and isinstance(config.learning_rate, float)
    assert config.recommended == ("model",)
    assert config.dataset == "birds" and config.max_train_images == 80  # the Wizard's subset stays
    assert config.weights_path is None  # only a weights file needs a path


def test_a_weights_file_travels_with_the_config():
    values = {**form_values(PLAN), "weights": "file"}
    config = config_from_form(values, "pets", PLAN, "/tmp/w.pt")
    assert (config.weights, config.weights_path) == ("file", "/tmp/w.pt")


def test_without_a_plan_nothing_is_recommended_and_bad_values_are_config_errors():
    values = form_values(PLAN)
    config = config_from_form(values, "pets", None, None)
    assert config.recommended == () and config.max_train_images is None and config.epochs == 12
    with pytest.raises(ConfigError, match="epochs"):
        config_from_form({**values, "epochs": 0}, "pets", PLAN, None)


def test_weights_file_problems_say_what_to_do():
    assert weights_file_problem("auto", None, None) is None
    assert "no file is uploaded" in weights_file_problem("file", None, None)
    assert weights_file_problem("file", "/up/w.pt", None) is None
    assert weights_file_problem("file", "/up/w.pt", "not a ResNet").startswith(
        "Not started: w.pt cannot be used as starting weights")


def test_captions():
    assert patience_hint(30) == "10–20% of 30 epochs: 3–6"
    assert patience_hint(5) == "10–20% of 5 epochs: 1; at least 2 evaluations, because one unlucky evaluation " \
                               "must not end the run"
    assert patience_hint(5, val_images=45) == ("10–20% of 5 epochs: 1; at least 3 evaluations, because the "
                                               "validation split has only 45 images, so one evaluation is noisy")
    assert patience_hint(30, val_images=45) == "10–20% of 30 epochs: 3–6"  # the share is above the floor
    assert subset_note(PLAN) == "Trains on a stratified subset of 80 training images (set in the Wizard)."
    assert subset_note(PLAN.replace(max_train_images=None)) is None and subset_note(None) is None


def test_edited_epochs_bring_the_wizard_patience_with_the_validation_split_floor():
    from resnet_core.advice.recommend import patience_for

    assert form_patience(5, 45) == 3 == patience_for(5, "balanced", 45)
    assert form_patience(5, 500) == 2 and form_patience(5, None) == 2
    assert form_patience(40, 45) == 6


def test_the_validation_count_follows_the_datasets_label_decisions(tmp_path, workspace):
    from resnet_core.data.label_decisions import exclude_image
    from resnet_core.data.registry import folder_report, register_folder
    from resnet_core.data.synthetic import make_image_folder

    info = register_folder(make_image_folder(tmp_path / "d", num_classes=3, per_class=12, size=32), workspace)
    before = validation_split_size(info.name, workspace)
    report = folder_report(info)
    for image in [e for e in report.images if e.path.startswith("class_0/")]:
        exclude_image(info.meta_dir, report, image.path)  # as the Data page does, while the Train page is open
    after = validation_split_size(info.name, workspace)
    assert before is not None and after is not None and after < before
    assert validation_split_size("no such dataset", workspace) is None


def test_number_fields_take_their_range_from_the_limits():
    from resnet_core.advice.limits import setting_limits

    fields = number_fields(setting_limits("resnet101"), "resnet101")
    assert list(fields) == ["epochs", "batch_size", "learning_rate", "patience", "eval_every", "image_size", "seed"]
    epochs, lr, seed = fields["epochs"], fields["learning_rate"], fields["seed"]
    assert (epochs.label, epochs.min_value, epochs.max_value, epochs.format) == ("Epochs", 1, 20, None)
    assert epochs.help == "The ResNet101 card's range: 1–20."
    assert isinstance(lr.min_value, float) and (lr.max_value, lr.step, lr.format) == (1e-4, 1e-5, "%.1e")
    assert (seed.min_value, seed.max_value) == (0, 2**31 - 1)
    assert fields["batch_size"].max_value == 32 and fields["image_size"].step == 16


def test_source_caption_says_where_the_settings_came_from():
    assert source_caption(None, "pets").startswith("Settings from the wizard's defaults")
    assert source_caption(PLAN, "pets") == "Settings from the Wizard — change anything you like."
    assert source_caption(PLAN, "birds") == "Settings from the Wizard (planned for pets) — change anything you like."


def test_a_weights_file_that_is_not_one_gets_a_reason(tmp_path):
    path = tmp_path / "bogus.pt"
    path.write_bytes(b"not a checkpoint")
    problem, description = weights_file_verdict(str(path), "resnet18")
    assert description is None and "bogus.pt" in problem
