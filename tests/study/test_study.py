"""The cost-performance study: plan, run, stop, resume, ranked tables, one shared test split, the CLI.

One tiny study (3 classes × 8 images of 32 px; sizes 6 and 12; ResNet-18 fine-tuned or frozen, with
or without augmentation; 2 epochs) is run once for the module, in stages: stopped after 3 runs,
then stopped by cancelling the 4th, then finished by the `sweep` command, then run again.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import re
import threading
from types import SimpleNamespace

import pytest

from resnet_core.cli import main
from resnet_core.data.synthetic import make_image_folder
from resnet_core.results.metrics import run_scores
from resnet_core.runs.store import RunStore
from resnet_core.study.plan import (
    StudyError,
    StudyPlan,
    config_key,
    list_studies,
    load_study,
    plan_study,
)
from resnet_core.study.run import estimate_study_time, run_study
from resnet_core.study.summary import study_conclusion, study_tables
from resnet_core.workspace import ENV_VAR, Workspace

SIZES = (6, 12)
OVERRIDES = {"epochs": 2, "batch_size": 8, "image_size": 32}
CLI_ARGS = ["--sizes", "6,12", "--models", "resnet18", "--epochs", "2", "--batch-size", "8",
            "--image-size", "32", "--device", "cpu", "--include-frozen-random"]


class _Stop(Exception):
    pass


def _plan(folder, ws, **kw) -> StudyPlan:
    args = dict(models=("resnet18",), include_frozen_random=True, overrides=OVERRIDES, workspace=ws,
                device="cpu")
    args.update(kw)
    return plan_study(str(folder), SIZES, **args)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    mp = pytest.MonkeyPatch()
    mp.setenv(ENV_VAR, str(root / "workspace"))
    mp.setenv("TORCH_HOME", str(root / "torch"))
    mp.setenv("RESNET_PILOT_OFFLINE", "1")
    (root / "torch").mkdir()
    ws = Workspace.at(root / "workspace")
    folder = make_image_folder(root / "images", num_classes=3, per_class=8, size=32)
    store = RunStore(ws)
    plan = _plan(folder, ws)
    s = SimpleNamespace(ws=ws, folder=folder, store=store, plan=plan)

    # 1. A progress callback that raises after the third finished run stops the study there.
    finished = []

    def stop_after_three(event):
        if event.kind == "finish":
            finished.append(event.run_id)
            if len(finished) == 3:
                raise _Stop
    with pytest.raises(_Stop):
        run_study(plan, ws, store, progress=stop_after_three)
    s.after_stop = store.list_runs()

    # 2. Cancelling (what Ctrl-C does in the command) stops the current run cleanly, then the study.
    cancel = threading.Event()

    def cancel_at_start(event):
        if event.kind == "start":
            cancel.set()
    s.cancelled = run_study(plan, ws, store, progress=cancel_at_start, cancel_event=cancel)
    s.after_cancel = store.list_runs()

    # 3. The command resumes the study and finishes it.
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        s.cli_rc = main(["sweep", str(folder), *CLI_ARGS, "--json"])
    s.cli_out, s.cli_err = out.getvalue(), err.getvalue()
    s.after_cli = store.list_runs()

    # 4. Once more: nothing left to run.
    s.again = run_study(plan, ws, store)
    s.after_again = store.list_runs()
    yield s
    store.close()
    mp.undo()


def test_stopping_after_k_runs_keeps_exactly_those_runs(study):
    assert len(study.after_stop) == 3
    assert all(r.status == "completed" for r in study.after_stop)
    first_three = [config_key(e.config) for e in study.plan.entries[:3]]
    assert sorted(config_key(r.config) for r in study.after_stop) == sorted(first_three)


def test_cancel_stores_the_current_run_as_cancelled_and_stops(study):
    result = study.cancelled
    assert result.stopped
    assert len(result.ran) == 1 and len(result.skipped) == 3
    assert len(study.after_cancel) == 4
    cancelled = study.store.get_run(result.ran[0])
    assert cancelled.status == "cancelled"
    assert config_key(cancelled.config) == config_key(study.plan.entries[3].config)


def test_resume_runs_only_the_missing_configurations(study):
    plan = study.plan
    assert study.cli_rc == 0, study.cli_err
    new = [r for r in study.after_cli if r.id not in {x.id for x in study.after_cancel}]
    done_before = {config_key(r.config) for r in study.after_cancel if r.status == "completed"}
    assert len(new) == len(plan.entries) - len(done_before) == 5
    assert {config_key(r.config) for r in new} == {e.key for e in plan.entries} - done_before
    assert all(r.status == "completed" for r in new)
    # Run again: everything is done, nothing runs.
    assert study.again.ran == [] and len(study.again.skipped) == len(plan.entries)
    assert len(study.after_again) == len(study.after_cli) == 9


def test_sweep_json_has_tables_conclusion_and_runs(study):
    out = json.loads(study.cli_out)
    assert {"tables", "conclusion", "study_id", "runs"} <= set(out)
    assert out["study_id"] == study.plan.study_id
    assert [t["num_images"] for t in out["tables"]] == list(SIZES)
    assert all(len(t["rows"]) == 4 for t in out["tables"])
    assert len(out["runs"]) == 8 and all(r["status"] == "completed" for r in out["runs"])
    for row in (r for t in out["tables"] for r in t["rows"]):  # every class counting the same, beside accuracy
        assert 0.0 <= row["balanced_acc"] <= 1.0 and 0.0 <= row["macro_f1"] <= 1.0
    assert out["conclusion"] and all(isinstance(line, str) for line in out["conclusion"])
    assert "[8/8]" in study.cli_err and "done already" in study.cli_err


def test_sweep_prints_the_tables_in_the_study_layout_and_the_conclusion(study, capsys):
    assert main(["sweep", str(study.folder), *CLI_ARGS]) == 0  # all done: nothing trains
    out = capsys.readouterr().out
    assert "Model(6 images) | Val Loss | Val Acc | Test Acc | Training Time | Epoch Ended | Rank |" in out
    # A few test images rarely separate runs: the conclusion then says they are tied.
    assert "Model(12 images)" in out and re.search(r"\n- 12 images: (best was|tied for best were) ", out)
    assert len(study.store.list_runs()) == 9


def test_tables_are_one_per_size_and_ranked_like_the_study(study):
    tables = study_tables(study.plan.study_id, study.store)  # by id: read back from its record
    assert [t["num_images"] for t in tables] == list(SIZES)
    for table in tables:
        rows = table["rows"]
        assert [r["config"] for r in rows] == ["ResNet18", "ResNet18 + fine-tuning",
                                               "ResNet18 + augmentation",
                                               "ResNet18 + fine-tuning + augmentation"]
        assert sorted(r["rank"] for r in rows) == [1, 2, 3, 4]
        for r in rows:
            assert {"config", "val_loss", "val_acc", "test_acc", "train_time_s", "epoch_ended",
                    "rank"} <= set(r)
            record = study.store.get_run(r["run_id"])
            assert record.num_train == table["num_images"] and r["test_acc"] == record.test_acc
            scores = run_scores(record.final_metrics)  # from the run's test report, as Compare shows them
            assert (r["balanced_acc"], r["macro_f1"]) == (scores["balanced_acc"], scores["macro_f1"])
            assert r["balanced_acc"] is not None
        by_rank = sorted(rows, key=lambda r: r["rank"])
        keys = [(-r["test_acc"], r["val_loss"], r["train_time_s"]) for r in by_rank]
        assert keys == sorted(keys)


def test_every_size_is_scored_on_the_same_test_images(study):
    from resnet_core.data.prepare import prepare_data

    runs = [r for r in study.after_again if r.status == "completed"]
    assert {r.num_test for r in runs} == {runs[0].num_test}
    assert {r.final_metrics["test_images"] for r in runs} == {runs[0].num_test}
    small, large = (prepare_data(study.plan.entries_for(n)[0].config, study.ws) for n in SIZES)
    assert small.test_idx.tolist() == large.test_idx.tolist()
    assert small.val_idx.tolist() == large.val_idx.tolist()
    assert (len(small.train_idx), len(large.train_idx)) == SIZES
    assert set(small.train_idx.tolist()) < set(large.train_idx.tolist())  # the sizes nest


def test_conclusion_names_the_best_configuration_of_each_size(study):
    tables = study_tables(study.plan, study.store)
    conclusion = study_conclusion(tables, study.plan.wizard_pick_names())
    text = "\n".join(conclusion)
    for table in tables:
        best = next(r for r in table["rows"] if r["rank"] == 1)
        for r in table["rows"]:  # every scored configuration has its 95% interval
            assert r["rank"] is None or r["test_acc_ci"][0] <= r["test_acc"] <= r["test_acc_ci"][1]
        if any(r.get("tied_for_first") for r in table["rows"] if r is not best):
            assert f"{table['num_images']:,} images: tied for best were {best['config']} (" in text
        else:
            assert f"{table['num_images']:,} images: best was {best['config']} with" in text
    assert "the wizard's pick, ResNet18 + fine-tuning" in text  # no GPU, no weights: ResNet-18, fine-tuned
    assert "Best test accuracy by size" in text


def test_the_plan_follows_the_wizard_per_size_and_is_recorded(study):
    plan = study.plan
    assert plan.sizes == SIZES and len(plan.entries) == 8
    for e in plan.entries:
        assert e.config.max_train_images == e.num_images
        assert (e.config.epochs, e.config.batch_size, e.config.image_size) == (2, 8, 32)
        assert "learning_rate" in e.config.recommended and "epochs" not in e.config.recommended
        assert "augmentation" not in e.config.recommended  # the study's own axis, not the wizard's
        # Early stopping on validation loss, never on a single evaluation: 6 validation images, so 3.
        assert e.config.patience == 3
    assert any("random weights" in n for n in plan.notes)
    again = load_study(plan.study_id, study.ws)
    assert again.to_dict() == plan.to_dict()
    assert plan.study_id in [p.study_id for p in list_studies(study.ws)]


def test_frozen_random_backbones_are_left_out_unless_asked(study):
    plan = _plan(study.folder, study.ws, include_frozen_random=False)
    assert [e.description for e in plan.entries_for(6)] == ["ResNet18 + fine-tuning",
                                                            "ResNet18 + fine-tuning + augmentation"]
    assert plan.left_out == ("ResNet18", "ResNet18 + augmentation")
    assert any("frozen backbone is random and learns nothing" in n for n in plan.notes)
    assert plan.study_id != study.plan.study_id


def test_sizes_beyond_the_training_split_are_capped_and_merged(study):
    plan = plan_study(str(study.folder), [12, 500, 900], models=("resnet18",), overrides=OVERRIDES,
                      workspace=study.ws, device="cpu")
    assert plan.sizes == (12, 18)
    assert any("size 500 trains on all 18" in n for n in plan.notes)


@pytest.mark.parametrize("kwargs, message", [
    ({"sizes": [2]}, "each of the 3 classes needs at least one training image"),
    ({"sizes": []}, "at least one size"),
    ({"models": ("resnet34",)}, "unknown model"),
    ({"augmentations": ("fancy",)}, "unknown augmentation"),
    ({"overrides": {"model": "resnet50"}}, "cannot be overridden"),
    ({"overrides": {"colour": 1}}, "unknown study setting"),
    ({"weights": "missing.pth"}, "weights file missing.pth not found"),
    ({"weights": "imagenet"}, "not available offline"),
])
def test_bad_study_input_is_a_clear_error(study, kwargs, message):
    args = dict(sizes=SIZES, models=("resnet18",), workspace=study.ws, device="cpu")
    args.update(kwargs)
    with pytest.raises(StudyError, match=message):
        plan_study(str(study.folder), **args)


def test_sweep_rejects_bad_sizes_with_a_message(study, capsys):
    assert main(["sweep", str(study.folder), "--sizes", "6,lots"]) == 2
    assert "--sizes takes whole numbers" in capsys.readouterr().err
    assert main(["sweep", str(study.folder / "nowhere"), "--sizes", "6"]) == 2
    assert "error:" in capsys.readouterr().err


def test_estimate_counts_only_configurations_still_to_run(study):
    plan = study.plan
    fresh = estimate_study_time(plan, images_per_s=100.0)
    assert fresh.remaining == 8 and fresh.seconds > 0
    frozen_plain, fine_tuned = plan.entries_for(12)[0], plan.entries_for(12)[1]
    i, j = plan.entries.index(frozen_plain), plan.entries.index(fine_tuned)
    assert fresh.per_entry[i] < fresh.per_entry[j]  # features once versus every epoch's backward pass
    assert math.isclose(fresh.per_entry[j], (2 * 12 + (2 * plan.num_val + plan.num_test) / 3) / 100)
    done = estimate_study_time(plan, images_per_s=100.0, store=study.store)
    assert done.remaining == 0 and done.seconds == 0


def test_through_the_job_manager_runs_are_queued_once(workspace, tmp_path, monkeypatch):
    from resnet_core.runs.jobs import JobManager

    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")
    folder = make_image_folder(tmp_path / "imgs", num_classes=3, per_class=8, size=32)
    store = RunStore(workspace)
    release = threading.Event()

    def fake_runner(run_id, config, **kw):  # trains nothing: scores from the config, after `release`
        store.mark_running(run_id)
        release.wait(10)
        acc = 0.5 + 0.1 * config.fine_tune + 0.05 * (config.augmentation != "none")
        store.finish_run(run_id, "completed", {"test_acc": acc, "val_loss": 1 - acc, "val_acc": acc,
                                               "train_time_s": 1.0, "epoch_ended": 2})
        return "completed"

    jobs = JobManager(workspace, store, runner=fake_runner)
    try:
        plan = _plan(folder, workspace)
        first = run_study(plan, workspace, store, jobs=jobs)
        assert len(first.ran) == 8 and not first.stopped
        assert run_study(plan, workspace, store, jobs=jobs).ran == []  # queued already: not twice
        release.set()
        for run_id in first.ran:
            assert jobs.wait(run_id, timeout=10).status == "completed"
        assert run_study(plan, workspace, store, jobs=jobs).ran == []
        assert len(store.list_runs()) == 8
        tables = study_tables(plan, store)
        best = [next(r for r in t["rows"] if r["rank"] == 1)["config"] for t in tables]
        assert best == ["ResNet18 + fine-tuning + augmentation"] * 2
    finally:
        release.set()
        jobs.shutdown()
        store.close()


def _table(n, *rows, pick=None):
    """A size's table as study_tables gives it; `pick`: the configuration whose run is the wizard's pick."""
    return {"num_images": n, "rows": [
        {"config": c, "test_acc": acc, "val_loss": 0.5, "train_time_s": t, "rank": rank, "wizard_pick": c == pick}
        for rank, (c, acc, t) in enumerate(rows, start=1)]}


def test_conclusion_from_numbers():
    tables = [_table(833, ("ResNet50 + fine-tuning + augmentation", 0.80, 140), ("ResNet18 + fine-tuning", 0.771, 60),
                     pick="ResNet18 + fine-tuning"),
              _table(2280, ("ResNet50 + fine-tuning", 0.89, 180), ("ResNet18 + fine-tuning", 0.885, 60),
                     pick="ResNet50 + fine-tuning")]
    text = study_conclusion(tables, {833: "ResNet18 + fine-tuning", 2280: "ResNet50 + fine-tuning"})
    assert text[0].startswith("833 images: best was ResNet50 + fine-tuning + augmentation with 80.0%")
    assert "ranked 2nd of 2; ResNet50 + fine-tuning + augmentation was 2.9 points better" in text[1]
    assert "best value was ResNet18 + fine-tuning" in text[2]  # within a point at a third of the time
    assert text[3] == "2,280 images: the wizard's pick, ResNet50 + fine-tuning, was the winner."
    assert "More data still helps" in text[-1] and "9.0 points" in text[-1]


def test_conclusion_sees_a_flat_learning_curve_and_unfinished_sizes():
    tables = [_table(100, ("A", 0.90, 10)), _table(200, ("A", 0.905, 20)), {"num_images": 400, "rows": [
        {"config": "A", "test_acc": None, "val_loss": None, "train_time_s": None, "rank": None}]}]
    text = study_conclusion(tables, None)
    assert "400 images: no configuration has finished yet." in text
    assert any("learning curve has flattened" in line for line in text)


def test_conclusion_says_a_tie_is_a_tie_not_zero_points():
    tables = [_table(500, ("ResNet50 + fine-tuning", 0.90, 100), ("ResNet18 + fine-tuning", 0.90, 60),
                     pick="ResNet18 + fine-tuning")]
    text = " ".join(study_conclusion(tables, {500: "ResNet18 + fine-tuning"}))
    assert not re.search(r"\b0\.0 points", text)
    assert "same test accuracy as ResNet50 + fine-tuning" in text


def test_conclusion_calls_runs_within_noise_tied_instead_of_naming_a_winner():
    tables = [_table(500, ("ResNet50 + fine-tuning", 0.850, 100), ("ResNet18 + fine-tuning", 0.845, 60),
                      ("ResNet18", 0.70, 30), pick="ResNet18 + fine-tuning")]
    tables[0]["rows"][0]["tied_for_first"] = tables[0]["rows"][1]["tied_for_first"] = True
    tables[0]["rows"][2]["tied_for_first"] = False
    text = study_conclusion(tables, {500: "ResNet18 + fine-tuning"})
    assert text[0].startswith("500 images: tied for best were ResNet50 + fine-tuning (85.0% in")
    assert "and ResNet18 + fine-tuning (84.5%)" in text[0] and "within noise" in text[0]
    assert "best was" not in text[0] and "ResNet18 (" not in text[0]
    assert "is tied for first with ResNet50 + fine-tuning" in text[1]
    assert "points better" not in " ".join(text)


def _finished_study_runs(plan: StudyPlan, store: RunStore, winner: str) -> None:
    """Every configuration of the plan stored as completed without training; `winner` is best."""
    for i, e in enumerate(plan.entries):
        run_id = store.create_run(e.config, "unused", 24, e.num_images, 6, 6)
        acc = 0.9 if e.description == winner else 0.5 - i / 100
        store.finish_run(run_id, "completed", {"test_acc": acc, "val_acc": acc, "val_loss": 1 - acc,
                                               "train_time_s": 10.0, "epoch_ended": 1})


@pytest.mark.parametrize("overrides, the_pick_won", [({}, True), ({"epochs": 2}, False)])
def test_the_wizards_pick_is_a_run_with_none_of_its_settings_overridden(workspace, offline_torch_home,
                                                                        tmp_path, overrides, the_pick_won):
    folder = make_image_folder(tmp_path / "images", num_classes=3, per_class=8, size=32)
    plan = plan_study(str(folder), (12,), models=("resnet18",), overrides=overrides, workspace=workspace,
                      device="cpu", gpu_mem_gb=None)
    store = RunStore(workspace)
    try:
        picks = plan.wizard_pick_names()
        _finished_study_runs(plan, store, winner=picks[12])
        (table,) = study_tables(plan, store)
        flagged = [r["config"] for r in table["rows"] if r["wizard_pick"]]
        assert flagged == ([picks[12]] if the_pick_won else [])
        text = " ".join(study_conclusion([table], picks))
        assert ("was the winner" in text) == the_pick_won
        if not the_pick_won:
            assert "epochs" in text  # says which setting was overridden
    finally:
        store.close()
