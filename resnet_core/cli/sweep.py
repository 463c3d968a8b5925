"""`python -m resnet_core sweep DIR --sizes 833,2280,19104` — the cost-performance study on your data.

Trains every configuration (depth × fine-tuning or frozen backbone × augmentation) at each size on
nested stratified subsets of the training split, all scored on the same test split, and prints the
ranked tables in the reference study's layout with a written conclusion. Ctrl-C cancels the current
run cleanly and stops; the same command again resumes, skipping finished configurations.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

from resnet_core.cli import UserError, print_json, summary
from resnet_core.config import AUGMENTATIONS, DEVICES, MODELS
from resnet_core.training.callbacks import Callback, FitState


def register(sub) -> None:
    p = sub.add_parser("sweep", help=summary("sweep"),
                       description="Train ResNet depth × fine-tuning/frozen backbone × augmentation at "
                                   "several training-set sizes (nested stratified subsets, one shared "
                                   "test split) and rank them per size. Settings you leave out come "
                                   "from the wizard for each size. Re-running the same command resumes.")
    p.add_argument("data", metavar="DIR", help="image folder (class subfolders) or imported dataset name")
    p.add_argument("--sizes", default="833,2280,19104",
                   help="training images per size, comma-separated (default: the reference study's)")
    p.add_argument("--models", default="resnet18,resnet50",
                   help=f"comma-separated, from {', '.join(MODELS)} (default: resnet18,resnet50)")
    p.add_argument("--augmentations", default="none,standard",
                   help=f"comma-separated, from {', '.join(AUGMENTATIONS)} (default: none,standard)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate (AdamW)")
    p.add_argument("--patience", type=int, help="early-stopping patience in evaluations")
    p.add_argument("--image-size", type=int)
    p.add_argument("--weights", default="auto", metavar="auto|imagenet|none|PATH")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--parallel", type=int, default=1, metavar="K",
                   help="train K configurations at once: one per GPU (cuda:0 to cuda:K-1), or K slots "
                        "sharing the cores on a CPU (default: 1, one after another)")
    p.add_argument("--include-frozen-random", action="store_true",
                   help="also run frozen-backbone configurations without pretrained weights "
                        "(a random frozen backbone learns next to nothing)")
    p.add_argument("--dry-run", action="store_true",
                   help="show the plan, what is already done and a time estimate; train nothing")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from resnet_core.runs.store import RunStore, StoreError
    from resnet_core.study.plan import StudyError, plan_study
    from resnet_core.study.run import estimate_study_time, run_study, study_progress, study_slots
    from resnet_core.study.summary import study_conclusion, study_tables
    from resnet_core.workspace import Workspace

    workspace = Workspace.default()
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.lr,
                 "patience": args.patience, "image_size": args.image_size}
    try:
        plan = plan_study(args.data, _ints(args.sizes, "--sizes"), models=_words(args.models),
                          augmentations=_words(args.augmentations),
                          include_frozen_random=args.include_frozen_random, overrides=overrides,
                          workspace=workspace, weights=args.weights, seed=args.seed, device=args.device)
        slots = study_slots(args.device, args.parallel)
    except StudyError as e:
        raise UserError(str(e)) from e
    gpus = sum(1 for slot in slots if slot.startswith("cuda"))
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr)
    try:
        store = RunStore(workspace)
    except StoreError as e:
        raise UserError(str(e)) from e
    from resnet_core.runs.recovery import startup

    startup(workspace, store)
    state = study_progress(plan, store)
    print(f"study {plan.study_id}: {len(plan.entries)} configurations on '{plan.dataset}' "
          f"({state['completed']} already done)", file=sys.stderr)

    if args.dry_run:
        estimate = estimate_study_time(plan, store=store, devices=max(1, gpus))
        out = {"study_id": plan.study_id, "name": plan.name, "dataset": plan.dataset,
               "sizes": list(plan.sizes), "progress": state, "estimate_s": estimate.seconds,
               "slots": slots,
               "estimate": estimate.describe(), "left_out": list(plan.left_out), "notes": list(plan.notes),
               "configurations": [{"num_images": e.num_images, "config": e.description,
                                   "settings": e.config.to_dict()} for e in plan.entries]}
        if args.json:
            print_json(out)
        else:
            print(f"{plan.name}\n{estimate.describe()}")
            for e in plan.entries:
                c = e.config
                print(f"  {e.num_images:>6} images  {e.description:<42} {c.epochs} epochs, batch "
                      f"{c.batch_size}, lr {c.learning_rate:g}, {c.image_size}px")
        return 0

    cancel = threading.Event()
    reporter = _Reporter(at_once=len(slots) > 1)
    with _cancel_on_ctrl_c(cancel):
        result = run_study(plan, workspace, store, progress=reporter.on_event, callbacks=[reporter],
                           cancel_event=cancel, slots=slots)
    tables = study_tables(plan, store)
    conclusion = study_conclusion(tables, plan.wizard_pick_names())
    runs = [{"run_id": r["run_id"], "num_images": t["num_images"], "config": r["config"],
             "status": r["status"]} for t in tables for r in t["rows"]]
    if args.json:
        print_json({"study_id": plan.study_id, "name": plan.name, "dataset": plan.dataset,
                    "tables": tables, "conclusion": conclusion, "runs": runs,
                    "wizard_picks": {str(k): v for k, v in plan.wizard_picks.items()},
                    "left_out": list(plan.left_out), "notes": list(plan.notes),
                    "stopped": result.stopped, "ran": result.ran, "failed": result.failed})
    else:
        from resnet_core.study.summary import format_tables

        print(format_tables(tables))
        print()
        for line in conclusion:
            print(f"- {line}")
    if result.stopped:
        done = study_progress(plan, store)
        print(f"stopped: {done['completed']} of {done['total']} configurations done. Run the same "
              "command again to resume.", file=sys.stderr)
        return 130
    if result.failed:
        print(f"error: {len(result.failed)} configuration(s) failed (runs "
              f"{', '.join(map(str, result.failed))}); see `python -m resnet_core runs`. Run the "
              "same command again to retry them.", file=sys.stderr)
        return 1
    return 0


def _ints(text: str, option: str) -> list[int]:
    try:
        values = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise UserError(f"{option} takes whole numbers separated by commas, for example "
                        f"833,2280,19104; got {text!r}") from None
    if not values:
        raise UserError(f"{option} needs at least one number, for example 833,2280,19104")
    return values


def _words(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@contextlib.contextmanager
def _cancel_on_ctrl_c(cancel: threading.Event) -> Iterator[None]:
    """First Ctrl-C: cancel the current run between batches (it is stored) and stop. Second: quit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nstopping: the current run is cancelled at the next batch (Ctrl-C again to quit now)",
              file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Reporter(Callback):
    """One line per configuration and per epoch on stderr; with several at once, each epoch line
    names its configuration."""

    def __init__(self, at_once: bool = False):
        self.at_once = at_once

    def on_event(self, event) -> None:
        where = f"[{event.index}/{event.total}] {event.entry.num_images} images, {event.entry.description}"
        if event.kind == "skip":
            print(f"{where}: done already (run {event.run_id}, test accuracy {event.test_acc:.2%})",
                  file=sys.stderr)
        elif event.kind == "start":
            c = event.entry.config
            print(f"{where}: run {event.run_id}, {c.epochs} epochs, batch {c.batch_size}, "
                  f"lr {c.learning_rate:g}", file=sys.stderr)
        elif event.kind == "finish":
            score = "" if event.test_acc is None else f", test accuracy {event.test_acc:.2%}"
            print(f"{where}: {event.status}{score}", file=sys.stderr)

    def after_epoch(self, state: FitState) -> None:
        h = state.history[-1]
        who = ""
        if self.at_once:
            c = state.config
            who = f"{c.max_train_images or 'all'} images, {c.describe()}: "
        text = f"    {who}epoch {h['epoch']}/{state.config.epochs}: loss {h['train_loss']:.3f}"
        if h.get("val_loss") is not None:
            text += f", val loss {h['val_loss']:.4f}, val acc {h['val_acc']:.3f}"
        print(text, file=sys.stderr)
