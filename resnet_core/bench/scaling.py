"""`bench --devices 1,2`: the same training on 1, 2, ... devices, images/s and scaling efficiency.

Each device count trains the same configuration (per-device batch fixed, so the global batch grows
with the devices, as the wizard plans it) through the same path a user's run takes: one process for
one device, a torchrun group for several. Speed is the median of the per-epoch training rates after
the first epoch (start-up, cache warm-up); with one epoch, that epoch's.

Efficiency = images/s on N devices ÷ (N × images/s on one). On a CPU the "devices" are processes that
share the same cores, so expect well under 1: the figure there checks the machinery, not the speed-up.
"""
from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_core.bench.side_by_side import BenchError, BenchOptions, load_average, machine_info, make_dataset
from resnet_core.config import TrainConfig
from resnet_core.runs.group import execute_on_devices
from resnet_core.runs.runner import create_run
from resnet_core.runs.store import RunStore
from resnet_core.workspace import Workspace


@dataclass(frozen=True)
class ScalingRow:
    devices: int
    images_per_s: float | None
    global_batch: int
    epochs_measured: int
    status: str
    test_acc: float | None
    efficiency: float | None = None  # against one device
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"devices": self.devices, "images_per_s": self.images_per_s,
                "images_per_s_per_device": None if self.images_per_s is None else self.images_per_s / self.devices,
                "efficiency": self.efficiency, "global_batch": self.global_batch,
                "epochs_measured": self.epochs_measured, "status": self.status, "test_acc": self.test_acc,
                "error": self.error}


def parse_device_counts(text: str) -> tuple[int, ...]:
    """'1,2' -> (1, 2); a clear BenchError for anything else."""
    try:
        counts = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise BenchError(f"--devices takes whole numbers separated by commas, for example 1,2; got {text!r}") from None
    if not counts or any(n < 1 for n in counts):
        raise BenchError(f"--devices needs device counts of 1 or more, for example 1,2; got {text!r}")
    return tuple(sorted(set(counts)))


def epoch_rate(history: Sequence[dict[str, Any]]) -> tuple[float | None, int]:
    """(median training images/s after the first epoch, epochs it is taken from)."""
    rates = [h["images_per_s"] for h in history if h.get("images_per_s")]
    measured = rates[1:] or rates
    return (statistics.median(measured) if measured else None), len(measured)


def measure_scaling(options: BenchOptions, counts: Sequence[int],
                    log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Train once per device count; returns the JSON the command writes (machine, rows, load)."""
    before = load_average()
    with tempfile.TemporaryDirectory(prefix="resnet-pilot-scaling-") as tmp:
        folder = Path(options.workdir).expanduser() if options.workdir else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        label, root = make_dataset(options, options.sizes[0], folder)
        rows = []
        for n in counts:
            log(f"{n} device(s): training {options.models[0]} for {options.epochs} epoch(s) on {label} ...")
            rows.append(_one(options, root, folder / f"workspace-{n}-devices", n))
    base = next((r for r in rows if r.devices == 1 and r.images_per_s), None)
    rows = [_with_efficiency(r, base) for r in rows]
    return {"machine": machine_info(options.device), "dataset": label, "model": options.models[0],
            "image_size": options.image_size, "batch_size_per_device": options.batch_size,
            "epochs": options.epochs, "scaling": [r.to_dict() for r in rows],
            "load": {"before": before, "after": load_average()}}


def _one(options: BenchOptions, root: Path, workspace_dir: Path, devices: int) -> ScalingRow:
    workspace = Workspace.at(workspace_dir)
    store = RunStore(workspace)
    try:
        config = TrainConfig(dataset=str(root), model=options.models[0], weights="none", fine_tune=True,
                             augmentation=options.augmentation, epochs=options.epochs,
                             batch_size=options.batch_size, learning_rate=options.learning_rate,
                             patience=options.epochs, image_size=options.image_size, seed=options.seed,
                             device=options.device, devices=devices)
        run_id = create_run(config, workspace, store)
        status = execute_on_devices(run_id, config, workspace, store)
        record = store.get_run(run_id)
        rate, epochs = epoch_rate(store.epochs(run_id))
        return ScalingRow(devices, rate, options.batch_size * devices, epochs, status,
                          record.test_acc if record else None,
                          error=(record.error if record and record.error else None))
    except ValueError as e:  # settings this machine cannot run (more devices than it has, say)
        return ScalingRow(devices, None, options.batch_size * devices, 0, "failed", None, error=str(e))
    finally:
        store.close()


def _with_efficiency(row: ScalingRow, base: ScalingRow | None) -> ScalingRow:
    if base is None or row.images_per_s is None:
        return row
    efficiency = row.images_per_s / (row.devices * base.images_per_s)
    return ScalingRow(row.devices, row.images_per_s, row.global_batch, row.epochs_measured, row.status,
                      row.test_acc, efficiency, row.error)


def format_scaling(report: dict[str, Any]) -> str:
    lines = [f"{report['model']} at {report['image_size']} px, batch {report['batch_size_per_device']} per device, "
             f"{report['epochs']} epoch(s) on {report['dataset']} ({report['machine'].get('device', '')})",
             f"{'devices':>7}  {'images/s':>9}  {'per device':>10}  {'efficiency':>10}  {'global batch':>12}  status"]
    for r in report["scaling"]:
        ips = "—" if r["images_per_s"] is None else f"{r['images_per_s']:.1f}"
        per = "—" if r["images_per_s_per_device"] is None else f"{r['images_per_s_per_device']:.1f}"
        eff = "—" if r["efficiency"] is None else f"{r['efficiency']:.0%}"
        status = r["status"] + (f": {r['error']}" if r["error"] else "")
        lines.append(f"{r['devices']:>7}  {ips:>9}  {per:>10}  {eff:>10}  {r['global_batch']:>12}  {status}")
    return "\n".join(lines)
