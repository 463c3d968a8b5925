"""The wizard: dataset size, hardware and goals in; a model and its settings out, each with a reason.

A pure function over the model cards (model_cards.py). The depth is chosen by a small ordered rule
table; every other setting is read from the chosen card's dataset-size band and GPU-memory row.
Every reason sentence names the card (or the cost-performance study) and the tip it follows.

Which count the bands are read with: the images a run trains on. The cards' dataset parameter is
"Training Images" (the folder a model learns from), and the cost-performance study's sizes (833,
2,280, 19,104) are training subsets, with validation and test images held out. So a dataset counts
with its training split (`training_images`: 70%), a run or a study size on a subset with that subset;
the Wizard, planning and the study all call `recommend` with that one number, and the model's reason
says which count it is.

Random initialisation: the cards' learning-rate ranges are fine-tuning ranges for ImageNet weights.
Without them we use 1e-3 (the usual AdamW rate from scratch), which lies above the ResNet-50 (5e-4)
and ResNet-101 (1e-4) ranges; `limits.card_limits(model, random_init=True)` therefore widens the
learning rate limit to 1e-3 and the epoch limit to twice the card's, and the reasons say so.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_core.advice.class_balance import recommend_class_balance
from resnet_core.advice.cpu_speed import CpuSpeed, follow_measurement, largest_batch, speed_for
from resnet_core.advice.limits import RANDOM_INIT_EPOCH_FACTOR, RANDOM_INIT_LR, card_limits
from resnet_core.advice.model_cards import (
    CARDS,
    RESNET18,
    STUDY,
    STUDY_AUGMENTATION_TEXT,
    STUDY_FINE_TUNE_TEXT,
    STUDY_PATIENCE,
    STUDY_PATIENCE_TEXT,
    STUDY_SMALL_RESNET50_TEXT,
    STUDY_VAL_LOSS_TEXT,
    ModelCard,
    SizeBand,
    card,
    meets_memory,
)
from resnet_core.config import AUGMENTATIONS, LIMITS, MODELS, PRIORITIES, TASK_KINDS
from resnet_core.data.splits import DEFAULT_FRACTIONS, split_sizes

WEIGHT_CHOICES = ("auto", "imagenet", "none")
DEFAULT_IMAGE_SIZE = 224  # every card: "Input: 224x224 RGB"
MANY_CLASSES = 50  # our reading of the ResNet-18 card's "1e-4 for ... many classes"
LARGER_MEDIUM = 5_000  # and of "larger datasets": the upper half of its 1,000-10,000 band
PATIENCE_SHARE = {"speed": 0.10, "balanced": 0.15, "accuracy": 0.20}
REASON_ORDER = ("model", "weights", "batch_size", "epochs", "learning_rate", "augmentation", "fine_tune",
                "patience", "eval_every", "image_size")


def training_images(dataset_images: int, max_train_images: int | None = None) -> int:
    """The count the cards' dataset-size bands are read with: the images a run trains on. That is
    the training split of a dataset of dataset_images (70%; validation and test take 15% each), or
    the subset a run or a study size trains on when it is smaller."""
    n = max(0, int(dataset_images))
    val, test = (round(n * f) for f in DEFAULT_FRACTIONS[1:])
    train = max(1, n - val - test) if n else 0
    return min(train, max_train_images) if max_train_images else train


def _val_images(train_images: int) -> int:
    """The validation split that goes with train_images in the default 70/15/15 split."""
    return round(train_images * DEFAULT_FRACTIONS[1] / DEFAULT_FRACTIONS[0])


class RecommendationError(ValueError):
    """An input to the wizard is missing or out of range; the message says which and what to do."""


@dataclass(frozen=True)
class Recommendation:
    model: str
    batch_size: int
    epochs: int
    learning_rate: float
    augmentation: str
    fine_tune: bool
    patience: int
    eval_every: int
    image_size: int
    weights: str  # "imagenet" or "none": what the plan assumes
    reasons: list[str]
    warnings: list[str]
    alternatives: list[dict[str, str]]  # [{"model": ..., "why_not": ...}] for the other two depths
    why: dict[str, str]  # setting name -> its reason (the same sentences as `reasons`)
    limits: dict[str, tuple[float, float]]  # card_limits() for this model and weights
    num_images: int  # training images: the count the bands were read with
    num_classes: int
    gpu_mem_gb: float | None
    priority: str
    task: str
    dataset_images: int | None = None  # the whole dataset, when known
    # "weighted_loss" when the largest class has 3× or more the images of the smallest (a measured
    # choice, not the cards', so its reason is kept apart from `why`).
    class_balance: str = "none"
    class_balance_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["limits"] = {k: list(v) for k, v in self.limits.items()}
        return d


# ----- inputs -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Inputs:
    num_images: int
    num_classes: int
    gpu_mem_gb: float | None
    priority: str
    task: str
    dataset_images: int | None = None

    @property
    def cpu(self) -> bool:
        return self.gpu_mem_gb is None

    @property
    def wants_accuracy(self) -> bool:
        return self.priority == "accuracy" or self.task == "fine-grained"

    def accuracy_words(self) -> str:
        parts = []
        if self.priority == "accuracy":
            parts.append("accuracy priority")
        if self.task == "fine-grained":
            parts.append("a fine-grained task")
        return " and ".join(parts)

    @property
    def count(self) -> str:
        """'207 training images': how the reasons name the count."""
        return f"{self.num_images:,} training image{'s' if self.num_images != 1 else ''}"

    def count_explained(self) -> str:
        """Which count the bands were read with, said once in the model's reason."""
        if self.dataset_images and self.dataset_images != self.num_images:
            full = training_images(self.dataset_images)
            what = (f"the training split of {self.dataset_images:,} images (70%; the rest validates and "
                    f"tests)" if self.num_images == full else
                    f"a subset of the {full:,} in the training split of {self.dataset_images:,} images")
        else:
            what = "the images the model learns from"
        return (f"The cards' dataset sizes are read as training images (their \"Training Images\"), as "
                f"the {STUDY}'s sizes are: here {self.count}, {what}.")

    def fields(self) -> dict[str, Any]:
        return {"n": self.count, "mem": _gb(self.gpu_mem_gb), "want": self.accuracy_words()}


def _gb(memory_gb: float | None) -> str:
    return "no GPU" if memory_gb is None else f"{memory_gb:g} GB"


def _gpu_at_least(x: _Inputs, gb: float) -> bool:
    return x.gpu_mem_gb is not None and meets_memory(x.gpu_mem_gb, gb)


# ----- depth: an ordered rule table, first match wins -------------------------------------------

@dataclass(frozen=True)
class DepthRule:
    name: str
    model: str
    applies: Callable[[_Inputs], bool]
    reason: str  # the card sentences the rule follows; {n}, {mem}, {want} are filled in
    summary: str  # a short form for the alternatives' "why not"


DEPTH_RULES: tuple[DepthRule, ...] = (
    DepthRule(
        "cpu", "resnet18", lambda x: x.cpu,
        "ResNet-18 because there is no GPU: the ResNet-18 card calls CPU training a \"Viable option - "
        "ResNet-18 can train on CPU\", while the ResNet-50 card says \"Possible but slow (10-30x slower "
        "than GPU)\" and the ResNet-101 card \"Not recommended - extremely slow\".",
        "without a GPU only ResNet-18 is practical (ResNet-18 card: \"Viable option - ResNet-18 can "
        "train on CPU\")"),
    DepthRule(
        "small-gpu", "resnet18", lambda x: not _gpu_at_least(x, 6),
        "ResNet-18 because {mem} of GPU memory is below the ResNet-50 card's minimum configuration "
        "(\"GPU: 6GB VRAM\"); the ResNet-18 card says \"Low memory requirements: Trains on 4GB GPU\".",
        "{mem} of GPU memory is below the ResNet-50 card's minimum \"GPU: 6GB VRAM\""),
    DepthRule(
        "below-resnet50-minimum", "resnet18", lambda x: x.num_images < CARDS["resnet50"].min_images,
        "ResNet-18 because {n} is under the ResNet-50 card's \"Minimum: 500 images for acceptable "
        "results\"; the ResNet-18 card says \"Data efficient: Works well with small datasets "
        "(100+ images)\".",
        "{n} is under the ResNet-50 card's \"Minimum: 500 images\""),
    DepthRule(
        "speed", "resnet18", lambda x: x.priority == "speed",
        "ResNet-18 for speed priority: the ResNet-18 card says \"Use ResNet-18 if speed is paramount\" "
        "and \"Very fast training: ... 2x faster than ResNet-50\".",
        "speed priority (ResNet-18 card: \"Use ResNet-18 if speed is paramount\")"),
    DepthRule(
        "small-data", "resnet18", lambda x: x.num_images < 1_000 and not x.wants_accuracy,
        "ResNet-18 for {n}: the ResNet-18 card calls Small Datasets (100-1,000 images) "
        "\"Excellent choice - optimal model for this range\" and says \"Choose ResNet-18 when: "
        "Dataset <1,000 images\".",
        "under 1,000 images ResNet-18 is the ResNet-18 card's \"optimal model for this range\""),
    DepthRule(
        "small-data-accuracy", "resnet50", lambda x: x.num_images < 1_000,
        "ResNet-50 for {n} with {want}: the ResNet-18 card says \"Choose ResNet-50 when: ... "
        "Accuracy more important than speed ... Complex or fine-grained classification\", the ResNet-50 "
        "card calls Small Datasets (500-1,000 images) \"Good choice but watch for overfitting\", and in "
        "the " + STUDY + " " + STUDY_SMALL_RESNET50_TEXT + ".",
        "{want} on {n} favours ResNet-50 (cost-performance study: ResNet50 + fine-tuning + "
        "Augmentation ranks 1st at 833 images)"),
    DepthRule(
        "deep-for-accuracy", "resnet101",
        lambda x: x.wants_accuracy and x.num_images >= 5_000 and _gpu_at_least(x, 10),
        "ResNet-101 for {n}, {mem} and {want}: the ResNet-101 card says \"Choose ResNet-101 when: "
        "Dataset >5,000 images; Maximum CNN accuracy needed; Complex or fine-grained classification; "
        "Have 10GB+ GPU\".",
        "{want} with {n} and {mem} is what the ResNet-101 card asks for (\"Dataset >5,000 images; "
        "Maximum CNN accuracy needed\")"),
    DepthRule(
        "deep-fine-grained", "resnet101",
        lambda x: (x.priority == "accuracy" and x.task == "fine-grained"
                   and x.num_images >= CARDS["resnet101"].min_images and _gpu_at_least(x, 10)),
        "ResNet-101 for {n} with {want} on {mem}: the ResNet-101 card is for \"Complex or "
        "fine-grained classification requiring deep feature hierarchies\" and accepts \"Minimum: 2,000 "
        "images\", though under 5,000 it says \"Use cautiously - consider ResNet-50 instead\".",
        "{want} justify ResNet-101's depth from its \"Minimum: 2,000 images\" (ResNet-101 card)"),
    DepthRule(
        "default", "resnet50", lambda x: True,
        "ResNet-50 for {n} on {mem}: the ResNet-50 card says \"Choose ResNet-50 as your default "
        "model for most image classification tasks\" and the ResNet-18 card \"Choose ResNet-50 when: "
        "Dataset >1,000 images\".",
        "ResNet-50 is the cards' default from 1,000 images on a 6 GB+ GPU (ResNet-50 card: \"your "
        "default model for most image classification tasks\")"),
)


def choose_depth(x: _Inputs) -> DepthRule:
    for rule in DEPTH_RULES:
        if rule.applies(x):
            return rule
    raise AssertionError("the last depth rule always applies")


# ----- the public functions ----------------------------------------------------------------------

def recommend(num_images: int, num_classes: int, gpu_mem_gb: float | None, priority: str = "balanced",
              task: str = "simple", weights: str = "auto",
              weights_available: bool | Mapping[str, bool] = True, image_size: int | None = None,
              smallest_class: int | None = None, model: str | None = None, dataset_images: int | None = None,
              val_images: int | None = None, median_size: tuple[int, int] | None = None,
              largest_class: int | None = None, cpu_speeds: Sequence[CpuSpeed] = ()) -> Recommendation:
    """The model and settings the model cards advise for this dataset and hardware.

    num_images is the count the bands are read with: the images a run trains on (`training_images`
    of the dataset, or of the subset); dataset_images, the whole dataset, only names it in the
    reasons; val_images (default: the split that goes with num_images) sets patience's floor.
    image_size None: chosen (the cards' 224, never above what the images hold: median_size, the
    scan's median (width, height)); a number is the user's choice.
    gpu_mem_gb None means CPU. weights: auto | imagenet | none; with auto, weights_available (one
    bool, or per model: {"resnet50": True, ...}) decides. model forces the depth (the settings still
    follow its card). smallest_class and largest_class (images) decide class weighting. cpu_speeds:
    what this machine's CPU measured (cpu_speed.py); on a CPU plan the batch and image size follow
    the card unless that measurement says otherwise. Raises RecommendationError for inputs out of range.
    """
    asked_size = image_size
    image_size, size_reason = _image_size(asked_size, median_size)
    x = _validate(num_images, num_classes, gpu_mem_gb, priority, task, weights, image_size,
                  smallest_class, model, largest_class)
    x = dataclasses.replace(x, dataset_images=dataset_images)
    rule: DepthRule | None = choose_depth(x)
    if model is None or model == rule.model:
        model = rule.model
        model_reason = rule.reason.format(**x.fields())
    else:
        model_reason = f"{card(model).title} as asked (the wizard's own choice would be " \
                       f"{card(rule.model).title})."
        rule = None
    c = card(model)
    band = c.band_for(num_images)
    available = weights_available.get(model, False) if isinstance(weights_available, Mapping) \
        else bool(weights_available)
    pretrained = weights == "imagenet" or (weights == "auto" and available)

    why: dict[str, str] = {"model": f"{model_reason} {_band_verdict(c, band, x)} {x.count_explained()}"}
    warnings: list[str] = []

    batch_size, why["batch_size"] = _batch_size(c, band, x, image_size)
    epochs, why["epochs"] = _epochs(c, band, x)
    learning_rate, why["learning_rate"] = _learning_rate(c, band, x)
    augmentation, why["augmentation"] = band.augmentation, _augmentation_reason(c, band)
    why["fine_tune"] = (f"Fine-tune all layers: the {c.title} card's \"Fine-tuning Best Practices\" train "
                        f"the whole pretrained network, and in the {STUDY} {STUDY_FINE_TUNE_TEXT}.")
    why["weights"] = (f"ImageNet weights: the {c.title} card describes the model as \"Pre-trained on "
                      f"ImageNet-1k\" and its configurations are fine-tuning settings for those weights.")

    if not pretrained:
        epochs, learning_rate, augmentation = _adapt_for_random_init(
            c, x, weights, epochs, learning_rate, augmentation, why, warnings)
    elif weights == "imagenet" and not available:
        warnings.append(
            f"ImageNet weights for {c.title} were not found on this machine: training needs them. Put "
            f"torchvision's {c.title} ImageNet checkpoint in the torch hub cache (download it once where "
            f"there is internet access) or start from your own .pt/.pth file (weights 'A weights file I upload'; --weights PATH on the command line) — or choose weights "
            f"'none' for a plan that trains from scratch.")

    # The validation split early stopping watches: as given, else the one that goes with the count.
    if val_images is None:
        val_images = (split_sizes(dataset_images, DEFAULT_FRACTIONS)[1] if dataset_images
                      else _val_images(num_images))
    patience, why["patience"] = patience_advice(epochs, x.priority, val_images)
    why["eval_every"] = (f"Evaluate every epoch: the {c.title} card's Eval Steps tip says "
                         f"\"{c.eval_steps_text}\".")
    why["image_size"] = size_reason.format(card=c.title)
    speed = speed_for(cpu_speeds, model) if x.cpu else None
    if speed is not None:
        choice = follow_measurement(speed, batch_size, why["batch_size"], image_size, why["image_size"], epochs,
                                    num_images, x.priority, largest_batch(model, num_images, pretrained),
                                    choose_size=asked_size is None, batch_card_words=_cpu_batch_words(c, band, x))
        batch_size, why["batch_size"] = choice.batch_size, choice.batch_reason
        image_size, why["image_size"] = choice.image_size, choice.size_reason

    warnings[:0] = _warnings(c, band, x, smallest_class)
    class_balance, balance_reason = recommend_class_balance(smallest_class, largest_class)
    why = {name: why[name] for name in REASON_ORDER}
    return Recommendation(
        model=model, batch_size=batch_size, epochs=epochs, learning_rate=learning_rate,
        augmentation=augmentation, fine_tune=True, patience=patience, eval_every=c.eval_steps,
        image_size=image_size, weights="imagenet" if pretrained else "none",
        reasons=list(why.values()), warnings=warnings,
        alternatives=[{"model": other, "why_not": _why_not(card(other), c, rule, x)}
                      for other in MODELS if other != model],
        why=why, limits=card_limits(model, random_init=not pretrained),
        num_images=num_images, num_classes=num_classes, gpu_mem_gb=gpu_mem_gb,
        priority=priority, task=task, dataset_images=dataset_images, class_balance=class_balance,
        class_balance_reason=balance_reason,
    )


# ----- settings ----------------------------------------------------------------------------------

def _band_words(c: ModelCard, band: SizeBand, x: _Inputs) -> str:
    """"the ResNet-18 card's small-dataset configuration (Small Datasets (100-1,000 images))"."""
    if band.borrows_from:
        source = c.band(band.borrows_from)
        return (f"the {c.title} card's {source.name}-dataset configuration ({source.label}: "
                f"\"{source.config_text}\"; the card gives none for {band.label})")
    if not band.contains(x.num_images):  # below the card's smallest band: its nearest configuration
        return (f"the {c.title} card's smallest configuration ({band.label}: \"{band.config_text}\"; "
                f"{x.count} is below it and the card gives none for fewer)")
    return f"the {c.title} card's {band.name}-dataset configuration ({band.label}: \"{band.config_text}\")"


def _band_verdict(c: ModelCard, band: SizeBand, x: _Inputs) -> str:
    if not band.contains(x.num_images):
        return (f"{x.count[0].upper()}{x.count[1:]} is below the {c.title} card's smallest dataset size "
                f"({band.label}), so its verdict on that size does not apply here.")
    quotes = "; ".join(f"\"{line}\"" for line in (band.verdict, *band.advice))
    return f"The {c.title} card on {band.label}: {quotes}."


def format_number(v: float) -> str:
    """Numbers as the cards write them: 5e-5, 1e-3, 32."""
    if 0 < abs(v) < 0.01:
        mantissa, exponent = f"{v:e}".split("e")
        return f"{float(mantissa):g}e{int(exponent)}"
    return f"{v:g}"


def _range(lo: float, hi: float) -> str:
    return format_number(lo) if lo == hi else f"{format_number(lo)}-{format_number(hi)}"


def _batch_size(c: ModelCard, band: SizeBand, x: _Inputs, image_size: int) -> tuple[int, str]:
    band_lo, band_hi = band.batch_size
    if x.cpu:
        cpu_card = c if c.cpu_batch_size else RESNET18
        fit_lo, fit_hi = cpu_card.cpu_batch_size
        fit = f"the {cpu_card.title} card says \"Reduce batch_size to {fit_lo}-{fit_hi} for CPU\""
    else:
        row = c.memory_row(x.gpu_mem_gb)
        fit_lo, fit_hi = row.batch_size
        fit = f"the {c.title} card recommends \"{fit_lo}-{fit_hi} for {row.label}\""
        if not meets_memory(x.gpu_mem_gb, row.min_gb):
            fit_hi = fit_lo  # below the smallest row: stay at its low end
            fit += f"; this {_gb(x.gpu_mem_gb)} GPU is below that row, so its low end {fit_lo} is used"
    if image_size > DEFAULT_IMAGE_SIZE:
        # The rows assume 224 px; activations grow with the pixel count.
        scaled = _floor_pow2(fit_hi * (DEFAULT_IMAGE_SIZE / image_size) ** 2)
        fit += (f"; the rows assume 224 px images and {image_size} px has "
                f"{(image_size / DEFAULT_IMAGE_SIZE) ** 2:.1f}x the pixels, so at most {scaled}")
        fit_hi, fit_lo = scaled, min(fit_lo, scaled)
    config = _band_words(c, band, x)
    if band_lo > fit_hi:
        value = fit_hi
        text = (f"Batch size {value}: {fit}; {config} uses {_range(band_lo, band_hi)}, but the cards "
                f"conflict here and memory wins, since a batch that does not fit cannot train.")
    else:
        value = min(band_hi, fit_hi)
        text = f"Batch size {value}: {fit}; {config} uses {_range(band_lo, band_hi)}."
        if band_hi < fit_hi:
            text += f" Up to {fit_hi} would fit, but the configuration for this dataset size is kept."
    lo, hi = card_limits(c.model)["batch_size"]
    if not lo <= value <= hi:
        value = min(max(value, lo), hi)
        text += f" Kept within the card's \"Range: {lo}-{hi}\": {value}."
    if value > x.num_images:
        value = x.num_images
        text += (f" Lowered to {value}: a batch cannot hold more than the {x.count} (the training "
                 f"split).")
    return value, text


def _cpu_batch_words(c: ModelCard, band: SizeBand, x: _Inputs) -> str:
    """What the cards say about a batch on a CPU: the CPU tip, then the dataset-size configuration."""
    cpu_card = c if c.cpu_batch_size else RESNET18
    lo, hi = cpu_card.cpu_batch_size
    return (f"the {cpu_card.title} card says \"Reduce batch_size to {lo}-{hi} for CPU\" and "
            f"{_band_words(c, band, x)} uses {_range(*band.batch_size)}")


def _floor_pow2(v: float) -> int:
    return 1 if v < 2 else 2 ** int(math.log2(v))


def _pick(lo: int, hi: int, priority: str) -> tuple[int, str]:
    if lo == hi:
        return lo, ""
    if priority == "speed":
        return lo, "speed priority takes the low end"
    if priority == "accuracy":
        return hi, "accuracy priority takes the high end"
    return (lo + hi + 1) // 2, "balanced priority takes the middle"


def _epochs(c: ModelCard, band: SizeBand, x: _Inputs) -> tuple[int, str]:
    lo, hi = band.epochs
    value, how = _pick(lo, hi, x.priority)
    return value, f"Epochs {value}: {_band_words(c, band, x)} says epochs={lo}-{hi}; {how}."


def _learning_rate(c: ModelCard, band: SizeBand, x: _Inputs) -> tuple[float, str]:
    lo, hi = band.learning_rate
    text = f"{_band_words(c, band, x)} says learning_rate={_range(lo, hi)}"
    if lo == hi:
        return lo, f"Learning rate {format_number(lo)}: {text}."
    # Only ResNet-18's medium band gives a range; its Learning Rate tips say which end when.
    if x.num_images >= LARGER_MEDIUM or x.num_classes >= MANY_CLASSES:
        return hi, (f"Learning rate {format_number(hi)}: {text}, and the card's Learning Rate tips say "
                    f"\"{format_number(hi)} for larger datasets or many classes\" ({x.count}, "
                    f"{x.num_classes} classes).")
    return lo, (f"Learning rate {format_number(lo)}: {text}, and the card's Learning Rate tips say "
                f"\"{format_number(lo)} standard fine-tuning\" (1e-4 is for larger datasets or many "
                f"classes).")


def _augmentation_reason(c: ModelCard, band: SizeBand) -> str:
    return (f"Augmentation {band.augmentation}: the {c.title} card on {band.label} says "
            f"\"{band.augmentation_text}\"; the {STUDY} notes {STUDY_AUGMENTATION_TEXT}.")


# Fewest evaluations early stopping waits: one bad evaluation on a small, noisy validation split
# must not end a run. Fewer than SMALL_VAL_IMAGES validation images is "small".
MIN_PATIENCE, MIN_PATIENCE_SMALL_VAL, SMALL_VAL_IMAGES = 2, 3, 100


def patience_for(epochs: int, priority: str = "balanced", val_images: int | None = None) -> int:
    """Early-stopping patience for a given number of epochs (the study's 10–20%, with a floor)."""
    return patience_advice(epochs, priority, val_images)[0]


def study_patience(epochs: int, priority: str) -> int:
    """The priority's share of the epochs, kept inside the study's 10–20% (no floor yet)."""
    value = math.floor(epochs * PATIENCE_SHARE[priority] + 0.5)
    lo, hi = math.ceil(epochs * STUDY_PATIENCE[0]), math.floor(epochs * STUDY_PATIENCE[1])
    return min(max(value, lo), hi) if lo <= hi else value


def patience_floor(val_images: int | None) -> tuple[int, str]:
    """(fewest evaluations early stopping waits, why): more on a small validation split."""
    if val_images is not None and val_images < SMALL_VAL_IMAGES:
        return MIN_PATIENCE_SMALL_VAL, f"the validation split has only {val_images} images, so one evaluation is noisy"
    return MIN_PATIENCE, "one unlucky evaluation must not end the run"


def patience_advice(epochs: int, priority: str = "balanced", val_images: int | None = None) -> tuple[int, str]:
    """(patience, reason): the study's share of the epochs, raised to the floor where it is below it."""
    value = study_patience(epochs, priority)
    floor, why = patience_floor(val_images)
    shown = max(value, floor)
    text = (f"Patience {shown}: the {STUDY} says \"{STUDY_PATIENCE_TEXT}\"; {priority} priority "
            f"takes {PATIENCE_SHARE[priority]:.0%} of {epochs} epochs")
    if value < floor:
        text += f", raised to {floor} evaluations because {why}"
    text += f". Early stopping watches validation loss, as the study advises: {STUDY_VAL_LOSS_TEXT}."
    return shown, text


def _image_size(asked: int | None, median_size: tuple[int, int] | None) -> tuple[int, str]:
    """(size, reason with {card} to fill in). Chosen: the cards' 224, but never more than the images'
    median short side: a larger input only enlarges them, costing time and memory for no new detail."""
    card_words = "the {card} card's Specifications say \"Input: 224x224 RGB\""
    if asked is not None:
        if asked == DEFAULT_IMAGE_SIZE:
            return asked, f"Image size 224: {card_words}."
        return asked, (f"Image size {asked}, as asked; the {{card}} card's Specifications assume \"Input: "
                       f"224x224 RGB\", so expect the card's speed and memory figures to shift.")
    if median_size and min(median_size) < DEFAULT_IMAGE_SIZE:
        width, height = median_size
        size = max(LIMITS["image_size"][0], min(median_size))
        return size, (f"Image size {size}: {card_words}, but the images are only {width} × {height} px "
                      f"(median), and the crop is square on the short side; a larger input would only "
                      f"enlarge them, adding pixels and training time but no detail.")
    held = f" (the images' median is {median_size[0]} × {median_size[1]} px)" if median_size else ""
    return DEFAULT_IMAGE_SIZE, f"Image size 224: {card_words}{held}."


def _adapt_for_random_init(c: ModelCard, x: _Inputs, weights: str, epochs: int, learning_rate: float,
                           augmentation: str, why: dict[str, str],
                           warnings: list[str]) -> tuple[int, float, str]:
    """The cards' fine-tuning settings assume ImageNet weights; from scratch they need changing."""
    cause = "as asked (weights 'none')" if weights == "none" else \
        f"because ImageNet weights for {c.title} are not available on this machine"
    why["weights"] = (f"Random initialisation {cause}: the {c.title} card's configurations fine-tune a "
                      f"model \"Pre-trained on ImageNet-1k\" and do not hold from scratch, so the learning "
                      f"rate, epochs and augmentation below are adapted.")
    lr_lo, lr_hi = card_limits(c.model)["learning_rate"]  # the card's own, fine-tuning range
    card_range = f"\"Range: {format_number(lr_lo)} to {format_number(lr_hi)}\""
    range_note = (f"within the card's {card_range}" if RANDOM_INIT_LR <= lr_hi else
                  f"above the card's {card_range}, which is a fine-tuning range, so the limits widen to "
                  f"{format_number(RANDOM_INIT_LR)} for random initialisation")
    why["learning_rate"] = (f"Learning rate {format_number(RANDOM_INIT_LR)} (AdamW) instead of the "
                            f"{c.title} card's {format_number(learning_rate)}: the card's rates are for "
                            f"fine-tuning pretrained weights; a network learning from scratch needs larger "
                            f"steps ({range_note}).")
    ep_max = card_limits(c.model, random_init=True)["epochs"][1]
    new_epochs = min(epochs * RANDOM_INIT_EPOCH_FACTOR, ep_max)
    capped = f" (capped at {ep_max}, twice the card's range)" if new_epochs < epochs * 2 else ""
    why["epochs"] = (f"Epochs {new_epochs} instead of the card's {epochs}: from scratch the network has "
                     f"everything to learn, and the {c.title} card's \"{c.train_longer_text}\" applies"
                     f"{capped}.")
    level = AUGMENTATIONS.index(augmentation)
    stronger = AUGMENTATIONS[min(level + 1, len(AUGMENTATIONS) - 1)]
    if stronger == augmentation:
        why["augmentation"] += " It stays heavy without pretrained weights: that is already the strongest."
    else:
        why["augmentation"] = (f"Augmentation {stronger} (one level above the {c.title} card's "
                               f"{augmentation}): without pretrained features the network overfits sooner, "
                               f"and the {STUDY} notes {STUDY_AUGMENTATION_TEXT}.")
    why["fine_tune"] = (f"Fine-tune all layers, always without pretrained weights: a frozen random backbone "
                        f"learns nothing (the {c.title} card's advice assumes a backbone \"Pre-trained on "
                        f"ImageNet-1k\").")
    warnings.append(
        f"Training from random initialisation: every card assumes ImageNet-pretrained weights, which "
        f"would help a lot on {x.count}. To add them, put torchvision's {c.title} ImageNet "
        f"checkpoint in the torch hub cache (download it once where there is internet access) or train "
        f"start from your own .pt/.pth file (weights 'A weights file I upload'; --weights PATH on the "
        f"command line).")
    return new_epochs, RANDOM_INIT_LR, stronger


# ----- warnings and alternatives -----------------------------------------------------------------

def _warnings(c: ModelCard, band: SizeBand, x: _Inputs, smallest_class: int | None) -> list[str]:
    out = []
    if x.num_classes < 2:
        out.append(f"{x.num_classes} class{'es' if x.num_classes != 1 else ''} found: a classifier needs at "
                   f"least 2. Put each class's images in its own subfolder (the ResNet-18 card: "
                   f"\"Subfolder names are class labels\").")
    if x.num_images < c.min_images:
        out.append(f"{x.count} is below the {c.title} card's \"{c.min_images_text}\"; "
                   f"expect weak results — collect more images.")
    per_class = RESNET18.min_per_class
    if smallest_class is not None and smallest_class < per_class:
        out.append(f"The smallest class has {smallest_class} image{'s' if smallest_class != 1 else ''}, "
                   f"below the ResNet-18 card's \"Minimum: 100 images (10-20 per class)\"; add images to "
                   f"that class.")
    if x.cpu:
        if c.model != "resnet18":
            out.append(f"{c.title} on CPU: the {c.title} card says \"{c.cpu_text}\".")
        limit = c.cpu_max_images
        if limit is not None and x.num_images >= limit:
            out.append(f"{x.count} on CPU: the {c.title} card says \"{c.cpu_text}\". Expect a "
                       f"long run — use a GPU, or train on a subset (max_train_images).")
    elif not meets_memory(x.gpu_mem_gb, c.min_gpu_gb):
        out.append(f"{_gb(x.gpu_mem_gb)} of GPU memory is below the {c.title} card's minimum configuration "
                   f"(\"{c.min_gpu_text}\"); training may run out of memory — lower the batch size or "
                   f"use a smaller model.")
    if band.caution and band.contains(x.num_images):
        out.append(f"The {c.title} card on {band.label}: \"{band.verdict}\"; "
                   + "; ".join(f"\"{a}\"" for a in band.advice) + ".")
    if x.task == "fine-grained" and c.model == "resnet18":
        out.append("Fine-grained task on ResNet-18: the ResNet-18 card lists \"Limited capacity: May "
                   "struggle with very complex or fine-grained classification\"; consider ResNet-50 if "
                   "accuracy falls short.")
    return out


def _blocker(other: ModelCard, x: _Inputs) -> str | None:
    """A hard reason from the other model's own card (hardware or data) not to use it."""
    if x.cpu and other.model != "resnet18":
        return f"No GPU: the {other.title} card says CPU training is \"{other.cpu_text}\"."
    if not x.cpu and not meets_memory(x.gpu_mem_gb, other.min_gpu_gb):
        return (f"{_gb(x.gpu_mem_gb)} of GPU memory is below the {other.title} card's minimum "
                f"(\"{other.min_gpu_text}\").")
    if x.num_images < other.min_images:
        return f"{x.count} is below the {other.title} card's \"{other.min_images_text}\"."
    return None


def _why_not(other: ModelCard, chosen: ModelCard, rule: DepthRule | None, x: _Inputs) -> str:
    blocker = _blocker(other, x)
    if blocker:
        return blocker
    lead = (f"{chosen.title} was asked for" if rule is None
            else f"{chosen.title} was chosen: {rule.summary.format(**x.fields())}")
    return f"{lead}. The {other.title} card suggests it when: {other.choose_when}."


# ----- input checks ------------------------------------------------------------------------------

def _validate(num_images: Any, num_classes: Any, gpu_mem_gb: Any, priority: Any, task: Any,
              weights: Any, image_size: Any, smallest_class: Any, model: Any,
              largest_class: Any = None) -> _Inputs:
    problems = []
    if not _is_int(num_images) or num_images < 1:
        problems.append(f"num_images must be a whole number of at least 1, got {num_images!r}: "
                        f"the dataset needs images in class subfolders")
    if not _is_int(num_classes) or num_classes < 0:
        problems.append(f"num_classes must be a whole number of at least 0, got {num_classes!r}")
    if gpu_mem_gb is not None and (isinstance(gpu_mem_gb, bool) or not isinstance(gpu_mem_gb, (int, float))
                                   or not math.isfinite(gpu_mem_gb) or gpu_mem_gb <= 0):
        problems.append(f"gpu_mem_gb must be a positive number of GB, or None for CPU; got {gpu_mem_gb!r}")
    for name, value, allowed in (("priority", priority, PRIORITIES), ("task", task, TASK_KINDS),
                                 ("weights", weights, WEIGHT_CHOICES)):
        if value not in allowed:
            problems.append(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    lo, hi = LIMITS["image_size"]
    if not _is_int(image_size) or not lo <= image_size <= hi:
        problems.append(f"image_size must be a whole number between {lo} and {hi}, got {image_size!r}")
    if smallest_class is not None and (not _is_int(smallest_class) or smallest_class < 0):
        problems.append(f"smallest_class must be a whole number of at least 0, got {smallest_class!r}")
    if largest_class is not None and (not _is_int(largest_class) or largest_class < 0):
        problems.append(f"largest_class must be a whole number of at least 0, got {largest_class!r}")
    if model is not None and model not in MODELS:
        problems.append(f"model must be one of {', '.join(MODELS)}; got {model!r}")
    if problems:
        raise RecommendationError("; ".join(problems))
    return _Inputs(num_images, num_classes, None if gpu_mem_gb is None else float(gpu_mem_gb),
                   priority, task)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
