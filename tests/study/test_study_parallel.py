"""A study spread over several slots: configurations train at once and give the sequential tables."""
from __future__ import annotations

import contextlib
import io
import json
import threading

import pytest
import torch

from resnet_core.cli import main
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.store import RunStore
from resnet_core.study.plan import StudyError, plan_study
from resnet_core.study.run import estimate_study_time, makespan, run_study, study_slots
from resnet_core.study.summary import study_tables
from resnet_core.workspace import ENV_VAR, Workspace

OVERRIDES = {"epochs": 2, "batch_size": 8, "image_size": 32}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("images") / "shapes", num_classes=3, per_class=8, size=32)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    (tmp_path / "torch").mkdir()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")
    # One thread per slot whether the configurations run together or one after another, so both
    # ways compute the same sums in the same order.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _study(folder, root, slots=(), cancel=None, progress=None):
    ws = Workspace.at(root)
    store = RunStore(ws)
    plan = plan_study(str(folder), (12,), models=("resnet18",), augmentations=("none", "standard"),
                      include_frozen_random=True, overrides=OVERRIDES, workspace=ws, device="cpu")
    result = run_study(plan, ws, store, slots=slots, cancel_event=cancel, progress=progress)
    return plan, store, result


def _scores(plan, store):
    """Each table's rows and what they learned (train times, and ranks broken by them, may differ)."""
    return [(t["num_images"], r["config"], r["status"], r["test_acc"], r["val_loss"], r["epoch_ended"])
            for t in study_tables(plan, store) for r in t["rows"]]


def test_two_cpu_slots_train_at_once_and_give_the_sequential_tables(folder, offline, tmp_path):
    plan, store, result = _study(folder, tmp_path / "one_by_one")
    events = []
    together_plan, together_store, together = _study(folder, tmp_path / "two_at_once", slots=["cpu", "cpu"],
                                                     progress=lambda e: events.append((e.kind, e.index)))

    assert not together.stopped and len(together.ran) == len(plan.entries) == 4
    assert _scores(together_plan, together_store) == _scores(plan, store)
    assert all(r.status == "completed" for r in together_store.list_runs())

    # They overlapped: the second configuration started before the first had finished, and each
    # slot took the next configuration in the study's order.
    assert events.index(("start", 2)) < events.index(("finish", 1))
    starts = [i for kind, i in events if kind == "start"]
    assert set(starts[:2]) == {1, 2} and sorted(starts) == [1, 2, 3, 4]


def test_cancel_stops_every_slot_and_stores_the_runs_cancelled(folder, offline, tmp_path):
    cancel = threading.Event()
    started = []

    def cancel_when_two_started(event):
        if event.kind == "start":
            started.append(event.run_id)
            if len(started) == 2:
                cancel.set()

    _, store, result = _study(folder, tmp_path / "ws", slots=["cpu", "cpu"], cancel=cancel,
                              progress=cancel_when_two_started)
    assert result.stopped
    runs = {r.id: r for r in store.list_runs()}
    assert len(runs) == 2  # nothing new started after the cancel
    assert runs[started[1]].status == "cancelled"
    # The other slot's run was cancelled between batches (or had just finished).
    assert runs[started[0]].status in ("cancelled", "completed")
    assert not [t for t in threading.enumerate() if t.name.startswith("study-slot-")]

    # The same study again resumes it: only what did not complete trains, two at a time.
    completed_before = {r.id for r in runs.values() if r.status == "completed"}
    plan, store, again = _study(folder, tmp_path / "ws", slots=["cpu", "cpu"])
    assert not again.stopped and set(again.skipped) == completed_before
    assert len(again.ran) == 4 - len(completed_before)
    assert all(r.status == "completed" for r in store.list_runs() if r.id in again.ran)


def test_slots_are_one_per_gpu_or_shared_cpu_cores():
    assert study_slots("cpu", 1) == ["cpu"]
    assert study_slots("cpu", 3) == ["cpu", "cpu", "cpu"]
    with pytest.raises(StudyError, match="1 or more"):
        study_slots("cpu", 0)
    if not torch.cuda.is_available():
        with pytest.raises(StudyError, match="no NVIDIA GPU"):
            study_slots("cuda", 2)
    else:
        count = torch.cuda.device_count()
        assert study_slots("cuda", count) == [f"cuda:{i}" for i in range(count)]
        with pytest.raises(StudyError, match=f"use --parallel {count} or fewer"):
            study_slots("cuda", count + 1)


def test_the_estimate_divides_the_work_between_the_devices(folder, tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    plan = plan_study(str(folder), (12,), models=("resnet18",), augmentations=("none", "standard"),
                      include_frozen_random=True, overrides=OVERRIDES, workspace=ws, device="cpu")
    one = estimate_study_time(plan, images_per_s=100.0)
    two = estimate_study_time(plan, images_per_s=100.0, devices=2)
    assert two.seconds == pytest.approx(makespan(one.per_entry, 2))
    assert one.seconds / 2 <= two.seconds < one.seconds
    assert "2 devices" in two.describe() and "this machine" in one.describe()
    # Each configuration starts on the first device to come free, in the study's order.
    assert makespan([4, 1, 1, 1, 0], 2) == 4
    assert makespan([1, 1, 4], 2) == 5
    assert makespan([], 3) == 0
    # The dashboard queues configuration i on GPU i mod K, whichever comes free first.
    assert makespan([4, 1, 1, 1], 2, round_robin=True) == 5
    assert makespan([4, 0, 1, 1, 1], 2, round_robin=True) == 5  # done ones take no turn


def test_sweep_dry_run_names_the_slots_and_rejects_a_bad_parallel(folder, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "ws"))
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")
    args = ["sweep", str(folder), "--sizes", "12", "--models", "resnet18", "--epochs", "2",
            "--batch-size", "8", "--image-size", "32", "--device", "cpu", "--include-frozen-random"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*args, "--parallel", "2", "--dry-run", "--json"]) == 0
    assert json.loads(out.getvalue())["slots"] == ["cpu", "cpu"]
    assert main([*args, "--parallel", "0", "--dry-run"]) != 0
    assert "1 or more configurations at once" in capsys.readouterr().err


class _RecordingJobs:
    """A job manager that only records what was queued, and where."""

    def __init__(self):
        self.submitted = []

    def active_run_ids(self):
        return set()

    def submit(self, config, device=None):
        self.submitted.append((config.describe(), device))
        return len(self.submitted)


def test_the_dashboard_queues_a_study_round_the_gpus_in_the_studys_order(folder, tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    plan = plan_study(str(folder), (12,), models=("resnet18",), augmentations=("none", "standard"),
                      include_frozen_random=True, overrides=OVERRIDES, workspace=ws, device="cpu")
    jobs = _RecordingJobs()
    run_study(plan, ws, RunStore(ws), jobs=jobs, slots=["cuda:0", "cuda:1"])
    assert jobs.submitted == [(e.description, f"cuda:{i % 2}") for i, e in enumerate(plan.entries)]
    one_gpu = _RecordingJobs()
    run_study(plan, Workspace.at(tmp_path / "ws2"), RunStore(Workspace.at(tmp_path / "ws2")), jobs=one_gpu)
    assert [device for _, device in one_gpu.submitted] == [None] * len(plan.entries)
