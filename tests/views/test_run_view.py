"""The Train page's view of a run: from a live snapshot or the store, and the sentences it prints."""
from __future__ import annotations

import pytest

from resnet_core.config import TrainConfig
from resnet_core.runs.jobs import JobSnapshot
from resnet_core.runs.store import RunRecord, RunStore
from resnet_core.training.callbacks import EarlyStopping, FitState, StopTraining
from resnet_core.views.run_view import (
    Focus,
    can_predict_with,
    cancel_text,
    final_metrics,
    finished_runs_link,
    interrupted_line,
    job_line,
    live_metrics,
    live_progress,
    load_view,
    outcome_notice,
    prep_text,
    progress_text,
    queue_text,
    resumable,
    run_caption,
    train_focus,
    view_from_record,
    view_from_snapshot,
)


def snap(run_id, status="running", **kw):
    base = dict(run_id=run_id, status=status, description="ResNet18 + fine-tuning", dataset="d",
                device="cpu", epochs=10)
    return JobSnapshot(**{**base, **kw})


def test_progress_text_names_epoch_batch_and_time_left():
    view = view_from_snapshot(snap(1, epoch=3, batch=12, num_batches=40, eta_s=80.0, phase="training"))
    assert progress_text(view) == "Epoch 3/10 · batch 12/40 · about 1 min 20 s left"


def test_progress_text_says_when_it_is_evaluating():
    view = view_from_snapshot(snap(1, epoch=3, batch=40, num_batches=40, eta_s=5.0, phase="evaluating"))
    assert "checking on the validation images" in progress_text(view)


def test_prep_text_gives_words_and_fraction():
    assert prep_text(("decoding", 40, 500)) == ("Decoding the images · 40/500", 0.08)
    assert prep_text(("scanning", 0, 0))[1] == 0.0
    assert prep_text(None) == ("Getting the data ready", 0.0)


def test_queue_text_names_the_place_and_the_run_ahead():
    running = snap(7, "running")
    first = snap(8, "queued", queue_position=1)
    second = snap(9, "queued", queue_position=2)
    other_device = snap(5, "running", device="cuda:0")
    everyone = [other_device, running, first, second]
    assert queue_text(view_from_snapshot(second), everyone) == "waiting: 2nd in the queue behind run 8"
    assert queue_text(view_from_snapshot(first), everyone) == "waiting: 1st in the queue behind run 7"


def test_queue_text_says_which_run_of_another_process_it_waits_for():
    message = "waiting for the CPU: run 12 is training in another process (pid 4242)"
    waiting = snap(13, "queued", phase="waiting", message=message)  # next here, so out of the queue
    assert queue_text(view_from_snapshot(waiting), [waiting]) == message
    assert queue_text(view_from_snapshot(snap(14, "queued")), []) == "waiting to start"


def test_a_session_follows_only_the_run_it_started_or_chose():
    # Another session's runs, active or queued, never take over this session's page by themselves.
    active = [snap(4), snap(6, "queued", queue_position=1)]

    def focus(own):
        f = train_focus(own, active)
        return f.followed, [s.run_id for s in f.others]

    assert focus(4) == (4, [6])
    assert focus(None) == (None, [4, 6])  # a new tab: nothing followed; the runs are listed
    assert focus(2) == (2, [4, 6])  # own run cancelled or finished: it stays, with its outcome
    assert train_focus(2, []) == Focus(2, ())
    assert train_focus(None, []) == Focus(None, ())


def test_cancel_text_confirms_the_request_then_the_outcome():
    asked = view_from_snapshot(snap(3, epoch=2, phase="training"))
    assert cancel_text(asked, cancel_asked=True) == (
        "Cancelling run #3: it stops after the current batch and keeps the best model so far.")
    assert cancel_text(asked, cancel_asked=False) is None
    done = view_from_snapshot(snap(3, "cancelled", epoch=2, final={"epoch_ended": 2, "best_epoch": 1},
                                   message="cancelled by the user during epoch 2"))
    assert cancel_text(done, cancel_asked=True) == (
        "Run #3 was cancelled during epoch 2 of 10. The best model so far (epoch 1) was kept.")
    queued = view_from_snapshot(snap(3, "cancelled", message="cancelled before it started"))
    assert cancel_text(queued, cancel_asked=False) == "Run #3 was cancelled before it started."


def test_view_from_a_finished_snapshot_carries_final_scores_and_the_early_stop():
    final = {"val_loss": 0.3, "val_acc": 0.9, "test_acc": 0.88, "train_time_s": 12.0, "epoch_ended": 6,
             "best_epoch": 4, "stopped_early": True}
    view = view_from_snapshot(snap(3, "completed", final=final, best_epoch=4, epoch=6,
                                   message="validation loss did not improve", notes=("a note",)))
    assert not view.is_active
    assert view.best_epoch == 4 and view.stopped_early and view.stopped_epoch == 6
    assert view.final["test_acc"] == 0.88 and view.notes == ("a note",)


def test_view_from_a_store_record(workspace):
    store = RunStore(workspace)
    cfg = TrainConfig(dataset="d", epochs=5)
    run_id = store.create_run(cfg, "/nowhere", 10, 7, 1, 2)
    store.mark_running(run_id)
    store.add_epoch(run_id, {"epoch": 1, "train_loss": 1.0, "val_loss": 0.9, "lr": 1e-3, "images_per_s": 50.0})
    running = view_from_record(store.get_run(run_id), store.epochs(run_id))
    assert running.is_active and running.source == "store" and running.epochs == 5
    assert running.epoch == 1 and running.progress == pytest.approx(0.2) and running.lr == 1e-3
    assert "another process" in progress_text(running)
    store.finish_run(run_id, "completed", {"test_acc": 0.7, "val_acc": 0.8, "val_loss": 0.5,
                                           "epoch_ended": 1, "best_epoch": 1, "stopped_early": False})
    done = view_from_record(store.get_run(run_id), store.epochs(run_id))
    assert not done.is_active and done.final["test_acc"] == 0.7 and done.best_epoch == 1
    assert done.stopped_epoch is None


class _NoJobs:
    def snapshot(self, run_id):
        return None


class _OneJob:
    def __init__(self, s):
        self.s = s

    def snapshot(self, run_id):
        return self.s if run_id == self.s.run_id else None


def test_load_view_uses_the_live_job_first_then_the_store(workspace):
    store = RunStore(workspace)
    run_id = store.create_run(TrainConfig(dataset="d"), "/nowhere", 10, 7, 1, 2)
    live = load_view(_OneJob(snap(run_id, epoch=2)), store, run_id)
    assert live.source == "job" and live.epoch == 2
    stored = load_view(_NoJobs(), store, run_id)
    assert stored.source == "store" and stored.status == "queued"
    assert load_view(_NoJobs(), store, run_id + 100) is None


def test_the_heading_names_the_run_live_and_stored_and_follows_a_rename(workspace):
    store = RunStore(workspace)
    run_id = store.create_run(TrainConfig(dataset="d"), "/nowhere", 10, 7, 1, 2, name="baseline")
    live = load_view(_OneJob(snap(run_id, epoch=2)), store, run_id)
    assert live.title == f"Run #{run_id} · baseline · ResNet18 + fine-tuning"
    store.label_run(run_id, name="wider crops")  # renamed on Compare while it trains
    assert "wider crops" in load_view(_OneJob(snap(run_id, epoch=3)), store, run_id).title
    stored = load_view(_NoJobs(), store, run_id)
    assert stored.title.startswith(f"Run #{run_id} · wider crops · ")
    unnamed = store.create_run(TrainConfig(dataset="d"), "/nowhere", 10, 7, 1, 2)
    assert load_view(_NoJobs(), store, unnamed).title == f"Run #{unnamed} · {stored.description}"


def test_resumable_needs_a_saved_epoch(workspace):
    assert not resumable(workspace, 5)
    workspace.run_dir(5).mkdir(parents=True)
    (workspace.run_dir(5) / "last.pt").write_bytes(b"x")
    assert resumable(workspace, 5)


def test_view_from_record_without_a_readable_config():
    record = RunRecord(id=1, dataset="d", model="resnet18", status="failed", config=None, error="boom")
    view = view_from_record(record, [])
    assert view.failed and view.message == "boom" and view.epochs >= 1


# ----- what the Train page's live view draws (moved out of the page) ------------------------------

def test_live_progress_for_each_stage_of_an_active_run():
    running = snap(7, "running")
    queued = view_from_snapshot(snap(8, "queued", queue_position=1))
    assert live_progress(queued, [running]) == (0.0, "waiting: 1st in the queue behind run 7", False)
    preparing = view_from_snapshot(snap(8, "preparing", prep=("decoding", 40, 500)))
    assert live_progress(preparing, []) == (0.08, "Preparing · Decoding the images · 40/500", False)
    scanning = view_from_snapshot(snap(8, "running", phase="scanning", prep=("scanning", 1, 4)))
    assert live_progress(scanning, [])[1:] == ("Preparing · Checking the images · 1/4", False)
    training = view_from_snapshot(snap(8, epoch=3, batch=12, num_batches=40, eta_s=80.0, phase="training",
                                       progress=1.7))
    assert live_progress(training, []) == (1.0, "Epoch 3/10 · batch 12/40 · about 1 min 20 s left", True)


def test_live_metrics_show_dashes_until_known():
    fresh = view_from_snapshot(snap(1))
    assert live_metrics(fresh) == [("Learning rate", "—"), ("Images / s", "—"), ("Elapsed", "0.0s"),
                                   ("Val accuracy", "—")]
    busy = view_from_snapshot(snap(1, lr=3e-4, images_per_s=1234.4, elapsed_s=75,
                                   history=({"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": None})))
    assert [v for _, v in live_metrics(busy)] == ["3.00e-04", "1,234", "1m 15s", "50.0%"]


def test_outcome_notice_and_scores_of_a_finished_run():
    final = {"test_acc": 0.9, "val_acc": 0.85, "val_loss": 0.3, "train_time_s": 12.0, "epoch_ended": 4,
             "best_epoch": 3, "stopped_early": True}
    done = view_from_snapshot(snap(1, "completed", final=final, message="no improvement for 2 evaluations"))
    assert outcome_notice(done) == ("success", "Finished — stopped early at epoch 4: no improvement for 2 "
                                               "evaluations.")
    assert [label for label, _ in final_metrics(done)] == ["Test accuracy", "Val accuracy", "Val loss",
                                                           "Training time", "Epoch ended", "Best epoch"]
    assert final_metrics(done)[0] == ("Test accuracy", "90.0%") and can_predict_with(done)
    cancelled = view_from_snapshot(snap(1, "cancelled", final={"test_acc": None, "epoch_ended": 1}))
    assert outcome_notice(cancelled) == (
        "warning", "Run #1 was cancelled during epoch 1 of 10. No evaluation had finished yet.")
    assert final_metrics(cancelled) and not can_predict_with(cancelled)
    failed = view_from_snapshot(snap(1, "failed", message="out of memory"))
    assert outcome_notice(failed) == ("error", "Training failed: out of memory")
    assert final_metrics(failed) == [] and not can_predict_with(failed)
    assert outcome_notice(view_from_snapshot(snap(1, "interrupted")))[0] == "warning"
    assert outcome_notice(view_from_snapshot(snap(1, "running"))) is None


def test_lines_for_other_runs_and_interrupted_runs():
    running, waiting = snap(7, "running", progress=0.4), snap(8, "queued", queue_position=1)
    assert job_line(running, [running, waiting]) == "#7 · ResNet18 + fine-tuning · d — running · 40%"
    assert job_line(waiting, [running, waiting]).endswith("— waiting: 1st in the queue behind run 7")
    record = RunRecord(id=4, dataset="pets", model="resnet18", status="interrupted", description="ResNet18")
    assert interrupted_line(record, 1) == "**#4 · ResNet18** · pets · 1 epoch saved"
    assert interrupted_line(record, 3).endswith("3 epochs saved")
    assert run_caption(view_from_snapshot(snap(1))) == "Dataset **d** · 10 epochs planned · cpu"
    assert run_caption(view_from_snapshot(snap(1, devices=2))).endswith("· cpu × 2 processes (DDP)")
    assert run_caption(view_from_snapshot(snap(1, device="cuda:0", devices=4))).endswith("× 4 GPUs (DDP)")
    assert finished_runs_link(1) == "See the 1 finished run ranked on Compare"
    assert finished_runs_link(2) == "See the 2 finished runs ranked on Compare"


def _real_early_stop_message(epoch_stopped: int, patience: int) -> str:
    """The message the engine's EarlyStopping raises, evaluations every epoch, best at the first."""
    state = FitState(config=TrainConfig(dataset="d", patience=patience), classes=["a", "b"], num_train=1,
                     num_val=1, num_test=1, device="cpu", batch_size=1)
    stopper = EarlyStopping(patience)
    for epoch in range(1, epoch_stopped + 1):
        state.epoch = epoch
        state.history.append({"epoch": epoch, "val_loss": 0.5 if epoch == epoch_stopped - patience else 0.9})
        if epoch == epoch_stopped - patience:
            state.best_val_loss, state.best_epoch = 0.5, epoch
        try:
            stopper.after_epoch(state)
        except StopTraining as stop:
            return str(stop)
    raise AssertionError("EarlyStopping did not stop the run")


def test_an_early_stopped_run_says_where_and_why_once():
    final = {"test_acc": 0.9, "epoch_ended": 7, "best_epoch": 5, "stopped_early": True}
    done = view_from_snapshot(snap(1, "completed", final=final, message=_real_early_stop_message(7, 2)))
    kind, sentence = outcome_notice(done)
    assert kind == "success"
    assert sentence.startswith("Finished — stopped early at epoch 7: validation loss had not improved for "
                               "2 evaluations")
    assert sentence.count("epoch 7") == 1 and "early stop after" not in sentence
    assert "evaluation(s)" not in sentence


def test_a_stored_run_with_the_older_stop_message_reads_once_too():
    final = {"epoch_ended": 7, "stopped_early": True}
    old = ("early stop after epoch 7: validation loss has not improved for 2 evaluation(s) "
           "(best 0.5000 at epoch 5)")
    sentence = outcome_notice(view_from_snapshot(snap(1, "completed", final=final, message=old)))[1]
    assert sentence.count("epoch 7") == 1 and "early stop after" not in sentence
