"""DDP through the engine: two Gloo processes on the CPU, started by torchrun, on a tiny dataset.

One group trains once (module fixture) and the tests read what each rank wrote (see ddp_probe.py).
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from ddp_probe import probe_config

from resnet_core.data.prepare import prepare_data
from resnet_core.data.synthetic import make_image_folder
from resnet_core.training.checkpoints import load_checkpoint
from resnet_core.training.distributed import DistContext
from resnet_core.training.engine import evaluate, speed_settings
from resnet_core.workspace import Workspace

PROBE = Path(__file__).with_name("ddp_probe.py")


@pytest.fixture(scope="module")
def group_run(tmp_path_factory, ddp_env):
    """Two ranks train the probe's config; returns (workspace, dataset folder, out dir, per-rank records)."""
    tmp = tmp_path_factory.mktemp("ddp")
    folder = make_image_folder(tmp / "images", num_classes=3, per_class=13, size=32)
    workspace = Workspace.at(tmp / "workspace")
    prepare_data(probe_config(str(folder)), workspace)  # the decoded cache, built once before launch
    out = tmp / "out"
    out.mkdir()
    done = _launch({**ddp_env, "TORCH_HOME": str(tmp / "torch_home")}, workspace.root, folder, out)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    return workspace, folder, out, ranks


def _launch(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                           "2", str(PROBE), *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=300)


def test_ranks_hold_identical_weights_after_every_epoch(group_run):
    _, _, _, (rank0, rank1) = group_run
    assert rank0["weights"] == rank1["weights"]
    assert rank0["weights"]["1"] != rank0["weights"]["2"]  # they did train


def test_every_training_image_is_seen_once_per_epoch_across_ranks(group_run):
    _, _, _, (rank0, rank1) = group_run
    train = rank0["train_idx"]
    padding = -len(train) % 2  # as DistributedSampler: the order padded to a multiple of the ranks
    for epoch in ("1", "2"):
        seen0, seen1 = rank0["seen"][epoch], rank1["seen"][epoch]
        assert len(seen0) == len(seen1) == (len(train) + padding) // 2
        counts = Counter(seen0 + seen1)
        assert set(counts) == set(train)
        assert sum(c - 1 for c in counts.values()) == padding
    assert rank0["seen"]["1"] != rank0["seen"]["2"]  # a fresh order each epoch


def test_each_rank_memory_maps_the_decoded_cache(group_run):
    workspace, _, _, ranks = group_run
    mapped = [rank["memory_mapped"] for rank in ranks]
    assert mapped[0] == mapped[1] and mapped[0].endswith(".u8")
    assert Path(mapped[0]).parent == workspace.cache_dir


def test_all_reduced_validation_equals_one_process_on_the_saved_weights(group_run):
    workspace, folder, out, (rank0, rank1) = group_run
    figures = ("train_loss", "train_acc", "images", "lr", "val_loss", "val_acc")
    for row0, row1 in zip(rank0["history"], rank1["history"], strict=True):  # the ranks agree
        assert [row0[k] for k in figures] == [row1[k] for k in figures]
    best = next(h for h in rank0["history"] if h["epoch"] == rank0["best_epoch"])
    model, _ = load_checkpoint(out / "best.pt")
    data = prepare_data(probe_config(str(folder)), workspace)
    alone = evaluate(model, data.pixels, data.val_idx, data.labels[data.val_idx],
                     speed_settings(torch.device("cpu"), 4))
    assert best["val_acc"] == alone["acc"]
    assert best["val_loss"] == pytest.approx(alone["loss"], rel=1e-4)


@pytest.mark.parametrize("n, world", [(10, 2), (11, 2), (7, 3), (1, 2)])
def test_shards_cover_the_order_like_distributed_sampler(n, world):
    order = torch.randperm(n)
    shards = [DistContext(r, world, r, torch.device("cpu")).shard(order) for r in range(world)]
    total = -(-n // world) * world
    assert all(len(s) == total // world for s in shards)
    padded = torch.cat([order, order.repeat(total)[:total - n]])
    assert torch.equal(torch.stack(shards, 1).reshape(-1), padded)


def test_evaluation_positions_count_every_row_once():
    parts = [DistContext(r, 3, r, torch.device("cpu")).eval_positions(8) for r in range(3)]
    assert sorted(torch.cat(parts).tolist()) == list(range(8))


def test_a_loss_that_diverges_on_one_rank_stops_every_rank_at_the_same_batch(group_run, ddp_env, tmp_path):
    workspace, folder, _, _ = group_run
    done = _launch({**ddp_env, "TORCH_HOME": str(tmp_path)}, workspace.root, folder, tmp_path, "nan-on-rank-1")
    assert done.returncode == 0, done.stderr[-3000:]
    stopped = [json.loads((tmp_path / f"rank{r}.json").read_text())["stopped"] for r in (0, 1)]
    assert stopped[0] == stopped[1] and "diverged" in stopped[0] and "batch 3" in stopped[0]


def test_every_rank_takes_rank_0s_whole_state_frozen_parts_included(tmp_path, ddp_env):
    """DDP broadcasts only what it wraps (a frozen backbone's head); sync_state gives the rest too."""
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(Path(__file__).with_name("ddp_sync_probe.py")), str(tmp_path)],
        env=ddp_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = ((tmp_path / f"rank{r}.txt").read_text() for r in (0, 1))
    assert rank0 == rank1
