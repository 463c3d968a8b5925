"""On a CPU the batch and image size follow the card unless this machine's measurement says otherwise,
and the reason says both. Measurements here are made up (CpuSpeed by hand); one real, tiny one at the end."""
from __future__ import annotations

import json

import pytest

from resnet_core.advice.cpu_probe import measure_cpu_speed
from resnet_core.advice.cpu_speed import (
    SPEED_FILE,
    CpuSpeed,
    load_cpu_speeds,
    planned_rate,
    save_cpu_speed,
)
from resnet_core.advice.planning import plan_training
from resnet_core.advice.recommend import recommend
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder

CARD_SENTENCE = 'the ResNet-18 card says "Reduce batch_size to 4-8 for CPU"'


def speed(*points: tuple[int, int, float], model: str = "resnet18") -> CpuSpeed:
    return CpuSpeed(model, True, "this machine", tuple(points))


# 64 is 1.6 times as fast per image as the card's 8 at 224 px; smaller images are faster still.
FASTER_BIG_BATCH = speed((8, 224, 20.0), (16, 224, 24.0), (32, 224, 29.0), (64, 224, 32.0),
                         (64, 160, 60.0), (64, 128, 90.0), (64, 96, 150.0))


def cpu_plan(num_images: int = 2_100, **kwargs):
    return recommend(num_images=num_images, num_classes=5, gpu_mem_gb=None, dataset_images=num_images * 10 // 7,
                     **kwargs)


def test_without_a_measurement_the_card_decides():
    rec = cpu_plan()
    assert (rec.batch_size, rec.image_size) == (8, 224)
    assert CARD_SENTENCE in rec.why["batch_size"] and "measured" not in rec.why["batch_size"]


def test_a_larger_batch_measured_faster_per_image_wins_and_the_reason_says_both():
    rec = cpu_plan(cpu_speeds=[FASTER_BIG_BATCH])
    assert rec.batch_size == 64
    why = rec.why["batch_size"]
    assert CARD_SENTENCE in why  # the card's sentence stays
    assert "so 8 by the cards" in why
    assert "batch 64 measured 1.6× faster per image than 8" in why and "32 against 20 images/s" in why


def test_a_batch_barely_faster_leaves_the_cards_batch():
    barely = speed((8, 224, 20.0), (16, 224, 21.0), (64, 224, 22.0))
    rec = cpu_plan(cpu_speeds=[barely])
    assert rec.batch_size == 8
    assert "batch 64 was only 1.10× as fast per image" in rec.why["batch_size"] and "8 stays" in rec.why["batch_size"]
    slower = speed((8, 224, 20.0), (64, 224, 15.0))
    assert "no larger batch was faster per image than 8" in cpu_plan(cpu_speeds=[slower]).why["batch_size"]


def test_the_image_size_stays_224_while_the_run_fits_the_prioritys_time_on_a_cpu():
    rec = cpu_plan(cpu_speeds=[FASTER_BIG_BATCH])  # 10 epochs × 2,100 images at 32/s: 11 min
    assert rec.image_size == 224
    why = rec.why["image_size"]
    assert '"Input: 224x224 RGB"' in why and "about 11 min" in why and "the card's size stays" in why


def test_a_run_too_long_at_224_gets_the_largest_measured_size_that_fits():
    rec = cpu_plan(21_000, cpu_speeds=[FASTER_BIG_BATCH])  # 7 epochs × 21,000 at 32/s: 1 h 17 min
    assert rec.image_size == 160 and rec.batch_size == 64
    why = rec.why["image_size"]
    assert why.startswith("Image size 160:") and '"Input: 224x224 RGB"' in why
    assert "at 224 px takes about 1 h 17 min" in why and "at 160 px it takes about 41 min" in why
    # Speed priority: 3 epochs within 15 minutes, which 128 px fits (12 min) and 160 px does not (18 min).
    fast = cpu_plan(21_000, cpu_speeds=[FASTER_BIG_BATCH], priority="speed")
    assert fast.image_size == 128 and "within the speed priority's 15 min" not in fast.why["image_size"]
    # Nothing fits: the smallest measured size, and the reason says it is still too long.
    slow = speed(*((b, s, r / 10) for b, s, r in FASTER_BIG_BATCH.rates))
    slowest = cpu_plan(21_000, cpu_speeds=[slow])
    assert slowest.image_size == 96 and "still more than the balanced priority's 1 h" in slowest.why["image_size"]


def test_a_size_asked_for_stays_and_only_the_batch_follows_the_measurement():
    rec = cpu_plan(21_000, cpu_speeds=[FASTER_BIG_BATCH], image_size=224)
    assert (rec.image_size, rec.batch_size) == (224, 64)


def test_a_gpu_plan_or_another_models_measurement_changes_nothing():
    gpu = recommend(num_images=2_100, num_classes=5, gpu_mem_gb=8, cpu_speeds=[FASTER_BIG_BATCH])
    assert "measured" not in gpu.why["batch_size"]
    other = cpu_plan(cpu_speeds=[speed((8, 224, 20.0), (64, 224, 40.0), model="resnet50")])
    assert other.batch_size == 8


def test_the_batch_never_exceeds_the_training_images():
    rec = cpu_plan(40, cpu_speeds=[FASTER_BIG_BATCH])
    assert rec.batch_size <= 40


def test_measurements_are_kept_per_machine_and_model_and_replaced_when_taken_again(tmp_path):
    save_cpu_speed(tmp_path, FASTER_BIG_BATCH)
    save_cpu_speed(tmp_path, CpuSpeed("resnet18", True, "another machine", ((8, 224, 5.0),)))
    again = speed((8, 224, 21.0), (64, 224, 30.0))
    save_cpu_speed(tmp_path, again)
    (kept,) = load_cpu_speeds(tmp_path, "this machine")
    assert kept.rates == again.rates and kept.measured_at
    assert len(json.loads((tmp_path / SPEED_FILE).read_text())) == 2
    assert planned_rate([kept], cpu_plan(cpu_speeds=[kept])) == 30.0  # the plan's own batch was measured
    (tmp_path / SPEED_FILE).write_text("not json")
    assert load_cpu_speeds(tmp_path, "this machine") == []


def test_plan_training_on_this_cpu_follows_the_stored_measurement(workspace, tmp_path, offline_torch_home,
                                                                   monkeypatch):
    from resnet_core.advice import planning
    from resnet_core.advice.cpu_speed import machine_key
    from resnet_core.hardware import Hardware

    monkeypatch.setattr(planning, "detect_hardware", lambda: Hardware("cpu", "CPU", None, 2, 2))
    info = register_folder(make_image_folder(tmp_path / "d", num_classes=2, per_class=30, size=32), workspace)
    card = plan_training(info.name, workspace, weights="none").config
    assert card.batch_size < 32 and card.image_size == 32
    save_cpu_speed(workspace.root, CpuSpeed("resnet18", True, machine_key(2, 2),
                                            ((card.batch_size, 32, 50.0), (32, 32, 90.0))))
    assert plan_training(info.name, workspace, weights="none").config.batch_size == 32


@pytest.mark.slow
def test_a_real_measurement_of_tiny_images_has_a_rate_for_each_batch():
    points = []
    measured = measure_cpu_speed("resnet18", 8, 32, 16, "here", steps=1, on_point=lambda d, t: points.append((d, t)))
    assert [(b, s) for b, s, _ in measured.rates] == [(8, 32), (16, 32)]  # no size below 32 px to try
    assert all(rate > 0 for _, _, rate in measured.rates) and points == [(1, 2), (2, 2)]
