"""Duplicate images in a dataset: exact copies (the same bytes) and near-copies (the same picture
resized, re-compressed or lightly edited), grouped, with which groups mix classes or cross the split.

Near-copies are found in two steps. First a perceptual hash (pHash): each image becomes a 32×32
grey thumbnail, then its 2-D DCT, then one bit per low-frequency coefficient (the top-left 8×8
block less the constant term): above their median or not. Resizing and re-compression flip a few
of the 63 bits; unrelated pictures differ in about half. Pairs at most CANDIDATE_BITS apart are
candidates. A hash this coarse also matches pictures that merely look alike (two plain shirts on
black), so each candidate pair is then confirmed on the thumbnails themselves: their correlation
must reach NEAR_CORRELATION. A nearly flat image (blank, one colour) has no shape to compare, so it
is matched by exact copy only.

When the label check has taken ImageNet features of the images (feature_cache.py), pictures are
also compared by what they show: two images that are each other's nearest neighbour by feature
cosine similarity, at FEATURE_COSINE or above, are near-copies too (a crop, a mirror image or a
colour change that the thumbnail misses).

Hashes and thumbnails are cached per file (keyed by size and modification time) in the dataset's
metadata folder, so only new or changed files are decoded again; the pair search compares every
hash with every other in blocks (vectorised XOR and bit count): seconds for 20,000 images.
"""
from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from resnet_core.data.feature_cache import load_features
from resnet_core.data.imageio import ImageLoadError, open_rgb
from resnet_core.data.registry import DatasetInfo
from resnet_core.data.scan import ImageEntry, ScanReport
from resnet_core.fsutil import atomic_write_bytes, atomic_write_json, read_json

Progress = Callable[[int, int], None]

THUMB_PX = 32
HASH_BLOCK = 8
# Hamming distance (of 63 bits) up to which a pair is checked further. Copies resized by 0.5-2×
# and saved as JPEG at quality 40-70 measured at most 8 bits apart.
CANDIDATE_BITS = 10
# Thumbnail correlation from which a candidate pair is a near-copy. Copies of 256 px generated
# pictures (resized 0.5-2×, JPEG quality 40-85) measured 0.996 or more, of 96 px ones 0.98 (1st
# percentile); distinct generated pictures at most 0.97. On Fashion-MNIST (28 px silhouettes, many
# alike) 1,451 pairs among 20,000 images reach it, 124 reach 0.99 (docs/performance.md).
NEAR_CORRELATION = 0.98
# A thumbnail whose grey levels vary less than this (standard deviation, 0-255) is flat.
FLAT_STD = 2.0
# Cosine similarity of ImageNet features from which mutual nearest neighbours are near-copies: high,
# so that two photos of one kind of thing are not called copies.
FEATURE_COSINE = 0.95
_CACHE_FILE = "duplicates.json"
_THUMBS_FILE = "duplicates-thumbs.u8"
_CACHE_VERSION = 1
_PAIR_BLOCK = 512  # rows per block of the pair search: 512 × 20,000 × 8 bytes ≈ 80 MB


# ---------------------------------------------------------------------------------------------
# Hashes and thumbnails
# ---------------------------------------------------------------------------------------------

def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


_DCT = _dct_matrix(THUMB_PX)
_BIT_WEIGHTS = np.left_shift(np.uint64(1), np.arange(HASH_BLOCK * HASH_BLOCK - 1, dtype=np.uint64))


def grey_thumbnail(im: Image.Image) -> np.ndarray:
    """The picture as a THUMB_PX × THUMB_PX uint8 grey array (antialiased, aspect not kept)."""
    # Pillow's bilinear filter widens with the scale, so shrinking averages every pixel; a box
    # filter at a non-integer ratio made a copy's thumbnail measurably differ from its original's.
    small = im.convert("L").resize((THUMB_PX, THUMB_PX), Image.BILINEAR)
    return np.asarray(small, dtype=np.uint8)


def perceptual_hashes(thumbs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pHash of each N×32×32 grey thumbnail as uint64, and whether each is flat (no usable shape)."""
    thumbs = np.asarray(thumbs, dtype=np.float32).reshape(-1, THUMB_PX, THUMB_PX)
    if not len(thumbs):
        return np.zeros(0, np.uint64), np.zeros(0, bool)
    coeffs = np.einsum("ij,njk,lk->nil", _DCT, thumbs, _DCT, optimize=True)
    low = coeffs[:, :HASH_BLOCK, :HASH_BLOCK].reshape(len(thumbs), -1)[:, 1:]  # without the mean
    bits = low > np.median(low, axis=1, keepdims=True)
    hashes = (bits.astype(np.uint64) * _BIT_WEIGHTS).sum(axis=1, dtype=np.uint64)
    flat = thumbs.reshape(len(thumbs), -1).std(axis=1) < FLAT_STD
    return hashes, flat


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass(frozen=True)
class FileHash:
    content: str  # of the file's bytes
    thumb: np.ndarray | None  # THUMB_PX² uint8; None when the file could not be decoded


def hash_file(path: str | Path) -> FileHash:
    """The content hash and grey thumbnail of one file (thumb None when it cannot be decoded)."""
    data = Path(path).read_bytes()
    try:
        # A JPEG is decoded at reduced scale (fast) but at twice the thumbnail at least: decoding
        # right down to it lost enough detail that copies correlated less with their originals.
        thumb = grey_thumbnail(open_rgb(io.BytesIO(data), min_size=2 * THUMB_PX))
    except ImageLoadError:
        return FileHash(content_hash(data), None)
    return FileHash(content_hash(data), thumb)


# ---------------------------------------------------------------------------------------------
# Pairs and groups
# ---------------------------------------------------------------------------------------------

def near_pairs(hashes: np.ndarray, max_bits: int = CANDIDATE_BITS) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) whose hashes differ in at most max_bits bits."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    n = len(hashes)
    found_i, found_j = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for start in range(0, n, _PAIR_BLOCK):
        rows = hashes[start:start + _PAIR_BLOCK]
        # Columns from the block's first row on: each pair is compared once (plus the diagonal block).
        dist = np.bitwise_count(rows[:, None] ^ hashes[None, start:])
        i, j = np.nonzero(dist <= max_bits)
        keep = j > i
        found_i.append(i[keep] + start)
        found_j.append(j[keep] + start)
    return np.concatenate(found_i), np.concatenate(found_j)


def _standardised(thumbs: np.ndarray) -> np.ndarray:
    """Each thumbnail minus its mean, scaled to unit length: a dot product is then a correlation."""
    flat = np.asarray(thumbs, dtype=np.float32).reshape(len(thumbs), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-6)


def near_copy_pairs(thumbs: np.ndarray, max_bits: int = CANDIDATE_BITS,
                    min_correlation: float = NEAR_CORRELATION) -> list[tuple[int, int]]:
    """Index pairs of non-flat thumbnails (N×32×32 uint8) that are near-copies of each other."""
    hashes, flat = perceptual_hashes(thumbs)
    usable = np.flatnonzero(~flat)
    if len(usable) < 2:
        return []
    ci, cj = near_pairs(hashes[usable], max_bits)
    ci, cj = usable[ci], usable[cj]
    z = _standardised(thumbs)
    keep = np.zeros(len(ci), dtype=bool)
    for start in range(0, len(ci), 65536):  # bounded memory however many candidates
        a, b = ci[start:start + 65536], cj[start:start + 65536]
        keep[start:start + 65536] = np.einsum("ij,ij->i", z[a], z[b]) >= min_correlation
    return list(zip(ci[keep].tolist(), cj[keep].tolist()))


def feature_pairs(features: np.ndarray, min_cosine: float = FEATURE_COSINE) -> list[tuple[int, int]]:
    """Index pairs (i < j) that are each other's nearest neighbour by cosine similarity, at min_cosine
    or above. Compared in blocks, so 20,000 × 512 features need no 20,000² matrix at once."""
    x = np.asarray(features, dtype=np.float32)
    n = len(x)
    if n < 2:
        return []
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)
    nearest = np.zeros(n, dtype=np.int64)
    best = np.zeros(n, dtype=np.float32)
    for start in range(0, n, _PAIR_BLOCK):
        sims = x[start:start + _PAIR_BLOCK] @ x.T
        rows = np.arange(len(sims))
        sims[rows, rows + start] = -np.inf  # not its own neighbour
        nearest[start:start + len(sims)] = sims.argmax(axis=1)
        best[start:start + len(sims)] = sims[rows, nearest[start:start + len(sims)]]
    i = np.arange(n)
    mutual = (nearest[nearest] == i) & (i < nearest) & (best >= min_cosine)
    return list(zip(i[mutual].tolist(), nearest[mutual].tolist()))


def _groups_from_pairs(n: int, pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected components with more than one member (union-find)."""
    parent = list(range(n))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in pairs:
        ra, rb = root(int(a)), root(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(root(i), []).append(i)
    return [m for m in members.values() if len(m) > 1]


def group_indices(contents: Sequence[str], thumbs: np.ndarray, readable: np.ndarray) -> list[list[int]]:
    """Groups of indices that are exact copies (same content) or near-copies (readable thumbnails)."""
    pairs: list[tuple[int, int]] = []
    first: dict[str, int] = {}
    for i, c in enumerate(contents):
        if c in first:
            pairs.append((first[c], i))
        else:
            first[c] = i
    rows = np.flatnonzero(readable)
    pairs.extend((int(rows[a]), int(rows[b])) for a, b in near_copy_pairs(thumbs[rows]))
    return sorted((sorted(g) for g in _groups_from_pairs(len(contents), pairs)), key=lambda g: g[0])


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DuplicateGroup:
    paths: tuple[str, ...]  # relative paths, sorted
    labels: tuple[int, ...]  # class index of each path
    exact: bool  # every member has the same bytes

    @property
    def cross_class(self) -> bool:
        """Members in different classes: at least one of the labels is wrong."""
        return len(set(self.labels)) > 1


@dataclass
class DuplicateReport:
    classes: list[str]
    groups: list[DuplicateGroup]
    num_images: int
    unreadable: list[str] = field(default_factory=list)  # compared by exact copy only
    seconds: float = 0.0

    @property
    def within_class(self) -> list[DuplicateGroup]:
        return [g for g in self.groups if not g.cross_class]

    @property
    def cross_class(self) -> list[DuplicateGroup]:
        return [g for g in self.groups if g.cross_class]

    def group_of(self) -> dict[str, int]:
        """Path → index of its group, for the paths that have a duplicate."""
        return {p: i for i, g in enumerate(self.groups) for p in g.paths}

    def leaks(self, assignments: dict[str, str]) -> dict[str, list[str]]:
        """Validation and test images with a copy or near-copy in the training part."""
        out: dict[str, list[str]] = {"val": [], "test": []}
        for g in self.groups:
            parts = [assignments.get(p) for p in g.paths]
            if "train" not in parts:
                continue
            for p, part in zip(g.paths, parts):
                if part in out:
                    out[part].append(p)
        return out

    def warnings(self) -> list[str]:
        """What the groups mean, in sentences (the split's leaks: see leak_warnings)."""
        out = []
        within, across = self.within_class, self.cross_class
        if across:
            n = sum(len(g.paths) for g in across)
            out.append(f"{len(across)} group(s) of duplicate images ({n} images) sit in different classes: "
                       "one picture cannot be both, so at least one label in each group is wrong. "
                       "Keep each picture in its right class only.")
        if within:
            extra = sum(len(g.paths) - 1 for g in within)
            out.append(f"{extra} image(s) repeat another image of the same class ({len(within)} group(s)): "
                       "they add no new information and give that picture more weight. Remove the "
                       "copies if they were not meant.")
        return out

    def to_dict(self) -> dict:
        return {"classes": list(self.classes), "num_images": self.num_images, "seconds": self.seconds,
                "unreadable": list(self.unreadable),
                "groups": [{"paths": list(g.paths), "classes": [self.classes[lab] for lab in g.labels],
                            "exact": g.exact, "cross_class": g.cross_class} for g in self.groups]}


def leak_warnings(leaks: dict[str, list[str]]) -> list[str]:
    """The split's leaks in sentences: what they do to the scores."""
    out = []
    if leaks.get("test"):
        out.append(f"{len(leaks['test'])} test images have a near-duplicate in training: test accuracy "
                   "is optimistic. A new split (Data page) keeps each group of duplicates in one part.")
    if leaks.get("val"):
        out.append(f"{len(leaks['val'])} validation images have a near-duplicate in training: validation "
                   "scores and early stopping are optimistic.")
    return out


# ---------------------------------------------------------------------------------------------
# Finding them in a folder
# ---------------------------------------------------------------------------------------------

def find_duplicates(root: str | Path, entries: Sequence[ImageEntry], classes: Sequence[str],
                    cache_dir: str | Path | None = None, progress: Progress | None = None,
                    workers: int | None = None, features: dict[str, np.ndarray] | None = None) -> DuplicateReport:
    """Group the exact and near-copies among `entries` (paths relative to root).

    With cache_dir, per-file hashes and thumbnails are read from and written back there. features:
    path → ImageNet feature vector; mutual nearest neighbours by cosine join the groups.
    """
    started = time.perf_counter()
    root = Path(root)
    known, known_groups = _read_cache(Path(cache_dir)) if cache_dir else ({}, {})
    stats: dict[str, tuple[int, int]] = {}
    hashes: dict[str, FileHash] = {}
    todo: list[str] = []
    for e in entries:
        try:
            st = os.stat(root / e.path)
        except OSError:
            continue  # gone since the scan: nothing to compare
        stats[e.path] = (st.st_size, st.st_mtime_ns)
        hit = known.get(e.path)
        if hit is not None and hit[0] == stats[e.path]:
            hashes[e.path] = hit[1]
        else:
            todo.append(e.path)
    _hash_files(root, todo, hashes, progress, workers)
    present = [e for e in entries if e.path in hashes]
    key = _groups_key(present, hashes)
    cached_groups = known_groups.get(key) if not todo else None
    if cached_groups is not None:
        index = {e.path: i for i, e in enumerate(present)}
        groups = [[index[p] for p in g] for g in cached_groups]
    else:
        groups = _compare(present, hashes)
    if cache_dir and (todo or set(known) != set(hashes) or cached_groups is None):
        _write_cache(Path(cache_dir), {p: (stats[p], h) for p, h in hashes.items()},
                     key, [[present[i].path for i in g] for g in groups])
    if features:
        groups = _with_feature_pairs(present, groups, features)
    out = []
    for g in groups:
        members = sorted(g, key=lambda i: present[i].path)
        out.append(DuplicateGroup(
            paths=tuple(present[i].path for i in members), labels=tuple(present[i].label for i in members),
            exact=len({hashes[present[i].path].content for i in members}) == 1))
    out.sort(key=lambda g: (not g.cross_class, g.paths))
    unreadable = sorted(e.path for e in present if hashes[e.path].thumb is None)
    return DuplicateReport(classes=list(classes), groups=out, num_images=len(present),
                           unreadable=unreadable, seconds=time.perf_counter() - started)


def _with_feature_pairs(present: Sequence[ImageEntry], groups: list[list[int]],
                        features: dict[str, np.ndarray]) -> list[list[int]]:
    """The groups merged with the feature near-copies among the images that have features."""
    have = [i for i, e in enumerate(present) if e.path in features]
    pairs = [(g[0], other) for g in groups for other in g[1:]]
    if len(have) > 1:
        found = feature_pairs(np.stack([features[present[i].path] for i in have]))
        pairs.extend((have[a], have[b]) for a, b in found)
    return sorted((sorted(g) for g in _groups_from_pairs(len(present), pairs)), key=lambda g: g[0])


def _compare(present: Sequence[ImageEntry], hashes: dict[str, FileHash]) -> list[list[int]]:
    thumbs = np.zeros((len(present), THUMB_PX, THUMB_PX), dtype=np.uint8)
    readable = np.zeros(len(present), dtype=bool)
    for i, e in enumerate(present):
        t = hashes[e.path].thumb
        if t is not None:
            thumbs[i], readable[i] = t, True
    return group_indices([hashes[e.path].content for e in present], thumbs, readable)


def _groups_key(present: Sequence[ImageEntry], hashes: dict[str, FileHash]) -> str:
    """Names the files and their contents: the groups found for them hold while it is unchanged."""
    text = "".join(f"{e.path}\0{hashes[e.path].content}\n" for e in sorted(present, key=lambda e: e.path))
    return content_hash(f"{CANDIDATE_BITS}|{NEAR_CORRELATION}|{text}".encode("utf-8", "surrogatepass"))


def _hash_files(root: Path, paths: list[str], out: dict[str, FileHash], progress: Progress | None,
                workers: int | None) -> None:
    total = len(paths)
    if progress and total:
        progress(0, total)

    def one(path: str) -> tuple[str, FileHash | None]:
        try:
            return path, hash_file(root / path)
        except OSError:
            return path, None  # unreadable now: left out of the comparison

    # PIL releases the GIL while decoding, so threads use every core.
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for done, (path, h) in enumerate(pool.map(one, paths), start=1):
            if h is not None:
                out[path] = h
            if progress and (done == total or done % 100 == 0):
                progress(done, total)


def _read_cache(cache_dir: Path) -> tuple[dict[str, tuple[tuple[int, int], FileHash]], dict[str, list]]:
    """(path → ((size, mtime_ns), FileHash), {groups key: groups of paths}); empty when missing or damaged."""
    meta = read_json(cache_dir / _CACHE_FILE)
    if not isinstance(meta, dict) or meta.get("version") != _CACHE_VERSION:
        return {}, {}
    try:
        data = (cache_dir / _THUMBS_FILE).read_bytes()
        if content_hash(data) != meta.get("thumbs"):
            return {}, {}  # written by another version of the files (an interrupted update)
        thumbs = np.frombuffer(data, dtype=np.uint8).reshape(-1, THUMB_PX, THUMB_PX)
        out = {}
        for path, (size, mtime, content, row) in meta["files"].items():
            out[path] = ((int(size), int(mtime)), FileHash(content, None if row is None else thumbs[int(row)]))
        groups = meta.get("groups")
        if isinstance(groups, dict) and isinstance(groups.get("key"), str) and isinstance(groups.get("groups"), list):
            known = {groups["key"]: [[str(p) for p in g] for g in groups["groups"]]}
            if all(p in out for g in known[groups["key"]] for p in g):
                return out, known
        return out, {}
    except (OSError, ValueError, TypeError, KeyError, IndexError):
        return {}, {}  # a damaged cache is simply rebuilt


def _write_cache(cache_dir: Path, rows: dict[str, tuple[tuple[int, int], FileHash]], groups_key: str,
                 groups: list[list[str]]) -> None:
    files, thumbs = {}, []
    for path, ((size, mtime), h) in rows.items():
        row = None
        if h.thumb is not None:
            row = len(thumbs)
            thumbs.append(h.thumb)
        files[path] = [size, mtime, h.content, row]
    data = np.stack(thumbs).tobytes() if thumbs else b""
    try:
        # The JSON names the thumbnails' hash, so a pair of files from different updates is never used.
        atomic_write_bytes(cache_dir / _THUMBS_FILE, data)
        atomic_write_json(cache_dir / _CACHE_FILE, {"version": _CACHE_VERSION, "thumbs": content_hash(data),
                                                    "files": files,
                                                    "groups": {"key": groups_key, "groups": groups}})
    except OSError:
        pass  # a read-only metadata folder only costs hashing again next time


def dataset_duplicates(info: DatasetInfo, report: ScanReport,
                       progress: Progress | None = None) -> DuplicateReport:
    """The duplicates of a workspace dataset, with its hashes cached beside its scan."""
    return find_duplicates(info.root, report.images, report.classes, cache_dir=info.meta_dir,
                           progress=progress, features=load_features(info.meta_dir, report.fingerprint))
