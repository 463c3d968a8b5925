"""Decode every image once per (dataset, image size) and keep the pixels as one uint8 tensor.

Decoding and resizing JPEGs/PNGs is most of what a plain training loop spends outside the model.
Here each file is decoded, EXIF-rotated, converted to RGB and resized once; the result is written to
the workspace cache as a raw uint8 array (N×3×S×S) that later epochs, later runs and later processes
reuse. A cache file is named after the dataset's fingerprint (paths, sizes and modification times of
its images), so a changed dataset gets a fresh cache and the stale one is removed.

In memory, arrays are held in a process-wide LRU within a byte budget (default: a quarter of RAM,
`RESNET_PILOT_CACHE_BUDGET_MB` overrides); an array larger than the budget is memory-mapped from the
cache file instead, so the OS pages it in as needed.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from resnet_core.data.imageio import ImageLoadError, load_uint8
from resnet_core.fsutil import atomic_write_json, read_json

BUDGET_ENV = "RESNET_PILOT_CACHE_BUDGET_MB"
Progress = Callable[[int, int], None]


def default_budget_bytes() -> int:
    env = os.environ.get(BUDGET_ENV)
    if env:
        return int(float(env) * 1024 * 1024)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 1024**3
    return total // 4


@dataclass(frozen=True)
class DecodedImages:
    """uint8 pixels for a list of files, row i for paths[i]; `failed` maps a path to why it could not be read."""

    pixels: torch.Tensor  # N×3×S×S uint8 (possibly backed by a memory-mapped file)
    paths: tuple[str, ...]
    image_size: int
    memory_mapped: bool
    failed: dict[str, str]

    @property
    def nbytes(self) -> int:
        return self.pixels.numel()


class _MemoryLRU:
    """Process-wide arrays by key, evicting the least recently used beyond the budget."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, DecodedImages] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> DecodedImages | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: str, item: DecodedImages, budget: int) -> None:
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > 1 and self._resident_bytes() > budget:
                self._items.popitem(last=False)

    def _resident_bytes(self) -> int:
        return sum(i.nbytes for i in self._items.values() if not i.memory_mapped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def drop_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k.startswith(prefix)]:
                del self._items[key]


_MEMORY = _MemoryLRU()
_BUILD_LOCKS: dict[str, threading.Lock] = {}
_BUILD_LOCKS_GUARD = threading.Lock()


# Bumped whenever decoding changes what is stored (2: large JPEGs decoded at reduced scale), so a
# cache from an older version is rebuilt rather than mixed with new predictions.
DECODE_VERSION = 2


def cache_key(root: str | Path, fingerprint: str, image_size: int) -> str:
    source = f"{Path(root).resolve()}|{fingerprint}|{image_size}|v{DECODE_VERSION}"
    digest = hashlib.sha1(source.encode()).hexdigest()[:16]
    return f"{_dataset_tag(root)}-{image_size}px-{digest}"


def _dataset_tag(root: str | Path) -> str:
    return "ds" + hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:10]


def load_decoded(root: str | Path, paths: Sequence[str], fingerprint: str, image_size: int,
                 cache_dir: str | Path, budget_bytes: int | None = None,
                 progress: Progress | None = None, workers: int | None = None,
                 memory_map: bool = False) -> DecodedImages:
    """The decoded pixels of `paths` (relative to root), from memory, the cache file, or by decoding.

    `fingerprint` must change whenever the files change (the dataset scan provides it).
    memory_map: map the cache file whatever its size (processes mapping one file share its pages).
    """
    budget = default_budget_bytes() if budget_bytes is None else budget_bytes
    open_budget = 0 if memory_map else budget
    key = cache_key(root, fingerprint, image_size)
    paths = tuple(paths)
    hit = _MEMORY.get(key)
    if hit is not None and hit.paths == paths and (hit.memory_mapped or not memory_map):
        return hit
    with _build_lock(key):
        hit = _MEMORY.get(key)
        if hit is not None and hit.paths == paths and (hit.memory_mapped or not memory_map):
            return hit
        cache_dir = Path(cache_dir)
        item = _read_cache_file(cache_dir, key, paths, image_size, open_budget)
        if item is None:
            _remove_stale(cache_dir, root, image_size, key)
            item = _decode_to_file(Path(root), paths, image_size, cache_dir, key, open_budget, progress,
                                   workers)
        _MEMORY.put(key, item, budget)
        return item


def clear_memory() -> None:
    """Forget the in-memory arrays (the cache files stay)."""
    _MEMORY.clear()


def forget_dataset(root: str | Path, cache_dir: str | Path) -> None:
    """Drop a deleted dataset's arrays from memory and its cache files from disk (every image size)."""
    tag = _dataset_tag(root) + "-"
    _MEMORY.drop_prefix(tag)
    cache_dir = Path(cache_dir)
    if cache_dir.is_dir():
        for f in cache_dir.glob(f"{tag}*"):
            f.unlink(missing_ok=True)


def _build_lock(key: str) -> threading.Lock:
    with _BUILD_LOCKS_GUARD:
        return _BUILD_LOCKS.setdefault(key, threading.Lock())


def _files(cache_dir: Path, key: str) -> tuple[Path, Path]:
    return cache_dir / f"{key}.u8", cache_dir / f"{key}.json"


def _read_cache_file(cache_dir: Path, key: str, paths: tuple[str, ...], size: int,
                     budget: int) -> DecodedImages | None:
    data_file, meta_file = _files(cache_dir, key)
    meta = read_json(meta_file)
    if not meta or tuple(meta.get("paths", ())) != paths or meta.get("image_size") != size:
        return None
    expected = len(paths) * 3 * size * size
    if not data_file.exists() or data_file.stat().st_size != expected:
        return None
    return _open_array(data_file, len(paths), size, budget, paths, meta.get("failed", {}))


def _open_array(data_file: Path, n: int, size: int, budget: int, paths: tuple[str, ...],
                failed: dict[str, str]) -> DecodedImages:
    nbytes = n * 3 * size * size
    if nbytes <= budget:
        array = np.fromfile(data_file, dtype=np.uint8)
        mapped = False
    else:
        array = np.memmap(data_file, dtype=np.uint8, mode="c")  # copy-on-write: the file is never changed
        mapped = True
    pixels = torch.from_numpy(array.reshape(n, 3, size, size)) if n else torch.empty(0, 3, size, size, dtype=torch.uint8)
    return DecodedImages(pixels, paths, size, mapped, dict(failed))


def _report(ahead: deque, progress: Progress | None, n: int, done_before: int) -> None:
    """Waits for the oldest queued image; every 64 images (and the last) tells `progress`."""
    ahead.popleft().result()
    done = done_before + 1
    if progress and (done == n or done % 64 == 0):
        progress(done, n)  # may raise to stop (a cancelled run)


def _decode_to_file(root: Path, paths: tuple[str, ...], size: int, cache_dir: Path, key: str,
                    budget: int, progress: Progress | None, workers: int | None) -> DecodedImages:
    cache_dir.mkdir(parents=True, exist_ok=True)
    data_file, meta_file = _files(cache_dir, key)
    tmp = data_file.with_name(f".{data_file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    n = len(paths)
    failed: dict[str, str] = {}
    try:
        array = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=(max(n, 1), 3, size, size))

        def decode(i: int) -> None:
            try:
                array[i] = load_uint8(root / paths[i], size).numpy()
            except ImageLoadError as e:
                failed[paths[i]] = str(e)
                array[i] = 0

        # PIL releases the GIL while decoding and resizing, so threads use all cores.
        threads = workers or os.cpu_count() or 1
        pool = ThreadPoolExecutor(max_workers=threads)
        # A short queue rather than all n submitted at once: the workers cannot run far ahead of this
        # thread, so a cancel raised by the next progress report stops within a few images.
        ahead: deque = deque()
        try:
            for i in range(n):
                ahead.append(pool.submit(decode, i))
                if len(ahead) >= 2 * threads:
                    _report(ahead, progress, n, i + 1 - len(ahead))
            while ahead:
                _report(ahead, progress, n, n - len(ahead))
        finally:
            # When stopped early, the images queued but not started are dropped rather than decoded.
            pool.shutdown(wait=True, cancel_futures=True)
        array.flush()
        array = None  # unmaps the file before it is renamed into place
        if n == 0:
            tmp.write_bytes(b"")
        os.replace(tmp, data_file)
    finally:
        tmp.unlink(missing_ok=True)
    atomic_write_json(meta_file, {"paths": list(paths), "image_size": size, "failed": failed,
                                  "root": str(root)})
    return _open_array(data_file, n, size, budget, paths, failed)


def _remove_stale(cache_dir: Path, root: str | Path, image_size: int, keep: str) -> None:
    """Delete cache files of the same dataset and size made from an older version of its files."""
    if not cache_dir.exists():
        return
    for f in cache_dir.glob(f"{_dataset_tag(root)}-{image_size}px-*"):
        if not f.name.startswith(keep):
            f.unlink(missing_ok=True)
