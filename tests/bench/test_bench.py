"""The side-by-side benchmark: same weights, same files, every figure for both sides — never timings."""
from __future__ import annotations

import json
import os

import pytest
import torch

from resnet_core.bench.plain_loop import (
    build_plain_model,
    image_folder,
    plain_transforms,
)
from resnet_core.bench.side_by_side import (
    BenchOptions,
    compare,
    prepare_split,
    summarize,
)
from resnet_core.bench.worker import run_predict
from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.data.prepare import prepare_data
from resnet_core.data.synthetic import make_image_folder
from resnet_core.training.models import build_model

RUN_FIGURES = {"wall_s", "process_s", "import_s", "mean_epoch_s", "train_images_per_s", "val_acc",
               "best_val_acc", "peak_rss_mb", "epochs", "compute_share", "outside_model_share"}


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_plain_model_starts_from_the_engines_weights(arch):
    plain = build_plain_model(arch, 3, seed=7).state_dict()
    torch.manual_seed(7)
    ours = build_model(arch, 3, weights="none").state_dict()
    mapped = {("head." + k[3:]) if k.startswith("fc.") else "backbone." + k: v for k, v in plain.items()}
    assert set(mapped) == set(ours) - {"mean", "std"}
    for key, value in mapped.items():
        assert torch.equal(value, ours[key]), key
    # A different seed gives different weights, so the equality above is not an accident.
    assert not torch.equal(build_plain_model(arch, 3, seed=8).state_dict()["fc.weight"], plain["fc.weight"])


def test_plain_loop_and_engine_train_and_validate_on_the_same_files(workspace, tmp_path):
    root = make_image_folder(tmp_path / "imgs", num_classes=3, per_class=[9, 7, 8], size=32)
    prepared = prepare_split("tiny", root, workspace)
    train_tf, val_tf = plain_transforms(32, "none")
    plain_train = image_folder(str(root), prepared.train_files, train_tf, prepared.classes)
    plain_val = image_folder(str(root), prepared.val_files, val_tf, prepared.classes)

    data = prepare_data(TrainConfig(dataset=str(root), image_size=32), workspace)

    def ours(idx):
        return {(data.paths[i], int(data.labels[i])) for i in idx.tolist()}

    def plain(dataset):
        return {(os.path.relpath(p, root).replace(os.sep, "/"), label) for p, label in dataset.samples}

    assert plain(plain_train) == ours(data.train_idx) and len(plain_train) == len(data.train_idx)
    assert plain(plain_val) == ours(data.val_idx) and len(plain_val)
    assert not ours(data.train_idx) & ours(data.val_idx)
    assert plain_train.classes == data.classes


def test_plain_transforms_mirror_the_augmentation_level():
    train_tf, val_tf = plain_transforms(48, "standard")
    names = [type(t).__name__ for t in train_tf.transforms]
    assert names[:2] == ["RandomResizedCrop", "RandomHorizontalFlip"] and "ColorJitter" in names
    assert [type(t).__name__ for t in val_tf.transforms] == ["Resize", "CenterCrop", "ToTensor", "Normalize"]
    plain_train, plain_val = plain_transforms(48, "none")
    assert plain_train is plain_val  # without augmentation both splits are resized and centre-cropped


def test_bench_command_runs_both_sides_end_to_end(workspace, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["bench", "--images", "24", "--image-size", "32", "--source-size", "32", "--epochs", "1",
                 "--batch-size", "8", "--models", "resnet18", "--modes", "frozen,finetune",
                 "--device", "cpu", "--out", str(out), "--workdir", str(tmp_path / "wd")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "ours vs plain" in captured.out
    report = json.loads(out.read_text())
    assert report["machine"]["cores"] >= 1 and report["load"]["before"] is not None

    for mode in ("frozen", "finetune"):
        rows = {r["variant"]: r for r in report["runs"] if r["mode"] == mode}
        assert set(rows) == {"plain", "cold", "warm"}
        assert rows["plain"]["side"] == "plain" and rows["cold"]["side"] == rows["warm"]["side"] == "ours"
        assert rows["cold"]["cache"] == "cold" and rows["warm"]["cache"] == "warm"
        for variant, row in rows.items():
            assert "error" not in row, row
            assert RUN_FIGURES <= set(row), (variant, RUN_FIGURES - set(row))
            assert row["epochs"] == 1 and 0 <= row["val_acc"] <= 1 and row["peak_rss_mb"] > 0
            assert 0 < row["compute_share"] <= 1
        # Same split on both sides: the same number of training and validation images.
        assert rows["plain"]["num_train"] == rows["warm"]["num_train"] == rows["cold"]["num_train"]
        assert rows["plain"]["num_val"] == rows["warm"]["num_val"]
        # A cold run decodes the images; a warm one reads them back.
        assert rows["cold"]["prep_s"] is not None and rows["warm"]["prep_s"] is not None
        comparison = next(c for c in report["comparisons"] if c["mode"] == mode)
        for key in ("speedup_wall_cold", "speedup_wall_warm", "speedup_epoch", "throughput_ratio",
                    "val_acc_diff_points"):
            assert comparison[key] is not None, key
        assert set(comparison["medians"]) == {"plain", "cold", "warm"}
        assert comparison["wall_ms_per_image"]["warm"] > 0
        assert comparison["decoded_cache_mb"] == pytest.approx(24 * 3 * 32 * 32 / 2**20)


def test_prediction_timing_compares_predictor_with_a_bare_forward(workspace, tmp_path):
    from resnet_core.runs.runner import create_run, execute_run
    from resnet_core.runs.store import RunStore

    root = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=8, size=32)
    store = RunStore(workspace)
    cfg = TrainConfig(dataset=str(root), weights="none", epochs=1, batch_size=8, image_size=32,
                      augmentation="none", device="cpu")
    run_id = create_run(cfg, workspace, store)
    assert execute_run(run_id, cfg, workspace, store) == "completed"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))[:4]
    result = run_predict({"run_dir": str(workspace.run_dir(run_id)), "root": str(root), "files": files,
                          "device": "cpu", "repeats": 3})
    assert result["batch_images"] == 4
    for key in ("single_predict_ms", "single_bare_forward_ms", "single_ratio", "batch_bare_images_per_s",
                "batch_predict_pixels_images_per_s", "batch_predict_files_images_per_s", "batch_ratio"):
        assert result[key] > 0, key


def test_comparison_ratios_come_from_the_medians():
    def run(wall, epoch, ips, acc):
        return {"wall_s": wall, "mean_epoch_s": epoch, "train_images_per_s": ips, "val_acc": acc}

    result = compare({"plain": [run(30, 2.0, 100, 0.50), run(10, 2.0, 100, 0.50), run(20, 2.0, 100, 0.50)],
                      "cold": [run(4, 0.5, 400, 0.51)], "warm": [run(2, 0.25, 800, 0.52)],
                      "dashboard": [run(2.1, 0.25, 800, 0.52)]})
    assert result["speedup_wall_cold"] == pytest.approx(5.0)
    assert result["speedup_wall_warm"] == pytest.approx(10.0)
    assert result["speedup_epoch"] == pytest.approx(8.0)
    assert result["throughput_ratio"] == pytest.approx(8.0)
    assert result["val_acc_diff_points"] == pytest.approx(2.0)
    assert result["dashboard_over_cli"] == pytest.approx(1.05)
    # Best of the repeats: the fastest plain run (10 s) against ours.
    assert result["best"]["speedup_wall_warm"] == pytest.approx(5.0)
    assert result["bests"]["plain"]["wall_s"] == 10 and result["medians"]["plain"]["wall_s"] == 20


def test_summary_reports_the_share_of_time_outside_the_model():
    history = [{"epoch": 1, "images_per_s": 100.0, "epoch_time_s": 1.2, "val_acc": 0.5,
                "train_time_s": 1.0, "compute_time_s": 0.9},
               {"epoch": 2, "images_per_s": 50.0, "epoch_time_s": 2.2, "val_acc": 0.7,
                "train_time_s": 2.0, "compute_time_s": 1.8}]
    s = summarize({"history": history, "wall_s": 5.0, "peak_rss_mb": 500.0})
    assert s["outside_model_share"] == pytest.approx(0.1)
    assert s["train_images_per_s"] == pytest.approx(2 / (1 / 100 + 1 / 50))
    assert s["val_acc"] == 0.7 and s["best_val_acc"] == 0.7 and s["mean_epoch_s"] == pytest.approx(1.7)
    assert summarize({"error": "boom"}) == {"error": "boom"}


@pytest.mark.parametrize("argv, message", [
    (["--models", "resnet34"], "unknown model"),
    (["--modes", "frozen,partial"], "unknown mode"),
    (["--sizes", "100,lots"], "--sizes must be whole numbers"),
    (["--sizes", "5"], "at least 12 images"),
    (["--data", "no/such/folder"], "neither 'generated'"),
    (["--epochs", "0"], "epochs must be between"),
])
def test_bad_options_get_a_message_not_a_traceback(workspace, tmp_path, capsys, argv, message):
    code = main(["bench", *argv, "--out", str(tmp_path / "b.json")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "b.json").exists()


def test_options_accept_the_defaults():
    assert BenchOptions().problems() == []
