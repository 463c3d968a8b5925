"""The recommended image size never exceeds what the images hold (the scan's median size)."""
from __future__ import annotations

from resnet_core.advice.planning import plan_training
from resnet_core.advice.recommend import recommend
from resnet_core.data.registry import dataset_report, register_folder
from resnet_core.data.scan import scan
from resnet_core.data.synthetic import make_image_folder
from resnet_core.views.wizard import WizardInputs, recommend_for


def test_the_scan_records_the_median_width_and_height(tmp_path):
    folder = make_image_folder(tmp_path / "d", num_classes=2, per_class=5, size=28)
    report = scan(folder)
    assert (report.median_width, report.median_height) == (28, 28)


def test_28_px_images_get_28_px_not_224_with_the_reason(workspace, offline_torch_home, tmp_path):
    folder = make_image_folder(tmp_path / "fashion", num_classes=3, per_class=10, size=28)
    info = register_folder(folder, workspace, name="fashion")
    assert dataset_report(info).median_width == 28  # kept in the cached scan too
    plan = plan_training("fashion", workspace, gpu_mem_gb=None)
    assert plan.config.image_size == 28
    why = plan.recommendation.why["image_size"]
    assert "28 × 28 px" in why and "no detail" in why
    wizard = recommend_for(WizardInputs(30, 3, 10, None, median_size=(28, 28)))
    assert wizard.image_size == 28 and wizard.why["image_size"] == why


def test_large_images_keep_the_cards_224_and_an_asked_size_is_kept():
    r = recommend(500, 5, 8.0, median_size=(640, 480))
    assert r.image_size == 224 and "640 × 480" in r.why["image_size"]
    assert recommend(500, 5, 8.0, median_size=(28, 28), image_size=64).image_size == 64
    assert recommend(500, 5, 8.0).image_size == 224
