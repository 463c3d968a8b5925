"""`python -m resnet_core bench ...` — the plain PyTorch loop and this project's engine, side by side."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from resnet_core.cli import UserError, print_json, summary
from resnet_core.config import AUGMENTATIONS, DEVICES


def register(sub) -> None:
    p = sub.add_parser(
        "bench", help=summary("bench"),
        description="Train the same model on the same split twice — the plain ImageFolder + DataLoader "
                    "loop a user would write, and this project's engine (cold and warm decoded-image "
                    "cache) — each in a fresh process, and compare speed, accuracy and memory.")
    p.add_argument("--data", default="generated", metavar="generated|fashion-mnist|DIR",
                   help="generated images, Fashion-MNIST written out as PNGs, or your own image folder")
    p.add_argument("--images", type=int, default=400, help="dataset size for generated / fashion-mnist")
    p.add_argument("--sizes", metavar="N,N,...", help="several dataset sizes, e.g. 1000,5000,20000")
    p.add_argument("--models", default="resnet18", metavar="resnet18[,resnet50,resnet101]")
    p.add_argument("--modes", default="frozen,finetune", metavar="frozen,finetune")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--source-size", type=int, default=256, help="side of the generated images in pixels")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (AdamW), both sides")
    p.add_argument("--augment", choices=AUGMENTATIONS, default="none")
    p.add_argument("--repeats", type=int, default=1, help="alternating repeats per comparison (medians)")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--threads", type=int, help="torch threads per measured process (default: torch's)")
    p.add_argument("--predict", action="store_true",
                   help="also time single-image prediction and batch throughput against a bare forward")
    p.add_argument("--paths", action="store_true",
                   help="also time a run started the dashboard's way (background job) against the CLI's")
    p.add_argument("--knobs", action="store_true",
                   help="instead: measure each speed switch on a ready tensor — on the CPU threads, "
                        "channels_last, bf16, eval batch, BN folding, oneDNN; with --device cuda TF32, "
                        "cudnn.benchmark, channels_last, bf16, fused AdamW and CUDA graphs")
    p.add_argument("--devices", metavar="N,N,...",
                   help="instead: train the same run on each number of devices (e.g. 1,2; several devices "
                        "train as a torchrun group) and print images/s and the scaling efficiency; "
                        "--batch-size is per device")
    p.add_argument("--gpu-figures", action="store_true",
                   help="instead: the GPU figures — each compute setting, the bare-step limit, this engine "
                        "and the plain DataLoader loop per depth at 224 px, and the largest batch that fits; "
                        "writes --out (JSON) and the same name with .md (tables)")
    p.add_argument("--parts", default=",".join(("knobs", "limit", "engine", "plain", "max_batch")),
                   metavar="knobs,limit,engine,plain,max_batch,compile,compile_autotune",
                   help="which GPU figures to measure (compile: torch.compile, a minute or more; "
                        "compile_autotune: its max-autotune-no-cudagraphs mode, longer); results are merged "
                        "into an existing --out")
    p.add_argument("--tiny", action="store_true",
                   help="with --gpu-figures: every part at a tiny size (seconds; what the tests run on a CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", help="keep data and the private workspace here (default: a temporary folder)")
    p.add_argument("--out", default="bench.json", help="write the full results here as JSON")
    p.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    p.set_defaults(func=run)


def _names(text: str, what: str) -> tuple[str, ...]:
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    if not names:
        raise UserError(f"--{what} is empty; give a comma-separated list")
    return names


def _sizes(args: argparse.Namespace) -> tuple[int, ...]:
    if not args.sizes:
        return (args.images,)
    try:
        return tuple(int(s) for s in args.sizes.split(",") if s.strip())
    except ValueError:
        raise UserError(f"--sizes must be whole numbers separated by commas, e.g. 1000,5000; got {args.sizes!r}") from None


def run(args: argparse.Namespace) -> int:
    from resnet_core.bench.side_by_side import (
        BenchError,
        BenchOptions,
        format_table,
        run_benchmark,
    )

    options = BenchOptions(
        data=args.data, sizes=_sizes(args), models=_names(args.models, "models"),
        modes=_names(args.modes, "modes"), image_size=args.image_size, source_size=args.source_size,
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, augmentation=args.augment,
        repeats=args.repeats, device=args.device, predict=args.predict, paths=args.paths, seed=args.seed,
        threads=args.threads, workdir=args.workdir)
    problems = options.problems()
    if problems:
        raise UserError("; ".join(problems))
    out = Path(args.out).expanduser()
    if out.is_dir():
        raise UserError(f"--out {args.out!r} is a folder; give a file name such as bench.json")
    if args.devices:
        return _scaling(options, args.devices, out, args.json)
    if args.gpu_figures:
        return _gpu_figures(args, out)
    if args.knobs and args.device == "cuda":
        args.parts = "knobs"
        return _gpu_figures(args, out)
    if args.knobs:
        return _knobs(options, out, args.json)
    try:
        report = run_benchmark(options, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    except BenchError as e:
        raise UserError(str(e)) from e
    _publish(out, report.to_dict(), args.json, format_table(report), f"results written to {out}")
    failed = any(c.get("errors") for c in report.comparisons) or any(p.get("error") for p in report.predictions)
    return 1 if failed else 0


def _knobs(options, out: Path, as_json: bool) -> int:
    from resnet_core.bench.knobs import format_knobs, measure_knobs
    from resnet_core.bench.side_by_side import load_average, machine_info

    if options.threads:
        import torch

        torch.set_num_threads(options.threads)
    before = load_average()
    knobs = measure_knobs(options.models[0], options.image_size, options.batch_size)
    data = {"machine": machine_info("cpu"), "knobs": knobs, "load": {"before": before, "after": load_average()}}
    _publish(out, data, as_json, format_knobs(knobs),
             f"load average before {before}, after {data['load']['after']}; results written to {out}")
    return 0


def _scaling(options, devices: str, out: Path, as_json: bool) -> int:
    from resnet_core.bench.scaling import format_scaling, measure_scaling, parse_device_counts
    from resnet_core.bench.side_by_side import BenchError

    try:
        report = measure_scaling(options, parse_device_counts(devices),
                                 log=lambda msg: print(msg, file=sys.stderr, flush=True))
    except BenchError as e:
        raise UserError(str(e)) from e
    _publish(out, report, as_json, format_scaling(report), f"results written to {out}")
    return 1 if any(row["error"] for row in report["scaling"]) else 0


def _gpu_figures(args: argparse.Namespace, out: Path) -> int:
    import json

    import torch

    from resnet_core.bench.gpu_figures import PARTS, FigureOptions, format_markdown, run_figures
    from resnet_core.fsutil import atomic_write_bytes

    parts = _names(args.parts, "parts")
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise UserError(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    cuda = torch.cuda.is_available()
    if args.device == "cuda" and not cuda:
        raise UserError("--device cuda was asked for but PyTorch sees no NVIDIA GPU here; leave --device out "
                        "(the figures then run on the CPU) or add --tiny for a quick check")
    if not cuda and not args.tiny:
        raise UserError("the GPU figures need a CUDA GPU (224 px ResNet-101 steps would take hours on a CPU); "
                        "add --tiny to run every part at a tiny size on the CPU")
    options = FigureOptions.tiny(workdir=args.workdir) if args.tiny else FigureOptions(workdir=args.workdir)
    if args.tiny and cuda:
        options = FigureOptions.tiny(device="cuda", workdir=args.workdir)
    previous = None
    if out.is_file():
        try:
            previous = json.loads(out.read_text())
        except (OSError, ValueError):
            previous = None  # an unreadable earlier result is replaced, not merged
    report = run_figures(options, parts, log=lambda msg: print(msg, file=sys.stderr, flush=True),
                         previous=previous)
    markdown = format_markdown(report)
    atomic_write_bytes(out.with_suffix(".md"), markdown.encode("utf-8"))
    _publish(out, report, args.json, markdown, f"results written to {out} and {out.with_suffix('.md')}")
    return 0


def _publish(out: Path, data: dict, as_json: bool, table: str, footer: str) -> None:
    """Every bench form alike: the JSON written to --out, then printed as JSON or as its table."""
    from resnet_core.fsutil import atomic_write_json

    atomic_write_json(out, data)
    if as_json:
        print_json(data)
    else:
        print(table)
        print(footer)
