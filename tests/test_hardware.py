"""Hardware detection and device resolution, on this machine and with a faked GPU."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from resnet_core import hardware
from resnet_core.hardware import (
    DeviceUnavailableError,
    Hardware,
    detect_hardware,
    resolve_device,
)


@pytest.fixture
def fresh_cache():
    detect_hardware.cache_clear()
    yield
    detect_hardware.cache_clear()


@pytest.fixture
def no_gpu(monkeypatch, fresh_cache):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(hardware, "_mps_available", lambda: False)


@pytest.fixture
def fake_cuda(monkeypatch, fresh_cache):
    props = SimpleNamespace(name="NVIDIA H100 80GB HBM3", total_memory=int(79.2 * 1024 ** 3))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)


def test_this_machine_is_described(fresh_cache):
    hw = detect_hardware()
    assert hw.device in ("cuda", "mps", "cpu")
    assert hw.cpu_count >= 1 and hw.torch_threads == torch.get_num_threads()
    if hw.device == "cuda":
        assert hw.memory_gb > 0 and f"({hw.memory_gb:.1f} GB)" in hw.describe()
        assert hw.name == torch.cuda.get_device_properties(0).name
    if hw.device == "cpu":
        assert hw.memory_gb is None and hw.gpu_mem_gb is None


def test_cpu_only(no_gpu):
    hw = detect_hardware()
    assert (hw.device, hw.memory_gb, hw.gpu_mem_gb) == ("cpu", None, None)
    cores = f"{hw.cpu_count} core" + ("s" if hw.cpu_count != 1 else "")
    assert hw.describe() == f"CPU ({cores}) — no GPU found"


def test_cuda_name_and_memory(fake_cuda):
    hw = detect_hardware()
    assert (hw.device, hw.name, hw.memory_gb, hw.gpu_mem_gb) == ("cuda", "NVIDIA H100 80GB HBM3", 79.2, 79.2)
    assert hw.describe() == "NVIDIA H100 80GB HBM3 (79.2 GB)"


def test_mps_when_no_cuda(monkeypatch, fresh_cache):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(hardware, "_mps_available", lambda: True)
    monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: 16 * 1024 ** 3)
    hw = detect_hardware()
    assert (hw.device, hw.memory_gb) == ("mps", 16.0)
    assert hw.describe() == "Apple GPU (MPS) (16.0 GB)"


def test_detection_is_cached(no_gpu, monkeypatch):
    first = detect_hardware()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # would change the answer if asked
    assert detect_hardware() is first


def test_describe_single_core():
    assert Hardware("cpu", "CPU", None, 1, 1).describe() == "CPU (1 core) — no GPU found"


def test_resolve_cpu_and_auto_without_gpu(no_gpu):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")


@pytest.mark.parametrize("requested, needle", [("cuda", "no NVIDIA GPU"), ("cuda:0", "no NVIDIA GPU"),
                                               ("mps", "no Apple GPU"), ("tpu", "unknown device")])
def test_missing_device_is_a_clear_value_error(no_gpu, requested, needle):
    with pytest.raises(DeviceUnavailableError, match=needle) as info:
        resolve_device(requested)
    assert isinstance(info.value, ValueError) and "cpu" in str(info.value)


def test_resolve_cuda(fake_cuda):
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda") == torch.device("cuda", 0)
    with pytest.raises(DeviceUnavailableError, match="only 1 CUDA device"):
        resolve_device("cuda:3")
