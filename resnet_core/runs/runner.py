"""One run from start to stored result — shared by the command line and the background job manager.

`create_run` records a queued run with its dataset's split sizes; `execute_run` trains it and stores
whatever happens: completed, cancelled (with what it learned so far), or failed with a message a
person can act on. It never raises for a training problem.
"""
from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Callable

from resnet_core.config import TrainConfig
from resnet_core.data.imageio import preprocess_spec
from resnet_core.data.prepare import DataError, check_classes, check_split, prepare_data
from resnet_core.data.registry import dataset_report, resolve_dataset
from resnet_core.data.splits import get_split
from resnet_core.fsutil import atomic_write_json, read_json
from resnet_core.runs.predictions import save_predictions
from resnet_core.status import RunStatus
from resnet_core.training.calibration import fit_temperature, write_calibration
from resnet_core.training.callbacks import (
    Callback,
    CancelOnEvent,
    FitState,
    TrainingDiverged,
)
from resnet_core.training.engine import fit
from resnet_core.workspace import Workspace


class StoreRecorder(Callback):
    """Writes each finished epoch to the run store, so any process can draw the curves."""

    def __init__(self, store, run_id: int):
        self.store, self.run_id = store, run_id
        self._noted = 0

    def before_fit(self, state: FitState) -> None:
        # A resumed run brings its earlier epochs; the last of them may have been saved to last.pt
        # by a process killed before it reached the store. Rewriting an epoch replaces it.
        for row in state.history:
            self.store.add_epoch(self.run_id, row)
        self._flush_notes(state)

    def after_epoch(self, state: FitState) -> None:
        self.store.add_epoch(self.run_id, state.history[-1])
        self._flush_notes(state)

    def after_fit(self, state: FitState) -> None:
        self._flush_notes(state)

    def _flush_notes(self, state: FitState) -> None:
        existing = set(self.store.get_run(self.run_id).notes)
        for note in state.notes[self._noted:]:
            if note not in existing:
                self.store.add_note(self.run_id, note)
        self._noted = len(state.notes)


def create_run(config: TrainConfig, workspace: Workspace, store) -> int:
    """Record a queued run; the dataset must resolve and be splittable (errors say why).

    A dataset that cannot be trained on (fewer than 2 classes, no validation images) is refused
    here, before a run exists, rather than stored as a failed run.
    """
    info = resolve_dataset(config.dataset, workspace)
    if config.dataset != info.name:
        config = config.replace(dataset=info.name)  # a folder path becomes its registered name
    report = dataset_report(info)
    check_classes(info.name, report)
    split = get_split(info, report)
    check_split(info.name, split)
    num_train = len(split.train)
    if config.max_train_images is not None:
        num_train = min(num_train, config.max_train_images)
    return store.create_run(config, str(info.root), report.num_images, num_train, len(split.val),
                            len(split.test))


def execute_run(run_id: int, config: TrainConfig, workspace: Workspace, store,
                callbacks: list[Callback] | None = None, cancel_event: threading.Event | None = None,
                progress: Callable[[str, int, int], None] | None = None, resume: bool = False) -> str:
    """Train run `run_id` and store the outcome. Returns the final status."""
    run_dir = workspace.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    record = store.get_run(run_id)
    config = record.config if record is not None else config
    store.mark_running(run_id)
    cancel_event = cancel_event or threading.Event()
    try:
        data = prepare_data(config, workspace, progress=progress)
        if resume:
            _check_same_classes(run_dir, data.classes)
        atomic_write_json(run_dir / "labels.json", list(data.classes))
        atomic_write_json(run_dir / "preprocess.json", preprocess_spec(config.image_size))
        cbs = [StoreRecorder(store, run_id), *(callbacks or []), CancelOnEvent(cancel_event)]
        result = fit(config, data, callbacks=cbs, checkpoint_dir=run_dir, resume=resume)
    except TrainingDiverged as e:
        return _fail(store, run_id, str(e))
    except (DataError, ValueError, FileNotFoundError, PermissionError) as e:
        return _fail(store, run_id, str(e))
    except Exception as e:
        (run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
        return _fail(store, run_id, f"unexpected {type(e).__name__}: {e} (details in the run's error.log)")
    final = result.final_dict()
    final["final_metrics"]["prep_time_s"] = data.prep_time_s
    if result.predictions is not None:
        # Calibrate after training, on the validation split: prediction and export apply it.
        temperature = fit_temperature(result.predictions.val_logits, result.predictions.val_true)
        final["final_metrics"]["temperature"] = temperature
        save_predictions(run_dir, result.predictions, temperature)
        write_calibration(run_dir, temperature, len(result.predictions.val_true))
    atomic_write_json(run_dir / "metrics.json", {"history": result.history, **final})
    if result.status == RunStatus.CANCELLED and result.test_acc is None:
        store.add_note(run_id, "Cancelled before the first evaluation; nothing to score.")
    store.finish_run(run_id, result.status, final)
    if result.status == RunStatus.COMPLETED:
        # Only a stopped run can be resumed; last.pt holds the weights twice plus the optimiser
        # state (about 4× best.pt), which a finished run would carry around for nothing.
        (run_dir / "last.pt").unlink(missing_ok=True)
    return result.status


def _check_same_classes(run_dir, classes: list[str]) -> None:
    """A run resumes only on the classes it started with (its model has one output per class)."""
    before = read_json(run_dir / "labels.json")
    if isinstance(before, list) and before != list(classes):
        raise ValueError(f"the dataset's classes changed since this run started (was {before}, now "
                         f"{list(classes)}), so it cannot be resumed; re-run it instead")


def _fail(store, run_id: int, message: str) -> str:
    store.finish_run(run_id, RunStatus.FAILED, error=message)
    return RunStatus.FAILED


def run_summary(store, run_id: int) -> dict:
    """The final JSON the command line prints for a run."""
    r = store.get_run(run_id)
    return {
        "run_id": r.id, "status": r.status, "model": r.config.model, "description": r.description,
        "dataset": r.dataset, "val_loss": r.val_loss, "val_acc": r.val_acc, "test_acc": r.test_acc,
        "train_time_s": r.train_time_s, "epoch_ended": r.epoch_ended, "best_epoch": r.best_epoch,
        "stopped_early": r.stopped_early, "num_images": r.num_images, "num_train": r.num_train,
        "peak_memory_mb": r.peak_memory_mb, "error": r.error, "warnings": list(r.notes),
        "config": json.loads(json.dumps(r.config.to_dict())),
    }
