"""Run names and notes from the command line: `train/rerun --name --note`, `rename ID`, shown by `runs`."""
from __future__ import annotations

import json

import pytest
from cli_helpers import run_cli

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.store import MAX_NAME_CHARS, RunStore
from resnet_core.workspace import Workspace


def stored_run(workspace: Workspace) -> int:
    store = RunStore(workspace)
    try:
        return store.create_run(TrainConfig(dataset="pets"), "datasets/pets", 8, 4, 2, 2, name="first")
    finally:
        store.close()


def runs_json(capsys) -> dict[int, dict]:
    assert main(["runs", "--json"]) == 0
    return {item["run_id"]: item for item in json.loads(capsys.readouterr().out)}


def test_rename_sets_the_name_and_keeps_or_changes_the_note(workspace, capsys):
    run_id = stored_run(workspace)
    assert main(["rename", str(run_id), "--name", "baseline", "--note", "before the new photos"]) == 0
    assert capsys.readouterr().out.strip() == f"run {run_id}: baseline; note: before the new photos"
    item = runs_json(capsys)[run_id]
    assert (item["name"], item["note"]) == ("baseline", "before the new photos")

    assert main(["rename", str(run_id), "--name", "small images", "--json"]) == 0  # the note stays
    assert json.loads(capsys.readouterr().out) == {"run_id": run_id, "name": "small images",
                                                   "note": "before the new photos"}
    assert main(["runs"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["id", "name"] and "small images" in table[2]


def test_rename_refuses_bad_input_in_words(workspace, capsys):
    run_id = stored_run(workspace)
    assert main(["rename", str(run_id)]) == 2
    assert "nothing to change" in capsys.readouterr().err
    assert main(["rename", "404", "--name", "x"]) == 2
    assert "run 404 not found" in capsys.readouterr().err
    assert main(["rename", str(run_id), "--name", "x" * (MAX_NAME_CHARS + 1)]) == 2
    err = capsys.readouterr().err
    assert f"keep it to {MAX_NAME_CHARS}" in err and "Traceback" not in err
    assert runs_json(capsys)[run_id]["name"] == "first"


def test_rename_does_not_load_torch(env, tmp_path):
    run_id = stored_run(Workspace.at(tmp_path / "ws"))
    result = run_cli(["rename", str(run_id), "--name", "light"], env)
    assert result["code"] == 0 and result["heavy"] == [] and "light" in result["out"]


@pytest.fixture
def pets(tmp_path, workspace, offline_torch_home):
    return register_folder(make_image_folder(tmp_path / "pets", num_classes=2, per_class=8, size=32), workspace).name


def test_train_and_rerun_take_a_name_and_a_note(pets, capsys):
    tiny = ["--weights", "none", "--freeze-backbone", "--augment", "none", "--epochs", "1", "--batch-size", "8",
            "--image-size", "32"]
    assert main(["train", pets, *tiny, "--name", "frozen 18", "--note", "how far the head alone gets", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["name"], first["note"]) == ("frozen 18", "how far the head alone gets")
    assert main(["rerun", str(first["run_id"]), "--name", "frozen 18 again", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["name"], again["note"]) == ("frozen 18 again", "")  # a re-run does not inherit the label
    items = runs_json(capsys)
    assert items[first["run_id"]]["name"] == "frozen 18" and items[again["run_id"]]["name"] == "frozen 18 again"
