"""One count for the cards' dataset-size bands: the images a run trains on (the cards' "Training
Images"), in the Wizard, in planning a run and in planning a study, with the reasons saying so."""
from __future__ import annotations

import re

import pytest

from resnet_core.advice.model_cards import RESNET18, RESNET50
from resnet_core.advice.planning import plan_training
from resnet_core.advice.recommend import recommend, training_images
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.study.plan import STUDY_SIZES, plan_study
from resnet_core.views.wizard import WizardInputs, recommend_for

PER_CLASS = [60, 60, 60, 60, 57]  # 297 images, as in the clip-art folder


@pytest.fixture
def clipart(workspace, offline_torch_home, tmp_path):
    folder = make_image_folder(tmp_path / "clipart", num_classes=5, per_class=PER_CLASS, size=32)
    return register_folder(folder, workspace, name="clipart").name


def test_the_count_is_the_training_split_or_the_subset_a_run_trains_on():
    assert training_images(297) == 207  # 297 less 45 validation and 45 test images
    assert training_images(297, max_train_images=21) == 21
    assert training_images(297, max_train_images=5_000) == 207
    # The reference study's smallest size lands in the small bands, as the study meant.
    assert training_images(20_000, max_train_images=STUDY_SIZES[0]) == 833
    assert RESNET18.band_for(833).name == "small" and RESNET50.band_for(833).name == "small"


def test_wizard_and_planning_read_the_same_band_from_the_same_count(clipart, workspace):
    plan = plan_training(clipart, workspace, weights="none", gpu_mem_gb=None)
    wizard = recommend_for(WizardInputs(297, 5, 57, None, weights="none", median_size=(32, 32)))
    assert plan.recommendation.why == wizard.why
    assert plan.recommendation.num_images == wizard.num_images == 207
    assert "207 training images" in wizard.why["model"] and "of 297" in wizard.why["model"]
    assert "Small Datasets (100-1,000 images)" in wizard.why["batch_size"]


def test_a_model_whose_smallest_band_is_above_the_count_says_so_instead_of_quoting_it(clipart, workspace):
    plan = plan_training(clipart, workspace, weights="none", gpu_mem_gb=None, overrides={"model": "resnet50"})
    r = plan.recommendation
    assert "below" in r.why["model"] and "207 training images" in r.why["model"]
    assert not any("watch for overfitting" in w for w in plan.warnings), plan.warnings
    assert any("207 training images is below the ResNet-50 card's" in w for w in plan.warnings)


def test_study_notes_quote_the_plans_training_images(clipart, workspace):
    plan = plan_study(clipart, [30, 150], models=("resnet18", "resnet50"), weights="none",
                      gpu_mem_gb=None, workspace=workspace, overrides={"image_size": 32})
    notes = " ".join(plan.notes)
    counts = {int(n.replace(",", "")) for n in re.findall(r"(\d[\d,]*) (?:training )?images", notes)}
    assert counts <= {30, 150, 45, 500, 100, 1000, 2000}, (counts, notes)  # sizes, the val split, card figures
    assert "30 training images is below the ResNet-18 card's" in notes
    assert "watch for overfitting" not in notes  # ResNet-50's 500-1,000 band is not these sizes' band
    # Each size's settings are the Wizard's for that many training images.
    for size in plan.sizes:
        entry = next(e for e in plan.entries_for(size) if e.config.model == "resnet18")
        wizard = recommend(size, 5, None, weights="none", model="resnet18", image_size=32)
        assert (entry.config.epochs, entry.config.batch_size, entry.config.learning_rate) == (
            wizard.epochs, wizard.batch_size, wizard.learning_rate)
