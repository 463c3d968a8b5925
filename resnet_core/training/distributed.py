"""One run over several processes with PyTorch's own DistributedDataParallel (`torch.distributed`).

The processes are started by `torchrun` (`python -m torch.distributed.run`), which tells each its
RANK, WORLD_SIZE, LOCAL_RANK and where to meet (MASTER_ADDR/MASTER_PORT) through the environment.
`setup()` joins that group — NCCL on CUDA, Gloo on the CPU — and returns a `DistContext`, the one
object the engine asks about ranks: its shard of each epoch's order, sums across ranks, the model
wrapped in DDP, and which rank writes (rank 0 only).

Without torchrun's variables (or with WORLD_SIZE=1) nothing here is used: the engine runs one process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn

# A rank that stops answering (not one that dies: that ends the others at once) is waited for this long.
COLLECTIVE_TIMEOUT = timedelta(minutes=10)


class DistributedSetupError(RuntimeError):
    """The process group could not be formed; the message says what to check."""


def launched_by_torchrun() -> bool:
    """True inside a process started by torchrun for a group of more than one."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


@dataclass(frozen=True)
class DistContext:
    """This process's place in the group, and the few collective operations the engine needs."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, the store and progress."""
        return self.rank == 0

    @property
    def backend(self) -> str:
        return "nccl" if self.device.type == "cuda" else "gloo"

    # -- data ---------------------------------------------------------------------------------

    def shard(self, order: torch.Tensor) -> torch.Tensor:
        """This rank's part of an epoch's order, as `DistributedSampler` takes it: the order is
        padded with its own first entries to a multiple of the world size, then rank r takes
        entries r, r + W, r + 2W, ... So every rank trains on the same number of images (the
        batches, and the gradient all-reduces, stay in step) and together they see each image
        once per epoch (the few padded ones twice)."""
        n, w = len(order), self.world_size
        total = -(-n // w) * w
        if total > n and n:
            repeats = -(-(total - n) // n)
            order = torch.cat([order, order.repeat(repeats)[:total - n]])
        return order[self.rank:total:w]

    def eval_positions(self, n: int) -> torch.Tensor:
        """This rank's positions among n evaluation rows: r, r + W, ... without padding, so summed
        across ranks every row counts exactly once."""
        return torch.arange(self.rank, n, self.world_size)

    # -- collectives --------------------------------------------------------------------------

    def sum(self, *values: torch.Tensor | float | int) -> list[torch.Tensor]:
        """Each value summed over the ranks (float64 or int64 tensors on the CPU)."""
        out = []
        for v in values:
            t = v.detach() if isinstance(v, torch.Tensor) else torch.tensor(v)
            t = t.to(self.device, torch.float64 if t.is_floating_point() else torch.long).clone()
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            out.append(t.cpu())
        return out

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on at least one (so all ranks take the same branch)."""
        t = torch.tensor([1 if flag else 0], dtype=torch.long, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def gather_rows(self, rows: torch.Tensor, n: int) -> torch.Tensor:
        """The full (n × ...) tensor from each rank's `eval_positions(n)` rows, in the original order."""
        per_rank = -(-n // self.world_size)
        padded = torch.zeros((per_rank, *rows.shape[1:]), dtype=rows.dtype, device=self.device)
        padded[:len(rows)] = rows.to(self.device)
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded)
        # Row i of rank r is position i * W + r.
        return torch.stack(parts, 1).reshape(per_rank * self.world_size, *rows.shape[1:])[:n].cpu()

    def from_main(self, make: Any) -> Any:
        """`make()` evaluated on rank 0 only and its (picklable) result given to every rank."""
        box = [make() if self.is_main else None]
        dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]

    def sync_buffers(self, module: nn.Module) -> None:
        """Rank 0's buffers (BatchNorm running statistics) copied to every rank. DDP does so before
        each training forward, so after an epoch's last batch each rank holds its own; evaluating
        (and saving) after this scores the same model on every rank."""
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)

    def sync_state(self, module: nn.Module) -> None:
        """Rank 0's whole state (weights and buffers) copied to every rank. DDP does so for the part it
        wraps only; a frozen backbone lies outside it, and a rank that found other starting weights
        (no ImageNet file on its machine, say) would train the head on other features."""
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)

    def barrier(self) -> None:
        dist.barrier()

    # -- the model ----------------------------------------------------------------------------

    def wrap(self, module: nn.Module) -> nn.Module:
        """The module in DistributedDataParallel: gradients averaged over the ranks in backward;
        rank 0's weights and BatchNorm statistics are given to the others at the start and its
        buffers before every forward, so the ranks' models never drift apart."""
        from torch.nn.parallel import DistributedDataParallel

        if self.device.type == "cuda":
            return DistributedDataParallel(module, device_ids=[self.device.index],
                                           output_device=self.device.index)
        return DistributedDataParallel(module)


def setup(device_request: str = "auto") -> DistContext:
    """Join torchrun's group (NCCL on CUDA, Gloo on CPU); each CUDA rank is pinned to GPU LOCAL_RANK."""
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except (KeyError, ValueError) as e:
        raise DistributedSetupError("this process was not started by torchrun (RANK and WORLD_SIZE are "
                                    "not set); launch it with `python -m torch.distributed.run`") from e
    use_cuda = device_request in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise DistributedSetupError(
                f"process {local_rank} of this machine has no GPU: only {torch.cuda.device_count()} are "
                "visible; start as many processes per machine as it has GPUs (--nproc-per-node)")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    ctx = DistContext(rank, world, local_rank, device)
    if not dist.is_initialized():
        kwargs = {"device_id": device} if use_cuda else {}
        dist.init_process_group(ctx.backend, timeout=COLLECTIVE_TIMEOUT, **kwargs)
    return ctx


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_peer_failure(e: BaseException) -> bool:
    """True for an error that says another rank of the group is gone (killed, crashed)."""
    if isinstance(e, getattr(dist, "DistError", ())):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and any(s in text for s in (
        "connection closed by peer", "connection reset by peer", "gloo", "nccl", "broken pipe"))
