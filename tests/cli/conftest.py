"""Fixtures the command-line tests share."""
from __future__ import annotations

import os

import pytest


@pytest.fixture
def env(tmp_path):
    """The environment of a child process: its own workspace under tmp_path/ws, offline."""
    return {**os.environ, "RESNET_PILOT_HOME": str(tmp_path / "ws"), "RESNET_PILOT_OFFLINE": "1"}
