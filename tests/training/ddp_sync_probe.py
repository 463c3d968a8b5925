"""Run by torchrun in the DDP tests: each rank starts a model from its own random weights, then
takes rank 0's whole state (DistContext.sync_state) and writes a fingerprint of it to OUT/rankN.txt.
Usage: ddp_sync_probe.py OUT
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

from resnet_core.training import distributed


def main(out: str) -> None:
    ctx = distributed.setup("cpu")
    try:
        torch.manual_seed(ctx.rank)  # as a rank that found other starting weights
        model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
        model[1].running_mean.add_(ctx.rank)
        ctx.sync_state(model)
        values = torch.cat([t.flatten().float() for t in model.state_dict().values()])
        Path(out, f"rank{ctx.rank}.txt").write_text(" ".join(f"{v:.6f}" for v in values.tolist()))
    finally:
        distributed.teardown()


if __name__ == "__main__":
    main(sys.argv[1])
