"""Starting weights: ImageNet from torchvision's cache (or its download), and weights files users supply.

ImageNet weights: we use torchvision's IMAGENET1K_V1 weights for every architecture. They come from
one training recipe for all three, so ResNet18/50/101 are compared fairly, and they are the files that
`pretrained=True` has always put in the torch hub cache, so an existing cache is found. They are read
from `torch.hub.get_dir()/checkpoints/<basename of the URL>` (TORCH_HOME moves it); when absent they
are downloaded by torch's own `load_state_dict_from_url`, which stores them under that same name.

Files are always read with `torch.load(weights_only=True)`: tensors only, never code.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import re
import socket
import tempfile
import threading
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from resnet_core.config import MODEL_LABELS, MODELS

WEIGHT_MODES = ("imagenet", "none", "file")


DOWNLOAD_HOST = "download.pytorch.org"


# Set to 1 to never probe the network (ImageNet weights then come from the cache only).
OFFLINE_ENV_VAR = "RESNET_PILOT_OFFLINE"


# Blocks per stage tell the ResNet family members apart: (bottleneck blocks?, blocks in layer3).
_FAMILY = {(False, 2): "resnet18", (False, 6): "resnet34", (True, 6): "resnet50",
           (True, 23): "resnet101", (True, 36): "resnet152"}


class WeightsError(ValueError):
    """Starting weights cannot be used; the message says why and what to do."""


def model_label(arch: str) -> str:
    return MODEL_LABELS.get(arch, arch.replace("resnet", "ResNet"))


def check_arch(arch: str) -> None:
    if arch not in MODELS:
        raise ValueError(f"unknown model {arch!r}; choose one of {', '.join(MODELS)}")


# ---- ImageNet weights in the torch hub cache ---------------------------------------------------

def imagenet_weights_url(arch: str) -> str:
    check_arch(arch)
    return torchvision.models.get_model_weights(arch).IMAGENET1K_V1.url


def imagenet_weights_path(arch: str) -> Path:
    """Where torch keeps (or would keep) the ImageNet weights file for `arch`."""
    filename = os.path.basename(urllib.parse.urlparse(imagenet_weights_url(arch)).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def imagenet_weights_available(arch: str) -> bool:
    """True when the ImageNet weights are already on disk (no network involved)."""
    return imagenet_weights_path(arch).is_file()


def weights_status() -> dict[str, dict[str, Any]]:
    """For each architecture: is its ImageNet file cached, where it goes, where it comes from."""
    return {arch: {"available": imagenet_weights_available(arch),
                   "path": str(imagenet_weights_path(arch)),
                   "url": imagenet_weights_url(arch)} for arch in MODELS}


_probe_lock = threading.Lock()
_probe_result: bool | None = None


def can_download(timeout: float = 3.0) -> bool:
    """Can we reach the weights server? Asked once per process; never waits longer than `timeout`."""
    global _probe_result
    if os.environ.get(OFFLINE_ENV_VAR, "").strip() not in ("", "0"):
        return False
    with _probe_lock:
        if _probe_result is None:
            _probe_result = _probe(timeout)
        return _probe_result


def forget_network() -> None:
    """A download failed after the probe said the server answers: say 'offline' from now on, so later
    runs fall back at once instead of waiting for the download to fail again."""
    global _probe_result
    with _probe_lock:
        _probe_result = False


def _probe(timeout: float) -> bool:
    host, port = DOWNLOAD_HOST, 443
    proxy = urllib.request.getproxies().get("https")
    if proxy:  # downloads go through the proxy, so that is what must answer
        parsed = urllib.parse.urlparse(proxy if "://" in proxy else f"http://{proxy}")
        host, port = parsed.hostname or host, parsed.port or 8080
    result: list[bool] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    # Name lookup ignores socket timeouts, so the attempt runs aside and we stop waiting on time.
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result and result[0])


def _imagenet_howto(arch: str) -> str:
    path = imagenet_weights_path(arch)
    return (f"To use them, place {path.name} (from {imagenet_weights_url(arch)}) in {path.parent} "
            "or supply a weights file.")


def resolve_weights(requested: str, arch: str,
                    weights_path: str | os.PathLike | None = None) -> tuple[str, list[str]]:
    """Turn a requested weights choice (auto|imagenet|none|file) into the mode to build with.

    Returns (mode, warnings). 'auto' prefers ImageNet and falls back to random initialisation with a
    warning when the weights are neither cached nor downloadable; an explicit choice that cannot be
    honoured raises WeightsError saying how to fix it.
    """
    check_arch(arch)
    if requested == "none":
        return "none", []
    if requested == "file":
        if not weights_path:
            raise WeightsError("weights='file' needs a weights file (.pt or .pth); choose one or pick "
                               "another weights option")
        if not Path(weights_path).is_file():
            raise WeightsError(f"weights file {weights_path} not found; check the path")
        return "file", []
    if requested not in ("auto", "imagenet"):
        raise WeightsError(f"weights must be one of auto, imagenet, none, file; got {requested!r}")
    if imagenet_weights_available(arch) or can_download():
        return "imagenet", []
    message = f"ImageNet weights for {model_label(arch)} are not available offline"
    if requested == "imagenet":
        raise WeightsError(f"{message}. {_imagenet_howto(arch)}")
    return "none", [f"{message}; training from random initialisation. {_imagenet_howto(arch)}"]


# torch.hub names its files '<name>-<first hex digits of the SHA-256>.<ext>' and checks them so.
_HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")
DOWNLOAD_TIMEOUT_S = 30.0


def download_imagenet_weights(arch: str, progress: Callable[[int, int], None] | None = None) -> Path:
    """Download torchvision's ImageNet weights for `arch` into torch's cache (where training looks).

    Streams to a temporary file beside the target, reports (bytes done, total bytes or 0), checks the
    SHA-256 prefix the file name carries, then renames it into place: an interrupted or damaged
    download never leaves a file training would pick up. WeightsError says what went wrong.
    """
    path = imagenet_weights_path(arch)
    if path.is_file():
        return path
    url = imagenet_weights_url(arch)
    match = _HASH_IN_NAME.search(path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.pid{os.getpid()}-", suffix=".tmp", dir=path.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        if match and not digest.hexdigest().startswith(match.group(1)):
            raise WeightsError(f"the downloaded ImageNet weights for {model_label(arch)} are damaged "
                               "(their checksum does not match); try again")
        os.replace(tmp, path)
    except OSError as e:  # URLError and timeouts are OSErrors too
        reason = getattr(e, "reason", None) or e.strerror or e
        raise WeightsError(f"could not download ImageNet weights for {model_label(arch)} ({reason}). "
                           f"{_imagenet_howto(arch)}") from e
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def imagenet_state_dict(arch: str) -> dict[str, torch.Tensor]:
    path = imagenet_weights_path(arch)
    if path.is_file():
        try:
            return read_weights_file(path)
        except WeightsError as e:
            raise WeightsError(f"the cached ImageNet weights {path} cannot be used ({e}); delete the "
                               "file so it is downloaded again, or replace it") from e
    try:
        # torch's own download: verifies the hash in the file name and stores it where we look.
        return torch.hub.load_state_dict_from_url(imagenet_weights_url(arch), map_location="cpu",
                                                  progress=False, check_hash=True, weights_only=True)
    except Exception as e:  # no network, server error, bad download
        raise WeightsError(f"could not download ImageNet weights for {model_label(arch)} ({e}). "
                           f"{_imagenet_howto(arch)}") from e


# ---- user-supplied weights files ---------------------------------------------------------------

# What torch's weights-only unpickler says when a file holds more than tensors and plain containers
# (a class or function to import or call): such a file could run code when loaded the unsafe way.
_CODE_OR_OBJECT_ERRORS = ("unsupported global", "unsupported class", "can only create new object",
                          "trying to call reduce", "can only build", "trying to load unsupported")


def read_weights_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a weights file safely (tensors only, never code) and return its flat state dict.

    WeightsError says which of three things is wrong: the file is not a readable PyTorch file at all
    (random bytes, truncated, another format), it holds code or objects besides tensors (refused
    without running anything), or it holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} not found" if not path.exists()
                           else f"{path} is not a file; choose a .pt or .pth weights file")
    unreadable = (f"{path.name} is not a readable PyTorch weights file ({{}}); choose a .pt or .pth file "
                  "saved with torch.save")
    problem = _torch_file_problem(path)
    if problem:
        raise WeightsError(unreadable.format(problem))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if any(marker in str(e).lower() for marker in _CODE_OR_OBJECT_ERRORS):
            raise WeightsError(f"{path.name} is not a plain weights file (it contains code or objects); "
                               "refusing to load it. Save the weights with torch.save(model.state_dict())"
                               ) from e
        raise WeightsError(unreadable.format("its contents are damaged")) from e
    except Exception as e:  # truncated, damaged inside, unreadable...
        raise WeightsError(unreadable.format(f"damaged: {type(e).__name__}")) from e
    return _unwrap_state_dict(obj, path.name)


def _torch_file_problem(path: Path) -> str | None:
    """Why the file cannot be a torch.save file, judged from its container alone; None when it may be.

    torch.save writes a zip holding a data.pkl (older versions: a bare pickle, which starts with the
    pickle PROTO byte 0x80).
    """
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        return f"it cannot be read: {e.strerror or e}"
    if not head:
        return "it is empty"
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return "it is a damaged or truncated archive"
        return None if any(n.endswith("data.pkl") for n in names) else "it is a zip archive of something else"
    return None if head[0] == 0x80 else "its contents are not in PyTorch's format"


def _unwrap_state_dict(obj: Any, name: str) -> dict[str, torch.Tensor]:
    # Training scripts often save {"model": state_dict, "optimizer": ...} or {"state_dict": ...}.
    for _ in range(2):
        if isinstance(obj, Mapping):
            inner = next((obj[k] for k in ("model", "state_dict") if isinstance(obj.get(k), Mapping)), None)
            if inner is not None:
                obj = inner
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(f"{name} holds no state dict (expected a mapping of layer names to tensors)")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise WeightsError(f"{name} holds no tensors; expected a model's state_dict()")
    return tensors


def _backbone_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The backbone part of a torchvision ResNet or Classifier state dict, in torchvision's names."""
    state = dict(state)
    for prefix in ("module.", "_orig_mod."):  # DataParallel / torch.compile wrappers
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    if any(k.startswith("backbone.") for k in state):
        return {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    # A torchvision ResNet: its fc is the old task's classifier; our head replaces it.
    return {k: v for k, v in state.items() if not k.startswith("fc.")}


def detect_arch(backbone_state: Mapping[str, torch.Tensor]) -> str | None:
    """Which ResNet a backbone state dict belongs to (resnet18/34/50/101/152), or None."""
    blocks = {int(k.split(".")[1]) for k in backbone_state
              if k.startswith("layer3.") and k.split(".")[1].isdigit()}
    if not blocks:
        return None
    bottleneck = any(k.startswith("layer1.0.conv3.") for k in backbone_state)
    return _FAMILY.get((bottleneck, max(blocks) + 1))


def load_backbone_weights(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Copy a ResNet's weights into a Classifier's backbone, or raise WeightsError naming the mismatch."""
    given = _backbone_keys(state)
    _check_backbone_fit(model.arch, model.backbone.state_dict(), given, source)
    model.backbone.load_state_dict(given, strict=True)


def check_backbone_weights(arch: str, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise WeightsError when `state` would not load into an `arch` backbone; builds and loads nothing.

    The same checks as load_backbone_weights, against the shapes of a model on the meta device, so
    a file can be judged the moment it is chosen rather than when a run starts.
    """
    check_arch(arch)
    with torch.device("meta"):
        body = torchvision.models.get_model(arch, weights=None)
    # A Classifier's backbone is this body with its fc replaced by our head.
    expected = {k: v for k, v in body.state_dict().items() if not k.startswith("fc.")}
    _check_backbone_fit(arch, expected, _backbone_keys(state), source)


def _check_backbone_fit(arch: str, expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor],
                        source: str) -> None:
    chosen = model_label(arch)
    found = detect_arch(given)
    if found and found != arch:
        hint = (f"choose {model_label(found)} or a {chosen} weights file" if found in MODELS
                else f"ResNet Pilot trains {', '.join(model_label(m) for m in MODELS)}")
        raise WeightsError(f"{source} holds {model_label(found)} weights (layer shapes differ), but "
                           f"{chosen} was chosen; {hint}")
    # BatchNorm fills in num_batches_tracked itself for older files that lack it.
    missing = [k for k in expected if k not in given and not k.endswith("num_batches_tracked")]
    if len(missing) == len([k for k in expected if not k.endswith("num_batches_tracked")]):
        examples = ", ".join(list(given)[:3])
        raise WeightsError(f"{source} holds no {chosen} weights (its tensors are named like {examples}); "
                           f"choose a file saved from a torchvision {chosen} or from ResNet Pilot")
    if missing:
        raise WeightsError(f"{source} does not fit {chosen}: missing {len(missing)} keys such as "
                           f"{', '.join(missing[:3])}")
    unexpected = [k for k in given if k not in expected]
    if unexpected:
        raise WeightsError(f"{source} does not fit {chosen}: {len(unexpected)} unexpected keys such as "
                           f"{', '.join(unexpected[:3])}")
    wrong = [k for k, v in given.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        k = wrong[0]
        raise WeightsError(f"{source} does not fit {chosen}: {len(wrong)} tensors have other shapes, "
                           f"such as {k} ({_shape(given[k])} in the file, {_shape(expected[k])} expected)")


def _shape(t: torch.Tensor) -> str:
    return "×".join(str(d) for d in t.shape) or "scalar"


