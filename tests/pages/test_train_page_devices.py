"""The Train page with several GPUs (faked): a Devices choice for one run over them, and a run over two
processes (Gloo on the CPU, started by the job manager) followed live to its end."""
from __future__ import annotations

import time

import pytest
from page_helpers import APP, TIMEOUT, texts
from streamlit.testing.v1 import AppTest

from resnet_core import hardware
from ui.shared import LAST_RUN, services


@pytest.fixture
def gpus(monkeypatch):
    """Pretend this machine has this many GPUs (the page only reads the count)."""
    def fake(count: int) -> None:
        monkeypatch.setattr(hardware, "gpu_count", lambda: count)
    return fake


def open_train() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    return at


def test_the_devices_choice_appears_only_with_two_gpus_or_more(tiny, gpus):
    gpus(1)
    assert not [s for s in open_train().selectbox if s.key == "train_devices"]
    gpus(4)
    at = open_train()
    devices = at.selectbox(key="train_devices")
    assert devices.options == ["1 GPU", "2 GPUs (DDP)", "3 GPUs (DDP)", "4 GPUs (DDP)"] and devices.value == 1
    at.number_input(key="train_batch_size").set_value(8)
    devices.set_value(4).run()
    assert "the global batch is 32 (8 × 4 GPUs)" in texts(at.caption)


def test_a_two_process_run_is_followed_live_to_its_end(tiny, gpus, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    gpus(2)
    at = open_train()
    at.selectbox(key="train_weights").set_value("none").run()
    for key, value in (("train_image_size", 32), ("train_epochs", 2), ("train_batch_size", 4),
                       ("train_learning_rate", 1e-3)):
        at.number_input(key=key).set_value(value)
    at.selectbox(key="train_augmentation").set_value("none")
    at.selectbox(key="train_device").set_value("cpu")
    at.selectbox(key="train_devices").set_value(2).run()
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    run_id = at.session_state[LAST_RUN]
    jobs = services().jobs
    deadline = time.monotonic() + 240  # only how long a broken test may hang
    while jobs.snapshot(run_id).status != "running" or not jobs.snapshot(run_id).batch:
        assert jobs.snapshot(run_id).is_active and time.monotonic() < deadline, jobs.snapshot(run_id)
        time.sleep(0.05)
    at.run()  # the page while the group trains: the run's live progress from rank 0
    assert not at.exception and at.get("progress")
    assert texts(at.subheader).startswith(f"Run #{run_id}")
    assert "cpu × 2 processes (DDP)" in texts(at.caption)
    snap = jobs.wait(run_id, timeout=240)
    assert snap.status == "completed", snap.message
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epoch ended"] == "2" and metrics["Test accuracy"].endswith("%")
    assert "Finished" in texts(at.success)
    record = services().store.get_run(run_id)
    assert record.config.devices == 2 and any("2 processes" in n for n in record.notes)


def test_the_devices_choice_says_how_the_learning_rate_scales_and_why(tiny, gpus):
    gpus(2)
    at = open_train()
    rate = at.number_input(key="train_learning_rate").value
    at.selectbox(key="train_devices").set_value(2).run()
    assert not at.exception
    captions = texts(at.caption)
    assert f"Learning rate {rate * 2:g} = {rate:g} × 2: the linear scaling rule" in captions
    assert "set the learning rate yourself to keep another" in captions
    at.number_input(key="train_learning_rate").set_value(rate / 2).run()  # chosen by the user: not scaled
    assert "linear scaling rule (a 2×" not in texts(at.caption)
