"""What this machine can train on: the accelerator, its memory and the CPU threads."""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch loads in the functions that ask it (seconds): importing this module stays light
    import torch

_GIB = 1024 ** 3


class DeviceUnavailableError(ValueError):
    """The requested device is unknown or missing here; the message says what to use instead."""


@dataclass(frozen=True)
class Hardware:
    device: str  # cuda | mps | cpu
    name: str
    memory_gb: float | None  # the accelerator's memory; None on CPU
    cpu_count: int
    torch_threads: int

    @property
    def gpu_mem_gb(self) -> float | None:
        """What the wizard takes as GPU memory: None means train on CPU."""
        return None if self.device == "cpu" else self.memory_gb

    def describe(self) -> str:
        """'NVIDIA H100 80GB HBM3 (79.2 GB)' or 'CPU (2 cores) — no GPU found'."""
        if self.device == "cpu":
            return f"CPU ({self.cpu_count} core{'s' if self.cpu_count != 1 else ''}) — no GPU found"
        if self.memory_gb is None:
            return self.name
        return f"{self.name} ({self.memory_gb:.1f} GB)"


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use, not the whole machine
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


@functools.lru_cache(maxsize=1)
def detect_hardware() -> Hardware:
    """The best device PyTorch can use here (CUDA, then Apple MPS, then CPU). Cached per process."""
    import torch

    cpus, threads = _cpu_count(), torch.get_num_threads()
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return Hardware("cuda", props.name, round(props.total_memory / _GIB, 1), cpus, threads)
    if _mps_available():
        memory = None
        try:  # unified memory: what Metal recommends a process may use
            memory = round(torch.mps.recommended_max_memory() / _GIB, 1)
        except (AttributeError, RuntimeError):
            pass
        return Hardware("mps", "Apple GPU (MPS)", memory, cpus, threads)
    return Hardware("cpu", "CPU", None, cpus, threads)


def gpu_count() -> int:
    """CUDA GPUs PyTorch sees here (0 without CUDA): a run may train over up to this many."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(requested: str = "auto") -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'mps' → a torch.device that exists on this machine."""
    import torch

    requested = (requested or "auto").strip().lower()
    if requested == "auto":
        return torch.device(detect_hardware().device)
    if requested == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", requested)
    if match:
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                "device 'cuda' was requested but PyTorch sees no NVIDIA GPU here; use device 'auto' or 'cpu'")
        index = int(match.group(1) or 0)
        if index >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"device '{requested}' was requested but only {torch.cuda.device_count()} CUDA device(s) "
                f"exist (cuda:0 to cuda:{torch.cuda.device_count() - 1}); use device 'cuda' or 'auto'")
        return torch.device("cuda", index)
    if requested == "mps":
        if not _mps_available():
            raise DeviceUnavailableError(
                "device 'mps' was requested but no Apple GPU (MPS) is available here; "
                "use device 'auto' or 'cpu'")
        return torch.device("mps")
    raise DeviceUnavailableError(f"unknown device {requested!r}; choose auto, cpu, cuda or mps")
