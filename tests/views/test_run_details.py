"""Compare/Predict helpers: run labels, default run, unscored runs, test reports, misclassified images,
the download bundle and uploaded weights files."""
from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import pytest

from resnet_core.config import TrainConfig
from resnet_core.data.synthetic import make_image_folder
from resnet_core.results.bundle import bundle_name, export_bundle
from resnet_core.runs.store import RunRecord
from resnet_core.training.checkpoints import CheckpointError, save_checkpoint
from resnet_core.training.models import build_model
from resnet_core.training.weights_upload import save_weights_upload, weights_dir
from resnet_core.views.run_details import (
    ALL_PAIRS,
    confusion_pairs,
    default_run,
    empty_cell_note,
    has_model,
    misclassified_images,
    outcome_message,
    pair_choices,
    per_class_rows,
    predictable_runs,
    run_label,
    score_report,
    split_pair,
    unranked_runs,
)

CLASSES = ["cat", "dog", "fox"]
REPORT = {
    "classes": CLASSES,
    "confusion": [[3, 1, 0], [2, 2, 0], [0, 0, 4]],
    "per_class": [{"class": c, "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 4} for c in CLASSES],
    "misclassified": [
        {"path": "cat/cat_0001.png", "true": "cat", "predicted": "dog", "probability": 0.6},
        {"path": "dog/dog_0001.png", "true": "dog", "predicted": "cat", "probability": 0.7},
        {"path": "dog/dog_0002.png", "true": "dog", "predicted": "cat", "probability": 0.55},
        {"path": "../outside.png", "true": "dog", "predicted": "cat", "probability": 0.9},
    ],
    "test_images": 12,
}


def record(run_id, status="completed", test_acc=0.9, dataset="d", num_train=30, **kw):
    return RunRecord(id=run_id, dataset=dataset, model="resnet18", status=status,
                     config=TrainConfig(dataset=dataset), description=f"ResNet18 run {run_id}",
                     num_train=num_train, test_acc=test_acc, val_acc=test_acc, val_loss=0.5,
                     train_time_s=10.0 + run_id, epoch_ended=2, **kw)


def test_run_label_shows_id_description_and_test_accuracy():
    assert run_label(record(3, test_acc=0.9333)) == "#3 · ResNet18 run 3 · test acc 93.3%"
    assert run_label(record(4, status="failed", test_acc=None)) == "#4 · ResNet18 run 4 · failed"


def test_default_run_is_rank_one_of_the_dataset_else_the_newest():
    runs = [record(5, test_acc=0.7), record(4, test_acc=0.95), record(3, test_acc=0.8),
            record(9, test_acc=0.99, dataset="other")]
    assert default_run(runs, "d") == 4
    assert default_run(runs, "other") == 9
    assert default_run(runs, None) == 9  # no dataset chosen: the newest
    assert default_run([record(6, status="failed", test_acc=None)], "d") == 6
    assert default_run([], "d") is None


def test_default_run_with_several_sizes_takes_the_best_of_the_largest():
    runs = [record(1, test_acc=0.99, num_train=10), record(2, test_acc=0.8, num_train=100)]
    assert default_run(runs, "d") == 2


def test_unranked_runs_lists_runs_without_a_score_with_why():
    runs = [record(1), record(2, status="failed", test_acc=None, error="out of memory"),
            record(3, status="cancelled", test_acc=None, notes=("Cancelled before the first evaluation",)),
            record(4, status="cancelled", test_acc=0.6),  # scored before it was cancelled: ranked
            record(5, status="interrupted", test_acc=None), record(6, status="running", test_acc=None)]
    runs[1] = dataclasses.replace(runs[1], name="big batch")
    rows = unranked_runs(runs)
    assert [r["Run"] for r in rows] == [2, 3, 5]
    assert [r["Name"] for r in rows] == ["big batch", "", ""]
    assert rows[0]["What happened"] == "out of memory"
    assert "first evaluation" in rows[1]["What happened"]
    assert rows[2]["Status"] == "interrupted" and rows[2]["What happened"]
    assert outcome_message(record(7, status="failed", test_acc=None)) == "failed without a message"


def test_score_report_and_confusion_pairs():
    report = score_report(record(1, final_metrics=REPORT))
    assert report.classes == CLASSES and report.test_images == 12
    # Off-diagonal cells with images, most confused first.
    assert confusion_pairs(report) == [("dog", "cat", 2), ("cat", "dog", 1)]
    assert [r["Class"] for r in per_class_rows(report)] == CLASSES
    assert score_report(record(2, final_metrics=None)) is None
    assert score_report(record(3, final_metrics={"classes": ["a"], "confusion": [[1, 0]] * 2})) is None


def test_misclassified_images_filter_by_cell_and_stay_inside_the_dataset(tmp_path):
    root = make_image_folder(tmp_path / "data", num_classes=2, per_class=3, size=32, names=["cat", "dog"])
    (tmp_path / "outside.png").write_bytes((root / "cat" / "cat_0000.png").read_bytes())
    rec = record(1, final_metrics=REPORT, dataset_root=str(root))
    report = score_report(rec)
    every = misclassified_images(rec, report)
    assert len(every) == 4
    assert every[0]["file"] == (root / "cat" / "cat_0001.png").resolve()
    assert every[3]["file"] is None  # '../outside.png' climbs out of the dataset: never opened
    dog_as_cat = misclassified_images(rec, report, true="dog", predicted="cat")
    assert [i["path"] for i in dog_as_cat] == ["dog/dog_0001.png", "dog/dog_0002.png", "../outside.png"]
    assert misclassified_images(rec, report, true="fox", predicted="cat") == []
    (root / "dog" / "dog_0002.png").unlink()
    gone = misclassified_images(rec, report, true="dog", predicted="cat")
    assert gone[1]["file"] is None  # deleted since: shown without a picture, no crash


def fake_trained_run(workspace, run_id: int, image_size: int = 32):
    """A run folder with a best.pt (untrained weights: enough to export and load)."""
    folder = workspace.run_dir(run_id)
    folder.mkdir(parents=True)
    model = build_model("resnet18", len(CLASSES))
    save_checkpoint(folder / "best.pt", model, CLASSES, image_size, epoch=1, config={})
    return folder


def test_has_model_and_predictable_runs(workspace):
    fake_trained_run(workspace, 1)
    runs = [record(1), record(2), record(3, status="running", test_acc=None)]
    fake_trained_run(workspace, 3)  # still running: its checkpoint may be half-way
    assert has_model(runs[0], workspace) and not has_model(runs[1], workspace)
    assert [r.id for r in predictable_runs(runs, workspace)] == [1]


def test_export_bundle_zips_the_model_with_labels_and_preprocessing(workspace):
    fake_trained_run(workspace, 1)
    data = export_bundle(workspace, 1, "torchscript")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["labels.json", "model.pt", "predict.py", "preprocess.json"]
        assert json.loads(zf.read("labels.json")) == CLASSES
        assert json.loads(zf.read("preprocess.json"))["center_crop"] == [32, 32]
    assert list(workspace.tmp_dir.iterdir()) == []  # the scratch folder is gone
    assert bundle_name(1, "resnet18", "onnx") == "run-1-resnet18-onnx.zip"


def test_export_bundle_errors_say_what_is_wrong(workspace):
    with pytest.raises(CheckpointError, match="no trained model"):
        export_bundle(workspace, 42, "torchscript")
    with pytest.raises(ValueError, match="format must be one of"):
        export_bundle(workspace, 42, "pickle")
    assert list(workspace.tmp_dir.iterdir()) == []


def test_save_weights_upload_keeps_files_apart_by_content(workspace):
    a = save_weights_upload(workspace, "model.pt", b"first")
    b = save_weights_upload(workspace, "model.pt", b"second")
    again = save_weights_upload(workspace, "model.pt", b"first")
    assert a != b and a == again and a.read_bytes() == b"first"
    assert a.name == b.name == "model.pt"  # messages name the file as the user knows it
    assert a.parent.parent == weights_dir(workspace) and workspace.contains(a)
    sneaky = save_weights_upload(workspace, "../../evil.pth", b"x")
    assert sneaky.parent.parent == weights_dir(workspace) and sneaky.name == "evil.pth"


@pytest.mark.parametrize("name, data, message", [("model.pt", b"", "empty"),
                                                 ("notes.txt", b"x", "not a weights file")])
def test_save_weights_upload_refuses_bad_files(workspace, name, data, message):
    with pytest.raises(ValueError, match=message):
        save_weights_upload(workspace, name, data)


def test_the_misclassified_images_box_offers_every_image_then_each_confused_pair():
    report = score_report(record(1, final_metrics=REPORT))
    choices = pair_choices(report)
    assert list(choices.values()) == ["all (4)", "true dog → predicted cat (2)", "true cat → predicted dog (1)"]
    first_pair = list(choices)[1]
    assert split_pair(first_pair) == ("dog", "cat") and split_pair(ALL_PAIRS) == (None, None)
    assert split_pair(None) == (None, None)


def test_a_clicked_cell_without_images_says_why():
    assert empty_cell_note("cat\u2192cat") == "That cell is a correct prediction."
    assert empty_cell_note("fox\u2192cat") == "No test images in that cell."
    assert empty_cell_note(ALL_PAIRS) is None and empty_cell_note(None) is None
