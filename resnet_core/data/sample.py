"""The built-in sample dataset: 300 Fashion-MNIST images shipped in assets/, one click to import."""
from __future__ import annotations

from pathlib import Path

from resnet_core.data.importing import import_dataset
from resnet_core.data.registry import DatasetInfo, get_dataset
from resnet_core.data.scan import DatasetError, Progress
from resnet_core.workspace import Workspace

SAMPLE_NAME = "fashion-mnist-sample"
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "assets" / "sample" / "fashion-mnist"
SAMPLE_DESCRIPTION = ("Fashion-MNIST sample: 300 small greyscale photos of clothing in 10 classes "
                      "(T-shirt, trouser, sneaker, bag ...), 30 per class. Zalando Research, MIT licence.")


def sample_exists(workspace: Workspace) -> bool:
    """True when the sample has already been imported into this workspace."""
    return (workspace.datasets_dir / SAMPLE_NAME).is_dir()


def ensure_sample_dataset(workspace: Workspace, progress: Progress | None = None) -> tuple[DatasetInfo, bool]:
    """The sample as a workspace dataset: imported (a copy) the first time, found afterwards.

    Returns (dataset, imported_now). Raises DatasetError when the sample files are missing.
    """
    if sample_exists(workspace):
        return get_dataset(SAMPLE_NAME, workspace), False
    if not SAMPLE_DIR.is_dir() or not any(SAMPLE_DIR.iterdir()):
        raise DatasetError("The built-in sample images are missing from this installation: "
                           "run `python scripts/make_sample_dataset.py` to create them, "
                           "or import a dataset of your own.")
    return import_dataset(SAMPLE_DIR, SAMPLE_NAME, workspace, progress), True
