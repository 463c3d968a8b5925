"""The Wizard page's core: inputs, recommendation and the settings handed to Train."""
from __future__ import annotations

import pytest

from resnet_core.advice.recommend import RecommendationError
from resnet_core.config import TrainConfig
from resnet_core.data.scan import scan
from resnet_core.data.synthetic import make_image_folder
from resnet_core.hardware import Hardware
from resnet_core.views.wizard import (
    WizardInputs,
    dataset_numbers,
    hardware_defaults,
    plans_other_hardware,
    recommend_for,
    train_prefill,
)

CPU = Hardware("cpu", "CPU", None, 2, 2)
GPU = Hardware("cuda", "Some GPU", 23.6, 8, 8)


@pytest.fixture(autouse=True)
def offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


def test_dataset_numbers_come_from_the_scan(tmp_path):
    report = scan(make_image_folder(tmp_path / "d", num_classes=3, per_class=[5, 8, 9]))
    assert dataset_numbers(report) == {"num_images": 22, "num_classes": 3, "smallest_class": 5,
                                       "largest_class": 9}


def test_hardware_defaults_and_other_hardware():
    assert hardware_defaults(CPU)[0] == "CPU"
    assert hardware_defaults(GPU) == ("GPU", 23.6)
    assert not plans_other_hardware(WizardInputs(100, 2, None, None), CPU)
    assert plans_other_hardware(WizardInputs(100, 2, None, 8.0), CPU)
    assert not plans_other_hardware(WizardInputs(100, 2, None, 24.0), GPU)
    assert plans_other_hardware(WizardInputs(100, 2, None, None), GPU)


def test_recommend_for_follows_the_cards():
    assert recommend_for(WizardInputs(3000, 10, 300, 8.0)).model == "resnet50"
    rec = recommend_for(WizardInputs(300, 10, 30, None))
    assert rec.model == "resnet18" and rec.batch_size <= 8
    assert recommend_for(WizardInputs(30000, 10, 3000, 24.0, priority="accuracy")).model == "resnet101"


def test_weights_auto_without_cached_weights_plans_random_init():
    rec = recommend_for(WizardInputs(3000, 10, 300, 8.0, weights="auto"))
    assert rec.weights == "none"
    assert any("random initialisation" in w for w in rec.warnings)


def test_bad_inputs_raise_a_recommendation_error():
    with pytest.raises(RecommendationError):
        recommend_for(WizardInputs(0, 10, None, None))


def test_train_prefill_is_a_valid_config_with_the_users_weights():
    rec = recommend_for(WizardInputs(3000, 10, 300, 8.0))
    settings = train_prefill(rec, "auto", "pets")
    config = TrainConfig.from_dict(settings)
    assert config.dataset == "pets" and config.weights == "auto"
    assert (config.model, config.batch_size, config.epochs) == (rec.model, rec.batch_size, rec.epochs)
    assert "weights" not in config.recommended and "model" in config.recommended


def test_imbalanced_classes_get_class_weighted_loss_with_its_reason_and_it_reaches_train():
    balanced = recommend_for(WizardInputs(600, 3, 150, None, largest_class=250))
    assert balanced.class_balance == "none" and "below 3×" in balanced.class_balance_reason
    skewed = recommend_for(WizardInputs(600, 3, 50, None, largest_class=500))
    assert skewed.class_balance == "weighted_loss"
    assert "10.0× the images of the smallest" in skewed.class_balance_reason
    assert "raised balanced accuracy from 61% to 91%" in skewed.class_balance_reason
    prefill = train_prefill(skewed, "auto", "pets")
    assert prefill["class_balance"] == "weighted_loss" and "class_balance" in prefill["recommended"]
    # Exactly 3× is enough.
    assert recommend_for(WizardInputs(400, 2, 100, None, largest_class=300)).class_balance == "weighted_loss"
