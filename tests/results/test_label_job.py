"""The label check in the background: its cost measured before it starts, cancel, plain failures."""
from __future__ import annotations

import pytest

from resnet_core.data.handle import open_dataset
from resnet_core.data.registry import register_folder
from resnet_core.results.label_job import (
    REPORT_FILE,
    FeatureSource,
    LabelCheckJob,
    LabelCheckUnavailable,
    estimate_seconds,
    feature_source,
)


@pytest.fixture
def handle(image_folder, workspace):
    register_folder(image_folder, workspace)
    return open_dataset(image_folder.name, workspace)


def test_the_cost_is_measured_for_the_dataset(offline_torch_home):
    assert estimate_seconds(FeatureSource("resnet18", 32), num_images=60, num_classes=3) > 0


def test_without_weights_or_runs_the_source_says_to_train_first(handle, workspace, offline_torch_home):
    with pytest.raises(LabelCheckUnavailable, match="train one first"):
        feature_source(workspace, handle.name)


def test_a_cancelled_check_stops_and_keeps_nothing(handle, workspace, offline_torch_home):
    job = LabelCheckJob(handle, workspace, FeatureSource("resnet18", 32))
    job.cancel()
    job.thread.start()
    job.thread.join(60)
    assert job.snapshot().state == "cancelled"
    assert not (handle.info.meta_dir / REPORT_FILE).exists()


def test_a_failed_check_says_why_in_a_sentence(handle, workspace, offline_torch_home):
    job = LabelCheckJob(handle, workspace, FeatureSource("resnet18", 32))  # no ImageNet weights here
    job.thread.start()
    job.thread.join(60)
    snap = job.snapshot()
    assert snap.state == "failed" and "no ImageNet weights on this machine" in snap.error
    assert "Traceback" not in snap.error


@pytest.mark.parametrize(("error", "said", "not_said"), [
    (FileNotFoundError(2, "No such file or directory", "/data/cats/1.png"), "a file of the dataset is gone", "Errno"),
    (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "ran out of memory", "Tried to allocate"),
    (RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR"), "stopped unexpectedly (RuntimeError)", "CUDNN"),
])
def test_a_check_that_breaks_says_so_without_the_librarys_words(handle, workspace, monkeypatch, error, said,
                                                                 not_said):
    def breaks(*_args, **_kw):
        raise error

    monkeypatch.setattr("resnet_core.results.label_job.run_label_check", breaks)
    job = LabelCheckJob(handle, workspace, FeatureSource("resnet18", 32))
    job.thread.start()
    job.thread.join(60)
    snap = job.snapshot()
    assert snap.state == "failed" and said in snap.error and not_said not in snap.error
