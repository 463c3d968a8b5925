"""`rerun ID --seeds N`: N new runs of the same configuration with new seeds, linked to the first run,
and the configuration's mean, standard deviation and count in the JSON."""
from __future__ import annotations

import json
import statistics

import pytest

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.runs.store import RunStore


@pytest.fixture
def first_run(tmp_path, workspace, offline_torch_home):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=8, size=32)
    info = register_folder(root, workspace)
    store = RunStore(workspace)
    config = TrainConfig(dataset=info.name, weights="none", fine_tune=False, augmentation="none", epochs=1,
                         batch_size=8, image_size=32, seed=0)
    run_id = create_run(config, workspace, store)
    assert execute_run(run_id, config, workspace, store) == "completed"
    store.close()
    return run_id


def test_rerun_with_three_seeds_trains_three_linked_runs_and_reports_the_configuration(first_run, capsys):
    assert main(["rerun", str(first_run), "--seeds", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    runs = out["runs"]
    assert [r["seed"] for r in runs] == [1, 2, 3] and [r["config"]["seed"] for r in runs] == [1, 2, 3]
    assert all(r["repeat_of"] == first_run and r["status"] == "completed" for r in runs)
    assert len({r["run_id"] for r in runs} | {first_run}) == 4
    conf = out["configuration"]
    assert conf["repeat_of"] == first_run and conf["seeds"] == [1, 2, 3] and conf["repeats"] == 4
    assert conf["repeat_runs"] == [first_run, *(r["run_id"] for r in runs)]

    assert main(["runs", "--json"]) == 0
    items = {item["run_id"]: item for item in json.loads(capsys.readouterr().out)}
    accs = [items[i]["test_acc"] for i in conf["repeat_runs"]]
    assert conf["test_acc_mean"] == pytest.approx(statistics.fmean(accs))
    assert conf["test_acc_sd"] == pytest.approx(statistics.stdev(accs))
    times = [items[i]["train_time_s"] for i in conf["repeat_runs"]]
    assert conf["train_time_mean"] == pytest.approx(statistics.fmean(times))
    assert all(items[i]["repeats"] == 4 and items[i]["rank"] == 1 for i in conf["repeat_runs"])

    # Repeating again continues the seeds of the group.
    assert main(["rerun", str(runs[0]["run_id"]), "--seeds", "1"]) == 0
    text = capsys.readouterr().out
    assert "(seed 4) completed" in text and "over 5 runs" in text and "±" in text


def test_a_bad_number_of_seeds_is_refused_in_words_before_any_run(first_run, capsys):
    assert main(["rerun", str(first_run), "--seeds", "0"]) == 2
    assert "between 1 and" in capsys.readouterr().err
    assert main(["runs", "--json"]) == 0
    assert [item["run_id"] for item in json.loads(capsys.readouterr().out)] == [first_run]
