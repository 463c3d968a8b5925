"""Home page: the path with the current step, quick stats, hardware and ImageNet weights status."""
from __future__ import annotations

import hashlib
import io
import threading
import urllib.request

import pytest
import torch
from page_helpers import APP
from streamlit.testing.v1 import AppTest

from resnet_core.config import TrainConfig
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.hardware import detect_hardware
from resnet_core.runs.store import RunStore
from resnet_core.training import weights
from resnet_core.training.checkpoints import CHECKPOINT_NAME
from resnet_core.training.weights import imagenet_weights_path
from resnet_core.views.machine_check import HARDWARE, WEIGHTS_SERVER, forget_checks
from ui.shared import DATASET, PLAN


def checks_settled() -> None:
    """The background checks of this machine start again and are over (the machine a test set up)."""
    forget_checks()
    assert HARDWARE.wait(60) is not None and WEIGHTS_SERVER.wait(60) is not None


@pytest.fixture(autouse=True)
def machine_checked(env):
    checks_settled()


@pytest.fixture
def app(env):
    return AppTest.from_file(APP, default_timeout=30)


def text_of(at) -> str:
    return "\n".join(e.value for kind in (at.markdown, at.caption, at.info) for e in kind)


def step_line(at, title: str) -> str:
    return next(m.value for m in at.markdown if f"· {title}**" in m.value)


def test_empty_workspace(app, workspace, offline_torch_home):
    app.run()
    assert not app.exception and not app.error
    assert "You are here" in step_line(app, "Data")
    assert "You are here" not in step_line(app, "Wizard")
    text = text_of(app)
    assert str(workspace.root) in text
    assert detect_hardware().describe() in text
    assert "ResNet18** ImageNet weights not found" in text
    # How to add them: the exact file and folder, and what happens without them.
    expected = imagenet_weights_path("resnet18")
    assert expected.name in text and str(expected.parent) in text
    assert "random initialisation" in text and "Train page" in text
    assert [(m.label, m.value) for m in app.metric] == [("Datasets", "0"), ("Runs", "0"),
                                                        ("Best test accuracy", "—")]
    assert app.button(key="home_sample")


def test_cached_weights_show_as_available(app, offline_torch_home):
    path = imagenet_weights_path("resnet18")
    assert str(offline_torch_home) in str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    app.run()
    text = text_of(app)
    assert "ResNet18** ImageNet weights available" in text
    assert "ResNet50** ImageNet weights not found" in text
    assert "resnet18-" not in next(i.value for i in app.info)  # only the missing files are listed


def test_stepper_and_stats_follow_the_state(app, workspace, tmp_path):
    info = register_folder(make_image_folder(tmp_path / "pets", per_class=4), workspace)
    store = RunStore(workspace)
    run_id = store.create_run(TrainConfig(dataset=info.name), str(info.root), 12, 8, 2, 2)
    store.finish_run(run_id, "completed", {"test_acc": 0.75, "val_loss": 0.5})
    app.session_state[DATASET] = info.name
    app.session_state[PLAN] = {"dataset": info.name}
    app.run()
    assert not app.exception
    assert "Done" in step_line(app, "Data") and "Done" in step_line(app, "Train")
    assert "You are here" in step_line(app, "Compare")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {"Datasets": "1", "Runs": "1", "Best test accuracy": "75.0%"}


def test_best_accuracy_names_dataset_and_test_images_and_cancelled_is_not_finished(app, workspace, tmp_path):
    store = RunStore(workspace)
    shapes = register_folder(make_image_folder(tmp_path / "shapes", per_class=4), workspace)
    clipart = register_folder(make_image_folder(tmp_path / "clipart", per_class=4), workspace)
    tiny_test = store.create_run(TrainConfig(dataset=shapes.name), str(shapes.root), 12, 3, 2, 7)
    store.finish_run(tiny_test, "completed", {"test_acc": 0.714, "val_loss": 0.5})
    cancelled = store.create_run(TrainConfig(dataset=clipart.name), str(clipart.root), 297, 207, 45, 45)
    store.finish_run(cancelled, "cancelled", {"test_acc": 0.422, "val_loss": 0.9})
    app.session_state[DATASET] = clipart.name
    app.run()
    assert not app.exception
    runs = next(m for m in app.metric if m.label == "Runs")
    assert runs.help == "1 finished · 1 cancelled"
    best = next(m for m in app.metric if m.label == "Best test accuracy")
    assert best.value == "42.2%"  # the selected dataset's best, not another dataset's 7-image split
    assert f"Run #{cancelled} · ResNet18 + fine-tuning + augmentation · dataset 'clipart', 45 test images" \
        in text_of(app)


def test_continue_goes_to_the_current_step(app):
    app.run()
    app.button(key="home_continue").click().run()
    assert not app.exception
    assert [t.value for t in app.title] == ["Data"]


def test_sample_button_imports_and_opens_data(app, workspace):
    app.run()
    app.button(key="home_sample").click().run()
    assert not app.exception and not app.error
    assert app.session_state[DATASET] == "fashion-mnist-sample"
    assert [t.value for t in app.title] == ["Data"]


def test_a_new_session_with_runs_shows_a_consistent_path(app, workspace, tmp_path):
    # A fresh browser session: nothing selected, no plan; the workspace has a dataset and a run that
    # kept its model. Data counts as done and Predict is usable, not 'Later'.
    info = register_folder(make_image_folder(tmp_path / "pets", per_class=4), workspace)
    store = RunStore(workspace)
    run_id = store.create_run(TrainConfig(dataset=info.name), str(info.root), 12, 8, 2, 2)
    store.finish_run(run_id, "completed", {"test_acc": 0.75, "val_loss": 0.5})
    (workspace.run_dir(run_id) / CHECKPOINT_NAME).write_bytes(b"kept model")
    app.run()
    assert not app.exception
    assert "Done" in step_line(app, "Data") and "Done" in step_line(app, "Train")
    assert "You are here" in step_line(app, "Compare")
    assert "Ready" in step_line(app, "Predict") and "Later" not in step_line(app, "Predict")


def test_a_damaged_run_database_is_repaired_from_the_home_page(app, workspace):
    store = RunStore(workspace)
    run_id = store.create_run(TrainConfig(dataset="pets", weights="none", epochs=1), "/data/pets", 10, 6, 2, 2)
    store.finish_run(run_id, "completed", {"test_acc": 0.75, "val_acc": 0.8, "val_loss": 0.5})
    store.close()
    workspace.db_path.write_bytes(b"not a database" * 300)
    app.run()
    assert not app.exception
    message = " ".join(e.value for e in app.error)
    assert "cannot open the run database" in message and "unexpected" not in message
    app.button(key="home_repair").click().run()
    assert not app.exception and not app.error
    report = " ".join(e.value for e in app.success)
    assert "set aside" in report and "Recovered 1 run" in report
    assert {m.label: m.value for m in app.metric}["Runs"] == "1"
    assert list(workspace.root.glob("runs.sqlite.damaged-*"))


class _FakeDownload(io.BytesIO):
    """What urlopen returns, serving `data` with its length (the network, mocked)."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


@pytest.fixture
def weights_server(monkeypatch, offline_torch_home):
    """The download server answers, with a file whose name carries its own checksum."""
    from resnet_core.training import weights

    data = b"torchvision's weights, standing in" * 4096
    prefix = hashlib.sha256(data).hexdigest()[:8]
    monkeypatch.delenv("RESNET_PILOT_OFFLINE", raising=False)
    monkeypatch.setattr(weights, "_probe_result", None)
    monkeypatch.setattr(weights, "_probe", lambda timeout: True)
    monkeypatch.setattr(weights, "imagenet_weights_url",
                        lambda arch: f"https://download.pytorch.org/models/{arch}-{prefix}.pth")
    checks_settled()
    asked = []

    def urlopen(url, timeout=None):
        asked.append(url)
        return _FakeDownload(data)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return asked


def test_missing_weights_offer_a_download_per_depth_when_the_network_answers(app, weights_server,
                                                                             offline_torch_home):
    app.run()
    assert not app.exception
    buttons = {b.key for b in app.button if b.key and b.key.startswith("home_download_")}
    assert buttons == {"home_download_resnet18", "home_download_resnet50", "home_download_resnet101"}
    assert "Download them above" in next(i.value for i in app.info)
    app.button(key="home_download_resnet18").click().run()
    assert not app.exception and not app.error
    assert weights_server == [weights.imagenet_weights_url("resnet18")]
    saved = list((offline_torch_home / "hub" / "checkpoints").glob("resnet18-*.pth"))
    assert len(saved) == 1 and not list(saved[0].parent.glob(".*.tmp"))
    text = text_of(app)
    assert "ResNet18** ImageNet weights available" in text and "ResNet50** ImageNet weights not found" in text
    assert "home_download_resnet18" not in {b.key for b in app.button}


def test_offline_no_download_is_offered_and_the_page_says_where_to_copy(app, offline_torch_home):
    app.run()
    assert not [b for b in app.button if b.key and b.key.startswith("home_download_")]
    info = next(i.value for i in app.info)
    assert "does not answer" in info and str(offline_torch_home / "hub" / "checkpoints") in info


def test_a_damaged_download_leaves_no_file(weights_server, offline_torch_home, monkeypatch):
    monkeypatch.setattr(weights, "imagenet_weights_url",
                        lambda arch: f"https://download.pytorch.org/models/{arch}-00000000.pth")
    with pytest.raises(weights.WeightsError, match="damaged"):
        weights.download_imagenet_weights("resnet18")
    assert not weights.imagenet_weights_available("resnet18")
    assert not list((offline_torch_home / "hub" / "checkpoints").iterdir())


def test_home_draws_while_the_machine_is_checked_and_shows_the_result_once_done(app, offline_torch_home,
                                                                                monkeypatch):
    answer = threading.Event()  # the weights server answers only when the test says so
    monkeypatch.delenv("RESNET_PILOT_OFFLINE", raising=False)
    monkeypatch.setattr(weights, "_probe_result", None)
    monkeypatch.setattr(weights, "_probe", lambda timeout: answer.wait(60))
    forget_checks()
    try:
        app.run()
        assert not app.exception and not app.error
        assert "Your path" in [s.value for s in app.subheader]  # the page is there at once
        assert "Checking this machine" in text_of(app)
        assert not [b for b in app.button if b.key and b.key.startswith("home_download_")]
        answer.set()
        assert WEIGHTS_SERVER.wait(60) is not None and HARDWARE.wait(60) is not None
        app.run()
        assert not app.exception and not app.error
        text = text_of(app)
        assert "Checking this machine" not in text and detect_hardware().describe() in text
        assert app.button(key="home_download_resnet18")  # the server answered
    finally:
        answer.set()
