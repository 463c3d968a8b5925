"""Run by torchrun in the DDP tests: one rank of a group training through `engine.fit`.

Each rank writes what the tests compare (rankN.json): a fingerprint of its weights at the end of
each epoch, the dataset rows of every batch it trained on per epoch, whether its pixels were
memory-mapped, and the history with the all-reduced figures. Rank 0 also writes the checkpoints.
Usage: ddp_probe.py WORKSPACE DATASET OUT [nan-on-rank-1]
With nan-on-rank-1, rank 1's head turns NaN after its second batch; each rank writes what stopped it.
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

import torch

from resnet_core.config import TrainConfig
from resnet_core.data.prepare import prepare_data
from resnet_core.training import distributed
from resnet_core.training.callbacks import FunctionCallback, TrainingDiverged
from resnet_core.training.engine import fit
from resnet_core.workspace import Workspace


def probe_config(dataset: str) -> TrainConfig:
    return TrainConfig(dataset=dataset, model="resnet18", weights="none", image_size=32, epochs=2,
                       batch_size=4, learning_rate=1e-3, augmentation="light", patience=3, seed=0,
                       device="cpu")


def weights_fingerprint(model) -> str:
    digest = hashlib.sha1()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def memory_mapped(pixels) -> str | None:
    """The file this process maps the pixels from (read from /proc/self/maps), or None."""
    address = pixels.data_ptr()
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split()
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if start <= address < end and len(fields) >= 6:
            return fields[5]
    return None


def poison_rank_1(ctx):
    def after_batch(state):
        if ctx.rank == 1 and state.batch == 2:
            with torch.no_grad():
                state.model.head.weight.fill_(float("nan"))
    return FunctionCallback(after_batch=after_batch)


def diverge(ctx, workspace: str, dataset: str, out_dir: Path) -> None:
    config = probe_config(dataset)
    data = prepare_data(config, Workspace.at(workspace), memory_map=True)
    try:
        fit(config, data, callbacks=[poison_rank_1(ctx)], dist=ctx)
        stopped = "not stopped"
    except TrainingDiverged as e:
        stopped = str(e)
    (out_dir / f"rank{ctx.rank}.json").write_text(json.dumps({"stopped": stopped}))


def main(workspace: str, dataset: str, out: str, mode: str = "") -> None:
    ctx = distributed.setup("cpu")
    out_dir = Path(out)
    if mode == "nan-on-rank-1":
        try:
            return diverge(ctx, workspace, dataset, out_dir)
        finally:
            distributed.teardown()
    try:
        config = probe_config(dataset)
        data = prepare_data(config, Workspace.at(workspace), memory_map=True)
        seen: dict[int, list[int]] = defaultdict(list)
        weights: dict[int, str] = {}
        record = FunctionCallback(
            after_batch=lambda s: seen[s.epoch].extend(s.batch_rows.tolist()),
            after_epoch=lambda s: weights.__setitem__(s.epoch, weights_fingerprint(s.model)))
        result = fit(config, data, callbacks=[record], checkpoint_dir=out_dir if ctx.is_main else None,
                     dist=ctx)
        (out_dir / f"rank{ctx.rank}.json").write_text(json.dumps({
            "seen": seen, "weights": weights, "history": result.history, "best_epoch": result.best_epoch,
            "test_acc": result.test_acc, "train_idx": data.train_idx.tolist(),
            "memory_mapped": memory_mapped(data.pixels)}))
    finally:
        distributed.teardown()


if __name__ == "__main__":
    main(*sys.argv[1:5])
