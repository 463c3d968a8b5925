"""The built-in Fashion-MNIST sample: shipped in assets/, imported once, selected afterwards."""
from __future__ import annotations

import pytest

from resnet_core.data import sample
from resnet_core.data.registry import dataset_report, list_datasets
from resnet_core.data.scan import DatasetError


def test_sample_files_are_shipped_with_a_licence():
    assert sample.SAMPLE_DIR.is_dir()
    assert "MIT" in (sample.SAMPLE_DIR.parent / "LICENSE").read_text(encoding="utf-8")


def test_sample_imports_once_with_ten_balanced_classes(workspace):
    info, created = sample.ensure_sample_dataset(workspace)
    assert created and info.name == sample.SAMPLE_NAME and info.imported
    report = dataset_report(info)
    assert len(report.classes) == 10 and set(report.counts.values()) == {30}
    assert "Trouser" in report.classes and not report.skipped
    again, created = sample.ensure_sample_dataset(workspace)
    assert not created and again.name == info.name
    assert [d.name for d in list_datasets(workspace)] == [sample.SAMPLE_NAME]


def test_missing_sample_files_give_a_clear_message(workspace, tmp_path, monkeypatch):
    monkeypatch.setattr(sample, "SAMPLE_DIR", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="make_sample_dataset"):
        sample.ensure_sample_dataset(workspace)
