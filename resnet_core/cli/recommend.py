"""`recommend`: the model cards' advice for a dataset and this (or a described) machine."""
from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from resnet_core.advice.recommend import (
    WEIGHT_CHOICES,
    Recommendation,
    RecommendationError,
    format_number,
    recommend,
    training_images,
)
from resnet_core.cli import UserError, print_json, summary
from resnet_core.config import MODEL_LABELS, MODELS, PRIORITIES, TASK_KINDS

_WIDTH = 100


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "recommend", help=summary("recommend"),
        description="Recommend a ResNet depth and its training settings from the dataset size, the GPU "
                    "memory and your priority, following the ResNet-18/50/101 model cards. Give a folder "
                    "(--data) or the counts (--images, --classes); give --gpu-mem or --cpu, or leave both "
                    "out to use this machine's hardware.")
    data = p.add_argument_group("dataset (--data, or --images with --classes)")
    data.add_argument("--data", metavar="DIR", help="image folder (class subfolders) or dataset name")
    data.add_argument("--images", type=int, metavar="N", help="number of images")
    data.add_argument("--classes", type=int, metavar="K", help="number of classes")
    hw = p.add_mutually_exclusive_group()
    hw.add_argument("--gpu-mem", type=float, metavar="GB", help="GPU memory in GB")
    hw.add_argument("--cpu", action="store_true", help="plan for training on CPU")
    p.add_argument("--priority", choices=PRIORITIES, default="balanced")
    p.add_argument("--task", choices=TASK_KINDS, default="simple",
                   help="fine-grained: classes differ in small details (species, defect types)")
    p.add_argument("--weights", choices=WEIGHT_CHOICES, default="auto",
                   help="auto: ImageNet weights when they are on this machine or can be downloaded")
    p.add_argument("--image-size", type=int, metavar="N",
                   help="default: the cards' 224, or less when the images are smaller (with --data)")
    p.add_argument("--model", choices=MODELS, help="settle the depth yourself; settings follow its card")
    p.add_argument("--race", action="store_true",
                   help="check the advice on the data (--data): a short race among the cards' candidates on "
                        "small subsets at a reduced image size, judged on validation loss")
    p.add_argument("--budget", type=float, metavar="MINUTES",
                   help="time for the race (default: 15%% of the recommended run's estimated time)")
    p.add_argument("--json", action="store_true",
                   help="print the recommendation as JSON (with earlier_datasets: what won on the workspace's "
                        "earlier datasets of this kind)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    num_images, num_classes, smallest_class, median, largest_class, report = _dataset_counts(args)
    gpu_mem_gb, hardware = _gpu_memory(args)
    available = _weights_available() if args.weights != "none" else True
    try:
        rec = recommend(training_images(num_images), num_classes, gpu_mem_gb, dataset_images=num_images,
                        priority=args.priority, task=args.task,
                        weights=args.weights, weights_available=available, image_size=args.image_size,
                        smallest_class=smallest_class, model=args.model, median_size=median,
                        largest_class=largest_class)
    except RecommendationError as e:
        raise UserError(str(e)) from e
    race = _race(args, rec, available) if args.race else None
    earlier = _earlier(args, rec, report, num_images, num_classes)
    if args.json:
        d = rec.to_dict()
        if hardware:
            d["hardware"] = hardware
        if race is not None:
            d["race"] = race.to_dict()
        d["earlier_datasets"] = earlier
        print_json(d)
    else:
        print(format_recommendation(rec, hardware))
        if earlier["findings"]:
            print("\n" + format_earlier(earlier))
        if race is not None:
            print("\n" + format_race(race))
    return 0


def _earlier(args: argparse.Namespace, rec: Recommendation, report, num_images: int, num_classes: int) -> dict:
    """What won on the workspace's earlier datasets of this kind (learned.earlier_advice)."""
    from resnet_core.advice.dataset_profile import DatasetProfile, profile_of_report
    from resnet_core.advice.learned import earlier_advice
    from resnet_core.runs.store import RunStore, StoreError
    from resnet_core.workspace import Workspace

    profile = (profile_of_report(report) if report is not None
               else DatasetProfile(training_images(num_images), num_classes))
    workspace = Workspace.default()
    try:
        store = RunStore(workspace)
    except StoreError as e:  # the advice stands without it; say why it is missing
        return {"profile": profile.to_dict(), "summary": None, "findings": [], "unavailable": str(e)}
    try:
        return earlier_advice(profile, workspace, store, exclude=_dataset_name(args.data, workspace),
                              recommendation=rec)
    finally:
        store.close()


def _dataset_name(target: str | None, workspace) -> str | None:
    """The workspace's name for --data (a name, or the folder of a registered dataset), so a dataset
    never counts as its own earlier dataset."""
    from resnet_core.data.registry import list_datasets

    if target is None:
        return None
    path = Path(target).expanduser()
    if not path.exists():
        return target
    return next((d.name for d in list_datasets(workspace) if d.root.resolve() == path.resolve()), None)


def format_earlier(earlier: dict) -> str:
    """'On your earlier datasets ...' with one line a dataset."""
    lines = textwrap.wrap(earlier["summary"], _WIDTH)
    for finding in earlier["findings"]:
        text = finding["sentence"]
        lines += textwrap.wrap(text[:1].upper() + text[1:], _WIDTH, initial_indent="  - ", subsequent_indent="    ")
    return "\n".join(lines)


def _race(args: argparse.Namespace, rec: Recommendation, available):
    """The race on the data: its candidates, their measured scores and the winner."""
    if args.data is None:
        raise UserError("--race checks the advice on your images: give the folder or dataset with --data DIR")
    if args.budget is not None and not 0 < args.budget < float("inf"):
        raise UserError(f"--budget must be a positive number of minutes, got {args.budget:g}")
    from resnet_core.advice.check_on_data import check_on_data  # trains: torch only when racing
    from resnet_core.advice.race import RaceCancelled
    from resnet_core.cli.scan import stderr_progress
    from resnet_core.data.prepare import DataError
    from resnet_core.data.scan import DatasetError
    from resnet_core.workspace import Workspace

    def progress(done: int, total: int, what: str) -> None:
        print(f"race: {done}/{total} trials · {what}", file=sys.stderr, flush=True)

    bars: dict[str, object] = {}

    def on_prepare(stage: str, done: int, total: int) -> None:
        bar = bars.setdefault(stage, stderr_progress(stage))
        if bar is not None:  # None: stderr is not a terminal
            bar(done, total)

    def on_budget(words: str) -> None:  # stderr: --json keeps stdout for the JSON alone
        print(f"race budget: {words}", file=sys.stderr, flush=True)

    device = "cpu" if args.cpu else "auto"
    try:
        return check_on_data(args.data, Workspace.default(), rec,
                             budget_s=None if args.budget is None else args.budget * 60, device=device,
                             weights_available=available, progress=progress,
                             on_prepare=on_prepare, on_budget=on_budget)
    except (DataError, DatasetError) as e:
        raise UserError(str(e)) from e
    except RaceCancelled as e:
        raise UserError("the race was interrupted before it finished") from e


def format_race(race) -> str:
    """The race's candidates, best first, with what each measured and the verdict."""
    scores = race.result.scores()
    order = sorted(race.result.candidates,
                   key=lambda c: (-scores[c.key].rung, scores[c.key].val_loss) if c.key in scores else (1, 0))
    lines = [f"Race on your data ({race.budget_text}; used {race.result.used_s:,.0f} s, "
             f"{race.result.image_size} px):"]
    for c in order:
        t = scores.get(c.key)
        measured = (f"val loss {t.val_loss:.3f} on {t.train_images:,} images" if t else "not measured")
        mark = "*" if c.key == race.result.winner_key else " "
        lines.append(f" {mark} {c.name:<62} {measured}")
    lines += textwrap.wrap(race.verdict, _WIDTH, initial_indent="", subsequent_indent="")
    return "\n".join(lines)


def _dataset_counts(args: argparse.Namespace) -> tuple[int, int, int | None, tuple[int, int] | None, int | None,
                                                      object]:
    if args.data is not None:
        if args.images is not None or args.classes is not None:
            raise UserError("give either --data DIR or --images N --classes K, not both")
        return _scan_counts(args.data)
    if args.images is None or args.classes is None:
        raise UserError("say what to plan for: --data DIR (an image folder or dataset name), or both "
                        "--images N and --classes K")
    if args.images < 1:
        raise UserError(f"--images must be at least 1, got {args.images}")
    if args.classes < 1:
        raise UserError(f"--classes must be at least 1, got {args.classes}")
    return args.images, args.classes, None, None, None, None


def _scan_counts(target: str) -> tuple[int, int, int | None, tuple[int, int] | None, int | None, object]:
    from resnet_core.cli.scan import stderr_progress
    from resnet_core.data.registry import dataset_report, get_dataset
    from resnet_core.data.scan import DatasetError, scan
    from resnet_core.workspace import Workspace

    try:
        if Path(target).expanduser().exists():
            report = scan(target, progress=stderr_progress("scanning"))
        else:
            try:
                info = get_dataset(target, Workspace.default())
            except DatasetError as e:
                raise UserError(f"{target!r} is neither a folder nor a dataset name. {e}") from e
            report = dataset_report(info, progress=stderr_progress("scanning"))
    except DatasetError as e:
        raise UserError(str(e)) from e
    if report.num_images == 0:
        raise UserError(f"no usable images in {target}: put the images in one subfolder per class "
                        f"(run `python -m resnet_core scan {target}` to see what was skipped and why)")
    median = (report.median_width, report.median_height) if report.median_width and report.median_height \
        else None
    return (report.num_images, len(report.classes), report.smallest_class_count, median,
            max(report.counts.values(), default=0), report)


def _gpu_memory(args: argparse.Namespace) -> tuple[float | None, str | None]:
    """(GPU memory for the wizard, a description of the detected hardware when it was detected)."""
    if args.cpu:
        return None, None
    if args.gpu_mem is not None:
        if not args.gpu_mem > 0 or args.gpu_mem == float("inf"):
            raise UserError(f"--gpu-mem must be a positive number of GB, got {args.gpu_mem:g}; "
                            f"use --cpu for no GPU")
        return args.gpu_mem, None
    from resnet_core.hardware import detect_hardware

    hw = detect_hardware()
    return hw.gpu_mem_gb, hw.describe()


def _weights_available() -> dict[str, bool]:
    """Per model: are ImageNet weights on disk, or can training download them? (auto's question)."""
    from resnet_core.advice.planning import weights_availability  # torch: only when recommending

    return weights_availability("auto")


def format_recommendation(rec: Recommendation, hardware: str | None = None) -> str:
    """The recommendation as a readable card for the terminal."""
    def wrap(text: str, first: str, rest: str) -> list[str]:
        return textwrap.wrap(text, _WIDTH, initial_indent=first, subsequent_indent=rest)

    gpu = "CPU" if rec.gpu_mem_gb is None else f"{rec.gpu_mem_gb:g} GB GPU"
    classes = f"{rec.num_classes} class{'es' if rec.num_classes != 1 else ''}"
    lines = [f"Recommendation: {MODEL_LABELS[rec.model]}",
             f"For {rec.dataset_images or rec.num_images:,} images ({rec.num_images:,} for training) in "
             f"{classes} on {gpu}, "
             f"{rec.priority} priority, {rec.task} task."]
    if hardware:
        lines.append(f"Hardware: {hardware}")
    lines.append("")
    values = {
        "model": MODEL_LABELS[rec.model],
        "weights": "ImageNet" if rec.weights == "imagenet" else "none (random initialisation)",
        "batch_size": rec.batch_size, "epochs": rec.epochs, "learning_rate": format_number(rec.learning_rate),
        "augmentation": rec.augmentation, "fine_tune": "all layers" if rec.fine_tune else "head only",
        "patience": rec.patience, "eval_every": f"every {rec.eval_every} epoch(s)",
        "image_size": f"{rec.image_size} px",
    }
    for name, reason in rec.why.items():
        label = name.replace("_", " ")
        lines.append(f"{label:<14}{values.get(name, '')}")
        lines += wrap(reason, " " * 4, " " * 4)
    lines.append(f"{'class balance':<14}{rec.class_balance.replace('_', ' ')}")
    lines += wrap(rec.class_balance_reason, " " * 4, " " * 4)
    if rec.warnings:
        lines += ["", "Warnings:"]
        for w in rec.warnings:
            lines += wrap(w, "  - ", " " * 4)
    lines += ["", "Alternatives:"]
    for alt in rec.alternatives:
        lines += wrap(alt["why_not"], f"  {MODEL_LABELS[alt['model']]}: ", " " * 4)
    return "\n".join(lines)
