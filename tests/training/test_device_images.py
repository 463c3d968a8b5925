"""Where batches come from: the decoded images on the host (CPU), on the GPU once per run, or through
pinned buffers when they do not fit. The CUDA tests run where a GPU is present (scripts/gpu_figures.sh
runs them on the device); on the CPU they are skipped and the fallback is tested instead, with the
decision to copy (the switch, the share of free memory) and the CUDA speed settings checked against a
stand-in for the GPU's memory and bf16 support."""
from __future__ import annotations

import warnings

import pytest
import torch

from resnet_core.config import TrainConfig
from resnet_core.data.augment import augment_batch
from resnet_core.data.prepare import prepare_data
from resnet_core.data.synthetic import make_image_folder
from resnet_core.training import device_images, engine
from resnet_core.training.callbacks import CallbackList, FitState, FunctionCallback, TrainingDiverged
from resnet_core.training.device_images import DeviceImages
from resnet_core.training.engine import fit

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _images(n: int = 37, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    return pixels, torch.arange(n) % 5


def _data(workspace, folder, **overrides):
    settings = dict(dataset=str(folder), model="resnet18", weights="none", image_size=32, epochs=2,
                    batch_size=4, learning_rate=1e-3, patience=5)
    cfg = TrainConfig(**{**settings, **overrides})
    return cfg, prepare_data(cfg, workspace)


def test_on_the_cpu_batches_are_plain_gathers_from_the_host():
    pixels, labels = _images()
    images = DeviceImages(pixels, labels, torch.device("cpu"))
    idx = torch.tensor([5, 0, 36, 5])
    assert images.placement == "host" and images.index_device.type == "cpu"
    assert torch.equal(images.images(idx), pixels[idx])
    assert torch.equal(images.labels_of(idx), labels[idx])
    assert not device_images.fits_on_device(1, torch.device("cpu"))


def test_a_cpu_run_says_nothing_about_gpu_memory(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=12, size=32)
    cfg, data = _data(workspace, folder, device="cpu", epochs=1)
    result = fit(cfg, data)
    assert result.status == "completed"
    assert not any("GPU memory" in n or "pinned" in n for n in result.notes)


def test_device_generators_draw_the_augmentation_where_the_images_are():
    # A CPU generator and CPU images: the draws stay on the CPU and are reproducible (the CUDA twin
    # below checks the same on the GPU).
    x = torch.rand(6, 3, 16, 16)
    a = augment_batch(x, "heavy", torch.Generator().manual_seed(3))
    b = augment_batch(x, "heavy", torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, x)


@pytest.fixture
def free_gpu_memory(monkeypatch):
    """A stand-in GPU with 10,000 bytes free; records the devices asked about."""
    asked = []

    def mem_get_info(device=None):
        asked.append(device)
        return 10_000, 80_000

    monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
    monkeypatch.delenv(device_images.DEVICE_CACHE_ENV, raising=False)
    return asked


def test_images_fit_on_the_gpu_up_to_their_share_of_its_free_memory(free_gpu_memory):
    gpu = torch.device("cuda", 0)
    limit = int(device_images.DEVICE_CACHE_SHARE * 10_000)
    assert device_images.fits_on_device(limit, gpu)
    assert not device_images.fits_on_device(limit + 1, gpu)
    assert free_gpu_memory == [gpu, gpu]  # the device's own free memory, not the current device's


def test_the_cache_limit_is_the_share_of_free_memory_or_nothing(free_gpu_memory, monkeypatch):
    assert device_images.device_cache_limit(torch.device("cuda")) == int(device_images.DEVICE_CACHE_SHARE * 10_000)
    assert device_images.device_cache_limit(torch.device("cpu")) == 0
    monkeypatch.setenv(device_images.DEVICE_CACHE_ENV, "0")
    assert device_images.device_cache_limit(torch.device("cuda")) == 0


def test_the_cpu_never_asks_for_gpu_memory(free_gpu_memory):
    assert not device_images.fits_on_device(1, torch.device("cpu"))
    assert free_gpu_memory == []


@pytest.mark.parametrize("value, allowed", [(None, True), ("", True), ("1", True), ("yes", True),
                                            ("0", False), ("false", False), (" Off ", False), ("NO", False)])
def test_the_device_cache_switch(free_gpu_memory, monkeypatch, value, allowed):
    if value is not None:
        monkeypatch.setenv(device_images.DEVICE_CACHE_ENV, value)
    assert device_images.device_cache_allowed() is allowed
    assert device_images.fits_on_device(1, torch.device("cuda")) is allowed
    assert len(free_gpu_memory) == (1 if allowed else 0)  # turned off: the GPU is not even asked


@pytest.fixture
def restored_backend_flags():
    """speed_settings sets process-wide backend switches; put them back after the test."""
    saved = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    yield
    torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("bf16, dtype", [(True, torch.bfloat16), (False, torch.float16)])
def test_cuda_speed_settings_turn_on_every_fast_switch(restored_backend_flags, monkeypatch, bf16, dtype):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    torch.backends.cudnn.benchmark = torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    speed = engine.speed_settings(torch.device("cuda"), 64)
    assert speed.autocast_dtype == dtype  # fp16 (with fit's grad scaler) only where bf16 is missing
    assert speed.channels_last and speed.fused_adamw and speed.sync_free
    assert torch.backends.cudnn.benchmark and torch.backends.cudnn.allow_tf32
    assert torch.backends.cuda.matmul.allow_tf32
    assert [engine.speed_settings(torch.device("cuda"), b).eval_batch_size for b in (8, 200, 4096)] == \
        [256, 400, 1024]  # evaluation: twice the training batch, within 256..1024


def test_cpu_speed_settings_leave_the_cuda_switches_alone(restored_backend_flags, monkeypatch):
    monkeypatch.setenv(engine.CPU_BF16_ENV, "0")
    torch.backends.cudnn.benchmark = False
    speed = engine.speed_settings(torch.device("cpu"), 64)
    assert speed.autocast_dtype is None and not speed.channels_last and not speed.fused_adamw
    assert not speed.sync_free and speed.eval_batch_size == engine.CPU_EVAL_BATCH
    assert not torch.backends.cudnn.benchmark


@cuda
def test_images_that_fit_are_copied_to_the_gpu_once_and_gathered_there():
    pixels, labels = _images()
    images = DeviceImages(pixels, labels, torch.device("cuda"), max_batch=8)
    assert images.placement == "device" and images.pixels.is_cuda and images.index_device.type == "cuda"
    idx = torch.tensor([5, 0, 36, 5], device="cuda")
    assert torch.equal(images.images(idx).cpu(), pixels[idx.cpu()])
    assert torch.equal(images.labels_of(idx).cpu(), labels[idx.cpu()])


@cuda
@pytest.mark.parametrize("how", ["turned off", "too large"])
def test_images_that_do_not_fit_go_through_two_pinned_buffers(monkeypatch, how):
    if how == "turned off":
        monkeypatch.setenv(device_images.DEVICE_CACHE_ENV, "0")
    else:
        monkeypatch.setattr(device_images, "DEVICE_CACHE_SHARE", 0.0)
    pixels, labels = _images()
    images = DeviceImages(pixels, labels, torch.device("cuda"), max_batch=4)
    assert images.placement == "pinned" and not images.pixels.is_cuda
    order = torch.randperm(len(pixels), generator=torch.Generator().manual_seed(1))
    batches = [order[i:i + 4] for i in range(0, len(order), 4)] + [order[:20]]  # the last grows the buffers
    outs = [(images.images(idx), images.labels_of(idx)) for idx in batches]  # copies queue without waiting
    torch.cuda.synchronize()
    for idx, (x, y) in zip(batches, outs):
        assert x.is_cuda and torch.equal(x.cpu(), pixels[idx]) and torch.equal(y.cpu(), labels[idx])


@cuda
def test_cuda_generators_give_reproducible_augmentation_on_the_gpu():
    x = torch.rand(6, 3, 16, 16, device="cuda")
    a = augment_batch(x, "heavy", torch.Generator(device="cuda").manual_seed(3))
    b = augment_batch(x, "heavy", torch.Generator(device="cuda").manual_seed(3))
    assert a.is_cuda and torch.equal(a, b) and not torch.equal(a, x)


@cuda
def test_a_cuda_training_epoch_waits_for_the_gpu_only_every_few_batches(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=40, size=32)
    cfg, data = _data(workspace, folder, device="cuda", augmentation="standard", batch_size=2)
    speed = engine.speed_settings(torch.device("cuda"), cfg.batch_size)
    model, _, _ = engine._starting_model(cfg, len(data.classes))
    model.to("cuda").to(memory_format=torch.channels_last)
    optimizer = engine.make_optimizer(list(model.parameters()), 1e-3, 1e-4, speed)
    images = DeviceImages(data.pixels, data.labels, speed.device, 64)
    state = FitState(config=cfg, classes=data.classes, num_train=len(data.train_idx), num_val=0, num_test=0,
                     device="cuda", batch_size=cfg.batch_size, model=model)
    state.epoch = 1
    engine.train_one_epoch(model, optimizer, None, data, state, speed, CallbackList([]), images=images)  # warm-up
    state.epoch = 2
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            metrics = engine.train_one_epoch(model, optimizer, None, data, state, speed, CallbackList([]),
                                             images=images)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    batches = state.num_batches
    assert batches >= 20 and metrics["images"] == len(data.train_idx)
    # The epoch's order goes to the device once, the divergence check reads back every
    # DIVERGENCE_CHECK_BATCHES batches, and the epoch's sums are read once at the end.
    assert len(syncs) <= batches // engine.DIVERGENCE_CHECK_BATCHES + 4, [str(w.message) for w in syncs]


@cuda
def test_a_cuda_run_trains_from_gpu_memory_and_notices_divergence(workspace, tmp_path):
    folder = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=12, size=32)
    cfg, data = _data(workspace, folder, device="cuda", augmentation="light")
    result = fit(cfg, data)
    assert result.status == "completed" and result.test_acc is not None
    assert any("copied to GPU memory once" in n for n in result.notes)

    def poison(state):
        if state.epoch == 1 and state.batch == 1:
            with torch.no_grad():
                state.model.head.weight.fill_(float("nan"))

    with pytest.raises(TrainingDiverged, match="lower learning rate"):
        fit(cfg, data, callbacks=[FunctionCallback(after_batch=poison)])
