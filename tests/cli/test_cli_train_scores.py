"""`train --json` reports the scores that let every class count the same, beside accuracy."""
from __future__ import annotations

import json

import pytest

from resnet_core.cli import main
from resnet_core.data.synthetic import make_image_folder
from resnet_core.results.metrics import run_scores
from resnet_core.runs.store import RunStore


def test_train_json_has_balanced_accuracy_and_macro_f1(tmp_path, capsys, workspace, offline_torch_home,
                                                       monkeypatch):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")
    folder = make_image_folder(tmp_path / "imgs", num_classes=3, per_class=[16, 8, 4], size=32)
    code = main(["train", str(folder), "--weights", "none", "--freeze-backbone", "--augment", "none",
                 "--epochs", "1", "--batch-size", "8", "--image-size", "32", "--device", "cpu", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    assert out["status"] == "completed"
    assert 0.0 <= out["balanced_acc"] <= 1.0 and 0.0 <= out["macro_f1"] <= 1.0
    store = RunStore(workspace)
    try:
        stored = run_scores(store.get_run(out["run_id"]).final_metrics)  # the run's own test report
    finally:
        store.close()
    assert out["balanced_acc"] == pytest.approx(stored["balanced_acc"])
    assert out["macro_f1"] == pytest.approx(stored["macro_f1"])
