"""Data page, likely mislabels: the check's cost before it starts, its progress and findings, then
excluding a suggested image and undoing it."""
from __future__ import annotations

import hashlib
import threading
import time

import pytest
from page_helpers import metrics, open_app, texts

from resnet_core.config import TrainConfig
from resnet_core.data.handle import open_dataset
from resnet_core.results.label_check import LabelReport, Suspect
from resnet_core.results.label_job import current_job, save_report
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.runs.store import RunStore
from resnet_core.views.label_view import widget_id
from ui.shared import DATASET


@pytest.fixture
def data_page(tiny):
    """The Data page with the dataset 'tiny' selected."""
    at = open_app().run()
    at.switch_page("pages/data.py")
    at.session_state[DATASET] = tiny
    return at.run()


def folder_state(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def report_one_suspect(handle, suggested: str, confidence: float = 0.8, margin: float = 0.5) -> str:
    """Keep a label check that found one suspect, the dataset's first image (in class_0), looking like
    `suggested`; returns its path."""
    suspect = handle.report.images[0].path
    save_report(handle, LabelReport(method="test features", folds=5, num_images=36, suspects=[
        Suspect(path=suspect, given="class_0", suggested=suggested, confidence=confidence, margin=margin)]), 1.0)
    return suspect


def test_without_weights_or_a_run_the_panel_says_to_train_first(data_page):
    assert not data_page.exception
    assert "train one first" in texts(data_page.info)
    assert not [b for b in data_page.button if b.key == "data_labels_start"]


def test_the_check_states_its_cost_then_runs_with_progress_to_its_findings(data_page, env, tiny):
    store = RunStore(env)
    config = TrainConfig(dataset=tiny, weights="none", fine_tune=False, augmentation="none", epochs=1,
                         batch_size=8, image_size=32)
    run_id = create_run(config, env, store)
    assert execute_run(run_id, config, env, store) == "completed"
    store.close()
    at = data_page.run()
    assert f"run #{run_id}'s model at 32 px: about" in texts(at.caption)  # the cost, before it starts
    at.button(key="data_labels_start").click().run()
    job = current_job(open_dataset(tiny, env).info.meta_dir)
    assert job is not None
    job.thread.join(120)
    at.run()
    assert not at.exception
    assert "Last check:" in texts(at.caption) and "finished run's model" in texts(at.caption)
    assert at.button(key="data_labels_start").label == "Check the labels again"


def test_exclude_a_suggested_image_then_undo_it(data_page, env, tiny):
    handle = open_dataset(tiny, env)
    before = folder_state(handle.info.root)
    suspect = report_one_suspect(handle, "class_1", confidence=0.91, margin=0.6)
    at = data_page.run()
    assert "looks like **class_1** (91%)" in texts(at.caption)
    assert metrics(at)["Images"] == "36"

    at.button(key=f"data_labels_exclude_{widget_id(suspect)}").click().run()
    assert not at.exception and not at.error
    assert metrics(at)["Images"] == "35"  # the report is the dataset's as the next run sees it
    assert f"Left out {suspect}" in texts(at.success)
    assert f"`{suspect}` — left out" in texts(at.markdown)
    assert not [b for b in at.button if b.key == f"data_labels_exclude_{widget_id(suspect)}"]  # decided: no longer listed
    split = open_dataset(tiny, env).split
    assert suspect not in {e.path for e in split.train + split.val + split.test}

    at.button(key=f"data_labels_undo_{widget_id(suspect)}").click().run()
    assert metrics(at)["Images"] == "36"
    assert f"Undone: {suspect} is back in 'class_0'" in texts(at.success)
    assert at.button(key=f"data_labels_exclude_{widget_id(suspect)}")  # listed again
    assert folder_state(handle.info.root) == before


def test_move_a_suggested_image_to_its_suggested_class(data_page, env, tiny):
    suspect = report_one_suspect(open_dataset(tiny, env), "class_2")
    at = data_page.run()
    at.button(key=f"data_labels_move_{widget_id(suspect)}").click().run()
    assert not at.exception and not at.error
    assert open_dataset(tiny, env).report.counts == {"class_0": 11, "class_1": 12, "class_2": 13}
    assert "counted as 'class_2' instead of 'class_0'" in texts(at.markdown)


def test_move_a_suggested_image_to_a_class_other_than_the_suggestion(data_page, env, tiny):
    suspect = report_one_suspect(open_dataset(tiny, env), "class_2")
    at = data_page.run()
    choice = at.selectbox(key=f"data_labels_to_{widget_id(suspect)}")
    assert choice.options == ["class_2", "class_1"]  # the suggestion first, never the class it is in
    assert choice.value == "class_2"
    choice.select("class_1").run()
    at.button(key=f"data_labels_move_{widget_id(suspect)}").click().run()
    assert not at.exception and not at.error
    assert f"{suspect} now counts as 'class_1'" in texts(at.success)
    assert f"`{suspect}` — counted as 'class_1' instead of 'class_0'" in texts(at.markdown)
    assert open_dataset(tiny, env).report.counts == {"class_0": 11, "class_1": 13, "class_2": 12}


@pytest.fixture
def slow_check(monkeypatch):
    """A label check that takes features until it is cancelled (it never finishes by itself), from a
    source that needs no weights and costs nothing to time. Yields an Event set once it has reported
    progress."""
    from resnet_core.results import label_job
    from resnet_core.views import label_view

    reported = threading.Event()

    def features_until_cancelled(handle, workspace, source, folds, progress=None):
        for _ in range(2400):  # at most a couple of minutes, should the cancel never come
            progress("features", 3, 10)  # raises once the check is cancelled
            reported.set()
            time.sleep(0.05)
        raise RuntimeError("the check was never cancelled")

    monkeypatch.setattr(label_view, "feature_source", lambda *_a, **_k: label_job.FeatureSource("resnet18", 32))
    monkeypatch.setattr(label_view, "estimate_seconds", lambda *_a, **_k: 42.0)
    monkeypatch.setattr(label_job, "run_label_check", features_until_cancelled)
    return reported


def test_a_running_check_shows_its_progress_and_can_be_cancelled(data_page, env, tiny, slow_check):
    at = data_page.run()
    assert "Checks 36 images with ImageNet resnet18 features at 32 px: about" in texts(at.caption)  # the cost first
    at.button(key="data_labels_start").click().run()
    job = current_job(open_dataset(tiny, env).info.meta_dir)
    assert job is not None and slow_check.wait(60)
    at.run()
    assert not at.exception
    (bar,) = at.get("progress")
    assert "Taking features: 3 of 10" in bar.proto.text and bar.proto.value == 30
    assert not [b for b in at.button if b.key == "data_labels_start"]  # one check at a time

    at.button(key="data_labels_cancel").click().run()
    job.thread.join(60)
    assert job.snapshot().state == "cancelled"
    at.run()
    assert not at.exception
    assert "The label check was cancelled; nothing was changed." in texts(at.warning)
    assert not at.get("progress")
    assert at.button(key="data_labels_start")  # ready to start again
    assert "Last check:" not in texts(at.caption)  # a cancelled check keeps no findings
