"""Prediction, Grad-CAM and export of a run checkpoint, and the `predict` / `export` commands."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_core.cli import main
from resnet_core.data.imageio import (
    ImageLoadError,
    load_uint8,
    model_input,
    preprocess_spec,
)
from resnet_core.data.synthetic import make_image_folder
from resnet_core.fsutil import read_json
from resnet_core.results.export import export_model
from resnet_core.results.predict import cached_predictor, load_predictor, overlay
from resnet_core.training.checkpoints import CheckpointError, save_checkpoint
from resnet_core.training.models import build_model

CLASSES = ["cat", "dog", "fox"]  # the untrained_run fixture's
RUN_ID = 7


@pytest.fixture
def run(untrained_run):
    """Run RUN_ID's folder holding a checkpoint of an (untrained, seeded) ResNet18 for CLASSES at 32 px."""
    return untrained_run


@pytest.fixture
def images(tmp_path) -> list[Path]:
    root = make_image_folder(tmp_path / "images", num_classes=3, per_class=2, size=40)
    return sorted(root.rglob("*.png"))


def reference_logits(model, paths) -> torch.Tensor:
    """The checkpoint's own logits on images prepared by the training pipeline's functions."""
    with torch.no_grad():
        return model(model_input(torch.stack([load_uint8(p, 32) for p in paths])))


def test_predict_gives_sorted_probabilities_with_class_names(run, images):
    folder, model = run
    predictor = load_predictor(folder)
    assert predictor.classes == CLASSES and predictor.image_size == 32
    expected = torch.softmax(reference_logits(model, images[:1]), dim=1)[0]

    result = predictor.predict(images[0], top_k=5)
    assert len(result) == 3  # top_k larger than the number of classes
    assert sum(r["probability"] for r in result) == pytest.approx(1.0, abs=1e-5)
    probabilities = [r["probability"] for r in result]
    assert probabilities == sorted(probabilities, reverse=True)
    assert {r["class"] for r in result} == set(CLASSES)
    for r in result:  # preprocessing is exactly the training pipeline's
        assert r["probability"] == pytest.approx(float(expected[CLASSES.index(r["class"])]), abs=1e-5)
    assert predictor.predict(images[0], top_k=1) == result[:1]


def test_bytes_file_and_pil_inputs_agree_with_a_path(run, images):
    predictor = load_predictor(run[0])
    by_path = predictor.predict(images[1])
    assert predictor.predict(images[1].read_bytes()) == by_path
    with open(images[1], "rb") as f:
        assert predictor.predict(f) == by_path
    with Image.open(images[1]) as im:
        assert predictor.predict(im.convert("RGBA")) == by_path
    assert predictor.preview(images[1]).size == (32, 32)


def test_predict_batch_matches_single_predictions(run, images):
    predictor = load_predictor(run[0])
    batch = predictor.predict_batch(images, top_k=2)
    singles = [predictor.predict(p, top_k=2) for p in images]
    assert len(batch) == len(images)
    for together, alone in zip(batch, singles):
        assert [r["class"] for r in together] == [r["class"] for r in alone]
        assert [r["probability"] for r in together] == pytest.approx([r["probability"] for r in alone], abs=1e-5)
    with pytest.raises(ValueError, match="top_k"):
        predictor.predict(images[0], top_k=0)


def test_bad_images_get_a_message_not_a_crash(run, images, tmp_path):
    predictor = load_predictor(run[0])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ImageLoadError, match="unreadable"):
        predictor.predict(text)
    with pytest.raises(ImageLoadError, match="empty"):
        predictor.predict(b"")
    with pytest.raises(ImageLoadError, match="not found"):
        predictor.predict(tmp_path / "missing.png")
    with pytest.raises(ImageLoadError, match=r"image 2 \(.*notes\.jpg\)"):
        predictor.predict_batch([images[0], text])


def test_missing_checkpoint_is_reported(workspace):
    with pytest.raises(CheckpointError, match="best.pt is missing"):
        load_predictor(workspace.run_dir(99))


def test_cached_predictor_reuses_and_notices_a_new_checkpoint(run):
    folder, _ = run
    first = cached_predictor(folder)
    assert cached_predictor(folder) is first
    torch.manual_seed(5)
    save_checkpoint(folder / "best.pt", build_model("resnet18", 2), ["a", "b"], 32, 3, {})
    assert cached_predictor(folder).classes == ["a", "b"]


def test_gradcam_gives_a_finite_map_that_depends_on_the_class(run, images):
    predictor = load_predictor(run[0])
    maps = []
    for index in range(len(CLASSES)):
        heat, used = predictor.gradcam(images[0], class_index=index)
        assert used == index
        assert heat.shape == (32, 32) and heat.dtype == np.float32
        assert np.isfinite(heat).all() and heat.min() >= 0 and heat.max() <= 1
        maps.append(heat)
    assert max(np.abs(maps[0] - maps[1]).max(), np.abs(maps[1] - maps[2]).max()) > 1e-3

    heat, predicted = predictor.gradcam(images[0])
    top = predictor.predict(images[0], top_k=1)[0]["class"]
    assert CLASSES[predicted] == top
    with pytest.raises(ValueError, match="class_index"):
        predictor.gradcam(images[0], class_index=3)


def test_gradcam_layer_is_the_last_block_for_usual_sizes(run):
    import dataclasses

    predictor = load_predictor(run[0])
    assert dataclasses.replace(predictor, image_size=224).default_cam_layer() == "layer4"
    # At 32 px layer4 is a single cell; a shallower stage still shows where the evidence is.
    assert predictor.default_cam_layer() == "layer2"


def test_overlay_colours_hot_areas_red_and_cold_areas_blue():
    grey = Image.new("RGB", (8, 8), (128, 128, 128))
    heat = np.zeros((4, 4), dtype=np.float32)
    heat[:2] = 1.0
    out = overlay(grey, heat)
    assert out.size == (8, 8) and out.mode == "RGB"
    r, g, b = out.getpixel((0, 0))
    assert r > b
    r, g, b = out.getpixel((0, 7))
    assert b > r


@pytest.mark.filterwarnings("ignore:.*torch.jit.load.* is deprecated:FutureWarning")
def test_torchscript_export_matches_the_checkpoint(run, images, tmp_path):
    folder, model = run
    out = export_model(folder, "torchscript", tmp_path / "out" / "classifier.pt")
    assert out == tmp_path / "out" / "classifier.pt"
    loaded = torch.jit.load(str(out))
    batch = model_input(torch.stack([load_uint8(p, 32) for p in images[:3]]))
    with torch.no_grad():
        assert torch.allclose(loaded(batch), reference_logits(model, images[:3]), atol=1e-4)
    assert read_json(out.parent / "labels.json") == CLASSES
    spec = read_json(out.parent / "preprocess.json")
    assert spec.items() >= preprocess_spec(32).items() and spec["calibration"]["temperature"] == 1.0


def test_onnx_export_matches_the_checkpoint_for_any_batch_size(run, images, tmp_path):
    import onnxruntime

    folder, model = run
    out = export_model(folder, "onnx", tmp_path / "exported")  # no suffix: .onnx is added
    assert out.name == "exported.onnx" and out.is_file()
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for paths in (images[:1], images[:4]):
        batch = model_input(torch.stack([load_uint8(p, 32) for p in paths])).numpy()
        (logits,) = session.run(None, {name: batch})
        np.testing.assert_allclose(logits, reference_logits(model, paths).numpy(), atol=1e-4)
    assert json.loads(session.get_modelmeta().custom_metadata_map["labels"]) == CLASSES
    assert read_json(out.parent / "labels.json") == CLASSES
    spec = read_json(out.parent / "preprocess.json")
    assert spec.items() >= preprocess_spec(32).items() and spec["calibration"]["temperature"] == 1.0


def test_export_refuses_bad_requests(run, tmp_path):
    folder, _ = run
    with pytest.raises(ValueError, match="torchscript, onnx"):
        export_model(folder, "tflite", tmp_path / "m")
    with pytest.raises(ValueError, match="own checkpoint"):
        export_model(folder, "torchscript", folder / "best.pt")
    with pytest.raises(CheckpointError):
        export_model(tmp_path, "torchscript", tmp_path / "m.pt")


# ---- the command line ----

def test_cli_predict_json(run, images, capsys):
    status = main(["predict", "--run", str(RUN_ID), str(images[0]), str(images[3]), "--top-k", "2", "--json"])
    assert status == 0
    out = json.loads(capsys.readouterr().out)
    entries = out["predictions"]
    assert [e["image"] for e in entries] == [str(images[0]), str(images[3])]
    for entry in entries:
        assert len(entry["predictions"]) == 2
        assert entry["predictions"][0]["probability"] >= entry["predictions"][1]["probability"]
        assert entry["predictions"][0]["class"] in CLASSES


def test_cli_predict_reports_a_bad_image_and_still_predicts_the_rest(run, images, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    status = main(["predict", "--run", str(RUN_ID), str(bad), str(images[0]), "--json"])
    assert status == 1
    entries = json.loads(capsys.readouterr().out)["predictions"]
    assert "error" in entries[0] and "predictions" not in entries[0]
    assert "unreadable" in entries[0]["error"]
    assert len(entries[1]["predictions"]) == 3

    assert main(["predict", "--run", str(RUN_ID), str(bad), str(images[0])]) == 1
    captured = capsys.readouterr()
    assert str(images[0]) in captured.out and "%" in captured.out
    assert f"error: {bad}" in captured.err


@pytest.mark.parametrize("run_id", ["8", "../7", ""])
def test_cli_predict_unknown_run(run, images, capsys, run_id):
    assert main(["predict", "--run", run_id, str(images[0])]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "python -m resnet_core runs" in err


def test_cli_predict_run_without_a_model(workspace, images, capsys):
    workspace.run_dir(3).mkdir()
    assert main(["predict", "--run", "3", str(images[0])]) == 2
    assert "no trained model yet" in capsys.readouterr().err


def test_cli_export_json(run, tmp_path, capsys):
    out = tmp_path / "deploy"
    out.mkdir()
    status = main(["export", "--run", str(RUN_ID), "--format", "torchscript", "--out", str(out), "--json"])
    assert status == 0
    info = json.loads(capsys.readouterr().out)
    assert info["path"] == str(out / "model.pt") and Path(info["path"]).is_file()
    assert info["classes"] == CLASSES and read_json(info["preprocess"]).items() >= preprocess_spec(32).items()
    assert main(["export", "--run", "12", "--format", "onnx", "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_the_bundles_predict_script_gives_the_dashboards_probabilities(run, workspace, tmp_path, fmt):
    """Unzipped anywhere, predict.py applies preprocess.json (transparency onto white included) and
    agrees with the dashboard's prediction on a transparent PNG, a palette GIF and a large JPEG."""
    import io
    import subprocess
    import sys
    import zipfile

    from resnet_core.results.bundle import export_bundle

    rng = np.random.default_rng(3)
    rgba = np.concatenate([rng.integers(0, 255, (50, 70, 3)), rng.choice([0, 255], (50, 70, 1))], axis=2)
    samples = tmp_path / "samples"
    samples.mkdir()
    Image.fromarray(rgba.astype(np.uint8), "RGBA").save(samples / "clipart.png")
    Image.fromarray(rgba[..., :3].astype(np.uint8)).convert("P").save(samples / "palette.gif")
    Image.fromarray(rng.integers(0, 255, (300, 200, 3)).astype(np.uint8)).save(samples / "photo.jpg")
    paths = sorted(samples.iterdir())

    out = tmp_path / "unzipped"
    with zipfile.ZipFile(io.BytesIO(export_bundle(workspace, RUN_ID, fmt))) as zf:
        zf.extractall(out)
    spec = read_json(out / "preprocess.json")
    assert spec["alpha_background"] == [255, 255, 255] and "transparency" in spec["color_conversion"]
    assert spec["steps"][0] == "orientation"
    done = subprocess.run([sys.executable, str(out / "predict.py"), *map(str, paths), "--top", "3", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    outside = json.loads(done.stdout)
    predictor = load_predictor(run[0])
    for path, result in zip(paths, outside, strict=True):
        inside = predictor.predict(path, top_k=3)
        assert [t["class"] for t in result["top"]] == [t["class"] for t in inside]
        assert [t["probability"] for t in result["top"]] == pytest.approx([t["probability"] for t in inside],
                                                                          abs=1e-4)


TEMPERATURE = 2.5


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_a_calibrated_run_predicts_and_exports_calibrated_probabilities(run, workspace, images, tmp_path, fmt):
    """The run's temperature divides the logits in the dashboard, in the exported graph and so in the
    bundle's predict.py; the winning class stays the same."""
    import io
    import subprocess
    import sys
    import zipfile

    from resnet_core.results.bundle import export_bundle
    from resnet_core.training.calibration import write_calibration

    folder, model = run
    write_calibration(folder, TEMPERATURE, val_images=30)
    expected = torch.softmax(reference_logits(model, images[:3]) / TEMPERATURE, 1)
    predictor = load_predictor(folder)
    assert predictor.calibrated and predictor.temperature == TEMPERATURE
    inside = predictor.probabilities(torch.stack([load_uint8(p, 32) for p in images[:3]]))
    assert torch.allclose(inside, expected, atol=1e-5)
    assert (inside.argmax(1) == reference_logits(model, images[:3]).argmax(1)).all()

    out = tmp_path / "unzipped"
    with zipfile.ZipFile(io.BytesIO(export_bundle(workspace, RUN_ID, fmt))) as zf:
        zf.extractall(out)
    assert read_json(out / "preprocess.json")["calibration"]["temperature"] == TEMPERATURE
    done = subprocess.run([sys.executable, str(out / "predict.py"), *map(str, images[:3]), "--top", "3", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for row, result in zip(expected, json.loads(done.stdout), strict=True):
        top = sorted(row.tolist(), reverse=True)
        assert [t["probability"] for t in result["top"]] == pytest.approx(top, abs=1e-4)


def test_the_flip_averages_an_image_with_its_mirror(run, images):
    predictor = load_predictor(run[0])
    pixels = load_uint8(images[0], 32)
    both = (predictor.probabilities(pixels[None]) + predictor.probabilities(pixels.flip(-1)[None])) / 2
    flipped = predictor.predict(images[0], top_k=3, flip=True)
    assert [t["probability"] for t in flipped] == pytest.approx(sorted(both[0].tolist(), reverse=True), abs=1e-6)
    plain = predictor.predict(images[0], top_k=3)
    assert [t["probability"] for t in plain] != pytest.approx([t["probability"] for t in flipped], abs=1e-6)


def test_flip_gain_counts_the_images_the_mirror_puts_right():
    from resnet_core.results.tta import flip_gain
    from resnet_core.runs.predictions import RunPredictions

    true = np.array([0, 0, 1, 1])
    plain = np.array([[2.0, 0.0], [0.0, 0.5], [0.0, 2.0], [0.0, 0.5]])  # 3 of 4 right
    mirrored = np.array([[2.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 0.5]])  # image 2 clearly class 0 mirrored
    gain = flip_gain(RunPredictions(test_paths=np.array(list("abcd")), test_true=true, test_logits=plain,
                                    val_true=true, val_logits=plain, test_logits_mirrored=mirrored))
    assert (gain.plain, gain.flipped, gain.test_images) == (0.75, 1.0, 4) and gain.gain == 0.25
    assert flip_gain(RunPredictions(test_paths=np.array(list("abcd")), test_true=true, test_logits=plain,
                                    val_true=true, val_logits=plain)) is None


def test_gradcam_caption_says_when_the_map_means_nothing():
    from resnet_core.results.predict import gradcam_caption

    flat = np.zeros((32, 32), dtype=np.float32)  # every activation rectified away: an all-blue map
    assert "no region that stands out" in gradcam_caption(flat, 0.9, 3, "cat")
    assert "red areas" not in gradcam_caption(flat, 0.9, 3, "cat")
    peak = np.zeros((32, 32), dtype=np.float32)
    peak[8:16, 8:16] = 1.0
    assert "weak (36%, chance is 33%)" in gradcam_caption(peak, 0.36, 3, "cat")
    assert gradcam_caption(peak, 0.9, 3, "cat").startswith("Grad-CAM: red areas raised the score of 'cat'")
