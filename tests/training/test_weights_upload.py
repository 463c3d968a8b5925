"""Checking an uploaded weights file the moment it is chosen, before any run exists."""
from __future__ import annotations

import random

import pytest
import torch
import torchvision

from resnet_core.training.models import WeightsError
from resnet_core.training.weights_upload import check_weights_file, save_weights_upload


def resnet18_file(workspace, name: str = "r18.pt"):
    torch.manual_seed(0)
    state = torchvision.models.resnet18(weights=None).state_dict()
    path = workspace.root / "scratch-weights.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return save_weights_upload(workspace, name, path.read_bytes())


def test_a_fitting_file_is_described(workspace):
    path = resnet18_file(workspace)
    assert check_weights_file(path, "resnet18") == "ResNet18 weights, 122 tensors"


def test_a_file_of_another_depth_is_refused_naming_both(workspace):
    path = resnet18_file(workspace)
    with pytest.raises(WeightsError, match="r18.pt holds ResNet18 weights .*but ResNet50 was chosen"):
        check_weights_file(path, "resnet50")


def test_random_bytes_are_not_a_readable_weights_file(workspace):
    path = save_weights_upload(workspace, "bogus.pt", random.Random(1).randbytes(2048))
    with pytest.raises(WeightsError) as info:
        check_weights_file(path, "resnet18")
    message = str(info.value)
    assert "bogus.pt is not a readable PyTorch weights file" in message
    assert "code or objects" not in message
