"""One measured benchmark run, alone in a fresh process: `python -m resnet_core.bench_worker SPEC RESULT`.

A fresh process per run keeps peaks and caches from leaking between runs: the peak resident memory
(VmHWM) is this run's own, and the engine's in-memory image cache starts empty, so a "warm" run is
one that finds the decoded cache file on disk — what a user's second run on a dataset finds.

Kinds of run (spec["kind"]):
- plain:   bench_plain.train_plain on the given split files.
- ours:    runner.create_run + execute_run in the main thread (the command line's path), or, with
           spec["path"] == "dashboard", JobManager.submit in a background thread with the snapshot
           publisher while another thread polls snapshots as the Train page does.
- predict: Predictor latency and throughput on a finished run versus a bare forward call.
Timings start after the imports (reported separately as import_s; see IMPORTS).
"""
from __future__ import annotations

import importlib
import itertools
import json
import resource
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

_T0 = time.perf_counter()

import torch  # noqa: E402  (imported after the clock starts, to report import time)

from resnet_core.training.callbacks import Callback, FitState  # noqa: E402  (after torch, as above)

# The Train page redraws every half second while a run is active.
DASHBOARD_POLL_S = 0.5


def peak_rss_mb() -> float | None:
    """This process's peak resident memory (VmHWM) in MiB, from /proc (Linux); ru_maxrss elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except (AttributeError, OSError):
        return None


def children_peak_rss_mb() -> float | None:
    """The largest peak among finished child processes (DataLoader workers), in MiB."""
    try:
        value = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    except (AttributeError, OSError):
        return None
    return value / 1024 if value else None


class ComputeTimer(Callback):
    """How much of each training epoch is forward + loss + backward + optimiser step.

    A forward pre-hook on the model marks the start of a batch's compute; the loop's after_batch
    event, which follows the optimiser step, marks its end. The rest of the epoch (gathering the
    batch, copying it, augmenting it, bookkeeping) is time outside the model.
    """

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []
        self._handles: list[Any] = []
        self._batch_start: float | None = None
        self._epoch_start = 0.0
        self._last_batch_end = 0.0
        self._compute = 0.0
        self._cuda = False

    def _now(self) -> float:
        if self._cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def _mark(self, *_: Any) -> None:
        if self._batch_start is None:
            self._batch_start = self._now()

    def before_fit(self, state: FitState) -> None:
        model = state.model
        self._cuda = str(state.device).startswith("cuda")
        if model is None:
            return
        modules = [model] + [m for m in (getattr(model, "backbone", None), getattr(model, "head", None)) if m]
        self._handles = [m.register_forward_pre_hook(self._mark) for m in modules]

    def before_epoch(self, state: FitState) -> None:
        self._batch_start = None
        self._compute = 0.0
        self._epoch_start = self._last_batch_end = self._now()

    def after_batch(self, state: FitState) -> None:
        now = self._now()
        if self._batch_start is not None:
            self._compute += now - self._batch_start
        self._batch_start = None
        self._last_batch_end = now

    def after_epoch(self, state: FitState) -> None:
        self.epochs.append({"epoch": state.epoch, "compute_time_s": self._compute,
                            "train_time_s": self._last_batch_end - self._epoch_start})
        self._batch_start = None

    def after_fit(self, state: FitState) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def run_plain(spec: dict[str, Any]) -> dict[str, Any]:
    from resnet_core.bench.plain_loop import PlainSpec, train_plain

    fields = {k: spec[k] for k in PlainSpec.__dataclass_fields__ if k in spec}
    for name in ("train_files", "val_files", "classes"):
        fields[name] = tuple(fields[name])
    started = time.perf_counter()
    out = train_plain(PlainSpec(**fields))
    out["wall_s"] = time.perf_counter() - started
    return out


def _ours_config(spec: dict[str, Any]):
    from resnet_core.config import TrainConfig

    return TrainConfig(
        dataset=spec["root"], model=spec["model"], weights="none", fine_tune=spec["fine_tune"],
        augmentation=spec["augmentation"], epochs=spec["epochs"], batch_size=spec["batch_size"],
        learning_rate=spec["learning_rate"], weight_decay=spec["weight_decay"], schedule="cosine",
        # Early stopping off (patience = epochs): both sides train every epoch.
        patience=max(1, spec["epochs"]), eval_every=1, image_size=spec["image_size"], seed=spec["seed"],
        device=spec["device"])


def run_ours(spec: dict[str, Any]) -> dict[str, Any]:
    from resnet_core.fsutil import read_json
    from resnet_core.runs.runner import create_run, execute_run
    from resnet_core.runs.store import RunStore
    from resnet_core.workspace import Workspace

    started = time.perf_counter()
    workspace = Workspace.at(spec["workspace"])
    store = RunStore(workspace)
    config = _ours_config(spec)
    timer = ComputeTimer()
    polls = 0
    if spec.get("path") == "dashboard":
        from resnet_core.runs.jobs import JobManager

        def runner(run_id, cfg, callbacks=(), **kw):  # the default runner, plus the compute timer
            return execute_run(run_id, cfg, workspace, store, callbacks=[timer, *callbacks], **kw)

        manager = JobManager(workspace, store, runner=runner)
        run_id = manager.submit(config)
        done = threading.Event()

        def poll() -> None:  # the Train page: read the snapshot, redraw, wait
            nonlocal polls
            while not done.is_set():
                snap = manager.snapshot(run_id)
                if snap is not None:
                    _ = (snap.history, snap.progress, snap.images_per_s)
                polls += 1
                done.wait(DASHBOARD_POLL_S)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        snap = manager.wait(run_id)
        done.set()
        poller.join()
        manager.shutdown()
        status = snap.status if snap else "unknown"
    else:
        run_id = create_run(config, workspace, store)
        status = execute_run(run_id, config, workspace, store, callbacks=[timer])
    wall = time.perf_counter() - started
    record = store.get_run(run_id)
    metrics = read_json(workspace.run_dir(run_id) / "metrics.json", {}) or {}
    history = metrics.get("history", [])
    for row, timing in zip(history, timer.epochs):
        row.update(timing)
    final = metrics.get("final_metrics", {}) or {}
    return {"status": status, "error": record.error if record else None, "run_id": run_id,
            "run_dir": str(workspace.run_dir(run_id)), "history": history, "wall_s": wall,
            "prep_s": final.get("prep_time_s"), "train_time_s": metrics.get("train_time_s"),
            "num_train": record.num_train if record else None, "num_val": record.num_val if record else None,
            "test_acc": metrics.get("test_acc"), "notes": list(record.notes) if record else [],
            "dashboard_polls": polls}


def _interleaved_medians(fns: dict[str, Any], repeats: int, warmup: int = 3) -> dict[str, float]:
    """Median seconds per call of each function, calling them in turn so load bursts hit all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def run_predict(spec: dict[str, Any]) -> dict[str, Any]:
    """Predictor.predict on a file (decode + preprocess + forward) vs model(x) on a ready tensor."""
    from resnet_core.data.imageio import model_input
    from resnet_core.results.predict import load_predictor

    started = time.perf_counter()
    predictor = load_predictor(spec["run_dir"], device=spec["device"])
    load_s = time.perf_counter() - started
    files = [str(Path(spec["root"]) / f) for f in spec["files"]]
    repeats = int(spec.get("repeats", 30))
    model, device = predictor.model, predictor.device
    x1 = model_input(predictor.pixels(files[0])[None]).to(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def bare_one() -> None:
        with torch.inference_mode():
            model(x1)
        sync()

    turn = itertools.count()

    def predict_one() -> None:  # a different file each call, as a user clicking through images
        predictor.predict(files[next(turn) % len(files)])

    single = _interleaved_medians({"bare": bare_one, "predict": predict_one}, repeats)

    batch = [predictor.pixels(f) for f in files]
    xb = model_input(torch.stack(batch)).to(device)

    def bare_batch() -> None:
        with torch.inference_mode():
            model(xb)
        sync()

    batches = _interleaved_medians({"bare": bare_batch, "pixels": lambda: predictor.predict_pixels(batch),
                                    "files": lambda: predictor.predict_batch(files)},
                                   max(3, repeats // 10), warmup=1)
    n = len(files)
    return {"load_s": load_s, "single_predict_ms": single["predict"] * 1e3,
            "single_bare_forward_ms": single["bare"] * 1e3, "single_ratio": single["predict"] / single["bare"],
            "batch_images": n, "batch_bare_images_per_s": n / batches["bare"],
            "batch_predict_pixels_images_per_s": n / batches["pixels"],
            "batch_predict_files_images_per_s": n / batches["files"],
            "batch_ratio": batches["pixels"] / batches["bare"]}


RUNS = {"plain": run_plain, "ours": run_ours, "predict": run_predict}
# Imported before the clock starts, so wall_s measures the work and not Python loading modules (which
# costs both sides alike, ~1.5 s for torchvision here); the time is reported as import_s.
IMPORTS = {
    "plain": ("torchvision", "torchvision.datasets", "torchvision.transforms", "torch.utils.data",
              "resnet_core.bench.plain_loop"),
    "ours": ("torchvision", "resnet_core.runs.runner", "resnet_core.training.engine", "resnet_core.data.prepare", "resnet_core.training.models",
             "resnet_core.runs.store", "resnet_core.data.registry", "resnet_core.data.scan", "resnet_core.data.splits", "resnet_core.data.imagecache",
             "resnet_core.runs.jobs", "resnet_core.hardware"),
    "predict": ("torchvision", "resnet_core.results.predict"),
}


def main(argv: list[str]) -> int:
    spec_path, result_path = argv
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    for name in IMPORTS[spec["kind"]]:
        importlib.import_module(name)
    import_s = time.perf_counter() - _T0
    result = RUNS[spec["kind"]](spec)
    result.update(import_s=import_s, peak_rss_mb=peak_rss_mb(), children_peak_rss_mb=children_peak_rss_mb(),
                  torch_threads=torch.get_num_threads())
    if torch.cuda.is_available() and spec.get("device", "cpu").startswith("cuda"):
        result["cuda_peak_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    Path(result_path).write_text(json.dumps(result, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
