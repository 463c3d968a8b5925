"""One path from advice to a run: config_from_advice turns a recommendation plus the user's overrides
into a TrainConfig, for the command line, the study and the Wizard and Train pages alike."""
from __future__ import annotations

import pytest

from resnet_core.advice.planning import (
    ADVISED_FIELDS,
    config_from_advice,
    plan_training,
    validation_split_images,
    with_overrides,
)
from resnet_core.advice.recommend import patience_for, recommend
from resnet_core.config import ConfigError, TrainConfig
from resnet_core.views.wizard import WizardInputs, recommend_for, train_prefill


def advice(**kw):
    return recommend(3000, 10, 8.0, weights="imagenet", **kw)


def test_the_recommendation_fills_every_advised_field():
    rec = advice()
    config = config_from_advice(rec, "pets")
    assert isinstance(config, TrainConfig) and config.dataset == "pets"
    for name in ADVISED_FIELDS:
        assert getattr(config, name) == getattr(rec, name), name
    assert config.recommended == ADVISED_FIELDS  # the order the CLI's JSON lists them in
    assert (config.weights, config.seed, config.device, config.max_train_images) == ("auto", 0, "auto", None)


def test_overrides_win_and_are_no_longer_recommended():
    rec = advice()
    config = config_from_advice(rec, "pets", {"batch_size": 4, "augmentation": "none", "model": None,
                                              "weight_decay": 0.01},
                                weights="file", weights_path="w.pt", seed=5, device="cpu", max_train_images=40)
    assert (config.batch_size, config.augmentation, config.weight_decay) == (4, "none", 0.01)
    assert config.model == rec.model and "model" in config.recommended  # None means "not chosen"
    assert "batch_size" not in config.recommended and "augmentation" not in config.recommended
    assert (config.weights, config.weights_path, config.seed, config.device, config.max_train_images) == (
        "file", "w.pt", 5, "cpu", 40)


def test_patience_follows_overridden_epochs_unless_it_is_overridden_too():
    rec = advice(priority="accuracy")
    config = config_from_advice(rec, "pets", {"epochs": 40}, val_images=50)
    assert config.patience == patience_for(40, "accuracy", 50) and "patience" in config.recommended
    assert config_from_advice(rec, "pets", {"epochs": 40, "patience": 7}).patience == 7


def test_a_bad_override_is_a_config_error():
    with pytest.raises(ConfigError, match="epochs must be between 1 and 200, got 0"):
        config_from_advice(advice(), "pets", {"epochs": 0})


def test_the_wizard_page_and_a_plan_go_through_the_same_function(workspace, image_folder, offline_torch_home):
    rec = recommend_for(WizardInputs(3000, 10, 300, 8.0, weights="imagenet"))
    assert train_prefill(rec, "imagenet", "pets") == config_from_advice(rec, "pets", weights="imagenet")
    plan = plan_training(str(image_folder), workspace, overrides={"epochs": 3, "image_size": 32},
                         weights="none", seed=2, device="cpu", gpu_mem_gb=None)
    assert plan.config == config_from_advice(plan.recommendation, plan.dataset.name,
                                             {"epochs": 3, "image_size": 32}, weights="none", seed=2,
                                             device="cpu", val_images=9)


def test_with_overrides_keeps_recommended_only_what_it_did_not_change():
    config = config_from_advice(advice(), "pets")
    changed = with_overrides(config, {"epochs": 3, "dataset": "birds"})
    assert (changed.epochs, changed.dataset) == (3, "birds")
    assert changed.recommended == tuple(n for n in ADVISED_FIELDS if n != "epochs")


def test_a_config_key_is_stable_and_tells_settings_apart():
    a = TrainConfig(dataset="pets", epochs=3, recommended=("epochs",))
    assert a.key() == TrainConfig.from_dict(a.to_dict()).key()
    assert a.key() != a.replace(epochs=4).key() and a.key() != a.replace(recommended=()).key()


def test_the_validation_split_is_counted_per_class_as_the_split_makes_it_then_read_from_the_saved_split(
        workspace, tmp_path):
    from resnet_core.data.handle import open_dataset
    from resnet_core.data.registry import register_folder
    from resnet_core.data.synthetic import make_image_folder

    make_image_folder(tmp_path / "three", num_classes=3, per_class=12, size=32)
    register_folder(tmp_path / "three", workspace, name="three")
    dataset = open_dataset("three", workspace)
    assert validation_split_images(dataset) == 6  # 2 of each class's 12, not 15% of all 36 (5)
    assert not (dataset.info.meta_dir / "split.json").exists()  # planning makes no split
    assert validation_split_images(dataset) == len(dataset.split.val)
