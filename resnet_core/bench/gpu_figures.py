"""The GPU figures: what each compute setting gives, the limit of a bare training step, this engine and
the plain DataLoader loop side by side, and the largest batch that fits — in one process, a few minutes.

Parts (each optional, results merged into one JSON):
- knobs: a training step of one ResNet on a ready tensor, from a plain fp32 baseline, each setting
  switched on alone (TF32, cudnn.benchmark, channels_last, bf16 autocast, fused AdamW), then all of
  them, then all of them captured as a CUDA graph. Where the GPU lacks bf16, autocast runs fp16 with a
  grad scaler. `compile` measures the engine's step under torch.compile (default mode) beside the
  same step uncompiled, `compile_autotune` under mode "max-autotune-no-cudagraphs"; each compiled row
  reports its compile time apart and the steps it takes to repay it (separate parts: compiling takes a
  minute or more, autotuning longer).
- limit: per depth, the bare training step with the engine's settings on a ready random tensor.
- engine: per depth, `fit` on a generated JPEG folder through the normal path (decode once, images on
  the device), images/s of the epochs after the first; without and with augmentation. Also the first
  model with its images kept on the host (the pinned path) and the knob model at the wizard's batch
  (beside a bare step at that batch).
- plain: per depth, the ImageFolder + PIL + DataLoader loop (workers = cores), as written (fp32) and
  with the same bf16 autocast and channels_last as the engine, so the data path is what differs.
- max_batch: per depth, the largest batch whose training step fits in memory (doubling, then
  bisection), against the wizard's batch size for this GPU's memory. Both hold back the GPU memory
  the engine's decoded-image cache may take (DEVICE_CACHE_SHARE of the free memory), and the wizard's
  batch is also checked with an evaluation pass at the engine's evaluation batch, so "the wizard's
  batch trains" holds for any dataset whose images the engine puts on the GPU.

On a machine without CUDA every part runs on the CPU at a tiny size, so the script is tested in CI.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.amp import GradScaler

from resnet_core.bench.plain_loop import PlainSpec, cpu_cores, train_plain
from resnet_core.config import MODELS, TrainConfig
from resnet_core.data.prepare import prepare_data
from resnet_core.data.synthetic import class_names, make_image
from resnet_core.training.device_images import DEVICE_CACHE_ENV, DEVICE_CACHE_SHARE, device_cache_limit
from resnet_core.training.engine import fit, is_out_of_memory, speed_settings
from resnet_core.training.models import build_model
from resnet_core.workspace import Workspace

PARTS = ("knobs", "limit", "engine", "plain", "max_batch", "compile", "compile_autotune")
COMPILE_PARTS = {"compile": "default", "compile_autotune": "max-autotune-no-cudagraphs"}  # torch.compile modes
DEFAULT_PARTS = ("knobs", "limit", "engine", "plain", "max_batch")
Log = Callable[[str], None]


@dataclass(frozen=True)
class Knobs:
    """The compute settings a training step can use; the baseline has all of them off."""

    tf32: bool = False
    cudnn_benchmark: bool = False
    channels_last: bool = False
    bf16: bool = False
    fused_adamw: bool = False
    compile: bool = False
    cuda_graph: bool = False
    compile_mode: str = "default"  # torch.compile's mode, when compile is on


ENGINE_KNOBS = Knobs(tf32=True, cudnn_benchmark=True, channels_last=True, bf16=True, fused_adamw=True)
ALONE = ("tf32", "cudnn_benchmark", "channels_last", "bf16", "fused_adamw")


@dataclass(frozen=True)
class FigureOptions:
    device: str = "cuda"
    models: tuple[str, ...] = MODELS
    image_size: int = 224
    batch_size: int = 256  # knobs, limit, engine and plain loop (the wizard's batch gets its own rows)
    knob_model: str = "resnet50"
    images: int = 6000  # the generated JPEG folder for the engine and the plain loop
    source_size: int = 320  # side of those JPEGs
    classes: int = 10
    engine_epochs: int = 3
    plain_epochs: int = 2
    min_time_s: float = 1.0  # each timed measurement runs at least this long
    warmup: int = 3  # untimed steps first (cudnn's algorithm search, allocations)
    max_batch_cap: int = 4096  # the search for the largest batch stops here
    workdir: str | None = None

    @classmethod
    def tiny(cls, **overrides) -> FigureOptions:
        """The CPU form: every part, tiny sizes, seconds."""
        base = cls(device="cpu", models=("resnet18",), image_size=32, batch_size=8, knob_model="resnet18",
                   images=48, source_size=40, classes=3, engine_epochs=2, plain_epochs=1, min_time_s=0.05,
                   warmup=1, max_batch_cap=16)
        return replace(base, **overrides)


# ---------------------------------------------------------------------------------------------
# A training step with given settings


def _apply_global(knobs: Knobs, device: torch.device) -> None:
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = knobs.tf32
        torch.backends.cudnn.allow_tf32 = knobs.tf32
        torch.backends.cudnn.benchmark = knobs.cudnn_benchmark


def autocast_dtype(device: torch.device) -> torch.dtype:
    """The `bf16` knob's type: bf16 where the device computes it, else fp16 (which needs a grad scaler)."""
    return torch.bfloat16 if device.type != "cuda" or torch.cuda.is_bf16_supported() else torch.float16


def _precision(knobs: Knobs, device: torch.device) -> tuple[torch.dtype | None, GradScaler | None]:
    """The autocast type the knobs ask for (None: fp32), and the grad scaler fp16 needs."""
    dtype = autocast_dtype(device) if knobs.bf16 else None
    return dtype, (GradScaler(device.type) if dtype == torch.float16 else None)


def _autocast(dtype: torch.dtype | None, knobs: Knobs, device: torch.device):
    if dtype is None:
        return nullcontext()
    # A captured graph replays fixed kernels: autocast's cast cache must not outlive the capture.
    return torch.autocast(device.type, dtype=dtype, cache_enabled=not knobs.cuda_graph)


def make_step(arch: str, batch: int, image_size: int, knobs: Knobs, device: torch.device,
              num_classes: int = 10) -> Callable[[], None]:
    """A function that runs one training step (forward, loss, backward, AdamW) on a ready random batch.
    In fp16 the loss is scaled and the step skipped on overflow (GradScaler), as the engine does."""
    dtype, scaler = _precision(knobs, device)
    if scaler is not None and knobs.cuda_graph:  # the scaler reads its overflow check back on the host
        raise ValueError("a CUDA graph cannot capture fp16's grad scaler; it needs a GPU with bf16")
    _apply_global(knobs, device)
    model, x, y, optimizer = _training_setup(arch, batch, image_size, knobs, device, num_classes)
    if knobs.compile:
        torch.compiler.reset()  # each mode compiles from scratch, so its compile time is its own
        net = torch.compile(model, mode=knobs.compile_mode)
    else:
        net = model
    step = _step_function(net, x, y, optimizer, dtype, scaler, knobs, device)
    if not knobs.cuda_graph:
        return step
    # Whole-step capture, as in PyTorch's CUDA graphs notes: warm up on a side stream, then capture.
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def _training_setup(arch: str, batch: int, image_size: int, knobs: Knobs, device: torch.device,
                    num_classes: int = 10) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, torch.optim.Optimizer]:
    """The model, a ready random batch and AdamW, on `device` with the knobs' memory format and optimiser."""
    torch.manual_seed(0)
    model = build_model(arch, num_classes, weights="none").to(device)
    x = torch.rand(batch, 3, image_size, image_size, device=device)
    y = torch.randint(0, num_classes, (batch,), device=device)
    if knobs.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    options: dict[str, Any] = {"lr": 1e-4, "weight_decay": 1e-4}
    if knobs.fused_adamw and device.type == "cuda":
        options["fused"] = True
    if knobs.cuda_graph:
        options["capturable"] = True
    return model, x, y, torch.optim.AdamW(model.parameters(), **options)


def _step_function(net, x, y, optimizer, dtype, scaler, knobs: Knobs, device: torch.device) -> Callable[[], torch.Tensor]:
    def step() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=not knobs.cuda_graph)
        with _autocast(dtype, knobs, device):
            loss = F.cross_entropy(net(x).float(), y)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        return loss

    return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_step(step: Callable[[], Any], batch: int, device: torch.device, min_time_s: float,
              warmup: int = 3) -> dict[str, float]:
    """Images per second of `step` after `warmup` steps, over at least `min_time_s` and 5 steps;
    the first warm-up step's time is reported apart (it holds one-off costs such as compiling)."""
    _sync(device)
    t0 = time.perf_counter()
    step()
    _sync(device)
    first_s = time.perf_counter() - t0
    for _ in range(max(0, warmup - 1)):
        step()
    _sync(device)
    steps, started = 0, time.perf_counter()
    while True:
        step()
        steps += 1
        if steps >= 5:
            _sync(device)
            elapsed = time.perf_counter() - started
            if elapsed >= min_time_s:
                break
    return {"images_per_s": batch * steps / elapsed, "step_ms": 1000 * elapsed / steps, "first_step_s": first_s}


def _release(device: torch.device) -> None:
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def measure(arch: str, batch: int, image_size: int, knobs: Knobs, device: torch.device,
            min_time_s: float, warmup: int = 3) -> dict[str, Any]:
    _release(device)
    try:
        result = time_step(make_step(arch, batch, image_size, knobs, device), batch, device, min_time_s, warmup)
        result["peak_memory_mib"] = _peak_mib(device)
        return result
    except Exception as e:  # one setting failing (a compiler missing, a capture refused) is a finding
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"}
    finally:
        _release(device)


# ---------------------------------------------------------------------------------------------
# The parts


def compiled_name(mode: str) -> str:
    return f"engine settings + torch.compile ({mode})"


def knob_figures(o: FigureOptions, device: torch.device, log: Log, compile_mode: str | None = None) -> dict[str, Any]:
    """Each setting alone against the fp32 baseline, then all of them (the engine's), then a CUDA graph
    of that step; with compile_mode: the engine's step, and the same under torch.compile in that mode
    (its compile time apart)."""
    variants: list[tuple[str, Knobs]] = []
    if compile_mode is not None:
        variants = [("engine settings", ENGINE_KNOBS),
                    (compiled_name(compile_mode), replace(ENGINE_KNOBS, compile=True, compile_mode=compile_mode))]
    else:
        variants = [("fp32 baseline", Knobs())]
        variants += [(f"+ {name} alone", replace(Knobs(), **{name: True})) for name in ALONE]
        variants += [("engine settings (all of the above)", ENGINE_KNOBS)]
        if device.type == "cuda":
            variants += [("engine settings + CUDA graph", replace(ENGINE_KNOBS, cuda_graph=True))]
    rows = {}
    for name, knobs in variants:
        log(f"knobs: {name}")
        row = {"knobs": asdict(knobs), **measure(o.knob_model, o.batch_size, o.image_size, knobs, device,
                                                  o.min_time_s, o.warmup)}
        if knobs.bf16:
            row["autocast"] = "bfloat16" if autocast_dtype(device) == torch.bfloat16 else "float16 + grad scaler"
        if knobs.compile and "step_ms" in row:  # the first step compiled, then ran once
            row["compile_s"] = max(0.0, row["first_step_s"] - row["step_ms"] / 1000)
        rows[name] = row
    return {"model": o.knob_model, "image_size": o.image_size, "batch_size": o.batch_size, "rows": rows}


def repay_steps(compile_s: float, plain_step_ms: float, compiled_step_ms: float) -> int | None:
    """Training steps after which a compiled step's saving has paid for its compile time (None: never)."""
    saved_ms = plain_step_ms - compiled_step_ms
    return None if saved_ms <= 0 else max(1, round(1000 * compile_s / saved_ms))


def limit_figures(o: FigureOptions, device: torch.device, wizard: dict[str, int], log: Log) -> dict[str, Any]:
    out = {}
    runs = [(arch, arch, o.batch_size) for arch in o.models]
    runs.append((f"{o.knob_model} wizard batch", o.knob_model, wizard[o.knob_model]))
    for name, arch, batch in runs:
        log(f"limit: {arch} at batch {batch}")
        out[name] = {"model": arch, "batch_size": batch,
                     **measure(arch, batch, o.image_size, ENGINE_KNOBS, device, o.min_time_s, o.warmup)}
    return out


def wizard_batches(o: FigureOptions, device: torch.device) -> dict[str, int]:
    """The wizard's batch size per depth for this device's memory (the largest over dataset sizes)."""
    from resnet_core.advice.recommend import recommend

    mem_gb = torch.cuda.get_device_properties(device).total_memory / 2**30 if device.type == "cuda" else None
    out = {}
    for arch in o.models:
        out[arch] = max(recommend(n, o.classes, mem_gb, model=arch, weights="none",
                                  image_size=o.image_size).batch_size for n in (500, 5_000, 50_000))
    return out


def write_jpeg_folder(root: Path, images: int, classes: int, size: int) -> Path:
    """A learnable folder of `images` JPEGs in `classes` class folders, written by all cores."""
    if root.exists():
        return root
    tmp = root.with_name(root.name + ".tmp")
    counts = [images // classes + (1 if i < images % classes else 0) for i in range(classes)]
    with ProcessPoolExecutor(max_workers=min(cpu_cores(), classes)) as pool:
        list(pool.map(_write_class, [tmp] * classes, range(classes), counts, [size] * classes,
                      [classes] * classes))
    tmp.rename(root)
    return root


def _write_class(root: Path, label: int, count: int, size: int, classes: int) -> None:
    name = class_names(classes)[label]
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(label)
    for i in range(count):
        make_image(label, size, rng).save(folder / f"{name}_{i:05d}.jpg", quality=90)


def engine_figures(o: FigureOptions, device: torch.device, folder: Path, workspace: Workspace,
                   wizard: dict[str, int], log: Log) -> dict[str, Any]:
    runs = [(f"{arch} {aug}", arch, aug, o.batch_size, True) for arch in o.models for aug in ("none", "standard")]
    runs.append((f"{o.models[0]} none, images on the host", o.models[0], "none", o.batch_size, False))
    runs.append((f"{o.knob_model} none, wizard batch", o.knob_model, "none", wizard[o.knob_model], True))
    out = {}
    for name, arch, augmentation, batch, on_device in runs:
        log(f"engine: {name}, batch {batch}")
        out[name] = _engine_run(o, device, folder, workspace, arch, augmentation, batch, on_device)
    return out


def _engine_run(o: FigureOptions, device: torch.device, folder: Path, workspace: Workspace, arch: str,
                augmentation: str, batch: int, on_device: bool) -> dict[str, Any]:
    cfg = TrainConfig(dataset=str(folder), model=arch, weights="none", image_size=o.image_size,
                      epochs=o.engine_epochs, batch_size=batch, learning_rate=1e-3,
                      patience=o.engine_epochs, augmentation=augmentation, device=str(device))
    _release(device)
    previous = os.environ.get(DEVICE_CACHE_ENV)
    os.environ[DEVICE_CACHE_ENV] = "1" if on_device else "0"
    try:
        started = time.perf_counter()
        data = prepare_data(cfg, workspace)
        prep_s = time.perf_counter() - started
        result = fit(cfg, data, device=device)
    except Exception as e:
        return {"error": f"{type(e).__name__}: {str(e)[:300]}"}
    finally:
        if previous is None:
            os.environ.pop(DEVICE_CACHE_ENV, None)
        else:
            os.environ[DEVICE_CACHE_ENV] = previous
    rates = [h["images_per_s"] for h in result.history[1:]] or [result.history[-1]["images_per_s"]]
    return {"model": arch, "augmentation": augmentation, "batch_size": result.batch_size,
            "images_per_s": statistics.median(rates), "epoch_rates": [h["images_per_s"] for h in result.history],
            "prepare_s": prep_s, "train_images": len(data.train_idx), "test_acc": result.test_acc,
            "peak_memory_mib": result.peak_memory_mb if device.type == "cuda" else None,
            "out_of_memory": any("Out of memory" in n for n in result.notes),
            "placement": next((n for n in result.notes if "Decoded images" in n), "host")}


def plain_figures(o: FigureOptions, device: torch.device, folder: Path, workspace: Workspace,
                  wizard: dict[str, int], log: Log) -> dict[str, Any]:
    from resnet_core.data.handle import open_dataset

    split = open_dataset(str(folder), workspace).split
    classes = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir()))
    out = {}
    for arch in o.models:
        for amp in (False, True):
            name = f"{arch} {'bf16 + channels_last' if amp else 'fp32 as written'}"
            log(f"plain loop: {name}, batch {o.batch_size}, {cpu_cores()} workers")
            spec = PlainSpec(root=str(folder), train_files=tuple(e.path for e in split.train),
                             val_files=tuple(e.path for e in split.val), classes=classes, model=arch,
                             image_size=o.image_size, epochs=o.plain_epochs, batch_size=o.batch_size,
                             device=str(device), amp=amp)
            _release(device)
            try:
                result = train_plain(spec)
            except Exception as e:
                out[name] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
                continue
            rates = [h["images_per_s"] for h in result["history"][1:]] or [result["history"][-1]["images_per_s"]]
            out[name] = {"model": arch, "amp": amp, "batch_size": o.batch_size, "workers": result["num_workers"],
                         "images_per_s": statistics.median(rates), "peak_memory_mib": _peak_mib(device)}
    return out


def max_batch_figures(o: FigureOptions, device: torch.device, batches: dict[str, int], log: Log) -> dict[str, Any]:
    """The largest batch whose training step (engine settings) fits beside the most GPU memory the engine's
    image cache may take, found by doubling then bisection; and whether the wizard's batch trains and
    evaluates (at the engine's evaluation batch) beside it."""
    out = {}
    for arch in o.models:
        _release(device)
        held = device_cache_limit(device)  # the largest image cache a run would copy to this GPU now
        log(f"largest batch: {arch}, {held / 2**20:,.0f} MiB held for the images")
        out[arch] = largest_batch(lambda b, arch=arch, held=held: engine_fits(arch, b, o.image_size, device, held),
                                  start=max(1, batches[arch]), cap=o.max_batch_cap)
        wizard = batches[arch]
        eval_batch = speed_settings(device, wizard).eval_batch_size
        out[arch].update(wizard_batch=wizard, wizard_eval_batch=eval_batch, cache_held_mib=held / 2**20,
                         wizard_batch_fits=engine_fits(arch, wizard, o.image_size, device, held, eval_batch))
    return out


def largest_batch(fits: Callable[[int], bool], start: int, cap: int) -> dict[str, Any]:
    """Double from `start` while `fits`, then bisect to within an eighth; never tries above `cap`."""
    tried: dict[int, bool] = {}

    def attempt(b: int) -> bool:
        if b not in tried:
            tried[b] = fits(b)
        return tried[b]

    good, b = 0, start
    while b <= cap and attempt(b):
        good, b = b, b * 2
    capped = b > cap
    if not capped:
        bad = b
        while bad - good > max(1, good // 8):
            mid = (good + bad) // 2
            good, bad = (mid, bad) if attempt(mid) else (good, mid)
    return {"largest_batch": good, "search_capped": capped, "cap": cap,
            "tried": {str(k): v for k, v in sorted(tried.items())}}


def engine_fits(arch: str, batch: int, image_size: int, device: torch.device, cache_bytes: int = 0,
                eval_batch: int | None = None) -> bool:
    """Whether two training steps at `batch` (engine settings), and then an evaluation forward at
    `eval_batch` when given, fit beside `cache_bytes` of resident images. Only running out of memory
    counts as not fitting; any other error is raised."""
    _release(device)
    try:
        _train_and_evaluate(arch, batch, image_size, device, cache_bytes, eval_batch)
        return True
    except Exception as e:
        if not is_out_of_memory(e):
            raise
        return False
    finally:
        _release(device)


def _train_and_evaluate(arch: str, batch: int, image_size: int, device: torch.device, cache_bytes: int,
                        eval_batch: int | None) -> None:
    _apply_global(ENGINE_KNOBS, device)  # cudnn.benchmark's kernels may take more workspace: probe with them on
    # A stand-in of the resident images' bytes, held through the steps as a run holds its images.
    images = torch.empty(cache_bytes, dtype=torch.uint8, device=device)
    model, x, y, optimizer = _training_setup(arch, batch, image_size, ENGINE_KNOBS, device)
    dtype, scaler = _precision(ENGINE_KNOBS, device)
    step = _step_function(model, x, y, optimizer, dtype, scaler, ENGINE_KNOBS, device)
    step()
    step()
    if eval_batch:  # the evaluation pass runs with the weights, gradients and optimiser state still held
        model.eval()
        with torch.inference_mode(), _autocast(dtype, ENGINE_KNOBS, device):
            batch_x = torch.rand(eval_batch, 3, image_size, image_size, device=device)
            model(batch_x.contiguous(memory_format=torch.channels_last))
    _sync(device)
    del images


# ---------------------------------------------------------------------------------------------
# All of it


def run_figures(o: FigureOptions, parts: Sequence[str] = DEFAULT_PARTS, log: Log = print,
                previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the asked parts and return them merged into `previous` (another call's results)."""
    from resnet_core.bench.side_by_side import machine_info

    device = torch.device(o.device)
    report = dict(previous or {})
    work = Path(o.workdir) if o.workdir else Path(tempfile.mkdtemp(prefix="gpu-figures-"))
    workspace = Workspace.at(work / "workspace")
    report["machine"] = machine_info(device.type)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        report["machine"]["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
    report["options"] = asdict(o)
    batches = wizard_batches(o, device)
    report["wizard_batches"] = batches
    timings = report.setdefault("part_seconds", {})
    folder = None
    if "engine" in parts or "plain" in parts:  # before any CUDA work: the writers are forked processes
        log(f"writing {o.images} JPEGs of {o.source_size} px")
        folder = write_jpeg_folder(work / f"jpeg-{o.images}-{o.source_size}", o.images, o.classes, o.source_size)
    for part in parts:
        started = time.perf_counter()
        if part == "knobs":
            report["knobs"] = knob_figures(o, device, log)
        elif part in COMPILE_PARTS:  # both modes share one table, whichever call measured them
            figures = knob_figures(o, device, log, compile_mode=COMPILE_PARTS[part])
            rows = {**report.get("compile", {}).get("rows", {}), **figures["rows"]}
            report["compile"] = {**figures, "rows": rows}
        elif part == "limit":
            report["limit"] = limit_figures(o, device, batches, log)
        elif part in ("engine", "plain"):
            figures = engine_figures if part == "engine" else plain_figures
            report[part] = figures(o, device, folder, workspace, batches, log)
        elif part == "max_batch":
            report["max_batch"] = max_batch_figures(o, device, batches, log)
        else:
            raise ValueError(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
        timings[part] = round(time.perf_counter() - started, 1)
    report["ratios"] = ratios(report)
    return report


def ratios(report: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per depth: engine / limit, and engine / plain loop (both the as-written and the same-compute loop)."""
    out = {}
    limit, engine, plain = report.get("limit", {}), report.get("engine", {}), report.get("plain", {})
    for arch in report.get("options", {}).get("models", []):
        ours = engine.get(f"{arch} none", {}).get("images_per_s")
        bare = limit.get(arch, {}).get("images_per_s")
        fp32 = plain.get(f"{arch} fp32 as written", {}).get("images_per_s")
        amp = plain.get(f"{arch} bf16 + channels_last", {}).get("images_per_s")
        out[arch] = {"engine_vs_limit": ours / bare if ours and bare else None,
                     "engine_vs_plain_fp32": ours / fp32 if ours and fp32 else None,
                     "engine_vs_plain_same_compute": ours / amp if ours and amp else None}
    return out


def _n(v: Any, digits: int = 0) -> str:
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def _knob_notes(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Under a knobs table: fp16 standing in for bf16, and what each compiled step's compile time costs."""
    notes = []
    if any(r.get("autocast", "").startswith("float16") for r in rows.values()):
        notes.append("- This GPU lacks bf16: the autocast rows ran fp16 with a grad scaler.")
    plain = rows.get("engine settings", {}).get("step_ms")
    for name, r in rows.items():
        if "compile_s" not in r:
            continue
        steps = repay_steps(r["compile_s"], plain, r["step_ms"]) if plain else None
        repaid = ("it is never repaid (no faster than uncompiled)" if plain and steps is None
                  else f"repaid after {steps:,} steps" if steps else "no uncompiled row to compare with")
        notes.append(f"- {name}: compiling took {_n(r['compile_s'], 1)} s; {repaid}.")
    return notes


def format_markdown(report: dict[str, Any]) -> str:
    """The figures as Markdown tables (docs/performance.md's GPU section is made of these)."""
    m = report.get("machine", {})
    o = report.get("options", {})
    lines = [f"Machine: {m.get('gpu') or m.get('cpu')} ({m.get('gpu_memory_gib', '—')} GiB), {m.get('cores')} CPU "
             f"cores, torch {m.get('torch')}; {o.get('image_size')} px images.", ""]
    for key, title in (("knobs", "Compute settings, each alone"), ("compile", "torch.compile")):
        if key in report:
            k = report[key]
            rows = k["rows"]
            base = next((r.get("images_per_s") for r in rows.values() if r.get("images_per_s")), None)
            lines += [f"**{title}** — {k['model']} training step, batch {k['batch_size']}, ready tensor:", "",
                      "| setting | images/s | × first row | step ms | first step s | peak MiB |",
                      "|---|---:|---:|---:|---:|---:|"]
            for name, r in rows.items():
                if "error" in r:
                    lines.append(f"| {name} | failed: {r['error']} | | | | |")
                    continue
                lines.append(f"| {name} | {_n(r['images_per_s'])} | {_n(r['images_per_s'] / base, 2)} | "
                             f"{_n(r['step_ms'], 1)} | {_n(r['first_step_s'], 1)} | {_n(r.get('peak_memory_mib'))} |")
            lines += _knob_notes(rows)
            lines.append("")
    if "limit" in report or "engine" in report:
        lines += ["**The limit, this engine and the plain loop** (images/s of training):", "",
                  "| model | batch | bare step (limit) | engine, no aug. | engine, standard aug. | plain fp32 | "
                  "plain bf16 | engine ÷ limit | engine ÷ plain fp32 | engine ÷ plain bf16 | engine peak MiB |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for arch in o.get("models", []):
            lim = report.get("limit", {}).get(arch, {})
            eng = report.get("engine", {}).get(f"{arch} none", {})
            aug = report.get("engine", {}).get(f"{arch} standard", {})
            p32 = report.get("plain", {}).get(f"{arch} fp32 as written", {})
            p16 = report.get("plain", {}).get(f"{arch} bf16 + channels_last", {})
            r = report.get("ratios", {}).get(arch, {})
            lines.append(
                f"| {arch} | {o.get('batch_size')} | {_n(lim.get('images_per_s'))} | "
                f"{_n(eng.get('images_per_s'))} | {_n(aug.get('images_per_s'))} | {_n(p32.get('images_per_s'))} | "
                f"{_n(p16.get('images_per_s'))} | {_n(r.get('engine_vs_limit'), 2)} | "
                f"{_n(r.get('engine_vs_plain_fp32'), 2)} | {_n(r.get('engine_vs_plain_same_compute'), 2)} | "
                f"{_n(eng.get('peak_memory_mib'))} |")
        extra = []
        host = report.get("engine", {}).get(f"{o.get('models', ['?'])[0]} none, images on the host")
        if host and "images_per_s" in host:
            extra.append(f"- {o['models'][0]} with its images kept on the host (pinned buffers, non-blocking copies): "
                         f"{_n(host['images_per_s'])} images/s.")
        km = o.get("knob_model")
        wiz_e = report.get("engine", {}).get(f"{km} none, wizard batch", {})
        wiz_l = report.get("limit", {}).get(f"{km} wizard batch", {})
        if wiz_e.get("images_per_s") and wiz_l.get("images_per_s"):
            extra.append(f"- {km} at the wizard's batch ({wiz_e['batch_size']}): engine {_n(wiz_e['images_per_s'])}, "
                         f"bare step {_n(wiz_l['images_per_s'])} images/s "
                         f"({_n(wiz_e['images_per_s'] / wiz_l['images_per_s'], 2)}).")
        lines += extra
        errors = [f"{k}: {v['error']}" for part in ("limit", "engine", "plain")
                  for k, v in report.get(part, {}).items() if "error" in v]
        lines += [f"- failed: {e}" for e in errors]
        lines.append("")
    if "max_batch" in report:
        lines += ["**Largest batch that trains** (engine settings) against the wizard's batch for this GPU, "
                  f"beside the most memory the decoded images may take there ({DEVICE_CACHE_SHARE:.0%} of the "
                  "free memory):", "",
                  "| model | images held MiB | largest batch | wizard's batch | wizard's batch trains and evaluates |",
                  "|---|---:|---:|---:|---|"]
        for arch, r in report["max_batch"].items():
            largest = f"≥ {r['largest_batch']:,} (search stopped at {r['cap']:,})" if r["search_capped"] \
                else f"{r['largest_batch']:,}"
            fits = f"{'yes' if r['wizard_batch_fits'] else 'NO'} (evaluation batch {r.get('wizard_eval_batch', '—')})"
            lines.append(f"| {arch} | {_n(r.get('cache_held_mib'))} | {largest} | {r['wizard_batch']} | {fits} |")
        lines.append("")
    if report.get("part_seconds"):
        lines.append("Seconds per part: " + ", ".join(f"{k} {v}" for k, v in report["part_seconds"].items()) + ".")
    return "\n".join(lines) + "\n"
