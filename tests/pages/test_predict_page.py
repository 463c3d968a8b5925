"""The Predict page: empty state, the default run, an uploaded image's probabilities and Grad-CAM, bad files.

AppTest (Streamlit 1.67) drives st.file_uploader directly (`upload(name, bytes, mime)`), so the page is
tested exactly as a user reaches it; no test-only inputs.
"""
from __future__ import annotations

import io
import json

import pytest
from page_helpers import APP, TIMEOUT, texts
from PIL import Image
from streamlit.testing.v1 import AppTest

from resnet_core.config import TrainConfig
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder, png_header_only
from resnet_core.training.checkpoints import save_checkpoint
from resnet_core.training.models import build_model
from ui.shared import DATASET, PREDICT_RUN, services

CLASSES = ["class_0", "class_1", "class_2"]


@pytest.fixture
def env(env, tmp_path):
    """Offline, with datasets 'tiny' and 'other' registered (pages forget unknown datasets)."""
    workspace = env
    for name in ("tiny", "other"):
        register_folder(make_image_folder(tmp_path / name, num_classes=3, per_class=4, size=32), workspace,
                        name=name)
    return workspace


def finished_run(workspace, test_acc: float, dataset: str = "tiny", dataset_root: str = "unused",
                 model=None) -> int:
    """A completed run with a saved model (untrained weights unless given: predicting needs no accuracy)."""
    store = services().store
    config = TrainConfig(dataset=dataset, weights="none", image_size=32, epochs=1)
    run_id = store.create_run(config, dataset_root, 36, 24, 6, 6)
    store.finish_run(run_id, "completed", {"test_acc": test_acc, "val_acc": test_acc, "val_loss": 0.5,
                                           "train_time_s": 3.0, "epoch_ended": 1, "best_epoch": 1})
    torch_model = model if model is not None else build_model("resnet18", len(CLASSES))
    save_checkpoint(workspace.run_dir(run_id) / "best.pt", torch_model, CLASSES, 32, epoch=1, config=config)
    return run_id


@pytest.fixture
def image_bytes(tmp_path) -> bytes:
    folder = make_image_folder(tmp_path / "imgs", num_classes=1, per_class=1, size=48)
    buffer = io.BytesIO()
    Image.open(next(folder.rglob("*.png"))).save(buffer, "JPEG")
    return buffer.getvalue()


def open_predict(dataset: str | None = None, predict_run: int | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if dataset:
        at.session_state[DATASET] = dataset
    if predict_run:
        at.session_state[PREDICT_RUN] = predict_run
    at.run()
    at.switch_page("pages/predict.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_without_a_trained_run_it_points_to_train(env):
    at = open_predict()
    assert "No trained model yet" in texts(at.info)
    assert not at.file_uploader
    at.button(key="predict_go_train").click().run()
    assert not at.exception and [t.value for t in at.title] == ["Train"]


def test_rank_one_of_the_selected_dataset_is_chosen_first(env):
    best = finished_run(env, 0.9)
    finished_run(env, 0.6)  # newer but worse
    finished_run(env, 0.99, dataset="other")
    at = open_predict(dataset="tiny")
    assert at.selectbox(key="predict_run").value == best


def test_a_run_chosen_elsewhere_is_preselected(env):
    chosen = finished_run(env, 0.5)
    finished_run(env, 0.9)
    at = open_predict(dataset="tiny", predict_run=chosen)
    assert at.selectbox(key="predict_run").value == chosen


def test_an_uploaded_image_gets_probabilities_and_a_gradcam(env, image_bytes):
    finished_run(env, 0.9)
    at = open_predict(dataset="tiny")
    assert not at.image
    at.file_uploader(key="predict_upload").upload("photo.jpg", image_bytes, "image/jpeg").run()
    assert not at.exception and not at.error
    (prediction,) = [m for m in at.metric if m.label == "Prediction"]
    assert prediction.value in CLASSES
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    (bars,) = spec["data"]
    assert bars["y"] == sorted(bars["y"], key=lambda c: -bars["x"][bars["y"].index(c)])  # best first
    assert set(bars["y"]) == set(CLASSES)
    assert sum(bars["x"]) == pytest.approx(1.0, abs=1e-4)  # every class shown: probabilities sum to 1
    assert bars["y"][0] == prediction.value
    captions = [c for image in at.image for c in image.captions]
    assert any("What the model sees" in c for c in captions)
    assert any("Where it looked" in c for c in captions)


def test_a_flat_gradcam_says_the_model_found_no_region_that_stands_out(env, image_bytes):
    import torch

    # A head of zeros scores every class the same whatever the image: the score has no gradient
    # anywhere, so the Grad-CAM map is flat (all blue) and must not be read as "red areas".
    model = build_model("resnet18", len(CLASSES))
    torch.nn.init.zeros_(model.head.weight)
    finished_run(env, 0.9, model=model)
    at = open_predict(dataset="tiny")
    at.file_uploader(key="predict_upload").upload("photo.jpg", image_bytes, "image/jpeg").run()
    assert not at.exception and not at.error
    captions = texts(at.caption)
    assert "the model found no region that stands out" in captions
    assert "red areas" not in captions


def test_an_unreadable_file_gets_a_clear_error(env):
    finished_run(env, 0.9)
    at = open_predict(dataset="tiny")
    at.file_uploader(key="predict_upload").upload("broken.png", b"this is not a picture", "image/png").run()
    assert not at.exception
    assert "Cannot use broken.png: unreadable or truncated image, or not a picture format" in texts(at.error)
    assert not at.image


def test_a_huge_image_gets_the_scans_plain_message(env):
    finished_run(env, 0.9)
    at = open_predict(dataset="tiny")
    at.file_uploader(key="predict_upload").upload("poster.png", png_header_only(14_000, 12_000), "image/png").run()
    assert not at.exception
    error = texts(at.error)
    assert "too large to decode safely: 14,000 × 12,000 pixels, more than 64 million; downscale it" in error
    assert "decompression bomb" not in error and "Try a JPEG or PNG" not in error


def test_the_camera_is_only_asked_for_when_switched_on(env):
    finished_run(env, 0.9)
    at = open_predict(dataset="tiny")
    assert not at.camera_input
    at.toggle(key="predict_camera_on").set_value(True).run()
    assert at.camera_input(key="predict_camera")


def test_probabilities_are_calibrated_and_the_page_says_so(env, image_bytes):
    from resnet_core.training.calibration import write_calibration

    run_id = finished_run(env, 0.9)
    at = open_predict(dataset="tiny")
    at.file_uploader(key="predict_upload").upload("photo.jpg", image_bytes, "image/jpeg").run()
    assert "not calibrated: this run has no fitted temperature" in texts(at.caption)
    write_calibration(env.run_dir(run_id), 3.0, val_images=6)
    at = open_predict(dataset="tiny")
    at.file_uploader(key="predict_upload").upload("photo.jpg", image_bytes, "image/jpeg").run()
    assert not at.exception
    assert "Probabilities calibrated on the validation split (temperature 3.00)" in texts(at.caption)


def test_the_flip_switch_shows_its_measured_gain_and_predicts_with_it(env, image_bytes):
    import numpy as np

    from resnet_core.runs.predictions import RunPredictions  # noqa: F401 (the file format below)

    run_id = finished_run(env, 0.9)
    at = open_predict(dataset="tiny")
    assert "Not measured for this run" in texts(at.caption)
    true = np.array([0, 1] * 100)
    logits = np.eye(3)[true].astype(np.float32)
    mirrored = logits.copy()
    mirrored[:10] = 5 * np.eye(3)[(true[:10] + 1) % 3]  # the mirror is surely wrong on 10 of 200
    np.savez(env.run_dir(run_id) / "predictions.npz", test_paths=np.array([f"{i}.png" for i in range(200)]),
             test_true=true, test_logits=logits, val_true=true, val_logits=logits, temperature=np.float64(1.0),
             test_logits_mirrored=mirrored)
    at = open_predict(dataset="tiny")
    assert "Measured on this run's 200 test images: 100.0% without, 95.0% with the flip (-5.0 points)" in texts(
        at.caption)
    at.toggle(key="predict_flip").set_value(True).run()
    at.file_uploader(key="predict_upload").upload("photo.jpg", image_bytes, "image/jpeg").run()
    assert not at.exception and not at.error
    (prediction,) = [m for m in at.metric if m.label == "Prediction"]
    assert prediction.value in CLASSES


def test_five_crops_are_offered_once_measured_on_the_test_split(env, image_bytes, tmp_path):
    import numpy as np

    from resnet_core.results.predict import load_predictor

    root = tmp_path / "tiny"  # the registered folder of 'tiny' (env fixture)
    run_id = finished_run(env, 0.9, dataset_root=str(root))
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))[:9]
    true = np.array([int(p.split("/")[0].rsplit("_", 1)[1]) for p in paths])
    logits = np.eye(3)[true].astype(np.float32)
    np.savez(env.run_dir(run_id) / "predictions.npz", test_paths=np.array(paths), test_true=true,
             test_logits=logits, val_true=true, val_logits=logits, temperature=np.float64(1.0))
    at = open_predict(dataset="tiny")
    assert at.toggle(key="predict_five_crop").disabled and "Not measured yet" in texts(at.caption)
    at.button(key="predict_measure_five_crop").click().run()
    assert not at.exception and not at.error
    # The model's own answers on those images, without augmentation, as the page must report them.
    predictor = load_predictor(env.run_dir(run_id))
    plain = np.mean([int(predictor.probabilities(predictor.pixels(root / p)[None]).argmax()) == t
                     for p, t in zip(paths, true)])
    assert f"Measured on this run's 9 test images: {plain:.1%} without" in texts(at.caption)
    assert "with five crops" in texts(at.caption)
    at = open_predict(dataset="tiny")  # measured once, remembered
    assert not at.toggle(key="predict_five_crop").disabled
    at.toggle(key="predict_five_crop").set_value(True).run()
    at.file_uploader(key="predict_upload").upload("photo.jpg", image_bytes, "image/jpeg").run()
    assert not at.exception and not at.error
    (prediction,) = [m for m in at.metric if m.label == "Prediction"]
    assert prediction.value in CLASSES
