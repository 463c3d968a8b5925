"""`python -m resnet_core train DIR ...` — train one run in this process, with a progress bar on stderr."""
from __future__ import annotations

import argparse
import sys

from resnet_core.cli import UserError, print_json, summary
from resnet_core.config import AUGMENTATIONS, CLASS_BALANCE, DEVICES, MODELS
from resnet_core.results.metrics import keep_known, run_scores
from resnet_core.runs.jobs import device_key
from resnet_core.status import RunStatus
from resnet_core.training.callbacks import Callback, FitState


def register(sub) -> None:
    p = sub.add_parser("train", help=summary("train"),
                       description="Train one run. Options you leave out come from the recommendation "
                                   "engine (the model cards), and the JSON says which.")
    p.add_argument("data", metavar="DIR", help="image folder (class subfolders) or imported dataset name")
    p.add_argument("--model", choices=MODELS)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate (AdamW)")
    p.add_argument("--augment", choices=AUGMENTATIONS)
    p.add_argument("--freeze-backbone", action="store_true", help="train only the new head")
    p.add_argument("--patience", type=int, help="early-stopping patience in evaluations")
    p.add_argument("--eval-every", type=int, help="evaluate every N epochs")
    p.add_argument("--image-size", type=int)
    p.add_argument("--weights", default="auto", metavar="auto|imagenet|none|PATH")
    p.add_argument("--max-train-images", type=int, help="train on a stratified subset of this size")
    p.add_argument("--class-balance", choices=CLASS_BALANCE,
                   help="weighted_loss: every class counts the same in the loss; balanced_sampler: every "
                        "class is drawn as often (recommended, measured slightly better, when the largest "
                        "class has 3x or more the images of the smallest)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--devices", type=int, default=1, metavar="N",
                   help="train one run over N devices with DistributedDataParallel (torchrun): N GPUs, "
                        "or N CPU processes; --batch-size is per device")
    p.add_argument("--sync-batchnorm", action=argparse.BooleanOptionalAction, default=None,
                   help="with --devices: BatchNorm statistics over the global batch (GPUs only; on by "
                        "default below 16 images per device there)")
    p.add_argument("--prepare-only", action="store_true",
                   help="store the run and build its decoded-image cache, then print the torchrun command "
                        "that trains it (for a run over several machines)")
    p.add_argument("--no-wait", action="store_true",
                   help="when another run (of any process) trains on the device, exit instead of waiting")
    add_label_arguments(p)
    p.add_argument("--json", action="store_true", help="print the final result as JSON")
    p.set_defaults(func=run)


def add_label_arguments(p: argparse.ArgumentParser) -> None:
    """--name and --note: the user's own label for a new run (shown by `runs` and the Compare page)."""
    p.add_argument("--name", default="", help="a name for the run, such as 'baseline' (changed later with `rename`)")
    p.add_argument("--note", default="", help="a note about the run: why you tried these settings")


def run(args: argparse.Namespace) -> int:
    from resnet_core.advice.planning import plan_training
    from resnet_core.runs.recovery import startup
    from resnet_core.runs.runner import create_run
    from resnet_core.runs.store import RunStore
    from resnet_core.workspace import Workspace

    workspace = Workspace.default()
    overrides = {
        "model": args.model, "epochs": args.epochs, "batch_size": args.batch_size,
        "learning_rate": args.lr, "augmentation": args.augment,
        "fine_tune": False if args.freeze_backbone else None, "patience": args.patience,
        "eval_every": args.eval_every, "image_size": args.image_size, "class_balance": args.class_balance,
    }
    plan = plan_training(args.data, workspace, overrides=overrides, weights=args.weights,
                         seed=args.seed, device=args.device, max_train_images=args.max_train_images,
                         devices=args.devices, sync_batchnorm=args.sync_batchnorm)
    for w in plan.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr)
    store = RunStore(workspace)
    startup(workspace, store)  # runs of dead processes → interrupted; leftovers of killed imports go
    if args.no_wait:  # refused before a run exists
        _refuse_if_taken(store.device_lease(device_key(plan.config.device)))
    run_id = create_run(plan.config, workspace, store, dataset=plan.dataset, name=args.name, note=args.note)
    cfg = plan.config
    if args.prepare_only:
        return _prepare_only(workspace, store, run_id, cfg, args.json)
    batch = (f"batch {cfg.batch_size}" if cfg.devices == 1 else
             f"{cfg.devices} devices, batch {cfg.batch_size} per device ({cfg.batch_size * cfg.devices} global)")
    print(f"run {run_id}: {cfg.describe()} on '{cfg.dataset}', {cfg.epochs} epochs, {batch}, "
          f"lr {cfg.learning_rate:g}, {cfg.image_size}px" +
          (f" (recommended: {', '.join(cfg.recommended)})" if cfg.recommended else ""), file=sys.stderr)
    return train_in_foreground(workspace, store, run_id, cfg, resume=False, as_json=args.json,
                               warnings=plan.warnings, wait=not args.no_wait)


def _prepare_only(workspace, store, run_id: int, config, as_json: bool) -> int:
    """The run stored (queued) and its images decoded into the cache: what the ranks of every machine need."""
    from resnet_core.data.prepare import prepare_data
    from resnet_core.runs.group import WORKER_MODULE

    bar = ConsoleProgress()
    prepare_data(config, workspace, progress=bar.on_prepare, memory_map=True)
    bar._close_prep()
    command = (f"torchrun --nnodes NODES --nproc-per-node GPUS_PER_NODE --rdzv-backend c10d "
               f"--rdzv-endpoint HOST:29400 --rdzv-id run{run_id} -m {WORKER_MODULE} "
               f"--workspace {workspace.root} --run-id {run_id}" +
               (" --device cpu" if config.device == "cpu" else ""))  # else the ranks take a GPU where there is one
    if as_json:
        print_json({"run_id": run_id, "status": "queued", "devices": config.devices, "command": command})
    else:
        print(f"run {run_id} is stored and its images are decoded. On every machine (NODES × GPUS_PER_NODE = "
              f"{config.devices}), with HOST the first machine's address, run:\n  {command}")
    return 0


def _refuse_if_taken(lease) -> None:
    from resnet_core.runs.lease import taken_message

    if lease is not None:
        raise UserError(taken_message(lease))


def train_in_foreground(workspace, store, run_id: int, config, resume: bool, as_json: bool,
                        extra: dict | None = None, warnings: list[str] = (), wait: bool = True) -> int:
    """Train a stored run in this process with the progress bar, then print its summary.

    Returns 0, or 1 when the run failed. Ctrl-C stores the run as interrupted (exit 130), so
    `resume` can continue it from its last saved epoch. Shared by train, resume and rerun. The
    device is held for the run across processes: while another run trains on it, this one waits
    (and says so), or with wait=False is stored as cancelled and refused.
    """
    code, summary = train_and_summarise(workspace, store, run_id, config, resume, extra, warnings, wait)
    if summary is None:
        return code
    if as_json:
        print_json(summary)
    else:
        _print_human(summary)
    report_failure(workspace, summary)
    return code


def train_and_summarise(workspace, store, run_id: int, config, resume: bool, extra: dict | None = None,
                        warnings: list[str] = (), wait: bool = True) -> tuple[int, dict | None]:
    """train_in_foreground without the printing: (exit code, the run's summary; None after Ctrl-C)."""
    from resnet_core.results.ranking import ranked_rows
    from resnet_core.results.trust import run_trust, trust_json
    from resnet_core.runs.group import device_keys, execute_on_devices
    from resnet_core.runs.lease import hold_devices
    from resnet_core.runs.runner import run_summary

    bar = ConsoleProgress()
    try:
        with hold_devices(store, device_keys(config, device_key(config.device)), run_id, wait=wait,
                          on_wait=lambda message: print(f"{message}…", file=sys.stderr)) as taken:
            if taken is not None:
                store.finish_run(run_id, RunStatus.CANCELLED)
                store.add_note(run_id, "Not started: the device was taken and --no-wait was given.")
                _refuse_if_taken(taken)
            status = execute_on_devices(run_id, config, workspace, store, callbacks=[bar], resume=resume)
    except KeyboardInterrupt:
        bar.close()
        store.finish_run(run_id, RunStatus.INTERRUPTED)
        store.add_note(run_id, "Stopped with Ctrl-C.")
        print(f"interrupted; `python -m resnet_core resume {run_id}` continues from the last saved "
              "epoch", file=sys.stderr)
        return 130, None
    finally:
        bar.close()
    summary = run_summary(store, run_id)
    summary["recommended"] = list(config.recommended)
    summary["warnings"] = list(dict.fromkeys([*warnings, *summary["warnings"]]))
    summary.update(extra or {})
    trust = trust_json(run_trust(ranked_rows(store.list_runs(dataset=summary["dataset"])), workspace, run_id))
    # balanced_acc and macro_f1: from stored predictions, else from the test report's confusion matrix
    summary.update(keep_known(trust, run_scores(store.get_run(run_id).final_metrics)))
    return (1 if status == RunStatus.FAILED else 0), summary


def report_failure(workspace, summary: dict) -> None:
    """On stderr: why the run failed and where its details are (nothing for a run that did not fail)."""
    from resnet_core.runs.runner import error_log_path

    if summary["status"] != RunStatus.FAILED:
        return
    print(f"error: run {summary['run_id']} failed: {summary['error']}", file=sys.stderr)
    details = error_log_path(workspace, summary["run_id"])
    if details:
        print(f"details: {details} (--debug prints them here)", file=sys.stderr)


def _print_human(s: dict) -> None:
    def pct(v):
        return "—" if v is None else f"{v:.2%}"

    print(f"run {s['run_id']} {s['status']}: {s['description']}")
    if s["test_acc"] is not None:
        print(f"  test accuracy {pct(s['test_acc'])}, validation accuracy {pct(s['val_acc'])}, "
              f"validation loss {s['val_loss']:.4f}")
        print(f"  balanced accuracy {pct(s.get('balanced_acc'))}, macro-F1 {pct(s.get('macro_f1'))}")
        print(f"  best epoch {s['best_epoch']}, ended at epoch {s['epoch_ended']}"
              f"{' (early stop)' if s['stopped_early'] else ''}, {s['train_time_s']:.1f}s")


class ConsoleProgress(Callback):
    """A tqdm bar per epoch on stderr, with loss and accuracy as they come."""

    def __init__(self):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar = None
        self.prep_bar = None

    def on_prepare(self, stage: str, done: int, total: int) -> None:
        if self.prep_bar is None or self.prep_bar.desc != stage:
            self._close_prep()
            self.prep_bar = self._tqdm(total=total, desc=stage, file=sys.stderr, leave=False, unit="img")
        self.prep_bar.n = done
        self.prep_bar.refresh()

    def before_epoch(self, state: FitState) -> None:
        self._close_prep()
        self.close()
        self.bar = self._tqdm(desc=f"epoch {state.epoch}/{state.config.epochs}", file=sys.stderr,
                              unit="batch", leave=True, dynamic_ncols=True)

    def after_batch(self, state: FitState) -> None:
        if self.bar is not None:
            self.bar.total = state.num_batches
            self.bar.n = state.batch
            self.bar.refresh()

    def after_epoch(self, state: FitState) -> None:
        if self.bar is None:
            return
        h = state.history[-1]
        post = {"loss": f"{h['train_loss']:.3f}", "acc": f"{h['train_acc']:.3f}"}
        if h.get("val_loss") is not None:
            post.update(val_loss=f"{h['val_loss']:.3f}", val_acc=f"{h['val_acc']:.3f}")
        self.bar.set_postfix(post)
        self.close()

    def _close_prep(self) -> None:
        if self.prep_bar is not None:
            self.prep_bar.close()
            self.prep_bar = None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
