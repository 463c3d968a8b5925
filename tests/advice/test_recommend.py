"""The wizard follows the model cards: every band, every memory row, the depth rules, warnings, CLI."""
from __future__ import annotations

import json
import math

import pytest

from resnet_core.advice import model_cards
from resnet_core.advice.model_cards import CARDS, RESNET18, RESNET50, RESNET101
from resnet_core.advice.planning import config_from_advice
from resnet_core.advice.recommend import (
    DEPTH_RULES,
    Recommendation,
    RecommendationError,
    format_number,
    recommend,
)
from resnet_core.cli import main
from resnet_core.hardware import Hardware

SOURCES = ("ResNet-18 card", "ResNet-50 card", "ResNet-101 card", "cost-performance study")
REQUIRED_KEYS = {"model", "batch_size", "epochs", "learning_rate", "augmentation", "fine_tune", "patience",
                 "eval_every", "image_size", "weights", "reasons", "warnings", "alternatives",
                 "num_images", "num_classes", "gpu_mem_gb", "priority", "task"}


def rec(num_images, gpu=80, priority="balanced", task="simple", classes=10, **kw) -> Recommendation:
    return recommend(num_images, classes, gpu, priority=priority, task=task, **kw)


# ----- the cards as data ----------------------------------------------------------------------------

def test_cards_transcribe_headline_figures():
    assert [(c.parameters_m, c.min_images, c.min_gpu_gb) for c in (RESNET18, RESNET50, RESNET101)] == [
        (11.7, 100, 2), (25.6, 500, 6), (44.5, 2_000, 10)]
    assert RESNET18.min_per_class == 10
    assert [c.batch_size_range for c in CARDS.values()] == [(1, 128), (2, 64), (2, 32)]
    assert [c.batch_size_default for c in CARDS.values()] == [8, 4, 4]
    assert [c.epochs_range for c in CARDS.values()] == [(1, 50), (1, 30), (1, 20)]
    assert [c.learning_rate_range for c in CARDS.values()] == [(1e-5, 1e-3), (1e-5, 5e-4), (1e-5, 1e-4)]
    assert RESNET18.cpu_batch_size == (4, 8) and RESNET18.cpu_viable and RESNET18.cpu_max_images == 1_000
    assert not RESNET50.cpu_viable and RESNET50.cpu_max_images == 500
    assert not RESNET101.cpu_viable and "Not recommended" in RESNET101.cpu_text


def test_cards_memory_rows():
    rows = {c.model: [(r.min_gb, r.batch_size) for r in c.memory_rows] for c in CARDS.values()}
    assert rows == {
        "resnet18": [(4, (8, 16)), (8, (32, 64)), (16, (64, 128))],
        "resnet50": [(8, (4, 8)), (16, (16, 32)), (24, (32, 64))],
        "resnet101": [(8, (4, 8)), (16, (8, 16)), (24, (16, 32))],
    }


@pytest.mark.parametrize("memory, label", [(3, "4GB GPU"), (4, "4GB GPU"), (7.8, "8GB GPU"),
                                           (15.7, "16GB+ GPU"), (79.2, "16GB+ GPU")])
def test_memory_row_allows_the_few_percent_gpus_report_below_nominal(memory, label):
    assert RESNET18.memory_row(memory).label == label


def test_memory_row_does_not_round_up_a_clearly_smaller_gpu():
    assert RESNET50.memory_row(12).label == "8GB GPU"
    assert RESNET101.memory_row(14).label == "8-12GB GPU"


@pytest.mark.parametrize("model, expected", [
    ("resnet18", [("tiny", 0, 100, (1e-5, 1e-5), (30, 50), (4, 4), "heavy"),
                  ("small", 100, 1_000, (5e-5, 5e-5), (15, 25), (8, 16), "heavy"),
                  ("medium", 1_000, 10_000, (5e-5, 1e-4), (5, 15), (32, 32), "standard"),
                  ("large", 10_000, None, (1e-4, 1e-4), (3, 10), (64, 64), "light")]),
    ("resnet50", [("small", 500, 1_000, (2e-5, 2e-5), (15, 20), (8, 8), "heavy"),
                  ("medium", 1_000, 10_000, (5e-5, 5e-5), (5, 10), (16, 16), "standard"),
                  ("large", 10_000, 50_000, (1e-4, 1e-4), (3, 5), (32, 32), "light"),
                  ("very large", 50_000, None, (1e-4, 1e-4), (3, 5), (32, 32), "light")]),
    ("resnet101", [("small", 2_000, 5_000, (2e-5, 2e-5), (10, 15), (8, 8), "heavy"),
                   ("medium", 5_000, 20_000, (5e-5, 5e-5), (5, 8), (16, 16), "standard"),
                   ("large", 20_000, 100_000, (1e-4, 1e-4), (3, 5), (16, 32), "light"),
                   ("very large", 100_000, None, (1e-4, 1e-4), (3, 5), (16, 32), "light")]),
])
def test_cards_dataset_size_bands(model, expected):
    bands = [(b.name, b.min_images, b.max_images, b.learning_rate, b.epochs, b.batch_size, b.augmentation)
             for b in CARDS[model].bands]
    assert bands == expected


def test_band_lookup_edges():
    assert [RESNET18.band_for(n).name for n in (1, 99, 100, 999, 1_000, 9_999, 10_000)] == [
        "tiny", "tiny", "small", "small", "medium", "medium", "large"]
    assert RESNET50.band_for(499).name == "small"  # under the card's minimum: its smallest band
    assert RESNET101.band_for(100_000).name == "very large"


# ----- settings from each band, through recommend() -----------------------------------------------

# model, images, (speed, balanced, accuracy) epochs, learning rate, batch on 80 GB, augmentation
BAND_CASES = [
    ("resnet18", 60, (30, 40, 50), 1e-5, 4, "heavy"),
    ("resnet18", 500, (15, 20, 25), 5e-5, 16, "heavy"),
    ("resnet18", 3_000, (5, 10, 15), 5e-5, 32, "standard"),
    ("resnet18", 20_000, (3, 7, 10), 1e-4, 64, "light"),
    ("resnet50", 700, (15, 18, 20), 2e-5, 8, "heavy"),
    ("resnet50", 3_000, (5, 8, 10), 5e-5, 16, "standard"),
    ("resnet50", 20_000, (3, 4, 5), 1e-4, 32, "light"),
    ("resnet50", 60_000, (3, 4, 5), 1e-4, 32, "light"),
    ("resnet101", 3_000, (10, 13, 15), 2e-5, 8, "heavy"),
    ("resnet101", 8_000, (5, 7, 8), 5e-5, 16, "standard"),
    ("resnet101", 30_000, (3, 4, 5), 1e-4, 32, "light"),
    ("resnet101", 200_000, (3, 4, 5), 1e-4, 32, "light"),
]


@pytest.mark.parametrize("model, n, epochs, lr, batch, augmentation", BAND_CASES)
def test_every_band_sets_the_cards_values(model, n, epochs, lr, batch, augmentation):
    for priority, expected_epochs in zip(("speed", "balanced", "accuracy"), epochs):
        r = rec(n, priority=priority, model=model)
        assert (r.model, r.epochs, r.learning_rate, r.batch_size, r.augmentation) == (
            model, expected_epochs, lr, batch, augmentation), priority
        assert r.weights == "imagenet" and r.fine_tune is True and r.eval_every == 1
        assert r.image_size == 224


def test_epochs_reason_says_how_the_value_was_picked():
    assert "speed priority takes the low end" in rec(3_000, priority="speed", model="resnet50").why["epochs"]
    assert "balanced priority takes the middle" in rec(3_000, model="resnet50").why["epochs"]
    assert "epochs=5-10" in rec(3_000, model="resnet50").why["epochs"]


def test_band_without_configuration_borrows_the_large_one_and_says_so():
    r = rec(60_000, model="resnet50")
    assert "gives none for Very Large Datasets (>50,000 images)" in r.why["epochs"]
    assert "Good but consider alternatives" in r.why["model"]


@pytest.mark.parametrize("n, classes, lr", [(3_000, 10, 5e-5), (6_000, 10, 1e-4), (3_000, 60, 1e-4)])
def test_resnet18_medium_learning_rate_follows_its_tips(n, classes, lr):
    r = rec(n, classes=classes, model="resnet18")
    assert r.learning_rate == lr
    assert "1e-4 for larger datasets or many classes" in r.why["learning_rate"] or "5e-5 standard" in \
        r.why["learning_rate"]


# ----- batch size: memory rows, CPU, conflicts, caps ------------------------------------------------

@pytest.mark.parametrize("model, n, gpu, batch", [
    # ResNet-18, large band (batch_size=64)
    ("resnet18", 20_000, 3, 8), ("resnet18", 20_000, 4, 16), ("resnet18", 20_000, 7.8, 64),
    ("resnet18", 20_000, 16, 64), ("resnet18", 20_000, 80, 64), ("resnet18", 20_000, None, 8),
    # ResNet-18, medium band (batch_size=32) and small band (8-16)
    ("resnet18", 3_000, 4, 16), ("resnet18", 3_000, 8, 32), ("resnet18", 3_000, 24, 32),
    ("resnet18", 3_000, None, 8), ("resnet18", 500, 4, 16), ("resnet18", 500, None, 8),
    ("resnet18", 60, None, 4),
    # ResNet-50, medium band (batch_size=16) and large band (32)
    ("resnet50", 3_000, 6, 4), ("resnet50", 3_000, 8, 8), ("resnet50", 3_000, 12, 8),
    ("resnet50", 3_000, 16, 16), ("resnet50", 3_000, 24, 16), ("resnet50", 20_000, 8, 8),
    ("resnet50", 20_000, 16, 32), ("resnet50", 20_000, 24, 32), ("resnet50", 3_000, None, 8),
    # ResNet-101, small (8), medium (16) and large (16-32) bands
    ("resnet101", 3_000, 10, 8), ("resnet101", 8_000, 12, 8), ("resnet101", 8_000, 16, 16),
    ("resnet101", 8_000, 24, 16), ("resnet101", 30_000, 10, 8), ("resnet101", 30_000, 16, 16),
    ("resnet101", 30_000, 24, 32), ("resnet101", 30_000, 80, 32),
])
def test_batch_size_from_memory_row_capped_by_band(model, n, gpu, batch):
    assert rec(n, gpu=gpu, model=model).batch_size == batch


def test_memory_wins_the_resnet50_conflict_and_the_reason_says_so():
    r = rec(3_000, gpu=8)
    assert (r.model, r.batch_size) == ("resnet50", 8)
    reason = r.why["batch_size"]
    assert "\"4-8 for 8GB GPU\"" in reason and "batch_size=16" in reason and "memory wins" in reason


def test_no_conflict_no_memory_wins_claim():
    reason = rec(3_000, gpu=16).why["batch_size"]
    assert "\"16-32 for 16GB GPU\"" in reason and "memory wins" not in reason


def test_cpu_batch_size_quotes_the_resnet18_card():
    reason = rec(500, gpu=None).why["batch_size"]
    assert "Reduce batch_size to 4-8 for CPU" in reason and "ResNet-18 card" in reason


def test_batch_never_exceeds_the_training_split():
    r = rec(3, gpu=None)  # num_images counts training images
    assert r.batch_size == 3  # the tiny band would use 4
    assert "training split" in r.why["batch_size"]
    assert rec(1, gpu=None).batch_size == 1


def test_large_images_shrink_the_memory_rows():
    small, large = rec(20_000, gpu=80, model="resnet18"), rec(20_000, gpu=80, model="resnet18", image_size=448)
    assert (small.batch_size, large.batch_size) == (64, 32)  # 128 / 4 for four times the pixels
    assert "224 px" in large.why["batch_size"] and large.image_size == 448


def test_batch_stays_inside_the_card_range():
    for model, card in CARDS.items():
        for n in (60, 700, 3_000, 30_000):
            for gpu in (None, 4, 8, 16, 80):
                lo, hi = card.batch_size_range
                b = rec(n, gpu=gpu, model=model).batch_size
                assert b <= hi and (b >= lo or b <= int(n * 0.7))


# ----- depth -------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, gpu, priority, task, model", [
    # CPU: always ResNet-18
    (50, None, "balanced", "simple", "resnet18"), (800, None, "accuracy", "fine-grained", "resnet18"),
    (5_000, None, "accuracy", "fine-grained", "resnet18"), (50_000, None, "balanced", "simple", "resnet18"),
    # under 6 GB: ResNet-18
    (3_000, 4, "balanced", "simple", "resnet18"), (20_000, 4, "accuracy", "fine-grained", "resnet18"),
    # under ResNet-50's 500-image minimum
    (60, 24, "balanced", "simple", "resnet18"), (300, 80, "accuracy", "fine-grained", "resnet18"),
    # speed priority
    (20_000, 80, "speed", "simple", "resnet18"), (20_000, 80, "speed", "fine-grained", "resnet18"),
    # 500-1,000 images
    (800, 8, "balanced", "simple", "resnet18"), (800, 8, "accuracy", "simple", "resnet50"),
    (800, 8, "balanced", "fine-grained", "resnet50"),
    # 1,000+ images: ResNet-50 by default, ResNet-101 for accuracy with the data and memory for it
    (1_000, 8, "balanced", "simple", "resnet50"), (3_000, 8, "balanced", "simple", "resnet50"),
    (3_000, 8, "accuracy", "simple", "resnet50"), (3_000, 16, "accuracy", "simple", "resnet50"),
    (3_000, 16, "accuracy", "fine-grained", "resnet101"), (3_000, 8, "accuracy", "fine-grained", "resnet50"),
    (1_500, 24, "accuracy", "fine-grained", "resnet50"), (8_000, 16, "balanced", "simple", "resnet50"),
    (8_000, 16, "balanced", "fine-grained", "resnet101"), (8_000, 16, "accuracy", "simple", "resnet101"),
    (8_000, 8, "accuracy", "simple", "resnet50"), (10_000, 9.8, "accuracy", "simple", "resnet101"),
    (10_000, 9, "accuracy", "simple", "resnet50"), (20_000, 24, "balanced", "simple", "resnet50"),
    (20_000, 80, "accuracy", "simple", "resnet101"), (100_000, 80, "balanced", "simple", "resnet50"),
    (100_000, 80, "accuracy", "fine-grained", "resnet101"),
])
def test_depth_choice(n, gpu, priority, task, model):
    assert rec(n, gpu=gpu, priority=priority, task=task).model == model


def test_depth_rules_each_quote_a_card():
    assert [r.name for r in DEPTH_RULES][0] == "cpu" and DEPTH_RULES[-1].name == "default"
    for rule in DEPTH_RULES:
        assert any(s in rule.reason for s in SOURCES) and "\"" in rule.reason, rule.name


def test_model_reason_quotes_the_rule_and_the_band_verdict():
    r = rec(500, gpu=None)
    assert "Viable option - ResNet-18 can train on CPU" in r.why["model"]
    assert "Excellent choice - optimal model for this range" in r.why["model"]
    r = rec(8_000, gpu=16, task="fine-grained")
    assert "Choose ResNet-101 when" in r.why["model"] and "a fine-grained task" in r.why["model"]


def test_forced_model_keeps_its_cards_settings_and_says_what_the_wizard_would_pick():
    r = rec(3_000, gpu=24, model="resnet18")
    assert r.model == "resnet18" and "as asked" in r.why["model"] and "ResNet-50" in r.why["model"]


def test_alternatives_are_the_other_two_with_a_card_reason():
    for args in [(50, None), (800, 8), (3_000, 8), (8_000, 16, "accuracy")]:
        r = rec(*args)
        assert sorted(a["model"] for a in r.alternatives) == sorted(m for m in CARDS if m != r.model)
        for a in r.alternatives:
            assert any(s in a["why_not"] for s in SOURCES), a
    why_not = {a["model"]: a["why_not"] for a in rec(50, gpu=None).alternatives}
    assert "Possible but slow" in why_not["resnet50"] and "Not recommended" in why_not["resnet101"]
    why_not = {a["model"]: a["why_not"] for a in rec(3_000, gpu=8).alternatives}
    assert "GPU: 10GB VRAM" in why_not["resnet101"]


# ----- patience, reasons ---------------------------------------------------------------------------

def _all_recommendations():
    for model in CARDS:
        for n in (5, 60, 700, 3_000, 8_000, 30_000, 200_000):
            for priority in ("speed", "balanced", "accuracy"):
                for weights in ("imagenet", "none"):
                    yield rec(n, gpu=24, priority=priority, weights=weights, model=model)
    yield rec(60, gpu=None, classes=1, smallest_class=3)
    yield rec(20_000, gpu=4, task="fine-grained", image_size=320)


def test_patience_is_ten_to_twenty_percent_with_a_floor_of_two_or_three_evaluations():
    for r in _all_recommendations():
        e, p = r.epochs, r.patience
        assert p >= 2
        assert p in (2, 3) or 0.1 * e <= p <= 0.2 * e, (e, p)


def test_a_short_run_on_a_small_validation_split_gets_patience_three_and_says_why():
    # A study's 5-epoch runs on a 297-image dataset stopped at epoch 2 with patience 1.
    from resnet_core.advice.recommend import patience_advice, patience_for

    assert patience_for(5, "balanced", val_images=45) == 3
    value, why = patience_advice(5, "balanced", val_images=45)
    assert why.startswith("Patience 3:") and "only 45 images" in why
    assert patience_for(5, "balanced", val_images=500) == 2
    assert patience_for(40, "balanced", val_images=45) == 6  # the study's share is already above the floor


@pytest.mark.parametrize("priority, epochs, patience", [("speed", 30, 3), ("balanced", 40, 6),
                                                         ("accuracy", 50, 10)])
def test_patience_values(priority, epochs, patience):
    r = rec(60, priority=priority, model="resnet18")
    assert (r.epochs, r.patience) == (epochs, patience)
    assert "Patience should be 10–20% of the total epochs" in r.why["patience"]


def test_every_reason_names_its_source_and_quotes_it():
    for r in _all_recommendations():
        assert r.reasons == list(r.why.values())
        assert list(r.why) == ["model", "weights", "batch_size", "epochs", "learning_rate", "augmentation",
                               "fine_tune", "patience", "eval_every", "image_size"]
        for reason in r.reasons:
            assert any(s in reason for s in SOURCES), reason
            assert "\"" in reason, reason


def test_every_plan_is_a_valid_train_config():
    for r in _all_recommendations():
        config = config_from_advice(r, "flowers")
        assert config.model == r.model and set(config.recommended) >= {"model", "batch_size"}
        lo, hi = r.limits["learning_rate"]
        assert lo <= r.learning_rate <= hi
        lo, hi = r.limits["epochs"]
        assert lo <= r.epochs <= hi


# ----- random initialisation -------------------------------------------------------------------------

@pytest.mark.parametrize("weights, available", [("none", True), ("auto", False),
                                                ("auto", {"resnet50": False, "resnet18": True})])
def test_random_init_adapts_the_fine_tuning_advice(weights, available):
    pretrained = rec(3_000, gpu=8)
    r = rec(3_000, gpu=8, weights=weights, weights_available=available)
    assert (r.model, r.weights) == ("resnet50", "none")
    assert r.learning_rate == 1e-3 and pretrained.learning_rate == 5e-5
    assert r.epochs == 2 * pretrained.epochs == 16
    assert (pretrained.augmentation, r.augmentation) == ("standard", "heavy")
    assert r.fine_tune is True and r.batch_size == pretrained.batch_size
    assert "above the card's \"Range: 1e-5 to 5e-4\"" in r.why["learning_rate"]
    assert "frozen random backbone learns nothing" in r.why["fine_tune"]
    assert any("random initialisation" in w and "torch hub cache" in w for w in r.warnings)
    assert r.limits["learning_rate"] == (1e-5, 1e-3)


def test_random_init_per_model_availability():
    assert rec(3_000, gpu=8, weights_available={"resnet50": True}).weights == "imagenet"
    assert rec(3_000, gpu=8, weights_available={"resnet18": True}).weights == "none"


def test_random_init_on_resnet18_stays_within_its_range_and_caps_epochs():
    r = rec(60, gpu=None, priority="accuracy", weights="none")
    assert (r.model, r.learning_rate, r.epochs, r.augmentation) == ("resnet18", 1e-3, 100, "heavy")
    assert "within the card's \"Range: 1e-5 to 1e-3\"" in r.why["learning_rate"]
    assert "already the strongest" in r.why["augmentation"]
    light = rec(20_000, gpu=80, model="resnet18", weights="none")
    assert (light.augmentation, light.epochs) == ("standard", 14)


def test_imagenet_asked_but_missing_keeps_the_plan_and_warns():
    r = rec(3_000, gpu=8, weights="imagenet", weights_available=False)
    assert (r.weights, r.learning_rate) == ("imagenet", 5e-5)
    assert any("were not found on this machine" in w for w in r.warnings)


# ----- warnings ----------------------------------------------------------------------------------------

def test_a_plain_case_has_no_warnings():
    assert rec(3_000, gpu=16, smallest_class=200).warnings == []
    assert rec(500, gpu=None, smallest_class=50).warnings == []


@pytest.mark.parametrize("kwargs, needle", [
    (dict(num_images=3_000, gpu=None, model="resnet50"), "Possible but slow (10-30x slower than GPU)"),
    (dict(num_images=3_000, gpu=None, model="resnet101"), "Not recommended - extremely slow"),
    (dict(num_images=50, gpu=None), "Minimum: 100 images (10-20 per class)"),
    (dict(num_images=700, gpu=80, model="resnet101"), "Minimum: 2,000 images (overfitting likely below this)"),
    (dict(num_images=800, gpu=None, smallest_class=5), "10-20 per class"),
    (dict(num_images=8_000, gpu=8, model="resnet101"), "GPU: 10GB VRAM"),
    (dict(num_images=500, gpu=1.5), "GPU: 2-4GB VRAM"),
    (dict(num_images=500, gpu=None, classes=1), "needs at least 2"),
    (dict(num_images=5_000, gpu=None), "Practical for datasets <1,000 images"),
    (dict(num_images=20_000, gpu=80, priority="speed"), "Acceptable but not optimal"),
    (dict(num_images=3_000, gpu=16, priority="accuracy", task="fine-grained"), "Use cautiously"),
    (dict(num_images=800, gpu=4, task="fine-grained"), "May struggle with very complex or fine-grained"),
])
def test_warnings_quote_the_card(kwargs, needle):
    r = rec(kwargs.pop("num_images"), **kwargs)
    assert any(needle in w for w in r.warnings), r.warnings


def test_warning_thresholds_are_exact():
    assert not any("per class" in w for w in rec(800, gpu=None, smallest_class=10).warnings)
    assert not any("CPU" in w for w in rec(999, gpu=None).warnings)
    assert any("CPU" in w for w in rec(1_000, gpu=None).warnings)
    assert not any("Minimum" in w for w in rec(100, gpu=None).warnings)


# ----- inputs and output ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, field", [
    (dict(num_images=0, num_classes=3, gpu_mem_gb=8), "num_images"),
    (dict(num_images=10.5, num_classes=3, gpu_mem_gb=8), "num_images"),
    (dict(num_images=100, num_classes=-1, gpu_mem_gb=8), "num_classes"),
    (dict(num_images=100, num_classes=3, gpu_mem_gb=-2), "gpu_mem_gb"),
    (dict(num_images=100, num_classes=3, gpu_mem_gb=math.nan), "gpu_mem_gb"),
    (dict(num_images=100, num_classes=3, gpu_mem_gb=8, priority="fast"), "priority"),
    (dict(num_images=100, num_classes=3, gpu_mem_gb=8, task="hard"), "task"),
    (dict(num_images=100, num_classes=3, gpu_mem_gb=8, weights="file"), "weights"),
    (dict(num_images=100, num_classes=3, gpu_mem_gb=8, image_size=8), "image_size"),
    (dict(num_images=100, num_classes=3, gpu_mem_gb=8, model="resnet34"), "model"),
])
def test_bad_inputs_raise_a_clear_error(kwargs, field):
    with pytest.raises(RecommendationError, match=field):
        recommend(**kwargs)


def test_to_dict_is_json_with_every_key():
    d = json.loads(json.dumps(rec(3_000, gpu=8).to_dict()))
    assert REQUIRED_KEYS <= set(d)
    assert (d["model"], d["batch_size"], d["num_images"], d["gpu_mem_gb"]) == ("resnet50", 8, 3_000, 8)
    assert all(set(a) == {"model", "why_not"} for a in d["alternatives"])


def test_format_number_writes_rates_like_the_cards():
    assert [format_number(v) for v in (5e-5, 1e-3, 2e-5, 1e-4, 32)] == ["5e-5", "1e-3", "2e-5", "1e-4", "32"]


def test_study_figures_quoted_match_the_study():
    assert model_cards.STUDY_PATIENCE == (0.10, 0.20)


# ----- the command line --------------------------------------------------------------------------------

@pytest.fixture
def no_weights(monkeypatch, offline_torch_home):
    """No ImageNet weights on disk and no network probe."""
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["recommend", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_from_counts(capsys, workspace, no_weights):
    code, out, _ = run_cli(capsys, "--images", "3000", "--classes", "10", "--gpu-mem", "8", "--json")
    assert code == 0
    d = json.loads(out)
    assert REQUIRED_KEYS <= set(d)
    assert (d["model"], d["batch_size"], d["weights"], d["learning_rate"]) == ("resnet50", 8, "none", 1e-3)
    # The bands count the training split (70%); the dataset's own size is kept beside it.
    assert (d["dataset_images"], d["num_images"], d["num_classes"], d["gpu_mem_gb"]) == (3000, 2100, 10, 8.0)


def test_cli_uses_weights_when_they_are_cached(capsys, workspace, no_weights, monkeypatch):
    from resnet_core.advice import planning

    monkeypatch.setattr(planning, "imagenet_weights_available", lambda arch: arch == "resnet50")
    code, out, _ = run_cli(capsys, "--images", "3000", "--classes", "10", "--gpu-mem", "8", "--json")
    d = json.loads(out)
    assert (code, d["weights"], d["learning_rate"], d["epochs"]) == (0, "imagenet", 5e-5, 8)


def test_cli_human_card(capsys, workspace, no_weights):
    code, out, _ = run_cli(capsys, "--images", "3000", "--classes", "10", "--gpu-mem", "8",
                           "--weights", "imagenet", "--priority", "accuracy")
    assert code == 0
    assert out.startswith("Recommendation: ResNet50")
    for text in ("batch size    8", "memory wins", "Warnings:", "were not found", "Alternatives:",
                 "ResNet101: 8 GB of GPU memory"):
        assert text in out, text


def test_cli_scans_a_folder(capsys, workspace, image_folder, no_weights):
    code, out, _ = run_cli(capsys, "--data", str(image_folder), "--cpu", "--json")
    d = json.loads(out)
    assert code == 0
    assert (d["dataset_images"], d["num_images"], d["num_classes"], d["gpu_mem_gb"], d["model"]) == (
        60, 42, 3, None, "resnet18")
    assert any("Minimum: 100 images" in w for w in d["warnings"])


def test_cli_detects_hardware_when_not_told(capsys, workspace, no_weights, monkeypatch):
    import resnet_core.hardware as hardware

    fake = Hardware("cuda", "NVIDIA Test GPU", 23.6, 16, 16)
    monkeypatch.setattr(hardware, "detect_hardware", lambda: fake)
    code, out, _ = run_cli(capsys, "--images", "20000", "--classes", "10", "--json")
    d = json.loads(out)
    assert (code, d["gpu_mem_gb"], d["hardware"], d["model"]) == (0, 23.6, "NVIDIA Test GPU (23.6 GB)",
                                                                  "resnet50")


@pytest.mark.parametrize("argv, message", [
    ((), "--data DIR"),
    (("--images", "100"), "--classes"),
    (("--data", "x", "--images", "100", "--classes", "2"), "not both"),
    (("--images", "0", "--classes", "2", "--cpu"), "--images"),
    (("--images", "100", "--classes", "2", "--gpu-mem", "0"), "--gpu-mem"),
    (("--images", "100", "--classes", "2", "--cpu", "--image-size", "9"), "image_size"),
    (("--data", "no-such-folder-or-dataset", "--cpu"), "no-such-folder-or-dataset"),
])
def test_cli_bad_input_is_a_message_not_a_traceback(capsys, workspace, no_weights, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_cli_empty_folder_says_what_to_do(capsys, workspace, tmp_path, no_weights):
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    code, _, err = run_cli(capsys, "--data", str(tmp_path / "empty"), "--cpu")
    assert code == 2 and "subfolder" in err
