"""Long use: fifty runs one after another in one process leave memory flat and the store consistent."""
from __future__ import annotations

import ctypes
import gc
import os

import pytest

from resnet_core.config import TrainConfig
from resnet_core.data import imagecache
from resnet_core.data.synthetic import make_image_folder
from resnet_core.results.predict import cached_predictor
from resnet_core.runs.jobs import JobManager
from resnet_core.runs.store import RunStore

RUNS = 50
KEEP_FINISHED = 20
# Growth allowed between run 10 and run 50. One leaked ResNet18 is 45 MB (its weights), so even
# one kept model per run, or 1 MB leaked per run, trips it. Measured without a leak: within ±5 MB
# once freed memory is handed back to the system (malloc_trim); without that, the allocator's own
# free lists swing by ±25 MB, which is why rss_mb() trims first.
MAX_GROWTH_MB = 40


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


def rss_mb() -> float:
    """Resident memory in MB, after garbage collection and returning freed heap pages (glibc)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: measure as is
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc (Linux)")
@pytest.mark.slow
def test_fifty_runs_leave_memory_flat_and_the_store_consistent(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=6, size=16)
    image = next(folder.rglob("*.png"))
    config = TrainConfig(dataset=str(folder), weights="none", fine_tune=False, augmentation="none",
                         epochs=1, batch_size=4, learning_rate=1e-3, image_size=16, device="cpu")
    store = RunStore(workspace)
    jm = JobManager(workspace, store, keep_finished=KEEP_FINISHED)
    rss: dict[int, float] = {}
    # The decoded-image cache is process-wide: earlier tests in this process may have filled it.
    cached_before = set(imagecache._MEMORY._items)
    try:
        for n in range(1, RUNS + 1):
            run_id = jm.submit(config)
            snap = jm.wait(run_id, timeout=120)
            assert snap.status == "completed", snap.message
            # What a user does between runs: look at the list, predict an image.
            store.list_runs()
            cached_predictor(workspace.run_dir(run_id)).predict(image, top_k=2)
            if n in (10, RUNS):
                rss[n] = rss_mb()
    finally:
        jm.shutdown()

    growth = rss[RUNS] - rss[10]
    assert growth < MAX_GROWTH_MB, f"memory grew {growth:.0f} MB from run 10 to run {RUNS}: {rss}"
    # What is kept stays bounded: finished jobs, decoded datasets, database connections.
    assert len(jm.snapshots()) == KEEP_FINISHED
    assert len(set(imagecache._MEMORY._items) - cached_before) == 1
    assert len(store._connections) <= 3
    runs = store.list_runs()
    assert len(runs) == RUNS and {r.status for r in runs} == {"completed"}
    assert all(r.test_acc is not None for r in runs)
    assert all(len(store.epochs(r.id)) == 1 for r in runs)
    assert store.integrity_check() == "ok"
    # Finished runs keep their model, not the resume state (4× its size).
    assert not list(workspace.runs_dir.glob("*/last.pt"))
    assert len(list(workspace.runs_dir.glob("*/best.pt"))) == RUNS
    store.close()
