"""Which speed switches pay on this machine: each measured on a ready tensor, the variants interleaved.

Training step (forward + loss + backward + AdamW step) and evaluation forward of a ResNet on random
input, for: torch threads, channels_last memory format, bf16 autocast, oneDNN (mkldnn) on/off, eval
batch size, and BatchNorm folded into the convolutions for evaluation. Variants take turns for several
rounds and each reports its median, so background load spreads over all of them alike.
"""
from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from resnet_core.training.engine import cpu_has_native_bf16


@dataclass(frozen=True)
class Variant:
    name: str
    channels_last: bool = False
    bf16: bool = False
    threads: int | None = None
    mkldnn: bool = True
    fold_bn: bool = False
    batch_size: int | None = None


TRAIN_VARIANTS = (
    Variant("fp32 (engine default before)"),
    Variant("channels_last", channels_last=True),
    Variant("bf16 autocast", bf16=True),
    Variant("bf16 autocast + channels_last", bf16=True, channels_last=True),
    Variant("1 thread", threads=1),
    Variant("oneDNN off", mkldnn=False),
)

EVAL_VARIANTS = (
    Variant("fp32 batch 64", batch_size=64),
    Variant("fp32 batch 128", batch_size=128),
    Variant("fp32 batch 256", batch_size=256),
    Variant("channels_last batch 128", channels_last=True, batch_size=128),
    Variant("BN folded batch 128", fold_bn=True, batch_size=128),
    Variant("bf16 autocast batch 128", bf16=True, batch_size=128),
    Variant("bf16 autocast + channels_last batch 128", bf16=True, channels_last=True, batch_size=128),
    Variant("bf16 autocast + channels_last batch 64", bf16=True, channels_last=True, batch_size=64),
    Variant("bf16 autocast + channels_last batch 256", bf16=True, channels_last=True, batch_size=256),
    Variant("1 thread batch 128", threads=1, batch_size=128),
)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-only copy of a torchvision ResNet with each BatchNorm folded into the conv before it."""
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model).eval()
    pairs = [(model, "conv1", "bn1")]
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in layer:
            pairs += [(block, f"conv{i}", f"bn{i}") for i in (1, 2, 3) if hasattr(block, f"conv{i}")]
            if block.downsample is not None:
                pairs.append((block.downsample, "0", "1"))
    for parent, conv, bn in pairs:
        setattr(parent, conv, fuse_conv_bn_eval(getattr(parent, conv), getattr(parent, bn)))
        setattr(parent, bn, nn.Identity())
    return model


@contextmanager
def _settings(v: Variant) -> Iterator[None]:
    threads = torch.get_num_threads()
    if v.threads:
        torch.set_num_threads(v.threads)
    onednn = nullcontext() if v.mkldnn else torch.backends.mkldnn.flags(enabled=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # flags() warns about TF32 on Intel GPUs, irrelevant here
            with onednn, torch.autocast("cpu", dtype=torch.bfloat16) if v.bf16 else nullcontext():
                yield
    finally:
        torch.set_num_threads(threads)


def _timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_knobs(arch: str = "resnet18", image_size: int = 64, batch_size: int = 32, rounds: int = 5,
                  steps: int = 4, num_classes: int = 10) -> dict[str, Any]:
    """Images per second for every variant (median over rounds), training and evaluation."""
    import torchvision

    torch.manual_seed(0)
    base = torchvision.models.get_model(arch, weights=None, num_classes=num_classes)
    train_models = {}
    for v in TRAIN_VARIANTS:
        m = torchvision.models.get_model(arch, weights=None, num_classes=num_classes)
        m.load_state_dict(base.state_dict())
        m.train()
        if v.channels_last:
            m = m.to(memory_format=torch.channels_last)
        train_models[v.name] = (m, torch.optim.AdamW(m.parameters(), lr=1e-4))
    x = torch.rand(batch_size, 3, image_size, image_size)
    y = torch.randint(0, num_classes, (batch_size,))

    def train_step(v: Variant) -> Callable[[], None]:
        model, opt = train_models[v.name]
        inp = x.contiguous(memory_format=torch.channels_last) if v.channels_last else x

        def run() -> None:
            with _settings(v):
                for _ in range(steps):
                    loss = F.cross_entropy(model(inp).float(), y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
        return run

    base.eval()
    folded = fold_batchnorm(base)
    plain_cl = torchvision.models.get_model(arch, weights=None, num_classes=num_classes).eval()
    plain_cl.load_state_dict(base.state_dict())
    plain_cl = plain_cl.to(memory_format=torch.channels_last)

    def eval_pass(v: Variant) -> Callable[[], None]:
        model = folded if v.fold_bn else (plain_cl if v.channels_last else base)
        inp = torch.rand(v.batch_size or 128, 3, image_size, image_size)
        if v.channels_last:
            inp = inp.contiguous(memory_format=torch.channels_last)

        def run() -> None:
            with _settings(v), torch.inference_mode():
                model(inp)
        return run

    train_fns = {v.name: train_step(v) for v in TRAIN_VARIANTS}
    eval_fns = {v.name: eval_pass(v) for v in EVAL_VARIANTS}
    for fn in [*train_fns.values(), *eval_fns.values()]:
        fn()  # warm-up: oneDNN builds its kernels on first use of each shape
    train_times: dict[str, list[float]] = {n: [] for n in train_fns}
    eval_times: dict[str, list[float]] = {n: [] for n in eval_fns}
    for _ in range(rounds):
        for name, fn in train_fns.items():
            train_times[name].append(_timed(fn))
        for name, fn in eval_fns.items():
            eval_times[name].append(_timed(fn))
    eval_batch = {v.name: v.batch_size or 128 for v in EVAL_VARIANTS}
    return {
        "arch": arch, "image_size": image_size, "train_batch_size": batch_size, "rounds": rounds,
        "threads_default": torch.get_num_threads(), "cpu_native_bf16": cpu_has_native_bf16(),
        "train_images_per_s": {n: batch_size * steps / statistics.median(t) for n, t in train_times.items()},
        "eval_images_per_s": {n: eval_batch[n] / statistics.median(t) for n, t in eval_times.items()},
    }


def format_knobs(result: dict[str, Any]) -> str:
    lines = [f"{result['arch']} at {result['image_size']} px on CPU, {result['threads_default']} threads by "
             f"default, native bf16: {result['cpu_native_bf16']}, median of {result['rounds']} rounds"]
    for title, key in ((f"training step (batch {result['train_batch_size']})", "train_images_per_s"),
                       ("evaluation forward", "eval_images_per_s")):
        values = result[key]
        first = next(iter(values.values()))
        lines.append(f"  {title}:")
        for name, ips in values.items():
            lines.append(f"    {name:<42} {ips:8.0f} img/s  ×{ips / first:.2f}")
    return "\n".join(lines)
