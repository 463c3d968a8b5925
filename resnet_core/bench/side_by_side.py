"""Side-by-side benchmark: the plain PyTorch loop a user would write versus this project's engine.

Both sides train the same model from the same initial weights on the same train/validation files
(the dataset's saved split), at the same image size, epochs, batch size and learning rate. Each
measured run is a fresh process (`bench_worker`), so peak memory and caches are its own. Per
repeat the order alternates: plain, ours with a cold decoded-image cache, ours with a warm one
(and, with `paths`, ours started the dashboard's way). Medians over repeats are compared.

Everything lives in a private workspace under the benchmark's work folder, so benchmark runs never
appear among a user's runs.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from resnet_core.bench.plain_loop import cpu_cores
from resnet_core.config import AUGMENTATIONS, MODELS
from resnet_core.data.fashion_mnist import FashionMNISTMissing, write_image_folder
from resnet_core.data.handle import open_dataset
from resnet_core.data.imagecache import default_budget_bytes
from resnet_core.data.synthetic import make_image_folder
from resnet_core.hardware import resolve_device
from resnet_core.status import RunStatus
from resnet_core.workspace import Workspace

MODES = ("frozen", "finetune")
GENERATED_CLASSES = 4
WORKER_TIMEOUT_S = 6 * 3600  # a runaway worker must not hang the benchmark forever
Log = Callable[[str], None]


class BenchError(ValueError):
    """The benchmark cannot run as asked; the message says why and what to do."""


@dataclass(frozen=True)
class BenchOptions:
    data: str = "generated"  # generated | fashion-mnist | a folder of class subfolders
    sizes: tuple[int, ...] = (400,)  # images per dataset (generated / fashion-mnist); ignored for a folder
    models: tuple[str, ...] = ("resnet18",)
    modes: tuple[str, ...] = MODES
    image_size: int = 64
    source_size: int = 256  # generated images' side in pixels (what gets decoded each plain epoch)
    epochs: int = 12
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    augmentation: str = "none"
    repeats: int = 1
    device: str = "auto"
    predict: bool = False
    paths: bool = False  # also time a run started the dashboard's way (JobManager thread)
    seed: int = 0
    threads: int | None = None  # torch threads in every measured process; None: torch's default
    workdir: str | None = None  # where data and the private workspace go; None: a temporary folder

    def problems(self) -> list[str]:
        out = []
        if self.data not in ("generated", "fashion-mnist") and not Path(self.data).expanduser().is_dir():
            out.append(f"--data {self.data!r} is neither 'generated', 'fashion-mnist' nor a folder")
        if not self.sizes or any(n < 12 for n in self.sizes):
            out.append("every dataset size must be at least 12 images")
        for m in self.models:
            if m not in MODELS:
                out.append(f"unknown model {m!r}; choose from {', '.join(MODELS)}")
        if not self.models:
            out.append("give at least one model")
        for m in self.modes:
            if m not in MODES:
                out.append(f"unknown mode {m!r}; choose from {', '.join(MODES)}")
        if not self.modes:
            out.append("give at least one mode")
        if self.augmentation not in AUGMENTATIONS:
            out.append(f"augmentation must be one of {', '.join(AUGMENTATIONS)}")
        for name, lo, hi in (("image_size", 16, 1024), ("source_size", 8, 4096), ("epochs", 1, 200),
                             ("batch_size", 2, 1024), ("repeats", 1, 50)):
            value = getattr(self, name)
            if not lo <= value <= hi:
                out.append(f"{name.replace('_', '-')} must be between {lo} and {hi}, got {value}")
        if not 0 < self.learning_rate <= 1:
            out.append(f"learning rate must be in (0, 1], got {self.learning_rate}")
        if self.threads is not None and self.threads < 1:
            out.append(f"threads must be at least 1, got {self.threads}")
        return out


@dataclass
class Prepared:
    """A dataset ready to benchmark: its folder and the split both sides use."""

    label: str
    root: Path
    classes: list[str]
    train_files: list[str]
    val_files: list[str]
    num_images: int
    meta_dir: Path


@dataclass
class BenchReport:
    machine: dict[str, Any]
    options: dict[str, Any]
    runs: list[dict[str, Any]] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    load: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Machine and load


def machine_info(device: str) -> dict[str, Any]:
    import torch


    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "arch": platform.machine(), "cores": cpu_cores(), "os": platform.system(),
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads_default": torch.get_num_threads(), "device": device, "gpu": None}
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        info["memory_gb"] = None
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def load_average() -> list[float] | None:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# Data


def make_dataset(options: BenchOptions, size: int, folder: Path) -> tuple[str, Path]:
    """(label, root) of the dataset to benchmark at this size, written under `folder` if needed."""
    if options.data == "generated":
        root = folder / f"generated-{size}"
        if not root.exists():
            counts = [size // GENERATED_CLASSES + (1 if i < size % GENERATED_CLASSES else 0)
                      for i in range(GENERATED_CLASSES)]
            tmp = folder / f".generated-{size}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            make_image_folder(tmp, num_classes=GENERATED_CLASSES, per_class=counts,
                              size=options.source_size, seed=options.seed, ext=".jpg")
            tmp.rename(root)
        return f"generated {size} × {options.source_size}px JPEG", root
    if options.data == "fashion-mnist":
        root = folder / f"fashion-mnist-{size}"
        if not root.exists():
            tmp = folder / f".fashion-mnist-{size}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                write_image_folder(tmp, size, split="train", seed=options.seed)
            except FashionMNISTMissing as e:
                raise BenchError(str(e)) from e
            tmp.rename(root)
        return f"Fashion-MNIST {size} × 28px PNG", root
    root = Path(options.data).expanduser().resolve()
    return f"folder {root.name}", root


def prepare_split(label: str, root: Path, workspace) -> Prepared:
    """Register the folder in the benchmark's workspace and make its split (both sides use it)."""
    dataset = open_dataset(str(root), workspace)
    info, report = dataset.info, dataset.report
    if len(report.classes) < 2:
        raise BenchError(f"{root} has {len(report.classes)} class folder(s) with images; a benchmark needs "
                         "at least 2. Put each class's images in its own subfolder.")
    split = dataset.split
    if not split.val:
        raise BenchError(f"{root} is too small for a validation split: give each class at least 3 images.")
    return Prepared(label=label, root=Path(info.root), classes=list(report.classes),
                    train_files=[e.path for e in split.train], val_files=[e.path for e in split.val],
                    num_images=report.num_images, meta_dir=Path(info.meta_dir))


def make_cold(prepared: Prepared, workspace) -> None:
    """Forget everything decoded or scanned for this dataset, as before its first run (the split stays)."""
    for f in Path(workspace.cache_dir).glob("*"):
        if f.is_file():
            f.unlink(missing_ok=True)
    (prepared.meta_dir / "scan.json").unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Running one measured process


def run_worker(spec: dict[str, Any], scratch: Path, workspace_root: Path) -> dict[str, Any]:
    """Run bench_worker in a fresh interpreter and return its result (or an 'error')."""
    import resnet_core

    scratch.mkdir(parents=True, exist_ok=True)
    fd, spec_name = tempfile.mkstemp(prefix="spec-", suffix=".json", dir=scratch)
    os.close(fd)
    spec_path, result_path = Path(spec_name), Path(spec_name.replace("spec-", "result-"))
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    env = dict(os.environ)
    package_parent = str(Path(resnet_core.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    env["RESNET_PILOT_HOME"] = str(workspace_root)
    env["RESNET_PILOT_OFFLINE"] = "1"  # random init on both sides: never probe the network
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "resnet_core.bench.worker", str(spec_path),
                               str(result_path)], env=env, capture_output=True, text=True,
                              timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"the measured run took longer than {WORKER_TIMEOUT_S} s and was stopped"}
    process_s = time.perf_counter() - started
    if proc.returncode != 0 or not result_path.exists():
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        return {"error": f"the measured run failed (exit {proc.returncode}): {' / '.join(tail)}"}
    result = json.loads(result_path.read_text(encoding="utf-8"))
    result["process_s"] = process_s
    spec_path.unlink(missing_ok=True)
    result_path.unlink(missing_ok=True)
    return result


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """The figures compared per run, from a worker's result."""
    if "error" in result and result["error"] and not result.get("history"):
        return {"error": result["error"]}
    history = result.get("history") or []
    out: dict[str, Any] = {"epochs": len(history), "wall_s": result.get("wall_s"),
                           "process_s": result.get("process_s"), "import_s": result.get("import_s"),
                           "peak_rss_mb": result.get("peak_rss_mb"),
                           "children_peak_rss_mb": result.get("children_peak_rss_mb"),
                           "torch_threads": result.get("torch_threads")}
    if "cuda_peak_allocated_mb" in result:
        out["cuda_peak_allocated_mb"] = result["cuda_peak_allocated_mb"]
    if not history:
        out["error"] = result.get("error") or "no epoch finished"
        return out
    rates = [h["images_per_s"] for h in history if h.get("images_per_s")]
    # Harmonic mean: total images over total training time, when every epoch sees the same images.
    out["train_images_per_s"] = len(rates) / sum(1 / r for r in rates) if rates else None
    out["mean_epoch_s"] = statistics.fmean(h["epoch_time_s"] for h in history)
    last = history[-1]
    out["val_acc"] = last.get("val_acc")
    out["best_val_acc"] = max((h["val_acc"] for h in history if h.get("val_acc") is not None), default=None)
    out["val_loss"] = last.get("val_loss")
    compute = sum(h.get("compute_time_s", 0.0) for h in history)
    train = sum(h.get("train_time_s", 0.0) for h in history)
    out["compute_share"] = compute / train if train and compute else None
    out["outside_model_share"] = 1 - out["compute_share"] if out["compute_share"] is not None else None
    for key in ("prep_s", "setup_s", "num_train", "num_val", "num_workers", "status", "dashboard_polls"):
        if result.get(key) is not None:
            out[key] = result[key]
    if result.get("error"):
        out["error"] = result["error"]
    return out


# ---------------------------------------------------------------------------------------------
# The benchmark


def run_benchmark(options: BenchOptions, log: Log | None = None) -> BenchReport:
    """Run every (dataset size, model, mode) side by side and return the report."""
    problems = options.problems()
    if problems:
        raise BenchError("; ".join(problems))

    log = log or (lambda _msg: None)
    device = resolve_device(options.device).type
    if device == "mps":
        device = "cpu"  # the plain loop's pin_memory/workers recipe targets CPU and CUDA only
    own_workdir = options.workdir is None
    workdir = Path(options.workdir or tempfile.mkdtemp(prefix="resnet-pilot-bench-")).expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    ws_root = workdir / "workspace"
    report = BenchReport(machine=machine_info(device), options={**asdict(options), "device_used": device})
    report.load["before"] = load_average()
    report.notes.extend(_method_notes(options, device))
    sizes = (0,) if options.data not in ("generated", "fashion-mnist") else options.sizes
    try:
        for size in sizes:
            workspace = Workspace.at(ws_root)
            label, root = make_dataset(options, size, workdir / "data")
            prepared = prepare_split(label, root, workspace)
            for model in options.models:
                for mode in options.modes:
                    _compare_one(options, device, prepared, workspace, model, mode, workdir, report, log)
    finally:
        report.load["after"] = load_average()
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


def _variants(options: BenchOptions) -> list[tuple[str, str]]:
    out = [("plain", "plain"), ("ours", "cold"), ("ours", "warm")]
    if options.paths:
        out.append(("ours", "dashboard"))
    return out


def _compare_one(options: BenchOptions, device: str, prepared: Prepared, workspace, model: str, mode: str,
                 workdir: Path, report: BenchReport, log: Log) -> None:
    base = {"root": str(prepared.root), "model": model, "fine_tune": mode == "finetune",
            "augmentation": options.augmentation, "image_size": options.image_size, "epochs": options.epochs,
            "batch_size": options.batch_size, "learning_rate": options.learning_rate,
            "weight_decay": options.weight_decay, "seed": options.seed, "device": device,
            "threads": options.threads, "workspace": str(workspace.root)}
    where = {"dataset": prepared.label, "images": prepared.num_images, "model": model, "mode": mode}
    by_variant: dict[str, list[dict[str, Any]]] = {}
    last_ours: dict[str, Any] | None = None
    for repeat in range(1, options.repeats + 1):
        for side, variant in _variants(options):
            spec = dict(base, kind=side)
            if side == "plain":
                spec.update(train_files=prepared.train_files, val_files=prepared.val_files,
                            classes=prepared.classes)
            else:
                spec["path"] = "dashboard" if variant == "dashboard" else "cli"
                if variant == "cold":
                    make_cold(prepared, workspace)
            log(f"{prepared.label} · {model} {mode} · repeat {repeat}/{options.repeats} · {side}"
                f"{'' if side == 'plain' else f' ({variant})'} …")
            result = run_worker(spec, workdir / "scratch", workspace.root)
            row = {**where, "side": side, "variant": variant, "repeat": repeat,
                   "cache": {"plain": "n/a", "cold": "cold", "warm": "warm", "dashboard": "warm"}[variant],
                   "path": "dashboard" if variant == "dashboard" else "cli", **summarize(result)}
            report.runs.append(row)
            by_variant.setdefault(variant, []).append(row)
            if side == "ours" and result.get("run_dir") and result.get("status") == RunStatus.COMPLETED:
                last_ours = result
            log("  " + _one_line(row))
    comparison = compare(by_variant)
    # How cost grows with the dataset: whole-run time per image, and the decoded cache against its budget.
    comparison["wall_ms_per_image"] = {v: (m["wall_s"] * 1000 / prepared.num_images if m.get("wall_s") else None)
                                       for v, m in comparison["medians"].items()}
    comparison["decoded_cache_mb"] = prepared.num_images * 3 * options.image_size ** 2 / 2**20
    comparison["cache_budget_mb"] = default_budget_bytes() / 2**20
    report.comparisons.append({**where, **comparison})
    if options.predict and last_ours is not None:
        files = (prepared.val_files * 64)[:64]
        spec = {"kind": "predict", "run_dir": last_ours["run_dir"], "root": str(prepared.root), "files": files,
                "device": device, "threads": options.threads, "repeats": 30}
        log(f"{prepared.label} · {model} {mode} · prediction latency …")
        result = run_worker(spec, workdir / "scratch", workspace.root)
        report.predictions.append({**where, **result})


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def _best(rows: list[dict[str, Any]], key: str) -> float | None:
    """Best of the repeats: background load only ever adds time, so the fastest run is the least disturbed."""
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return None
    if key in TIMES:
        return min(values)
    if key in RATES:
        return max(values)
    return statistics.median(values)


FIGURES = ("wall_s", "mean_epoch_s", "train_images_per_s", "val_acc", "best_val_acc", "peak_rss_mb",
           "children_peak_rss_mb", "outside_model_share", "prep_s")
TIMES = ("wall_s", "mean_epoch_s", "prep_s")
RATES = ("train_images_per_s",)


def compare(by_variant: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per variant the medians (and best of the repeats), and the ratios that answer 'how much faster,
    at what accuracy' — top-level from the medians, under "best" from the best runs."""
    med = {v: {k: _median(rows, k) for k in FIGURES} for v, rows in by_variant.items()}
    best = {v: {k: _best(rows, k) for k in FIGURES} for v, rows in by_variant.items()}
    out: dict[str, Any] = {"medians": med, "bests": best, **_ratios(med)}
    out["best"] = _ratios(best)
    errors = [r["error"] for rows in by_variant.values() for r in rows if r.get("error")]
    if errors:
        out["errors"] = errors
    return out


def _ratios(figures: dict[str, dict[str, float | None]]) -> dict[str, float | None]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    out: dict[str, float | None] = {}
    plain, warm = figures.get("plain", {}), figures.get("warm", {})
    for variant in ("cold", "warm"):
        out[f"speedup_wall_{variant}"] = ratio(plain.get("wall_s"), figures.get(variant, {}).get("wall_s"))
    out["speedup_epoch"] = ratio(plain.get("mean_epoch_s"), warm.get("mean_epoch_s"))
    out["throughput_ratio"] = ratio(warm.get("train_images_per_s"), plain.get("train_images_per_s"))
    if plain.get("val_acc") is not None and warm.get("val_acc") is not None:
        out["val_acc_diff_points"] = 100 * (warm["val_acc"] - plain["val_acc"])
    if "dashboard" in figures:
        out["dashboard_over_cli"] = ratio(figures["dashboard"].get("wall_s"), warm.get("wall_s"))
    return out


def _one_line(row: dict[str, Any]) -> str:
    if row.get("error") and not row.get("epochs"):
        return f"failed: {row['error']}"
    parts = [f"wall {row['wall_s']:.1f}s", f"epoch {row['mean_epoch_s']:.2f}s",
             f"{row['train_images_per_s']:.0f} img/s", f"val acc {row['val_acc']:.1%}"]
    if row.get("peak_rss_mb"):
        parts.append(f"peak {row['peak_rss_mb']:.0f} MiB")
    if row.get("outside_model_share") is not None:
        parts.append(f"outside model {row['outside_model_share']:.0%}")
    return ", ".join(parts)


def _method_notes(options: BenchOptions, device: str) -> list[str]:
    return [
        "Both sides start from the same random initialisation (same seed, same construction order); "
        "no ImageNet weights are used.",
        "Both sides train on the same train/validation files (the dataset's saved split) with AdamW, "
        "the same per-step cosine learning-rate schedule, and a validation pass every epoch; early "
        "stopping is off.",
        "Each measured run is a fresh process. wall_s starts after the imports (torch, torchvision and the "
        "side's own modules; reported as import_s, about the same for both) and covers data "
        "loading/decoding, model build, training and validation; ours also scans the folder, scores the "
        "test split and writes its checkpoints and run records. process_s is the whole process.",
        "cache 'cold': our decoded-image cache and scan were deleted before the run; 'warm': a previous "
        "run left them on disk (the process still starts empty). The OS file cache is warm for both sides.",
        "val_acc is the last epoch's validation accuracy on both sides.",
        f"Device: {device}; torch threads per process: "
        f"{options.threads if options.threads else 'torch default'}.",
    ]


# ---------------------------------------------------------------------------------------------
# Text output


def format_table(report: BenchReport) -> str:
    """The comparisons as a fixed-width table (medians over repeats)."""
    head = (f"{'dataset':<34} {'model':<9} {'mode':<8} {'variant':<9} {'wall s':>8} {'epoch s':>8} "
            f"{'img/s':>8} {'val acc':>8} {'peak MiB':>9} {'outside':>8}")
    lines = [head, "-" * len(head)]
    for c in report.comparisons:
        for variant, m in c["medians"].items():
            lines.append(
                f"{c['dataset'][:34]:<34} {c['model']:<9} {c['mode']:<8} {variant:<9} {_f(m['wall_s'], 8, 1)} "
                f"{_f(m['mean_epoch_s'], 8, 3)} {_f(m['train_images_per_s'], 8, 0)} "
                f"{_pct(m['val_acc'], 8)} {_f(m['peak_rss_mb'], 9, 0)} {_pct(m['outside_model_share'], 8)}")
        ratios = [f"end-to-end ×{c['speedup_wall_cold']:.2f} cold / ×{c['speedup_wall_warm']:.2f} warm"
                  if c.get("speedup_wall_cold") and c.get("speedup_wall_warm") else None,
                  f"epoch ×{c['speedup_epoch']:.2f}" if c.get("speedup_epoch") else None,
                  f"val acc {c['val_acc_diff_points']:+.1f} points" if c.get("val_acc_diff_points") is not None
                  else None,
                  f"dashboard/CLI {c['dashboard_over_cli']:.3f}" if c.get("dashboard_over_cli") else None]
        lines.append("    ours vs plain (medians): " + ", ".join(r for r in ratios if r))
        b = c.get("best", {})
        if b.get("speedup_wall_cold") and b.get("speedup_wall_warm") and b.get("speedup_epoch"):
            lines.append(f"    best of the repeats: end-to-end ×{b['speedup_wall_cold']:.2f} cold / "
                         f"×{b['speedup_wall_warm']:.2f} warm, epoch ×{b['speedup_epoch']:.2f}"
                         + (f", dashboard/CLI {b['dashboard_over_cli']:.3f}" if b.get("dashboard_over_cli") else ""))
        for e in c.get("errors", []):
            lines.append(f"    error: {e}")
    for p in report.predictions:
        if p.get("error"):
            lines.append(f"prediction {p['model']} {p['mode']}: error: {p['error']}")
            continue
        lines.append(
            f"prediction {p['model']} {p['mode']}: one image {p['single_predict_ms']:.2f} ms vs bare forward "
            f"{p['single_bare_forward_ms']:.2f} ms (×{p['single_ratio']:.2f}); batch of {p['batch_images']}: "
            f"{p['batch_predict_pixels_images_per_s']:.0f} img/s vs bare {p['batch_bare_images_per_s']:.0f} img/s "
            f"(×{p['batch_ratio']:.2f}), from files {p['batch_predict_files_images_per_s']:.0f} img/s")
    load = report.load
    lines.append(f"load average before {load.get('before')}, after {load.get('after')}; "
                 f"{report.machine['cpu']}, {report.machine['cores']} cores, device {report.machine['device']}")
    return "\n".join(lines)


def _f(value: float | None, width: int, digits: int) -> str:
    return f"{'—':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def _pct(value: float | None, width: int) -> str:
    return f"{'—':>{width}}" if value is None else f"{value:>{width}.1%}"
