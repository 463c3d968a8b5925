"""Predict: one image through a trained run — its top classes and a Grad-CAM map of where it looked."""
from __future__ import annotations

import streamlit as st

from resnet_core.data.imageio import IMAGE_EXTENSIONS, ImageLoadError
from resnet_core.results.predict import cached_predictor, gradcam_caption, overlay, probability_note
from resnet_core.results.tta_measure import GainUnavailable, tta_gain
from resnet_core.runs.job_errors import plain_error
from resnet_core.text import format_percent
from resnet_core.training.checkpoints import CheckpointError
from resnet_core.views.calibration_view import five_crop_gain_text, flip_gain_text
from resnet_core.views.charts import top_k_bars
from resnet_core.views.run_details import default_run, predictable_runs, run_label
from ui.shared import (
    PAGES,
    PREDICT_RUN,
    friendly_errors,
    selected_dataset,
    services,
    through_the_app,
)

through_the_app()

TOP_K = 5
RUN_KEY = "predict_run"


def choose_run(runs) -> object:
    by_id = {r.id: r for r in runs}
    if st.session_state.get(RUN_KEY) not in by_id:
        wanted = st.session_state.get(PREDICT_RUN)
        st.session_state[RUN_KEY] = wanted if wanted in by_id else default_run(runs, selected_dataset())
    run_id = st.selectbox("Model", list(by_id), key=RUN_KEY,
                          format_func=lambda i: f"{run_label(by_id[i])} · {by_id[i].dataset}",
                          help="The best-ranked run of your dataset is chosen first.")
    st.session_state[PREDICT_RUN] = run_id
    return by_id[run_id]


def image_input() -> tuple[str, bytes] | None:
    """The uploaded file, or a camera photo once the camera is switched on."""
    upload = st.file_uploader("Image", type=sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS),
                              key="predict_upload", help="A photo or picture like the ones the model trained on.")
    use_camera = st.toggle("Use the camera instead", key="predict_camera_on",
                           help="The browser asks for the camera only after you switch this on.")
    if use_camera:
        photo = st.camera_input("Take a picture", key="predict_camera")
        if photo is not None:
            return "camera photo", photo.getvalue()
    if upload is not None:
        return upload.name, upload.getvalue()
    return None


def five_crop_switch(record) -> bool:
    """Five-crop test-time augmentation: offered once its gain on the run's test split is measured."""
    svc = services()
    gain = five_crop_gain_text(svc.workspace, record.id)
    if gain is None and st.button("Measure five crops on the test split", key="predict_measure_five_crop",
                                  icon=":material/crop_free:",
                                  help="Runs the model on the run's test images five times over, once."):
        with st.spinner("Measuring five crops on the test images…"), friendly_errors("measure five crops"):
            predictor = cached_predictor(svc.workspace.run_dir(record.id), device="auto")
            try:
                tta_gain(predictor, record, svc.workspace.run_dir(record.id))
            except GainUnavailable as e:
                st.warning(str(e))
            gain = five_crop_gain_text(svc.workspace, record.id)
    on = st.toggle("Average five crops instead (test-time augmentation)", key="predict_five_crop",
                   disabled=gain is None,
                   help="The image enlarged a little, its four corners and its centre, their probabilities "
                        "averaged. Measure it on the test split first; when on, it replaces the mirror image.")
    st.caption(gain or "Not measured yet for this run.")
    return on


def show_prediction(record, name: str, data: bytes, flip: bool = False, tta: str | None = None) -> None:
    svc = services()
    predictor = None
    with friendly_errors(f"load the model of run {record.id}"):
        predictor = cached_predictor(svc.workspace.run_dir(record.id), device="auto")
    if predictor is None:
        return
    try:
        with st.spinner("Looking at the image…"):
            top = predictor.predict(data, top_k=min(TOP_K, len(predictor.classes)), flip=flip, tta=tta)
            heat, _ = predictor.gradcam(data)
            preview = predictor.preview(data)
    except ImageLoadError as e:
        st.error(f"Cannot use {name}: {e}.", icon=":material/broken_image:")
        return
    except (CheckpointError, ValueError) as e:
        st.error(f"Could not predict with run {record.id}: {e}")
        return
    except RuntimeError as e:  # torch's own text (out of memory, a kernel failure): said in a sentence
        st.error(f"Could not predict with run {record.id}: {plain_error(e, svc.workspace, 'the prediction')}")
        return
    best = top[0]
    left, right = st.columns([2, 3])
    with left:
        st.metric("Prediction", best["class"], help=f"From {name}.")
        st.caption(f"{format_percent(best['probability'])} sure · top {len(top)} of {len(predictor.classes)} classes")
        st.caption(probability_note(predictor))
        st.plotly_chart(top_k_bars(top), key="predict_topk", config={"displayModeBar": False})
    with right:
        a, b = st.columns(2)
        display = max(224, predictor.image_size)
        a.image(preview.resize((display, display)), caption=f"What the model sees ({predictor.image_size} px)",
                width="stretch")
        b.image(overlay(preview, heat).resize((display, display)), caption=f"Where it looked for '{best['class']}'",
                width="stretch")
        st.caption(gradcam_caption(heat, best["probability"], len(predictor.classes), best["class"]))


st.title("Predict")
st.caption("Try a trained model on a new image: see what it thinks and where it looked.")

svc = services()
runs = predictable_runs(svc.store.list_runs(), svc.workspace)
if not runs:
    st.info("No trained model yet. Train a run and it can predict here.", icon=":material/image_search:")
    if st.button("Go to Train", key="predict_go_train", type="primary", icon=":material/model_training:"):
        st.switch_page(PAGES["train"])
    st.stop()

with st.container(border=True):
    c1, c2 = st.columns([3, 2])
    with c1:
        record = choose_run(runs)
    with c2:
        source = image_input()
    gain = flip_gain_text(svc.workspace, record.id)
    flip = st.toggle("Also look at the mirror image (test-time augmentation)", key="predict_flip",
                     help="Averages the probabilities of the image and its left-right mirror.")
    st.caption(gain)
    five_crop = five_crop_switch(record)
if source is None:
    st.info("Upload an image (or switch on the camera) to see the prediction.", icon=":material/upload:")
else:
    show_prediction(record, *source, flip=flip, tta="five-crop" if five_crop else None)
