"""`check-labels`: features from a finished run when ImageNet weights are missing; clear errors."""
from __future__ import annotations

import json

import pytest

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.results.label_job import FeatureSource
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.runs.store import RunStore


def test_check_labels_without_weights_or_runs_says_what_to_do(capsys, tmp_path, workspace, offline_torch_home):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=6)
    assert main(["check-labels", str(root)]) == 2
    assert "train one first" in capsys.readouterr().err


@pytest.fixture
def trained(tmp_path, workspace, offline_torch_home):
    """A dataset of 21 images (one of class_1 copied into class_0) with a finished run to take features
    from: its folder and its name."""
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=10)
    (root / "class_0" / "odd.png").write_bytes((root / "class_1" / "class_1_0003.png").read_bytes())
    info = register_folder(root, workspace)
    store = RunStore(workspace)
    config = TrainConfig(dataset=info.name, weights="none", fine_tune=False, augmentation="none", epochs=1,
                         batch_size=8, image_size=32)
    run_id = create_run(config, workspace, store)
    assert execute_run(run_id, config, workspace, store) == "completed"
    store.close()
    return root, info.name


def test_check_labels_with_a_runs_features_names_its_guarantee(capsys, trained):
    root, name = trained
    before = sorted((p.name, p.stat().st_mtime_ns) for p in root.rglob("*"))
    assert main(["check-labels", name, "--json", "--folds", "3"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # stdout is the report alone: the cost and progress go to stderr
    assert "Checks 21 images with the features of run #1's model at 32 px: about" in captured.err
    assert "Cross-validating the linear head (fold 3 of 3)" in captured.err
    assert report["num_images"] == 21 and report["folds"] == 3
    assert "finished run's model" in report["method"]
    for s in report["suspects"]:
        assert set(s) == {"path", "given", "suggested", "confidence", "margin"} and s["given"] != s["suggested"]
    assert sorted((p.name, p.stat().st_mtime_ns) for p in root.rglob("*")) == before  # nothing written


def test_check_labels_says_plainly_when_a_file_vanished(capsys, tmp_path, workspace, offline_torch_home,
                                                        monkeypatch):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=6)

    def vanished(*_args, **_kw):
        raise FileNotFoundError(2, "No such file or directory", str(root / "class_0" / "class_0_0001.png"))

    monkeypatch.setattr("resnet_core.results.label_job.run_label_check", vanished)
    monkeypatch.setattr("resnet_core.results.label_job.feature_source", lambda *_a: FeatureSource("resnet18", 32))
    monkeypatch.setattr("resnet_core.views.label_view.estimate_seconds", lambda *_a: 3.0)
    assert main(["check-labels", str(root)]) == 2
    err = capsys.readouterr().err
    assert "a file of the dataset is gone" in err and "Errno" not in err


def test_check_labels_states_its_measured_cost_first_then_reports_progress_on_stderr(capsys, trained):
    _, name = trained
    assert main(["check-labels", name, "--folds", "3"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    cost = next(i for i, line in enumerate(lines) if line.startswith("Checks 21 images with"))
    assert "on this machine (measured just now" in lines[cost]
    stages = [line.strip() for line in lines[cost + 1:]]
    # Each stage is reported as it starts and ends, in the order the check runs them.
    first_of = {word: next(i for i, line in enumerate(stages) if line.startswith(word))
                for word in ("Taking features", "Cross-validating", "Done in")}
    assert first_of["Taking features"] < first_of["Cross-validating"] < first_of["Done in"]
    assert any(line.startswith("Taking features: 21 of 21") for line in stages)
    assert "Cross-validating the linear head (fold 3 of 3)" in captured.err
    assert "Checks" not in captured.out and "Cross-validating" not in captured.out  # stdout: the findings
    assert "images may be in the wrong class" in captured.out or "No likely mislabels" in captured.out


def test_a_stage_that_reports_its_end_twice_prints_it_once(capsys):
    from resnet_core.cli.check_labels import _ProgressLines

    lines = _ProgressLines()
    for done in (0, 21, 21):
        lines("features", done, 21)
    lines("cross-validation", 0, 5)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and err[1] != err[0] and err[2] != err[1]
