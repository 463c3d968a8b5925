"""The ResNet classifiers: building them, starting weights (ImageNet or a user's file), freezing, checkpoints.

A `Classifier` takes float RGB in [0, 1] and normalises inside, so a checkpoint or an exported model is
fed exactly as `imageio.preprocess_spec` says, with nothing else to remember.

ImageNet weights: we use torchvision's IMAGENET1K_V1 weights for every architecture. They come from
one training recipe for all three, so ResNet18/50/101 are compared fairly, and they are the files that
`pretrained=True` has always put in the torch hub cache, so an existing cache is found. They are read
from `torch.hub.get_dir()/checkpoints/<basename of the URL>` (TORCH_HOME moves it); when absent they
are downloaded by torch's own `load_state_dict_from_url`, which stores them under that same name.
"""
from __future__ import annotations

import io
import os
import pickle
import socket
import threading
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch
import torchvision
from torch import nn

from resnet_core.config import MODEL_LABELS, MODELS
from resnet_core.imageio import IMAGENET_MEAN, IMAGENET_STD, preprocess_spec
from resnet_core.workspace import atomic_write_bytes, atomic_write_json

WEIGHT_MODES = ("imagenet", "none", "file")
DOWNLOAD_HOST = "download.pytorch.org"
# Set to 1 to never probe the network (ImageNet weights then come from the cache only).
OFFLINE_ENV_VAR = "RESNET_PILOT_OFFLINE"

# Blocks per stage tell the ResNet family members apart: (bottleneck blocks?, blocks in layer3).
_FAMILY = {(False, 2): "resnet18", (False, 6): "resnet34", (True, 6): "resnet50",
           (True, 23): "resnet101", (True, 36): "resnet152"}


class WeightsError(ValueError):
    """Starting weights cannot be used; the message says why and what to do."""


class CheckpointError(WeightsError):
    """A run's checkpoint is missing or damaged."""


def model_label(arch: str) -> str:
    return MODEL_LABELS.get(arch, arch.replace("resnet", "ResNet"))


def _check_arch(arch: str) -> None:
    if arch not in MODELS:
        raise ValueError(f"unknown model {arch!r}; choose one of {', '.join(MODELS)}")


class Classifier(nn.Module):
    """A torchvision ResNet body (its fc removed) + a new linear head, with ImageNet normalisation inside."""

    def __init__(self, arch: str, num_classes: int) -> None:
        super().__init__()
        _check_arch(arch)
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.arch = arch
        self.num_classes = num_classes
        self.backbone = torchvision.models.get_model(arch, weights=None)
        self.feature_dim: int = self.backbone.fc.in_features
        self.backbone.fc = nn.Identity()
        self.head = nn.Linear(self.feature_dim, num_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1))
        self.backbone_frozen = False

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features (N × feature_dim) of a [0, 1] batch."""
        return self.backbone((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def train(self, mode: bool = True) -> "Classifier":
        super().train(mode)
        # A frozen backbone keeps its BatchNorm statistics: otherwise they would drift with every
        # training batch even though no weight of the backbone learns.
        if self.backbone_frozen:
            self.backbone.eval()
        return self


def build_model(arch: str, num_classes: int, weights: str = "none",
                weights_path: str | os.PathLike | None = None) -> Classifier:
    """A Classifier with starting weights 'imagenet', 'none' (random; callers seed) or 'file'.

    'auto' is not accepted here: turn it into one of these with `resolve_weights` first, so the
    caller can show its warnings.
    """
    if weights not in WEIGHT_MODES:
        raise WeightsError(f"weights must be one of {', '.join(WEIGHT_MODES)} here, got {weights!r}"
                           + ("; call resolve_weights() first" if weights == "auto" else ""))
    model = Classifier(arch, num_classes)
    if weights == "imagenet":
        load_backbone_weights(model, _imagenet_state_dict(arch), source="the ImageNet weights file")
    elif weights == "file":
        if not weights_path:
            raise WeightsError("weights='file' needs a weights file (.pt or .pth)")
        load_backbone_weights(model, read_weights_file(weights_path), source=Path(weights_path).name)
    return model


# ---- ImageNet weights in the torch hub cache ---------------------------------------------------

def imagenet_weights_url(arch: str) -> str:
    _check_arch(arch)
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
    _check_arch(arch)
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


def _imagenet_state_dict(arch: str) -> dict[str, torch.Tensor]:
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


def load_backbone_weights(model: Classifier, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Copy a ResNet's weights into model.backbone, or raise WeightsError naming the mismatch."""
    given = _backbone_keys(state)
    _check_backbone_fit(model.arch, model.backbone.state_dict(), given, source)
    model.backbone.load_state_dict(given, strict=True)


def check_backbone_weights(arch: str, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise WeightsError when `state` would not load into an `arch` backbone; builds and loads nothing.

    The same checks as load_backbone_weights, against the shapes of a model on the meta device, so
    a file can be judged the moment it is chosen rather than when a run starts.
    """
    _check_arch(arch)
    with torch.device("meta"):
        expected = Classifier(arch, 1).backbone.state_dict()
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


# ---- training helpers --------------------------------------------------------------------------

def freeze_backbone(model: Classifier) -> None:
    """Only the head learns: backbone weights stop taking gradients and its BatchNorm stays in eval
    mode from now on (Classifier.train keeps it there), so its running statistics do not drift."""
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    model.backbone_frozen = True
    model.backbone.eval()


def set_train_mode(model: Classifier, fine_tune: bool) -> None:
    """model.train() for an epoch; with a frozen backbone (fine_tune=False) the backbone stays in eval."""
    model.train()
    if not fine_tune:
        model.backbone.eval()


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def count_parameters(model: nn.Module) -> dict[str, int]:
    return {"total": sum(p.numel() for p in model.parameters()),
            "trainable": sum(p.numel() for p in trainable_parameters(model))}


# ---- run checkpoints ---------------------------------------------------------------------------

CHECKPOINT_NAME = "best.pt"


def save_checkpoint(path: str | os.PathLike, model: Classifier, classes: list[str], image_size: int,
                    epoch: int, config: Mapping[str, Any] | Any) -> None:
    """Write a run checkpoint atomically, with labels.json and preprocess.json beside it."""
    if len(classes) != model.num_classes:
        raise ValueError(f"{len(classes)} class names for a model with {model.num_classes} outputs")
    save_checkpoint_state(path, model.state_dict(), model.arch, classes, image_size, epoch, config)


def save_checkpoint_state(path: str | os.PathLike, state_dict: Mapping[str, torch.Tensor], arch: str,
                          classes: list[str], image_size: int, epoch: int,
                          config: Mapping[str, Any] | Any) -> None:
    """save_checkpoint for a Classifier state dict kept aside (e.g. the best epoch's weights)."""
    _check_arch(arch)
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    checkpoint = {
        # A torch.compile'd or DataParallel model prefixes its keys; the checkpoint holds plain names.
        "model": {k.removeprefix("_orig_mod.").removeprefix("module."): v.detach().cpu()
                  for k, v in state_dict.items()},
        "arch": arch,
        "num_classes": len(classes),
        "classes": list(classes),
        "image_size": int(image_size),
        "epoch": int(epoch),
        "config": dict(config or {}),
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    write_sidecars(path.parent, classes, image_size)


def write_sidecars(folder: str | os.PathLike, classes: list[str], image_size: int) -> None:
    """labels.json (class names in output order) and preprocess.json (how to feed the model)."""
    folder = Path(folder)
    atomic_write_json(folder / "labels.json", list(classes))
    atomic_write_json(folder / "preprocess.json", preprocess_spec(int(image_size)))


def load_checkpoint(path: str | os.PathLike,
                    map_location: str | torch.device = "cpu") -> tuple[Classifier, dict[str, Any]]:
    """The model (in eval mode) and the rest of the checkpoint dict (arch, classes, image_size, ...)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path.name} not found in {path.parent}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} is damaged or not a ResNet Pilot checkpoint "
                              f"({type(e).__name__}); train the run again") from e
    required = ("model", "arch", "num_classes", "classes", "image_size")
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in required):
        raise CheckpointError(f"{path} is not a ResNet Pilot checkpoint (expected keys {', '.join(required)})")
    arch, num_classes = ckpt["arch"], int(ckpt["num_classes"])
    if arch not in MODELS or len(ckpt["classes"]) != num_classes:
        raise CheckpointError(f"{path} is inconsistent: model {arch!r} with {num_classes} outputs and "
                              f"{len(ckpt['classes'])} class names")
    # Built on the meta device: no time spent initialising weights that are replaced at once.
    with torch.device("meta"):
        model = Classifier(arch, num_classes)
    try:
        model.load_state_dict(ckpt["model"], strict=True, assign=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not fit {model_label(arch)}: {str(e).splitlines()[0]}") from e
    model.eval()
    meta = {k: v for k, v in ckpt.items() if k != "model"}
    return model, meta

