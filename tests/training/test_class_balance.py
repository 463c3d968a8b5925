"""Class-weighted cross-entropy and the balanced sampler: on a 10:1 imbalanced dataset each raises
balanced accuracy."""
from __future__ import annotations

import pytest
import torch

from resnet_core.config import ConfigError, TrainConfig
from resnet_core.data.imbalanced import IMBALANCED_PX, imbalanced_training_data
from resnet_core.data.prepare import TrainingData
from resnet_core.results.metrics import BALANCED_ACC, run_scores
from resnet_core.training.engine import balanced_order, class_loss_weights, fit


def balanced_accuracy_of(class_balance: str, data: TrainingData, seed: int) -> float:
    config = TrainConfig(dataset="imbalanced", weights="none", fine_tune=False, augmentation="none",
                         epochs=20, batch_size=32, learning_rate=1e-2, patience=20, image_size=IMBALANCED_PX,
                         seed=seed, device="cpu", class_balance=class_balance)
    result = fit(config, data)
    return run_scores(result.test_report)[BALANCED_ACC]


@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_loss_and_the_balanced_sampler_raise_balanced_accuracy_on_a_10_to_1_dataset(
        seed, offline_torch_home):
    data = imbalanced_training_data(seed)
    plain = balanced_accuracy_of("none", data, seed)
    weighted = balanced_accuracy_of("weighted_loss", data, seed)
    sampled = balanced_accuracy_of("balanced_sampler", data, seed)
    assert weighted >= plain + 0.05, (plain, weighted)
    assert sampled >= plain + 0.05, (plain, sampled)


def test_the_balanced_sampler_draws_every_class_about_as_often():
    labels = torch.tensor([0] * 110 + [1] * 10)
    rows = torch.arange(1000, 1120)
    order = balanced_order(rows, labels, torch.Generator().manual_seed(0))
    assert len(order) == 120 and set(order.tolist()) <= set(rows.tolist())
    small = int((order >= 1110).sum())
    assert 40 <= small <= 80  # half of 120 expected; unbalanced it would be 10


def test_loss_weights_make_every_class_weigh_the_same():
    weights = class_loss_weights(torch.tensor([0] * 100 + [1] * 10 + [2] * 40), 4)
    assert weights.tolist() == pytest.approx([150 / 400, 150 / 40, 150 / 160, 0.0])
    counts = torch.tensor([100, 10, 40, 0])
    assert (weights * counts)[:3].tolist() == pytest.approx([37.5] * 3)


def test_class_balance_is_checked():
    with pytest.raises(ConfigError, match="class_balance must be one of none, weighted_loss"):
        TrainConfig(dataset="d", class_balance="oversample")
    assert TrainConfig.from_dict({"dataset": "d"}).class_balance == "none"  # older configs
