"""Fixtures every page test shares: an offline private workspace and a tiny registered dataset.
Helpers that open the app and read what a page drew are in page_helpers.py."""
from __future__ import annotations

import pytest

from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.views.machine_check import forget_checks
from ui.shared import services


@pytest.fixture
def env(workspace, offline_torch_home, monkeypatch):
    """A private workspace, no ImageNet weights and no network probe; no training thread outlives
    the test, and the machine checks (kept per process) start again for the next."""
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")
    forget_checks()
    yield workspace
    services().jobs.shutdown(timeout=30)
    forget_checks()


@pytest.fixture
def tiny(env, tmp_path):
    """A registered dataset 'tiny': 3 classes × 12 images of 32 px (24 training, 6 validation and
    6 test images)."""
    make_image_folder(tmp_path / "tiny", num_classes=3, per_class=12, size=32)
    return register_folder(tmp_path / "tiny", env, name="tiny").name
