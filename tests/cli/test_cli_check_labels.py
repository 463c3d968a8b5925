"""`check-labels`: features from a finished run when ImageNet weights are missing; clear errors."""
from __future__ import annotations

import json

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.runs.store import RunStore


def test_check_labels_without_weights_or_runs_says_what_to_do(capsys, tmp_path, workspace, offline_torch_home):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=6)
    assert main(["check-labels", str(root)]) == 2
    assert "train one first" in capsys.readouterr().err


def test_check_labels_with_a_runs_features_names_its_guarantee(capsys, tmp_path, workspace, offline_torch_home):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=10)
    (root / "class_0" / "odd.png").write_bytes((root / "class_1" / "class_1_0003.png").read_bytes())
    info = register_folder(root, workspace)
    store = RunStore(workspace)
    config = TrainConfig(dataset=info.name, weights="none", fine_tune=False, augmentation="none", epochs=1,
                         batch_size=8, image_size=32)
    run_id = create_run(config, workspace, store)
    assert execute_run(run_id, config, workspace, store) == "completed"
    store.close()
    before = sorted((p.name, p.stat().st_mtime_ns) for p in root.rglob("*"))
    assert main(["check-labels", info.name, "--json", "--folds", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
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
    monkeypatch.setattr("resnet_core.results.label_job.feature_source", lambda *_a: None)
    assert main(["check-labels", str(root)]) == 2
    err = capsys.readouterr().err
    assert "a file of the dataset is gone" in err and "Errno" not in err
