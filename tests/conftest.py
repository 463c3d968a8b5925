"""Shared fixtures: a private workspace per test and tiny generated image folders."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from resnet_core.data.synthetic import make_image_folder
from resnet_core.workspace import ENV_VAR, Workspace

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Workspace:
    """A fresh workspace, also exported through RESNET_PILOT_HOME for code that reads the default."""
    root = tmp_path / "workspace"
    monkeypatch.setenv(ENV_VAR, str(root))
    return Workspace.at(root)


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """3 learnable classes × 20 images of 32 px."""
    return make_image_folder(tmp_path / "images", num_classes=3, per_class=20, size=32)


@pytest.fixture
def offline_torch_home(tmp_path, monkeypatch) -> Path:
    """An empty TORCH_HOME, so no test ever finds (or downloads) real ImageNet weights by accident."""
    home = tmp_path / "torch_home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture
def untrained_run(workspace) -> tuple[Path, torch.nn.Module]:
    """Run 7's folder holding a checkpoint (best.pt) of an untrained, seeded ResNet18 for the classes cat,
    dog and fox at 32 px, and the model; no run list entry and no fitted temperature."""
    from resnet_core.training.checkpoints import save_checkpoint
    from resnet_core.training.models import build_model

    torch.manual_seed(0)
    model = build_model("resnet18", 3).eval()
    folder = workspace.run_dir(7)
    save_checkpoint(folder / "best.pt", model, ["cat", "dog", "fox"], 32, epoch=2, config={"model": "resnet18"})
    return folder, model


@pytest.fixture
def store_test_predictions():
    """Writes a run's stored outputs (predictions.npz) as if it had been scored: of n two-class test images
    (alternating classes, named c0/0.png, c1/1.png, ...) the first `right` are predicted right, the rest
    wrong; the validation split is the same images. Runs given the same n share one test split. The
    logits put 95% on the predicted class (over-confident); `temperature` is stored as the fitted one."""
    from resnet_core.runs.predictions import save_predictions
    from resnet_core.training.engine import Predictions

    def store(workspace: Workspace, run_id: int, right: int, n: int = 200, temperature: float = 1.0) -> None:
        true = torch.tensor([i % 2 for i in range(n)])
        pred = torch.where(torch.arange(n) < right, true, 1 - true)
        logits = torch.nn.functional.one_hot(pred, 2).float() * 3
        folder = workspace.run_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        save_predictions(folder, Predictions(test_paths=[f"c{i % 2}/{i}.png" for i in range(n)], test_true=true,
                                             test_logits=logits, val_true=true, val_logits=logits), temperature)
    return store


@pytest.fixture
def browser():
    """Debian's Chromium under Playwright, for the end-to-end tests (a failure, not a skip, when missing)."""
    from e2e_helpers import launch_chromium, require_browser

    sync_playwright = require_browser()
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def ddp_env() -> dict[str, str]:
    """The environment for DDP processes in tests: one thread each (two ranks share two cores), the
    repository importable, no ImageNet download."""
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "OMP_NUM_THREADS": "1", "RESNET_PILOT_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
