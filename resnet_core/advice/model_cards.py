"""The three ResNet model cards and the cost-performance study, transcribed as data.

Every number the wizard uses comes from here, next to the card's own words, so a reason can quote
the tip it follows. Nothing here decides anything; recommend.py reads these tables.
"""
from __future__ import annotations

from dataclasses import dataclass

# GPUs report a little less memory than their nominal size (an "8GB" card shows about 7.8 GB and an
# "80GB" H100 about 79 GB), so a card's "8GB GPU" row counts as met within this fraction.
MEMORY_SLACK = 0.07


def meets_memory(memory_gb: float, needed_gb: float) -> bool:
    """True when a GPU with memory_gb counts as the card's needed_gb (allowing MEMORY_SLACK)."""
    return memory_gb >= needed_gb * (1 - MEMORY_SLACK)


@dataclass(frozen=True)
class MemoryRow:
    """One line of a card's batch-size recommendation, e.g. "32-64 for 8GB GPU"."""

    min_gb: float  # the row applies from this much GPU memory up to the next row
    label: str  # the card's words for the memory: "8GB GPU"
    batch_size: tuple[int, int]


@dataclass(frozen=True)
class SizeBand:
    """One "Dataset Size Recommendations" entry of a card's Configuration Tips."""

    name: str  # tiny | small | medium | large | very large
    label: str  # the card's heading, e.g. "Small Datasets (100-1,000 images)"
    min_images: int  # inclusive
    max_images: int | None  # exclusive; None: no upper bound
    learning_rate: tuple[float, float]  # (lo, hi); lo == hi when the card names one value
    epochs: tuple[int, int]
    batch_size: tuple[int, int]
    augmentation: str  # none | light | standard | heavy ("Maximum data augmentation" is heavy)
    config_text: str  # the card's "Configuration: ..." line, verbatim
    augmentation_text: str  # the card's augmentation line, verbatim
    verdict: str  # the card's first line for the band, e.g. "Excellent choice - optimal model ..."
    advice: tuple[str, ...] = ()  # the band's other prose lines
    caution: bool = False  # the verdict itself warns (e.g. "Use cautiously - consider ResNet-50")
    # Bands the card describes without a configuration borrow the next smaller band's numbers.
    borrows_from: str | None = None

    def contains(self, num_images: int) -> bool:
        return num_images >= self.min_images and (self.max_images is None or num_images < self.max_images)


@dataclass(frozen=True)
class ModelCard:
    model: str  # resnet18 | resnet50 | resnet101 (config.MODELS)
    title: str  # "ResNet-18", as the card names itself
    layers: int
    parameters_m: float  # millions
    summary: str
    min_images: int
    min_images_text: str
    optimal_images_text: str | None
    min_per_class: int | None  # only the ResNet-18 card gives one ("10-20 per class")
    batch_size_range: tuple[int, int]
    batch_size_default: int
    memory_rows: tuple[MemoryRow, ...]  # ascending min_gb
    cpu_batch_size: tuple[int, int] | None  # None: the card gives no CPU batch size
    min_gpu_gb: float  # the lowest memory the card's minimum configuration accepts
    min_gpu_text: str
    recommended_gpu_text: str
    cpu_viable: bool
    cpu_max_images: int | None  # the card's "practical for"/"only for" limit on CPU
    cpu_text: str
    epochs_range: tuple[int, int]
    epochs_default: int
    learning_rate_range: tuple[float, float]
    learning_rate_default: float
    learning_rate_text: str  # the card's learning-rate recommendations
    eval_steps: int
    eval_steps_text: str
    bands: tuple[SizeBand, ...]  # ascending
    choose_when: str  # when the cards say to pick this model over its neighbours
    speed_text: str
    train_longer_text: str  # the card's advice when a model learns too little

    def band_for(self, num_images: int) -> SizeBand:
        """The dataset-size band that holds num_images; below the first band, the first band."""
        for band in self.bands:
            if band.contains(num_images):
                return band
        return self.bands[0]

    def band(self, name: str) -> SizeBand:
        for band in self.bands:
            if band.name == name:
                return band
        raise KeyError(f"{self.title} card has no {name!r} band")

    def memory_row(self, memory_gb: float) -> MemoryRow:
        """The highest row this GPU meets; below every row, the lowest one."""
        chosen = self.memory_rows[0]
        for row in self.memory_rows:
            if meets_memory(memory_gb, row.min_gb):
                chosen = row
        return chosen


RESNET18 = ModelCard(
    model="resnet18",
    title="ResNet-18",
    layers=18,
    parameters_m=11.7,
    summary="Lightweight 18-layer Residual Network for fast and efficient image classification",
    min_images=100,
    min_images_text="Minimum: 100 images (10-20 per class) for basic functionality",
    optimal_images_text="Small to medium datasets (100-5,000 images) where larger models would overfit",
    min_per_class=10,
    batch_size_range=(1, 128),
    batch_size_default=8,
    memory_rows=(
        MemoryRow(4, "4GB GPU", (8, 16)),
        MemoryRow(8, "8GB GPU", (32, 64)),
        MemoryRow(16, "16GB+ GPU", (64, 128)),
    ),
    cpu_batch_size=(4, 8),
    min_gpu_gb=2,
    min_gpu_text="GPU: 2-4GB VRAM (any modern NVIDIA GPU)",
    recommended_gpu_text="GPU: 4-8GB VRAM (GTX 1650 or better)",
    cpu_viable=True,
    cpu_max_images=1_000,
    cpu_text="Viable option - ResNet-18 can train on CPU; 5-15x slower than GPU but usable; "
             "Practical for datasets <1,000 images; Reduce batch_size to 4-8 for CPU",
    epochs_range=(1, 50),
    epochs_default=1,
    learning_rate_range=(1e-5, 1e-3),
    learning_rate_default=5e-5,
    learning_rate_text="5e-5 standard fine-tuning; 1e-4 for larger datasets or many classes; "
                       "1e-5 for tiny datasets",
    eval_steps=1,
    eval_steps_text="Keep at 1 for epoch-level monitoring",
    bands=(
        SizeBand("tiny", "Tiny Datasets (<100 images)", 0, 100,
                 learning_rate=(1e-5, 1e-5), epochs=(30, 50), batch_size=(4, 4), augmentation="heavy",
                 config_text="learning_rate=1e-5, epochs=30-50, batch_size=4",
                 augmentation_text="Maximum data augmentation (rotation, flip, crop, color)",
                 verdict="Best choice among deep learning models",
                 advice=("Still may want to consider classical ML methods",)),
        SizeBand("small", "Small Datasets (100-1,000 images)", 100, 1_000,
                 learning_rate=(5e-5, 5e-5), epochs=(15, 25), batch_size=(8, 16), augmentation="heavy",
                 config_text="learning_rate=5e-5, epochs=15-25, batch_size=8-16",
                 augmentation_text="Heavy augmentation (flip, rotation, crop, brightness)",
                 verdict="Excellent choice - optimal model for this range",
                 advice=("Expect good generalization",)),
        SizeBand("medium", "Medium Datasets (1,000-10,000 images)", 1_000, 10_000,
                 learning_rate=(5e-5, 1e-4), epochs=(5, 15), batch_size=(32, 32), augmentation="standard",
                 config_text="learning_rate=5e-5 to 1e-4, epochs=5-15, batch_size=32",
                 augmentation_text="Standard augmentation",
                 verdict="Good choice - reliable and fast",
                 advice=("Consider ResNet-50 if accuracy is more important than speed",)),
        SizeBand("large", "Large Datasets (>10,000 images)", 10_000, None,
                 learning_rate=(1e-4, 1e-4), epochs=(3, 10), batch_size=(64, 64), augmentation="light",
                 config_text="learning_rate=1e-4, epochs=3-10, batch_size=64",
                 augmentation_text="Light augmentation",
                 verdict="Acceptable but not optimal - consider ResNet-50 or ViT models",
                 advice=("Use ResNet-18 if speed is paramount, otherwise upgrade model",),
                 caution=True),
    ),
    choose_when="Dataset <1,000 images; Training time critical; Need fastest inference; "
                "Model size matters; CPU training/inference",
    speed_text="Very fast training: Trains 3-5x faster than ViT models, 2x faster than ResNet-50",
    train_longer_text="Underfitting: Train for more epochs (double current value)",
)

RESNET50 = ModelCard(
    model="resnet50",
    title="ResNet-50",
    layers=50,
    parameters_m=25.6,
    summary="Popular 50-layer Residual Network offering excellent balance of accuracy and efficiency",
    min_images=500,
    min_images_text="Minimum: 500 images for acceptable results",
    optimal_images_text="Optimal: 1,000+ images per class",
    min_per_class=None,
    batch_size_range=(2, 64),
    batch_size_default=4,
    memory_rows=(
        MemoryRow(8, "8GB GPU", (4, 8)),
        MemoryRow(16, "16GB GPU", (16, 32)),
        MemoryRow(24, "24GB+ GPU", (32, 64)),
    ),
    cpu_batch_size=None,
    min_gpu_gb=6,
    min_gpu_text="GPU: 6GB VRAM (GTX 1060 or better)",
    recommended_gpu_text="GPU: 8-12GB VRAM (RTX 3060/4060 or better)",
    cpu_viable=False,
    cpu_max_images=500,
    cpu_text="Possible but slow (10-30x slower than GPU); Only for small datasets (<500 images); "
             "Not recommended for production workflows",
    epochs_range=(1, 30),
    epochs_default=1,
    learning_rate_range=(1e-5, 5e-4),
    learning_rate_default=5e-5,
    learning_rate_text="5e-5 for standard fine-tuning; 1e-4 for large datasets (>10k images); "
                       "2e-5 for small datasets (<1k images)",
    eval_steps=1,
    eval_steps_text="1 for epoch-level monitoring",
    bands=(
        SizeBand("small", "Small Datasets (500-1,000 images)", 500, 1_000,
                 learning_rate=(2e-5, 2e-5), epochs=(15, 20), batch_size=(8, 8), augmentation="heavy",
                 config_text="learning_rate=2e-5, epochs=15-20, batch_size=8",
                 augmentation_text="Use heavy augmentation",
                 verdict="Good choice but watch for overfitting",
                 advice=("Consider ResNet-18 if overfitting persists",),
                 caution=True),
        SizeBand("medium", "Medium Datasets (1,000-10,000 images)", 1_000, 10_000,
                 learning_rate=(5e-5, 5e-5), epochs=(5, 10), batch_size=(16, 16), augmentation="standard",
                 config_text="learning_rate=5e-5, epochs=5-10, batch_size=16",
                 augmentation_text="Standard augmentation",
                 verdict="Excellent choice - optimal range for ResNet-50",
                 advice=("Expect strong performance",)),
        SizeBand("large", "Large Datasets (10,000-50,000 images)", 10_000, 50_000,
                 learning_rate=(1e-4, 1e-4), epochs=(3, 5), batch_size=(32, 32), augmentation="light",
                 config_text="learning_rate=1e-4, epochs=3-5, batch_size=32",
                 augmentation_text="Light augmentation",
                 verdict="Great choice - ResNet-50 performs well here",
                 advice=("Consider ViT Base if accuracy is critical",)),
        SizeBand("very large", "Very Large Datasets (>50,000 images)", 50_000, None,
                 learning_rate=(1e-4, 1e-4), epochs=(3, 5), batch_size=(32, 32), augmentation="light",
                 config_text="(none given; the large-dataset configuration applies: "
                             "learning_rate=1e-4, epochs=3-5, batch_size=32)",
                 augmentation_text="Light augmentation (from the large-dataset configuration)",
                 verdict="Good but consider alternatives",
                 advice=("ViT models may provide 2-3% better accuracy",
                         "Use ResNet-50 if inference speed important"),
                 borrows_from="large"),
    ),
    choose_when="Dataset >1,000 images; Accuracy more important than speed; Have GPU available; "
                "Complex or fine-grained classification; Can afford 2x longer training",
    speed_text="Reasonable speed: 2-3x faster training than ViT Base",
    train_longer_text="Poor Final Accuracy: Train longer (double epochs)",
)

RESNET101 = ModelCard(
    model="resnet101",
    title="ResNet-101",
    layers=101,
    parameters_m=44.5,
    summary="Deep 101-layer Residual Network for maximum CNN accuracy",
    min_images=2_000,
    min_images_text="Minimum: 2,000 images (overfitting likely below this)",
    optimal_images_text="Optimal: 5,000+ images",
    min_per_class=None,
    batch_size_range=(2, 32),
    batch_size_default=4,
    memory_rows=(
        MemoryRow(8, "8-12GB GPU", (4, 8)),
        MemoryRow(16, "16GB GPU", (8, 16)),
        MemoryRow(24, "24GB+ GPU", (16, 32)),
    ),
    cpu_batch_size=None,
    min_gpu_gb=10,
    min_gpu_text="GPU: 10GB VRAM (RTX 3080 or better)",
    recommended_gpu_text="GPU: 12-16GB VRAM (RTX 3090/4090 or better)",
    cpu_viable=False,
    cpu_max_images=None,
    cpu_text="Not recommended - extremely slow; Would take days for single epoch; "
             "GPU required for practical use",
    epochs_range=(1, 20),
    epochs_default=1,
    learning_rate_range=(1e-5, 1e-4),
    learning_rate_default=5e-5,
    learning_rate_text="5e-5 for standard fine-tuning; 1e-4 for large datasets; "
                       "2e-5 for datasets near minimum size",
    eval_steps=1,
    eval_steps_text="1 for careful monitoring",
    bands=(
        SizeBand("small", "Small Datasets (2,000-5,000 images)", 2_000, 5_000,
                 learning_rate=(2e-5, 2e-5), epochs=(10, 15), batch_size=(8, 8), augmentation="heavy",
                 config_text="learning_rate=2e-5, epochs=10-15, batch_size=8",
                 augmentation_text="Heavy augmentation essential",
                 verdict="Use cautiously - consider ResNet-50 instead",
                 advice=("Monitor closely for overfitting",),
                 caution=True),
        SizeBand("medium", "Medium Datasets (5,000-20,000 images)", 5_000, 20_000,
                 learning_rate=(5e-5, 5e-5), epochs=(5, 8), batch_size=(16, 16), augmentation="standard",
                 config_text="learning_rate=5e-5, epochs=5-8, batch_size=16",
                 augmentation_text="Standard augmentation",
                 verdict="Excellent choice - optimal range",
                 advice=("Expect 2-3% improvement over ResNet-50",)),
        SizeBand("large", "Large Datasets (20,000-100,000 images)", 20_000, 100_000,
                 learning_rate=(1e-4, 1e-4), epochs=(3, 5), batch_size=(16, 32), augmentation="light",
                 config_text="learning_rate=1e-4, epochs=3-5, batch_size=16-32",
                 augmentation_text="Light augmentation",
                 verdict="Great choice - ResNet-101 excels here",
                 advice=("Strong performance vs transformers with faster inference",)),
        SizeBand("very large", "Very Large Datasets (>100,000 images)", 100_000, None,
                 learning_rate=(1e-4, 1e-4), epochs=(3, 5), batch_size=(16, 32), augmentation="light",
                 config_text="(none given; the large-dataset configuration applies: "
                             "learning_rate=1e-4, epochs=3-5, batch_size=16-32)",
                 augmentation_text="Light augmentation (from the large-dataset configuration)",
                 verdict="Good but consider ViT Large for maximum accuracy",
                 advice=("ResNet-101 still valuable for faster inference",
                         "May be 1-2% behind transformers"),
                 borrows_from="large"),
    ),
    choose_when="Dataset >5,000 images; Maximum CNN accuracy needed; Complex or fine-grained "
                "classification; Have 10GB+ GPU; 2x training time acceptable",
    speed_text="Slower than lighter models: 2x training time of ResNet-50, 4x of ResNet-18",
    train_longer_text="Marginal Improvement Over ResNet-50: Train longer (more epochs)",
)

CARDS: dict[str, ModelCard] = {c.model: c for c in (RESNET18, RESNET50, RESNET101)}


def card(model: str) -> ModelCard:
    try:
        return CARDS[model]
    except KeyError:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(CARDS)}") from None


# The cost-performance study's findings the wizard leans on (its tables, summarised in its words).
STUDY = "cost-performance study"
STUDY_PATIENCE = (0.10, 0.20)  # "Patience should be 10-20% of the total epochs."
STUDY_PATIENCE_TEXT = "Patience should be 10–20% of the total epochs"
STUDY_VAL_LOSS_TEXT = ("Using Val loss is better, especially when the class is not balanced "
                       "(validation accuracy makes the model prefer the dominant class)")
STUDY_AUGMENTATION_TEXT = ("augmentation effectively creates \"new\" training samples by introducing "
                           "variations, making the model more robust")
# Its top-ranked rows at each dataset size all fine-tune (rank 1: ResNet50 + fine-tuning +
# Augmentation at 833 and 2,280 images, ResNet18 + fine-tuning + Augmentation at 19,104).
STUDY_FINE_TUNE_TEXT = ("every top-ranked row fine-tunes: rank 1 is ResNet50 + fine-tuning + "
                        "Augmentation at 833 and 2,280 images and ResNet18 + fine-tuning + "
                        "Augmentation at 19,104 images")
STUDY_SMALL_RESNET50_TEXT = ("at 833 images ResNet50 + fine-tuning + Augmentation ranks 1st "
                             "(test accuracy 0.80 against 0.77 for the best ResNet18 row)")
