"""Training: `fit(config, data, callbacks)` and the plain functions it is made of.

Shape of a run: build the model (ImageNet, random or user weights) → per epoch `train_one_epoch`,
then `evaluate` on the validation split every `eval_every` epochs → keep the weights with the lowest
validation loss → restore them and score the test split once (`test_report`).

Speed: images arrive as one decoded uint8 tensor (imagecache), so a batch is an index into memory,
augmented on the training device (augment). On CUDA the images are copied to GPU memory once per run
when they fit (device_images), the epoch's order, the labels and the augmentation's random numbers
live there too, and the running loss and accuracy are summed on the device: a training batch neither
copies from the host nor waits for the GPU (divergence is checked every DIVERGENCE_CHECK_BATCHES
batches there, every batch on the CPU). With a frozen backbone and no augmentation the
backbone's pooled features are computed once and only the head trains on them; with a frozen
backbone and augmentation the backbone runs without gradients. On CUDA: channels_last, bf16
autocast (fp16 with a grad scaler where bf16 is missing), cudnn benchmark, TF32 and fused AdamW
(each measured by `bench --knobs --device cuda`, docs/performance.md). On a CPU with native
bf16 (AVX512-BF16, AMX): bf16 autocast and channels_last. Checkpoints are written at most once per
~20x their write cost (see `_Checkpoints`), so they never dominate short epochs.

Same seed, same run: the starting weights come from a generator of the run's own (models.initialise),
and each epoch's data order and augmentation from another seeded by (seed, epoch); nothing draws from
torch's global generator, which other threads (another run, the time-estimate probe) may reseed.

Out of memory: training halves its batch size and carries on after the last batch applied (none is
applied twice); evaluation halves its batch and runs the pass again. Each is noted in the run's notes.

Several devices: with a `DistContext` (training.distributed, one process per device under torchrun)
the model is wrapped in DistributedDataParallel, each rank trains on its shard of the epoch's order
(the same order on every rank), and every sum the history reports (training and evaluation loss,
correct, images) is added up across ranks, so the figures are those of the whole dataset and the
ranks' decisions (best epoch, early stop) agree. Only rank 0 writes checkpoints.

Learning rate: AdamW with a per-step cosine decay to 1% of the starting rate over the planned
epochs (or the starting rate throughout with schedule="constant"), computed from progress rather than held in a scheduler object, so resuming and batch-size
changes (after running out of memory) stay exact.
"""
from __future__ import annotations

import functools
import io
import math
import os
import resource
import time
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from resnet_core.config import ConfigError, TrainConfig
from resnet_core.data.augment import augment_batch
from resnet_core.data.prepare import TrainingData
from resnet_core.fsutil import atomic_write_bytes
from resnet_core.hardware import resolve_device
from resnet_core.status import RunStatus
from resnet_core.training.callbacks import (
    Callback,
    CallbackList,
    CancelTraining,
    EarlyStopping,
    FitState,
    StopTraining,
    TrainingDiverged,
)
from resnet_core.training.checkpoints import CheckpointError, save_checkpoint_state
from resnet_core.training.device_images import DeviceImages
from resnet_core.training.distributed import DistContext
from resnet_core.training.models import build_model, freeze_backbone, set_train_mode
from resnet_core.training.weights import (
    WeightsError,
    forget_network,
    imagenet_weights_available,
    model_label,
    resolve_weights,
)

MIN_LR_FRACTION = 0.01
# Checkpoints are written once at least this many times their last write's duration has passed, so
# writing them stays under ~5% of training time (see _Checkpoints).
CHECKPOINT_INTERVAL_PER_WRITE_COST = 20
# On CUDA reading the loss back waits for the GPU, so a non-finite loss is looked for every this many
# batches (and at the end of the epoch) rather than after each one.
DIVERGENCE_CHECK_BATCHES = 20


@dataclass
class FitResult:
    status: str  # completed | cancelled
    stop_reason: str | None
    classes: list[str]
    history: list[dict[str, Any]]
    best_epoch: int
    epoch_ended: int
    stopped_early: bool
    val_loss: float | None
    val_acc: float | None
    test_loss: float | None
    test_acc: float | None
    train_time_s: float
    peak_memory_mb: float | None
    batch_size: int
    notes: list[str] = field(default_factory=list)
    test_report: dict[str, Any] | None = None
    # Per-image outputs of the best model (see `Predictions`); None when it was never evaluated.
    predictions: Predictions | None = None
    weights: str | None = None  # the starting weights used: imagenet | none | file ('auto' resolved)

    def final_dict(self) -> dict[str, Any]:
        """The run's final row, as the store takes it."""
        return {
            "val_loss": self.val_loss, "val_acc": self.val_acc, "test_acc": self.test_acc,
            "train_time_s": self.train_time_s, "epoch_ended": self.epoch_ended,
            "best_epoch": self.best_epoch, "stopped_early": self.stopped_early,
            "peak_memory_mb": self.peak_memory_mb,
            "final_metrics": {"test_loss": self.test_loss, "stop_reason": self.stop_reason,
                              "batch_size": self.batch_size, "weights": self.weights,
                              **(self.test_report or {})},
        }


@dataclass(frozen=True)
class Predictions:
    """The best model's logits on every test and validation image, in split order.

    Kept so scores can be given with intervals, runs compared image by image, and a temperature
    fitted on the validation logits, all without loading the model again.
    """

    test_paths: list[str]  # relative to the dataset: identifies the same image across runs
    test_true: torch.Tensor
    test_logits: torch.Tensor
    val_true: torch.Tensor
    val_logits: torch.Tensor
    test_logits_mirrored: torch.Tensor | None = None  # each test image flipped left to right


@dataclass
class Speed:
    """Device-dependent switches, decided once per run (see `speed_settings`)."""

    device: torch.device
    channels_last: bool
    autocast_dtype: torch.dtype | None
    eval_batch_size: int
    fused_adamw: bool = False  # one kernel for the whole optimiser step (CUDA)

    @property
    def sync_free(self) -> bool:
        """True where reading a value back waits for queued device work (so the loop avoids it)."""
        return self.device.type == "cuda"


def speed_settings(device: torch.device, batch_size: int) -> Speed:
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return Speed(device, True, dtype, min(1024, max(256, batch_size * 2)), fused_adamw=True)
    # CPU: bf16 autocast with channels_last only where the CPU computes bf16 in hardware; there it measured
    # 1.5-2.2x faster training steps and 1.9-2.3x faster evaluation for ResNet-18/50 (docs/performance.md).
    # In float32, channels_last was mixed (evaluation up to 7% slower), so it is not used; evaluation
    # batches above 64 were slower.
    bf16 = cpu_bf16_enabled()
    return Speed(device, bf16, torch.bfloat16 if bf16 else None, CPU_EVAL_BATCH)


CPU_EVAL_BATCH = 64
# Set to 0 to keep CPU training in float32 even where the CPU has native bf16.
CPU_BF16_ENV = "RESNET_PILOT_CPU_BF16"


def cpu_bf16_enabled() -> bool:
    """bf16 autocast on CPU: on by default where the CPU has AVX512-BF16 or AMX, unless turned off."""
    if os.environ.get(CPU_BF16_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return False
    return cpu_has_native_bf16()


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 in hardware (x86 AVX512-BF16 or AMX), read from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


# ---------------------------------------------------------------------------------------------
# The loop


def fit(config: TrainConfig, data: TrainingData, callbacks: list[Callback] | None = None,
        checkpoint_dir: str | Path | None = None, resume: bool = False,
        device: torch.device | None = None, dist: DistContext | None = None) -> FitResult:
    """Train per `config` on prepared data. Raises TrainingDiverged on NaN loss; other errors propagate.

    With `checkpoint_dir`, the best weights go to best.pt and the full training state to last.pt
    (atomically; see `_Checkpoints` for when); `resume=True` continues from last.pt. With `dist`, this
    process is one rank of a DDP group (every rank calls fit alike; only rank 0 writes the checkpoints,
    and only it needs last.pt to resume).
    """
    device = dist.device if dist else (device or resolve_device(config.device))
    model, weights_mode, weight_notes = _starting_model(config, len(data.classes))
    if not config.fine_tune:
        freeze_backbone(model)
    elif dist and config.sync_batchnorm and device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    speed = speed_settings(device, config.batch_size)
    model.to(device)
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, config.learning_rate, config.weight_decay, speed)
    scaler = torch.amp.GradScaler("cuda") if speed.autocast_dtype == torch.float16 else None
    images = DeviceImages(data.pixels, data.labels, device, max(config.batch_size, speed.eval_batch_size))

    state = FitState(config=config, classes=list(data.classes), num_train=len(data.train_idx),
                     num_val=len(data.val_idx), num_test=len(data.test_idx), device=str(device),
                     batch_size=min(config.batch_size, max(1, len(data.train_idx))), model=model,
                     world_size=dist.world_size if dist else 1)
    state.notes.extend(data.warnings)
    state.notes.extend(weight_notes)
    if images.placement != "host":
        state.notes.append(images.describe())
    if weights_mode == "none" and not config.fine_tune:
        state.notes.append("The backbone is frozen and randomly initialised, so only the head can learn: "
                           "expect low accuracy. Use ImageNet weights or fine-tuning.")
    if dist:
        state.notes.append(f"Trained on {dist.world_size} {'GPUs' if device.type == 'cuda' else 'processes'} "
                           f"with DistributedDataParallel: batch size {config.batch_size} per device, "
                           f"{config.batch_size * dist.world_size} in all"
                           + (", SyncBatchNorm" if config.sync_batchnorm and device.type == "cuda" else "") + ".")
    cbs = CallbackList([*(callbacks or []), EarlyStopping(config.patience)])
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else None
    writes = dist is None or dist.is_main
    checkpoints = _Checkpoints(ckpt_dir, data, config) if ckpt_dir and writes else None
    start_epoch = 1
    best_state: dict[str, torch.Tensor] | None = None
    elapsed_before = 0.0
    if resume:
        saved = _read_training_state(ckpt_dir, dist)
        start_epoch, best_state, elapsed_before = _load_training_state(
            saved, "last.pt", model, optimizer, state)
        state.notes.append(f"Resumed after epoch {start_epoch - 1}.")
        if checkpoints and best_state is not None:
            checkpoints.new_best(state.best_epoch)  # best.pt may be older than the resume state
    state.fit_started = time.perf_counter() - elapsed_before
    # Wrapped after resuming, so every rank starts from the same loaded weights (DDP checks).
    if dist and not config.fine_tune:
        dist.sync_state(model)  # the frozen backbone too, which DDP does not see
    group = _Group(dist, dist.wrap(model if config.fine_tune else model.head)) if dist else None

    cbs.before_fit(state)
    result: FitResult | None = None
    try:
        result = replace(_train(model, optimizer, scaler, data, images, state, speed, cbs, checkpoints,
                                start_epoch, best_state, group), weights=weights_mode)
    except BaseException as e:
        state.outcome = RunStatus.INTERRUPTED if isinstance(e, KeyboardInterrupt) else RunStatus.FAILED
        state.error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise
    finally:
        # after_fit runs whatever happened; a callback failing here never hides the error that
        # ended training.
        state.phase = "done"
        if result is not None:
            state.outcome = result.status
            cbs.after_fit(state)
        else:
            with suppress(Exception):
                cbs.after_fit(state)
    return result


def make_optimizer(params, learning_rate: float, weight_decay: float, speed: Speed) -> torch.optim.AdamW:
    """AdamW; on CUDA the fused implementation (one kernel per step instead of one per tensor group)."""
    if speed.fused_adamw:
        return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay, fused=True)
    return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)


@dataclass(frozen=True)
class _Group:
    """A DDP run's rank and the part of the model that trains, wrapped in DistributedDataParallel
    (the whole model when fine-tuning, the head on a frozen backbone)."""

    ctx: DistContext
    net: nn.Module


def _train(model, optimizer, scaler, data: TrainingData, images: DeviceImages, state: FitState, speed: Speed,
           cbs: Callback, checkpoints: _Checkpoints | None, start_epoch: int, best_state,
           group: _Group | None = None) -> FitResult:
    """The epochs, then the test pass with the best weights; stops early or on cancel, keeping what it learned."""
    config = state.config
    dist = group.ctx if group else None
    frozen_features = (not config.fine_tune and config.augmentation == "none")
    feats = None
    status, stop_reason = RunStatus.COMPLETED, None
    try:
        if frozen_features:
            state.phase = "preparing"
            feats = _evaluate_within_memory(state, speed, lambda: _precompute_features(model, data, images, speed))
            state.notes.append("Frozen backbone without augmentation: backbone features computed once, "
                               "only the head trains.")
        for epoch in range(start_epoch, config.epochs + 1):
            state.epoch, state.batch = epoch, 0
            state.epoch_started = time.perf_counter()
            if checkpoints:
                checkpoints.weights_changing()
            cbs.before_epoch(state)
            state.phase = "training"
            train_metrics = _train_epoch_with_oom_retry(model, optimizer, scaler, data, images, feats, state,
                                                        speed, cbs, group)
            train_time = time.perf_counter() - state.epoch_started
            row: dict[str, Any] = {"epoch": epoch, **train_metrics, "lr": state.lr,
                                   "images_per_s": train_metrics.pop("images") / max(train_time, 1e-9)}
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                state.phase = "evaluating"
                val = _evaluate_within_memory(state, speed, lambda: evaluate(
                    model, images, data.val_idx, data.labels[data.val_idx], speed,
                    features=feats["val"] if feats else None, dist=dist))
                row.update(val_loss=val["loss"], val_acc=val["acc"])
                if val["loss"] < state.best_val_loss:
                    state.best_val_loss, state.best_epoch = val["loss"], epoch
                    best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                    if checkpoints:
                        checkpoints.new_best(epoch)
            row["epoch_time_s"] = time.perf_counter() - state.epoch_started
            state.history.append(row)
            if checkpoints:
                checkpoints.epoch_done(model, optimizer, state, best_state, last=epoch == config.epochs)
            cbs.after_epoch(state)
    except StopTraining as e:
        stop_reason = str(e)
    except CancelTraining as e:
        status, stop_reason = RunStatus.CANCELLED, str(e)
    except BaseException:
        if checkpoints:  # keep what was learned, then let the error (or Ctrl-C) through
            with suppress(Exception):
                checkpoints.flush(model, optimizer, state, best_state)
        raise
    state.stop_reason = stop_reason
    if checkpoints:
        checkpoints.flush(model, optimizer, state, best_state)

    train_time_s = state.elapsed()
    return _finish(model, data, images, feats, speed, state, best_state, status, stop_reason, train_time_s, dist)


def _starting_model(config: TrainConfig, num_classes: int) -> tuple[nn.Module, str, list[str]]:
    """The model with its starting weights, the weights mode used and its notes.

    With weights 'auto', a failed ImageNet download (the machine went offline since the network was
    probed) falls back to random initialisation with a note, as when the weights are unavailable.
    """
    mode, notes = resolve_weights(config.weights, config.model, config.weights_path)
    downloading = mode == "imagenet" and not imagenet_weights_available(config.model)
    try:
        # The run's own generator, never torch's global one, which any other thread may reseed.
        return build_model(config.model, num_classes, weights=mode, weights_path=config.weights_path,
                           generator=torch.Generator().manual_seed(config.seed)), mode, notes
    except WeightsError as e:
        if config.weights != "auto" or not downloading:
            raise
        forget_network()
        notes = [*notes, f"ImageNet weights for {model_label(config.model)} could not be downloaded, so "
                         f"training from random initialisation: {e}"]
    return build_model(config.model, num_classes, weights="none",
                       generator=torch.Generator().manual_seed(config.seed)), "none", notes


def _finish(model, data, images, feats, speed, state, best_state, status, stop_reason,
            train_time_s, dist: DistContext | None = None) -> FitResult:
    epoch_ended = state.history[-1]["epoch"] if state.history else 0
    test_report = test_loss = test_acc = val_loss = val_acc = predictions = None
    if best_state is not None:
        model.load_state_dict(best_state)
        state.phase = "testing"
        test = _evaluate_within_memory(state, speed, lambda: evaluate(
            model, images, data.test_idx, data.labels[data.test_idx], speed,
            features=feats["test"] if feats else None, keep_predictions=True, dist=dist))
        test_loss, test_acc = test["loss"], test["acc"]
        test_report = test_report_from(test, data)
        val = evaluate(model, images, data.val_idx, data.labels[data.val_idx], speed,
                       features=feats["val"] if feats else None, keep_predictions=True, dist=dist)
        # The test images mirrored too, so the gain of flip test-time augmentation is measured, not guessed.
        mirrored = evaluate(model, images, data.test_idx, data.labels[data.test_idx], speed,
                            keep_predictions=True, mirrored=True, dist=dist)
        predictions = Predictions(
            test_paths=[data.paths[int(i)] for i in data.test_idx], test_true=test["true"],
            test_logits=test["logits"], val_true=val["true"], val_logits=val["logits"],
            test_logits_mirrored=mirrored["logits"])
        best_row = next(h for h in state.history if h["epoch"] == state.best_epoch)
        val_loss, val_acc = best_row["val_loss"], best_row["val_acc"]
    return FitResult(
        status=status, stop_reason=stop_reason, classes=list(data.classes), history=list(state.history),
        best_epoch=state.best_epoch, epoch_ended=epoch_ended,
        stopped_early=status == RunStatus.COMPLETED and stop_reason is not None,
        val_loss=val_loss, val_acc=val_acc, test_loss=test_loss, test_acc=test_acc,
        train_time_s=train_time_s, peak_memory_mb=peak_memory_mb(speed.device),
        batch_size=state.batch_size, notes=list(state.notes), test_report=test_report,
        predictions=predictions)


@dataclass
class EpochProgress:
    """How far an epoch got. Kept across out-of-memory retries, so the epoch carries on after the last
    batch applied instead of applying its first batches a second time."""

    order: torch.Tensor  # the epoch's training rows, shuffled
    generator: torch.Generator  # the run's own: drew the order, now draws the augmentation
    done: int = 0  # images of `order` trained on
    batches: int = 0
    # Summed where the batches are computed (on CUDA, the GPU), read once the epoch ends.
    total_loss: torch.Tensor = field(default_factory=lambda: torch.zeros((), dtype=torch.float64))
    correct: torch.Tensor = field(default_factory=lambda: torch.zeros((), dtype=torch.long))

    @classmethod
    def start(cls, data: TrainingData, seed: int, epoch: int,
              device: torch.device = torch.device("cpu"), dist: DistContext | None = None,
              balanced: bool = False) -> "EpochProgress":
        """The epoch's order (drawn on the CPU, so it is the same on every device and every rank) and,
        on CUDA, a generator on the device for the augmentation, seeded alike. In a DDP group each
        rank keeps its shard of the order, and draws its augmentation from a seed of its own.
        balanced: the balanced sampler (class_balance="balanced_sampler")."""
        epoch_seed = seed * 100_003 + epoch
        gen = torch.Generator().manual_seed(epoch_seed)
        if balanced:
            order = balanced_order(data.train_idx, data.labels[data.train_idx], gen)
        else:
            order = data.train_idx[torch.randperm(len(data.train_idx), generator=gen)]
        if dist:
            order = dist.shard(order)
            epoch_seed = epoch_seed * 1_009 + dist.rank
            gen = torch.Generator().manual_seed(epoch_seed)
        if device.type == "cuda":
            gen = torch.Generator(device=device).manual_seed(epoch_seed)
        return cls(order, gen, total_loss=torch.zeros((), dtype=torch.float64, device=device),
                   correct=torch.zeros((), dtype=torch.long, device=device))


def _train_epoch_with_oom_retry(model, optimizer, scaler, data, images, feats, state, speed,
                                cbs, group: _Group | None = None) -> dict[str, float]:
    """Run one epoch; on out-of-memory halve the batch size (the cards' advice) and carry on from the
    first image not yet trained on. (Not in a DDP group: the ranks' batches must stay in step, so
    running out of memory there ends the run with advice.)"""
    progress = EpochProgress.start(data, state.config.seed, state.epoch, speed.device,
                                   group.ctx if group else None,
                                   balanced=state.config.class_balance == "balanced_sampler")
    while True:
        try:
            return train_one_epoch(model, optimizer, scaler, data, state, speed, cbs, images=images,
                                   features=feats["train"] if feats else None, progress=progress,
                                   group=group)
        except (CancelTraining, StopTraining, TrainingDiverged):
            raise
        except RuntimeError as e:
            if is_out_of_memory(e) and group is not None:
                raise ConfigError(
                    f"out of memory at batch size {state.batch_size} per device; train again with a "
                    f"smaller batch size (for example {max(1, state.batch_size // 2)})") from e
            if not is_out_of_memory(e) or state.batch_size <= 1:
                raise
            old = state.batch_size
            state.batch_size = max(1, old // 2)
            optimizer.zero_grad(set_to_none=True)
            if speed.device.type == "cuda":
                torch.cuda.empty_cache()
            speed.eval_batch_size = max(state.batch_size, speed.eval_batch_size // 2)
            state.notes.append(
                f"Out of memory at batch size {old} in epoch {state.epoch}; continuing with batch size "
                f"{state.batch_size} (the model cards' advice) from image {progress.done + 1} of "
                f"{len(progress.order)}, so no batch was applied twice.")


def _evaluate_within_memory(state: FitState, speed: Speed, evaluation):
    """Run an evaluation pass; on out-of-memory halve the evaluation batch and run it again.

    Evaluation changes no weights, so running it again repeats nothing. CUDA evaluation batches
    start at 256-1,024 images, more than training needs.
    """
    while True:
        try:
            return evaluation()
        except RuntimeError as e:
            if not is_out_of_memory(e) or speed.eval_batch_size <= 1:
                raise
            old = speed.eval_batch_size
            speed.eval_batch_size = max(1, old // 2)
            if speed.device.type == "cuda":
                torch.cuda.empty_cache()
            state.notes.append(f"Out of memory while evaluating in batches of {old}; evaluating in batches "
                               f"of {speed.eval_batch_size}.")


def is_out_of_memory(e: BaseException) -> bool:
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return True
    text = str(e).lower()
    return "out of memory" in text or "can't allocate memory" in text


def train_one_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, scaler, data: TrainingData,
                    state: FitState, speed: Speed, cbs: Callback,
                    features: torch.Tensor | None = None,
                    progress: EpochProgress | None = None,
                    images: DeviceImages | None = None, group: _Group | None = None) -> dict[str, float]:
    """One pass over the training split in a fresh random order. Returns loss, acc and images seen.

    With `progress` from an attempt that ran out of memory, the pass carries on where it stopped.
    In a DDP group (`group`) the pass covers this rank's shard and the returned sums are the group's.
    """
    cfg = state.config
    set_train_mode(model, cfg.fine_tune)
    images = images or DeviceImages(data.pixels, data.labels, speed.device, state.batch_size)
    p = progress or EpochProgress.start(data, cfg.seed, state.epoch, speed.device, group.ctx if group else None,
                                        balanced=cfg.class_balance == "balanced_sampler")
    order = p.order.to(images.index_device)  # once per epoch: slicing it then costs no copy
    gen = p.generator
    loss_weights = class_loss_weights(data.labels[data.train_idx], len(data.classes)).to(speed.device) \
        if cfg.class_balance == "weighted_loss" else None
    bs = state.batch_size
    starts = list(range(p.done, len(order), bs))
    # A last batch of one image breaks BatchNorm in training mode; fold it into the one before.
    if len(starts) > 1 and len(order) - starts[-1] == 1:
        starts.pop()
    state.num_batches = p.batches + len(starts)
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(order)
        idx = order[start:end]
        y = images.labels_of(idx)
        state.lr = _scheduled_lr(cfg, state.epoch - 1 + p.batches / state.num_batches)
        for param_group in optimizer.param_groups:
            param_group["lr"] = state.lr
        # In a group, the DDP-wrapped part of the model: its backward averages the ranks' gradients.
        trained = group.net if group else (model if cfg.fine_tune else model.head)
        state.batch_rows = idx
        if features is not None:
            logits = trained(features[idx.to(features.device)])
        else:
            x = _batch_input(images, idx, speed, cfg.augmentation, gen)
            with _autocast(speed):
                if cfg.fine_tune:
                    logits = trained(x)
                else:
                    with torch.no_grad():
                        f = model.features(x)
                    logits = trained(f.float())
        loss = F.cross_entropy(logits.float(), y, weight=loss_weights)
        if not speed.sync_free:
            # In a group the ranks' losses are added up, so all stop at the same batch if one diverged.
            seen = group.ctx.sum(loss)[0] if group else loss
            if not torch.isfinite(seen):
                _diverged(cfg, state.epoch, f"batch {p.batches + 1}", seen.item())
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        p.total_loss += loss.detach().double() * len(idx)
        p.correct += (logits.detach().argmax(1) == y).sum()
        p.done, p.batches = end, p.batches + 1  # applied: a retry starts after it
        if speed.sync_free and (p.batches % DIVERGENCE_CHECK_BATCHES == 0 or i + 1 == len(starts)):
            _check_finite(group.ctx.sum(p.total_loss)[0] if group else p.total_loss, cfg, state.epoch, p.batches)
        state.batch = p.batches
        state.images_seen_epoch = p.done
        cbs.after_batch(state)
    total_loss, correct, done = p.total_loss, p.correct, p.done
    if group:
        group.ctx.sync_buffers(model)
        total_loss, correct, done = group.ctx.sum(total_loss, correct, done)
        done = int(done)
    return {"train_loss": (total_loss / max(done, 1)).item(),
            "train_acc": (correct.double() / max(done, 1)).item(), "images": done}


def _diverged(cfg: TrainConfig, epoch: int, where: str, value: float):
    raise TrainingDiverged(
        f"the loss became {value} in epoch {epoch}, {where}: training diverged. Try a lower learning "
        f"rate (now {cfg.learning_rate:g}).")


def _check_finite(total_loss: torch.Tensor, cfg: TrainConfig, epoch: int, batches: int) -> None:
    """The summed loss turns inf or NaN as soon as one batch's does, so one read-back covers them all."""
    value = total_loss.item()
    if not math.isfinite(value):
        _diverged(cfg, epoch, f"by batch {batches}", value)


def balanced_order(train_idx: torch.Tensor, train_labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """An epoch of training rows drawn with replacement, each class equally likely: a small class's
    images are seen several times an epoch, a large class's some not at all. As many draws as rows."""
    counts = torch.bincount(train_labels)
    chance = 1.0 / counts[train_labels].double()
    picks = torch.multinomial(chance, len(train_idx), replacement=True, generator=gen)
    return train_idx[picks]


def class_loss_weights(train_labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-class loss weights n / (k × n_c): each class then weighs as much as the others in the
    loss however many images it has (a class without training images gets 0)."""
    counts = torch.bincount(train_labels, minlength=num_classes).double()
    weights = torch.where(counts > 0, counts.sum() / (num_classes * counts.clamp(min=1)), torch.zeros_like(counts))
    return weights.float()


@torch.inference_mode()
def evaluate(model: nn.Module, pixels: torch.Tensor | DeviceImages, idx: torch.Tensor, labels: torch.Tensor,
             speed: Speed, features: torch.Tensor | None = None,
             keep_predictions: bool = False, mirrored: bool = False,
             dist: DistContext | None = None) -> dict[str, Any]:
    """Mean loss and accuracy over the given rows (inference mode, large batches).

    pixels: the decoded images (or the run's DeviceImages); labels: those of `idx`, in its order.
    Sums and predictions stay on the device until the pass ends, so batches queue without waiting.
    mirrored: every image flipped left to right (to measure test-time augmentation).
    dist: one rank of a DDP group; each rank scores its share of the rows and the sums of loss,
    correct and count are added up across ranks (predictions gathered), so every rank returns what
    one process would on the same weights.
    """
    model.eval()
    n = len(idx)
    all_labels = labels
    if dist:
        positions = dist.eval_positions(n)
        idx, labels = idx[positions], labels[positions]
        features = features[positions.to(features.device)] if features is not None else None
    labels = labels.to(speed.device)
    if isinstance(pixels, DeviceImages):
        idx = idx.to(pixels.index_device)  # once, so no batch copies its indices
    total_loss = torch.zeros((), dtype=torch.float64, device=speed.device)
    correct = torch.zeros((), dtype=torch.long, device=speed.device)
    all_logits = []
    for start in range(0, len(idx), speed.eval_batch_size):
        y = labels[start:start + speed.eval_batch_size]
        if features is not None:
            logits = model.head(features[start:start + speed.eval_batch_size].to(speed.device))
        else:
            x = _batch_input(pixels, idx[start:start + speed.eval_batch_size], speed, "none", None)
            if mirrored:
                x = x.flip(3)
            with _autocast(speed):
                logits = model(x)
        logits = logits.float()
        total_loss += F.cross_entropy(logits, y, reduction="sum").double()
        correct += (logits.argmax(1) == y).sum()
        if keep_predictions:
            all_logits.append(logits)
    if dist:
        total_loss, correct = dist.sum(total_loss, correct)
    out: dict[str, Any] = {"loss": total_loss.item() / max(n, 1), "acc": correct.item() / max(n, 1), "n": n}
    if keep_predictions:
        logits = torch.cat(all_logits).cpu() if all_logits else torch.empty(0, _num_outputs(model))
        if dist:
            logits = dist.gather_rows(logits, n)
        probs = logits.softmax(1) if n else torch.empty(0, 0)
        out["pred"] = probs.argmax(1) if n else torch.empty(0, dtype=torch.long)
        out["probs"] = probs
        out["logits"] = logits if n else torch.empty(0, 0)
        out["true"] = all_labels.cpu()
    return out


def _num_outputs(model: nn.Module) -> int:
    head = getattr(model, "head", None)
    return int(getattr(head, "out_features", 0))


def test_report_from(test: dict[str, Any], data: TrainingData) -> dict[str, Any]:
    """Per-class precision/recall/F1, the confusion matrix and the misclassified test images."""
    k = len(data.classes)
    true, pred, probs = test["true"], test["pred"], test["probs"]
    confusion = torch.zeros(k, k, dtype=torch.long)
    if len(true):
        confusion.index_put_((true, pred), torch.ones_like(true), accumulate=True)
    per_class = []
    for c, name in enumerate(data.classes):
        tp = confusion[c, c].item()
        predicted = confusion[:, c].sum().item()
        actual = confusion[c, :].sum().item()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append({"class": name, "precision": precision, "recall": recall, "f1": f1,
                          "support": actual})
    misclassified = [
        {"path": data.paths[int(data.test_idx[i])], "true": data.classes[int(true[i])],
         "predicted": data.classes[int(pred[i])], "probability": float(probs[i, pred[i]])}
        for i in range(len(true)) if int(true[i]) != int(pred[i])
    ]
    return {"classes": list(data.classes), "confusion": confusion.tolist(), "per_class": per_class,
            "misclassified": misclassified, "test_images": len(true)}


# ---------------------------------------------------------------------------------------------
# Helpers


def _scheduled_lr(cfg: TrainConfig, progress_epochs: float) -> float:
    if cfg.schedule == "constant":
        return cfg.learning_rate
    t = min(1.0, max(0.0, progress_epochs / cfg.epochs))
    floor = cfg.learning_rate * MIN_LR_FRACTION
    return floor + (cfg.learning_rate - floor) * 0.5 * (1 + math.cos(math.pi * t))


def _autocast(speed: Speed):
    if speed.autocast_dtype is None:
        return nullcontext()
    return torch.autocast(speed.device.type, dtype=speed.autocast_dtype)


def _batch_input(pixels: torch.Tensor | DeviceImages, idx: torch.Tensor, speed: Speed, augmentation: str,
                 gen: torch.Generator | None) -> torch.Tensor:
    """Gather uint8 rows onto the device, make floats in [0, 1] and augment there."""
    if isinstance(pixels, DeviceImages):
        x = pixels.images(idx)
    else:
        x = pixels[idx]
        if speed.device.type == "cuda":
            x = x.pin_memory().to(speed.device, non_blocking=True)
        else:
            x = x.to(speed.device)
    x = x.float().div_(255.0)
    if augmentation != "none":
        x = augment_batch(x, augmentation, gen)
    if speed.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


@torch.inference_mode()
def _precompute_features(model, data: TrainingData, images: DeviceImages, speed: Speed) -> dict[str, torch.Tensor]:
    """Pooled backbone features for every image of each split, computed once (frozen backbone only).

    The train features are stored by dataset row (so a shuffled batch of rows indexes them directly).
    """
    model.eval()
    out: dict[str, torch.Tensor] = {}
    for name, idx in (("train", data.train_idx), ("val", data.val_idx), ("test", data.test_idx)):
        chunks = []
        for start in range(0, len(idx), speed.eval_batch_size):
            x = _batch_input(images, idx[start:start + speed.eval_batch_size], speed, "none", None)
            with _autocast(speed):
                chunks.append(model.features(x).float())
        f = torch.cat(chunks) if chunks else torch.empty(0, model.feature_dim, device=speed.device)
        if name == "train":
            # Index by dataset row: train rows may be any subset of the decoded images.
            full = torch.zeros(len(data.pixels), f.shape[1], device=f.device, dtype=f.dtype)
            full[idx.to(f.device)] = f
            f = full
        out[name] = f
    return out


def peak_memory_mb(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:  # the process's peak resident memory (Linux reports KiB, macOS bytes)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if os.uname().sysname == "Darwin" else peak / 1024
    except (AttributeError, OSError):
        return None


class _Checkpoints:
    """Writes best.pt and last.pt without letting the writing dominate short epochs.

    A ResNet-18 checkpoint is ~45 MB and the resume state with AdamW's moments ~180 MB: serialising and
    syncing them takes a few tenths of a second, more than a whole epoch of a frozen backbone's head.
    So after an epoch they are written only when at least CHECKPOINT_INTERVAL_PER_WRITE_COST times the
    previous write's duration has passed since it (the first epoch always writes), and always at the
    last epoch and whenever training stops (early stop, cancel, an error, Ctrl-C). A hard kill loses at
    most that interval. The resume state is only written at an epoch boundary, when weights and
    optimiser agree; it goes first, and holds the best weights too, so a failure between the two files
    never leaves a resume state older than best.pt. After a failed write nothing more is attempted.
    """

    def __init__(self, ckpt_dir: Path, data: TrainingData, config: TrainConfig):
        self.dir, self.data, self.config = ckpt_dir, data, config
        self.last_write_end: float | None = None
        self.last_write_cost = 0.0
        self.best_epoch: int | None = None  # a best state not yet on disk
        self.boundary = False  # the model is exactly as it was at the end of the last epoch
        self.failed = False

    def new_best(self, epoch: int) -> None:
        self.best_epoch = epoch

    def weights_changing(self) -> None:
        self.boundary = False

    def epoch_done(self, model, optimizer, state: FitState, best_state, last: bool = False) -> None:
        self.boundary = True
        now = time.perf_counter()
        due = (self.last_write_end is None
               or now - self.last_write_end >= CHECKPOINT_INTERVAL_PER_WRITE_COST * self.last_write_cost)
        if due or last:
            self.flush(model, optimizer, state, best_state)

    def flush(self, model, optimizer, state: FitState, best_state) -> None:
        """Write whatever is not on disk yet and may be written now."""
        if self.failed:
            return
        started = time.perf_counter()
        wrote = False
        try:
            if self.boundary and state.history:
                _save_training_state(self.dir / "last.pt", model, optimizer, state, best_state)
                self.boundary, wrote = False, True
            if self.best_epoch is not None and best_state is not None:
                _save_best(self.dir, best_state, self.data, self.best_epoch, self.config)
                self.best_epoch, wrote = None, True
        except BaseException:
            self.failed = True
            raise
        if wrote:
            self.last_write_end = time.perf_counter()
            self.last_write_cost = self.last_write_end - started


def _save_best(ckpt_dir: Path, best_state, data: TrainingData, epoch: int, config: TrainConfig) -> None:
    save_checkpoint_state(ckpt_dir / "best.pt", best_state, config.model, list(data.classes),
                          config.image_size, epoch, config.to_dict())


def _save_training_state(path: Path, model, optimizer, state: FitState, best_state) -> None:
    """Everything needed to continue after a crash: weights, optimiser, history, best so far.

    A frozen backbone never changes, so it is left out (a ResNet-18 state shrinks from ~90 MB to a few
    KB); resuming rebuilds it from the run's starting weights and checks it against a checksum.
    """
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    best = best_state
    frozen = bool(getattr(model, "backbone_frozen", False))
    if frozen:
        weights = _without_backbone(weights)
        best = _without_backbone(best_state) if best_state is not None else None
    buf = io.BytesIO()
    torch.save({
        "model": weights,
        "optimizer": optimizer.state_dict(),
        "epoch": state.epoch,
        "history": state.history,
        "best_val_loss": state.best_val_loss,
        "best_epoch": state.best_epoch,
        "best_model": best,
        "frozen_backbone_checksum": _backbone_checksum(model) if frozen else None,
        "batch_size": state.batch_size,
        "elapsed_s": state.elapsed(),
        "notes": state.notes,
    }, buf)
    atomic_write_bytes(path, buf.getbuffer())  # a view, not a second copy of a state of up to ~1 GB


def _read_training_state(ckpt_dir: Path | None, dist: DistContext | None) -> dict[str, Any]:
    """last.pt as saved; in a DDP group read by rank 0 and handed to the others (only rank 0's
    machine needs the run's folder)."""
    def read():
        if not ckpt_dir or not (ckpt_dir / "last.pt").exists():
            return None
        return torch.load(ckpt_dir / "last.pt", map_location="cpu", weights_only=True)

    saved = dist.from_main(read) if dist else read()
    if saved is None:
        raise FileNotFoundError("nothing to resume from: the run has no saved epoch (last.pt)")
    return saved


def _load_training_state(saved: dict[str, Any], name: str, model, optimizer, state: FitState):
    best = saved["best_model"]
    checksum = saved.get("frozen_backbone_checksum")
    if checksum is not None:  # saved without its frozen backbone: the freshly built one must be the same
        if not math.isclose(_backbone_checksum(model), checksum, rel_tol=1e-9, abs_tol=1e-9):
            raise CheckpointError("cannot resume: the starting weights of this run's frozen backbone changed since "
                             "it began (a different weights file?); start a new run instead")
        missing, unexpected = model.load_state_dict(saved["model"], strict=False)
        if unexpected or any(not k.startswith("backbone.") for k in missing):
            raise CheckpointError(f"cannot resume: {name} does not fit this model; start a new run instead")
        if best is not None:
            full = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            best = {**full, **best}
    else:
        model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    state.history = list(saved["history"])
    state.best_val_loss = saved["best_val_loss"]
    state.best_epoch = saved["best_epoch"]
    state.batch_size = saved["batch_size"]
    state.notes = [n for n in saved.get("notes", []) if n not in state.notes] + state.notes
    return saved["epoch"] + 1, best, float(saved.get("elapsed_s", 0.0))


def _without_backbone(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in weights.items() if not k.startswith("backbone.")}


def _backbone_checksum(model) -> float:
    """A cheap fingerprint of the backbone's weights and BatchNorm statistics."""
    with torch.no_grad():
        return float(sum(t.detach().double().sum().item() * (i % 7 + 1)
                         for i, t in enumerate(model.backbone.state_dict().values()) if t.is_floating_point()))
