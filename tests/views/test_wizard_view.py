"""The Wizard page's core: inputs, recommendation and the settings handed to Train."""
from __future__ import annotations

import pytest

from resnet_core.advice.measured import MeasuredRanking
from resnet_core.advice.recommend import RecommendationError
from resnet_core.config import TrainConfig
from resnet_core.data.scan import scan
from resnet_core.data.synthetic import make_image_folder
from resnet_core.hardware import Hardware
from resnet_core.runs.store import RunRecord
from resnet_core.views.wizard import (
    WizardInputs,
    dataset_numbers,
    hardware_defaults,
    measured_rows,
    planned_hardware,
    plans_other_hardware,
    recommend_for,
    time_estimate,
    train_prefill,
    why_lines,
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
    config = train_prefill(rec, "auto", "pets")
    assert isinstance(config, TrainConfig)
    assert config.dataset == "pets" and config.weights == "auto"
    assert (config.model, config.batch_size, config.epochs) == (rec.model, rec.batch_size, rec.epochs)
    assert "weights" not in config.recommended and "model" in config.recommended


def test_imbalanced_classes_get_the_better_measured_balancing_with_its_reason_and_it_reaches_train():
    balanced = recommend_for(WizardInputs(600, 3, 150, None, largest_class=250))
    assert balanced.class_balance == "none" and "below 3×" in balanced.class_balance_reason
    skewed = recommend_for(WizardInputs(600, 3, 50, None, largest_class=500))
    # The balanced sampler measured better than class-weighted loss on the 10:1 benchmark.
    assert skewed.class_balance == "balanced_sampler"
    assert "10.0× the images of the smallest" in skewed.class_balance_reason
    assert "raised balanced accuracy from 61% to 95% (class-weighted loss: 93%)" in skewed.class_balance_reason
    prefill = train_prefill(skewed, "auto", "pets")
    assert prefill.class_balance == "balanced_sampler" and "class_balance" in prefill.recommended
    # Exactly 3× is enough.
    assert recommend_for(WizardInputs(400, 2, 100, None, largest_class=300)).class_balance == "balanced_sampler"


def test_why_lines_name_each_setting_with_its_reason():
    rec = recommend_for(WizardInputs(num_images=1000, num_classes=10, smallest_class=100, gpu_mem_gb=None))
    lines = why_lines(rec)
    assert len(lines) == len(rec.why) + 1
    assert lines[-1] == f"**Class balance** — {rec.class_balance_reason}"
    assert lines[0] == f"**Model** — {rec.why['model']}"
    assert any(line.startswith("**Patience** — ") for line in lines)


def test_measured_rows_list_the_best_runs_and_flag_the_pick():
    runs = tuple(RunRecord(id=i, dataset="d", model="resnet18", status="completed", description=f"config {i}",
                           test_acc=1 - i / 10, train_time_s=60.0 * i) for i in (1, 2, 3))
    rows = measured_rows(MeasuredRanking(num_train=20, runs=runs, pick=runs[1]), shown=2)
    assert [r["Run"] for r in rows] == [1, 2] and [r["Wizard's pick"] for r in rows] == [False, True]
    assert rows[0]["Configuration"] == "config 1" and rows[0]["Test Acc"] == pytest.approx(0.9)


def test_the_time_estimate_counts_every_epoch_and_says_what_it_leaves_out():
    rec = recommend_for(WizardInputs(num_images=1000, num_classes=10, smallest_class=100, gpu_mem_gb=None))
    shown = time_estimate(rec, 1000, images_per_s=100.0, device="cpu", training_active=False)
    assert f"{rec.epochs} epochs over 700 training images" in shown.help
    assert "Early stopping" in shown.caption and "understated" not in shown.caption
    busy = time_estimate(rec, 1000, images_per_s=100.0, device="cpu", training_active=True)
    assert "understated" in busy.caption
    assert time_estimate(rec, 1000, 50.0, "cpu", False).metric != shown.metric  # half the speed, more time


def test_a_cpu_estimate_never_claims_the_batch_size_does_not_matter():
    import dataclasses

    rec = dataclasses.replace(recommend_for(WizardInputs(num_images=1000, num_classes=10, smallest_class=100,
                                                         gpu_mem_gb=None)), batch_size=64)
    probed = time_estimate(rec, 1000, images_per_s=100.0, device="cpu", training_active=False)
    assert "Measured with batches of 8" in probed.caption and "measure batch sizes here" in probed.caption
    assert "hardly depends" not in probed.caption
    exact = time_estimate(rec, 1000, images_per_s=100.0, device="cpu", training_active=False, exact_batch=True)
    assert "Measured here with the plan's batches of 64 at 224 px" in exact.caption


def test_planned_hardware_in_words():
    gpu = WizardInputs(num_images=10, num_classes=2, smallest_class=5, gpu_mem_gb=8.0)
    assert planned_hardware(gpu) == "a GPU with 8 GB"
    assert planned_hardware(WizardInputs(num_images=10, num_classes=2, smallest_class=5, gpu_mem_gb=None)) == "a CPU"
