"""The model cards' limits, checked in one place: the ranges, the plan's warnings, the Train form's
clamping. (test_card_limits moved here from test_recommend.py, unchanged.)"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from resnet_core.advice.limits import (
    NUMBER_FIELDS,
    card_limits,
    clamp_to_limits,
    outside_card_limits,
    setting_limits,
)
from resnet_core.config import LIMITS, TrainConfig
from resnet_core.views.train_form import form_limits, starts_from_random

ROOT = Path(__file__).resolve().parents[2]


def test_card_limits():
    assert card_limits("resnet18") == {"batch_size": (1, 128), "epochs": (1, 50), "learning_rate": (1e-5, 1e-3)}
    assert card_limits("resnet50") == {"batch_size": (2, 64), "epochs": (1, 30), "learning_rate": (1e-5, 5e-4)}
    assert card_limits("resnet101") == {"batch_size": (2, 32), "epochs": (1, 20), "learning_rate": (1e-5, 1e-4)}
    widened = card_limits("resnet101", random_init=True)
    assert widened["learning_rate"] == (1e-5, 1e-3) and widened["epochs"] == (1, 40)
    assert card_limits("resnet18", random_init=True)["epochs"][1] <= LIMITS["epochs"][1]
    with pytest.raises(ValueError, match="resnet34"):
        card_limits("resnet34")


def test_every_number_setting_has_a_range_narrowed_by_the_card():
    limits = setting_limits("resnet101")
    assert set(limits) == set(NUMBER_FIELDS) == set(LIMITS)
    assert limits["batch_size"] == (2, 32) and limits["epochs"] == (1, 20)
    assert limits["patience"] == LIMITS["patience"] and limits["image_size"] == LIMITS["image_size"]
    assert setting_limits("resnet101", random_init=True)["learning_rate"] == (1e-5, 1e-3)


def test_clamping_changes_only_what_is_outside_and_says_so():
    limits = setting_limits("resnet101")
    values = {"epochs": 90, "batch_size": 128, "learning_rate": 1e-2, "patience": 3, "eval_every": None,
              "image_size": 224}
    changed, messages = clamp_to_limits(values, limits, "resnet101")
    assert changed == {"epochs": 20, "batch_size": 32, "learning_rate": 1e-4}
    assert isinstance(changed["epochs"], int) and isinstance(changed["learning_rate"], float)
    assert messages == [
        "Epochs 90 is outside the ResNet model card's range for ResNet101 (1–20); set to 20.",
        "Batch size 128 is outside the ResNet model card's range for ResNet101 (2–32); set to 32.",
        "Learning rate 0.01 is outside the ResNet model card's range for ResNet101 (1e-05–0.0001); set to 0.0001.",
    ]
    changed, messages = clamp_to_limits({"patience": 0, "image_size": 4096}, limits, "resnet18")
    assert changed == {"patience": 1, "image_size": 1024}
    assert messages[0].startswith("Patience 0 is outside the range for ResNet18 (1–200)")
    assert clamp_to_limits({"epochs": 20, "batch_size": 2}, limits, "resnet101") == ({}, [])


def test_a_plan_outside_the_card_gets_a_warning():
    config = TrainConfig(dataset="d", model="resnet101", epochs=90, batch_size=16, learning_rate=1e-4)
    assert outside_card_limits(config, card_limits("resnet101")) == [
        "epochs 90 is outside the ResNet101 card's range 1–20."]
    assert outside_card_limits(config.replace(epochs=20), card_limits("resnet101")) == []


def test_the_train_form_takes_its_ranges_from_here(offline_torch_home, monkeypatch):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")  # no ImageNet weights cached, none downloadable
    assert form_limits("resnet50", "imagenet") == setting_limits("resnet50")
    assert form_limits("resnet50", "none") == setting_limits("resnet50", random_init=True)
    assert starts_from_random("resnet50", "auto") and not starts_from_random("resnet50", "file")
    assert form_limits("resnet50", "auto") == setting_limits("resnet50", random_init=True)


def test_only_the_limits_module_reads_the_cards_ranges():
    """A second copy of the checks (a page clamping on its own, say) would read these fields."""
    ranges = {"batch_size_range", "epochs_range", "learning_rate_range"}
    readers = set()
    for folder in ("resnet_core", "pages", "ui"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            if any(isinstance(n, ast.Attribute) and n.attr in ranges for n in ast.walk(tree)):
                readers.add(path.relative_to(ROOT).as_posix())
    assert readers == {"resnet_core/advice/limits.py"}
