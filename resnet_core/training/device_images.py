"""Where a run's batches come from: the decoded uint8 images, placed once per run where gathering is fastest.

On CUDA the whole decoded cache is copied to GPU memory once when it fits in a share of the free
memory, and a batch is then an index gather on the device: no Python objects, no host copy and no
host-device synchronisation per batch. When it does not fit, rows are gathered on the host into
one of two reused pinned buffers and copied with `non_blocking`, so the copy of one batch overlaps
the model's work on the previous one. On the CPU a batch is a plain gather from the cache.

Set RESNET_PILOT_DEVICE_CACHE=0 to keep the images on the host even when they would fit.
"""
from __future__ import annotations

import os

import torch

DEVICE_CACHE_ENV = "RESNET_PILOT_DEVICE_CACHE"
# The images may take this share of the GPU's free memory; the rest is for the model, its
# activations and the optimiser.
DEVICE_CACHE_SHARE = 0.4
# Copy a memory-mapped cache to the GPU in slices of about this many bytes, so a large cache never
# has to be resident in host memory at once.
UPLOAD_SLICE_BYTES = 256 * 2**20


def device_cache_allowed() -> bool:
    return os.environ.get(DEVICE_CACHE_ENV, "").strip().lower() not in ("0", "false", "no", "off")


def device_cache_limit(device: torch.device) -> int:
    """The most bytes of images a run copies to this device now: DEVICE_CACHE_SHARE of the CUDA device's
    free memory; 0 on the CPU or with the device cache turned off. Also the most GPU memory the images
    can take from training, which the largest-batch figures hold back."""
    if device.type != "cuda" or not device_cache_allowed():
        return 0
    free, _total = torch.cuda.mem_get_info(device)
    return int(DEVICE_CACHE_SHARE * free)


def fits_on_device(nbytes: int, device: torch.device) -> bool:
    """True when `nbytes` of images fit in DEVICE_CACHE_SHARE of the CUDA device's free memory."""
    limit = device_cache_limit(device)
    return limit > 0 and nbytes <= limit


class DeviceImages:
    """The decoded images and their labels, and the one way the engine takes batches from them.

    `placement` says where the pixels live: "device" (copied to the GPU once), "pinned" (gathered on
    the host into pinned buffers, copied without blocking) or "host" (CPU training). `index_device`
    is where batch indices should live so that gathering them costs no copy.
    """

    def __init__(self, pixels: torch.Tensor, labels: torch.Tensor, device: torch.device, max_batch: int = 1):
        self.device = device
        self.host_pixels, self.host_labels = pixels, labels
        self.labels = labels.to(device)
        self._ring: _PinnedRing | None = None
        if device.type != "cuda":
            self.placement, self.pixels, self.index_device = "host", pixels, torch.device("cpu")
        elif fits_on_device(pixels.numel() * pixels.element_size(), device):
            self.placement, self.pixels, self.index_device = "device", _upload(pixels, device), device
        else:
            self.placement, self.pixels, self.index_device = "pinned", pixels, torch.device("cpu")
            self._ring = _PinnedRing(pixels, max_batch)

    def __len__(self) -> int:
        return len(self.host_pixels)

    def images(self, idx: torch.Tensor) -> torch.Tensor:
        """uint8 images (N×3×S×S) of rows `idx`, on the training device."""
        if self._ring is not None:
            return self._ring.copy(idx.cpu(), self.device)
        return self.pixels[idx.to(self.index_device)]

    def labels_of(self, idx: torch.Tensor) -> torch.Tensor:
        """Class indices of rows `idx`, on the training device."""
        if self._ring is not None:
            return self.host_labels[idx.cpu()].pin_memory().to(self.device, non_blocking=True)
        return self.labels[idx.to(self.index_device)]

    def describe(self) -> str:
        mib = self.host_pixels.numel() * self.host_pixels.element_size() / 2**20
        return {"device": f"Decoded images ({mib:,.0f} MiB) copied to GPU memory once; batches are "
                          "gathered and augmented there.",
                "pinned": f"Decoded images ({mib:,.0f} MiB) larger than the GPU's spare memory: batches "
                          "are gathered into pinned host memory and copied without blocking.",
                "host": "Batches gathered from the decoded images in memory."}[self.placement]


def _upload(pixels: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy the cache to the device in slices (a memory-mapped cache is paged in slice by slice)."""
    out = torch.empty(pixels.shape, dtype=pixels.dtype, device=device)
    row_bytes = max(1, pixels[0].numel() * pixels.element_size()) if len(pixels) else 1
    step = max(1, UPLOAD_SLICE_BYTES // row_bytes)
    for start in range(0, len(pixels), step):
        out[start:start + step].copy_(pixels[start:start + step])
    return out


class _PinnedRing:
    """Two pinned host buffers used in turn: while one batch's copy is in flight, the next is gathered
    into the other. An event per buffer says when its copy has finished and it may be reused."""

    def __init__(self, pixels: torch.Tensor, rows: int):
        self.pixels = pixels
        self.turn = 0
        self.events: list[torch.cuda.Event | None] = [None, None]
        self.buffers = self._allocate(max(1, rows))

    def _allocate(self, rows: int) -> list[torch.Tensor]:
        return [torch.empty((rows, *self.pixels.shape[1:]), dtype=self.pixels.dtype).pin_memory()
                for _ in range(2)]

    def copy(self, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
        n = len(idx)
        if n > len(self.buffers[0]):  # a larger (evaluation) batch: wait for both copies, then grow
            for event in self.events:
                if event is not None:
                    event.synchronize()
            self.events, self.buffers = [None, None], self._allocate(n)
        slot, self.turn = self.turn, 1 - self.turn
        if self.events[slot] is not None:
            self.events[slot].synchronize()  # its previous copy must be done before it is overwritten
        buf = self.buffers[slot][:n]
        torch.index_select(self.pixels, 0, idx, out=buf)
        x = buf.to(device, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self.events[slot] = event
        return x
