"""The model factory: architectures, ImageNet weights from the cache, user weight files, freezing, checkpoints."""
from __future__ import annotations

import pickle

import pytest
import torch
import torchvision

from resnet_core.data.imageio import IMAGENET_MEAN, preprocess_spec
from resnet_core.fsutil import read_json
from resnet_core.training import weights
from resnet_core.training.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from resnet_core.training.models import (
    Classifier,
    WeightsError,
    build_model,
    freeze_backbone,
    set_train_mode,
    trainable_parameters,
)
from resnet_core.training.weights import (
    OFFLINE_ENV_VAR,
    can_download,
    check_backbone_weights,
    imagenet_weights_available,
    imagenet_weights_path,
    read_weights_file,
    resolve_weights,
    weights_status,
)


def torchvision_state(arch: str = "resnet18", seed: int = 1) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return torchvision.models.get_model(arch, weights=None).state_dict()


def assert_backbone_equals(model: Classifier, state: dict[str, torch.Tensor]) -> None:
    ours = model.backbone.state_dict()
    compared = 0
    for key, value in state.items():
        if key.startswith("fc."):
            continue
        assert torch.equal(ours[key], value), key
        compared += 1
    assert compared == len(ours)


@pytest.fixture
def no_network(monkeypatch):
    monkeypatch.setattr(weights, "can_download", lambda timeout=3.0: False)


@pytest.mark.parametrize("arch, dim", [("resnet18", 512), ("resnet50", 2048), ("resnet101", 2048)])
def test_each_architecture_builds_with_a_new_head(arch, dim):
    model = build_model(arch, 4)
    assert model.arch == arch and model.feature_dim == dim
    assert isinstance(model.backbone.fc, torch.nn.Identity)
    assert (model.head.in_features, model.head.out_features) == (dim, 4)
    assert model.mean.shape == (1, 3, 1, 1) and model.mean.flatten().tolist() == pytest.approx(IMAGENET_MEAN)
    if arch == "resnet18":
        model.eval()
        x = torch.rand(2, 3, 32, 32)
        assert model(x).shape == (2, 4)
        assert model.features(x).shape == (2, dim)


def test_normalisation_happens_inside_the_model():
    model = build_model("resnet18", 3).eval()
    x = torch.rand(1, 3, 32, 32)
    by_hand = model.head(model.backbone((x - model.mean) / model.std))
    assert torch.allclose(model(x), by_hand)
    assert not torch.allclose(model(x), model.head(model.backbone(x)))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="resnet18, resnet50, resnet101"):
        build_model("vgg16", 3)
    with pytest.raises(WeightsError, match="resolve_weights"):
        build_model("resnet18", 3, weights="auto")
    with pytest.raises(ValueError, match="num_classes"):
        build_model("resnet18", 0)


def test_imagenet_weights_load_offline_from_the_torch_cache(offline_torch_home, no_network):
    path = imagenet_weights_path("resnet18")
    assert path.parent == offline_torch_home / "hub" / "checkpoints"
    assert path.name == "resnet18-f37072fd.pth"  # what load_state_dict_from_url would name it
    assert not imagenet_weights_available("resnet18")
    assert weights_status()["resnet18"]["available"] is False

    state = torchvision_state("resnet18")
    assert state["fc.weight"].shape == (1000, 512)
    path.parent.mkdir(parents=True)
    torch.save(state, path)

    assert imagenet_weights_available("resnet18")
    assert not imagenet_weights_available("resnet50")
    status = weights_status()["resnet18"]
    assert status["available"] is True and status["path"] == str(path) and status["url"].endswith(path.name)
    assert resolve_weights("auto", "resnet18") == ("imagenet", [])
    assert resolve_weights("imagenet", "resnet18") == ("imagenet", [])
    model = build_model("resnet18", 3, weights="imagenet")
    assert_backbone_equals(model, state)
    assert model.head.out_features == 3  # the ImageNet fc is dropped


def test_auto_falls_back_to_random_init_with_a_warning(offline_torch_home, no_network):
    mode, warnings = resolve_weights("auto", "resnet50")
    assert mode == "none"
    assert len(warnings) == 1
    text = warnings[0]
    assert "ImageNet weights for ResNet50 are not available offline" in text
    assert "random initialisation" in text
    assert imagenet_weights_path("resnet50").name in text and str(offline_torch_home) in text


def test_auto_uses_imagenet_when_it_can_download(offline_torch_home, monkeypatch):
    monkeypatch.setattr(weights, "can_download", lambda timeout=3.0: True)
    assert resolve_weights("auto", "resnet18") == ("imagenet", [])


def test_explicit_imagenet_without_weights_explains_how_to_get_them(offline_torch_home, no_network):
    with pytest.raises(WeightsError) as info:
        resolve_weights("imagenet", "resnet18")
    message = str(info.value)
    assert "not available offline" in message
    assert "resnet18-f37072fd.pth" in message and "place" in message and "weights file" in message


def test_failed_download_is_a_weights_error(offline_torch_home, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network unreachable")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    with pytest.raises(WeightsError, match="could not download ImageNet weights for ResNet18"):
        build_model("resnet18", 3, weights="imagenet")


def test_damaged_cached_file_is_reported(offline_torch_home):
    path = imagenet_weights_path("resnet18")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a download")
    with pytest.raises(WeightsError, match="delete the file"):
        build_model("resnet18", 3, weights="imagenet")


def test_other_weight_choices_resolve(tmp_path):
    assert resolve_weights("none", "resnet18") == ("none", [])
    weights = tmp_path / "w.pt"
    torch.save(torchvision_state(), weights)
    assert resolve_weights("file", "resnet18", weights) == ("file", [])
    with pytest.raises(WeightsError, match="needs a weights file"):
        resolve_weights("file", "resnet18")
    with pytest.raises(WeightsError, match="not found"):
        resolve_weights("file", "resnet18", tmp_path / "missing.pt")
    with pytest.raises(WeightsError, match="auto, imagenet, none, file"):
        resolve_weights("pretrained", "resnet18")


def test_can_download_probes_once_and_respects_offline(monkeypatch):
    calls = []
    monkeypatch.setattr(weights, "_probe_result", None)
    monkeypatch.setattr(weights, "_probe", lambda timeout: calls.append(timeout) or True)
    monkeypatch.delenv(OFFLINE_ENV_VAR, raising=False)
    assert can_download(timeout=0.5) is True
    assert can_download(timeout=0.5) is True
    assert calls == [0.5]
    monkeypatch.setenv(OFFLINE_ENV_VAR, "1")
    assert can_download() is False


# ---- user weight files ----

def test_torchvision_state_dict_file_loads(tmp_path):
    state = torchvision_state("resnet18", seed=3)
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    model = build_model("resnet18", 5, weights="file", weights_path=path)
    assert_backbone_equals(model, state)


def test_classifier_state_dict_and_wrapped_files_load(tmp_path):
    torch.manual_seed(4)
    source = build_model("resnet18", 7)
    expected = {k[len("backbone."):]: v for k, v in source.state_dict().items() if k.startswith("backbone.")}
    variants = {
        "classifier.pt": source.state_dict(),
        "wrapped_model.pt": {"model": source.state_dict(), "epoch": 3},
        "wrapped_state_dict.pt": {"state_dict": torchvision_state(seed=4), "optimizer": {}},
        "data_parallel.pt": {f"module.{k}": v for k, v in torchvision_state(seed=4).items()},
    }
    for name, payload in variants.items():
        torch.save(payload, tmp_path / name)
        model = build_model("resnet18", 3, weights="file", weights_path=tmp_path / name)
        reference = expected if name.startswith(("classifier", "wrapped_model")) else torchvision_state(seed=4)
        assert_backbone_equals(model, reference)


def test_wrong_architecture_is_refused_clearly(tmp_path):
    path = tmp_path / "resnet50.pth"
    torch.save(torchvision_state("resnet50"), path)
    with pytest.raises(WeightsError) as info:
        build_model("resnet18", 3, weights="file", weights_path=path)
    assert "holds ResNet50 weights" in str(info.value) and "ResNet18 was chosen" in str(info.value)


def test_missing_and_misshapen_tensors_are_named(tmp_path):
    state = torchvision_state()
    del state["layer4.1.conv2.weight"], state["layer4.1.bn2.bias"]
    torch.save(state, tmp_path / "missing.pt")
    with pytest.raises(WeightsError, match=r"missing 2 keys such as layer4\.1\.conv2\.weight"):
        build_model("resnet18", 3, weights="file", weights_path=tmp_path / "missing.pt")

    state = torchvision_state()
    state["layer1.0.conv1.weight"] = torch.zeros(32, 64, 3, 3)
    torch.save(state, tmp_path / "shape.pt")
    with pytest.raises(WeightsError, match=r"layer1\.0\.conv1\.weight \(32×64×3×3 in the file, 64×64×3×3"):
        build_model("resnet18", 3, weights="file", weights_path=tmp_path / "shape.pt")

    torch.save({"encoder.weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="holds no ResNet18 weights"):
        build_model("resnet18", 3, weights="file", weights_path=tmp_path / "other.pt")


def _real_weights_bytes(tmp_path) -> bytes:
    torch.save(torchvision_state(), tmp_path / "real.pt")
    return (tmp_path / "real.pt").read_bytes()


@pytest.mark.parametrize("kind", ["empty", "text", "random", "random pickle-like", "broken zip", "other zip",
                                  "truncated"])
def test_corrupt_files_are_called_unreadable_not_code(tmp_path, kind):
    import io
    import random
    import zipfile

    noise = random.Random(7).randbytes(2048)
    other_zip = io.BytesIO()
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("notes.txt", "hello")
    content = {"empty": b"", "text": b"this is not a torch file" * 20, "random": noise,
               "random pickle-like": b"\x80" + noise, "broken zip": b"PK\x03\x04 broken zip",
               "other zip": other_zip.getvalue(),
               "truncated": _real_weights_bytes(tmp_path)[:50_000]}[kind]
    path = tmp_path / "weights.pt"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match="not a readable PyTorch weights file") as info:
        build_model("resnet18", 3, weights="file", weights_path=path)
    assert "code or objects" not in str(info.value)
    assert "weights.pt" in str(info.value) and "torch.save" in str(info.value)


def test_an_old_style_torch_file_still_loads(tmp_path):
    state = torchvision_state()
    path = tmp_path / "legacy.pth"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    assert_backbone_equals(build_model("resnet18", 3, weights="file", weights_path=path), state)


def test_check_backbone_weights_judges_a_file_without_building_the_model(tmp_path):
    state = torchvision_state("resnet18")
    check_backbone_weights("resnet18", state, "r18.pt")  # fits: no error
    with pytest.raises(WeightsError, match="r18.pt holds ResNet18 weights .* but ResNet50 was chosen"):
        check_backbone_weights("resnet50", state, "r18.pt")
    cut = {k: v for k, v in state.items() if not k.startswith("layer4.1.")}
    with pytest.raises(WeightsError, match="missing .* keys such as layer4.1"):
        check_backbone_weights("resnet18", cut, "cut.pt")


def test_a_folder_or_missing_file_is_refused(tmp_path):
    with pytest.raises(WeightsError, match="not a file"):
        read_weights_file(tmp_path)
    with pytest.raises(WeightsError, match="not found"):
        read_weights_file(tmp_path / "nope.pt")


class _Payload:
    """Unpickling this would create `marker`: the shape of a malicious weights file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_that_runs_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": torchvision_state(), "extra": _Payload(marker)}, path)
    with pytest.raises(WeightsError, match="not a plain weights file .it contains code or objects.; refusing"):
        build_model("resnet18", 3, weights="file", weights_path=path)
    assert not marker.exists()
    # A file of the old, bare-pickle format with the same payload is refused the same way.
    legacy = tmp_path / "evil_legacy.pt"
    torch.save({"model": torchvision_state(), "extra": _Payload(marker)}, legacy,
               _use_new_zipfile_serialization=False)
    with pytest.raises(WeightsError, match="contains code or objects"):
        read_weights_file(legacy)
    assert not marker.exists()

    # The same kind of file really does run code when loaded unsafely: the check above means something.
    control_marker, control = tmp_path / "control", tmp_path / "control.pkl"
    control.write_bytes(pickle.dumps(_Payload(control_marker)))
    pickle.loads(control.read_bytes()).close()
    assert control_marker.exists()


# ---- freezing ----

def test_freeze_backbone_trains_only_the_head():
    model = build_model("resnet18", 3)
    freeze_backbone(model)
    assert all(not p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    assert {id(p) for p in trainable_parameters(model)} == {id(p) for p in model.head.parameters()}

    model.train()
    assert model.training and model.head.training
    batchnorms = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert batchnorms and all(not bn.training for bn in batchnorms)
    before = batchnorms[0].running_mean.clone()
    model(torch.rand(4, 3, 32, 32)).sum().backward()
    assert torch.equal(batchnorms[0].running_mean, before)

    set_train_mode(model, fine_tune=False)
    assert model.head.training and not model.backbone.training


def test_fine_tuning_model_trains_everything():
    model = build_model("resnet18", 3)
    set_train_mode(model, fine_tune=True)
    assert model.backbone.training
    assert len(trainable_parameters(model)) == len(list(model.parameters()))


# ---- checkpoints ----

def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model("resnet18", 3).eval()
    path = tmp_path / "run" / "best.pt"
    save_checkpoint(path, model, ["ant", "bee", "cat"], 32, epoch=4, config={"model": "resnet18"})
    loaded, meta = load_checkpoint(path)
    assert not loaded.training
    assert meta == {"arch": "resnet18", "num_classes": 3, "classes": ["ant", "bee", "cat"],
                    "image_size": 32, "epoch": 4, "config": {"model": "resnet18"}}
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(loaded(x), model(x))
    assert read_json(path.parent / "labels.json") == ["ant", "bee", "cat"]
    assert read_json(path.parent / "preprocess.json") == preprocess_spec(32)


def test_damaged_checkpoint_is_reported(tmp_path):
    path = tmp_path / "best.pt"
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(path)
    path.write_bytes(b"truncated")
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(path)
    torch.save({"model": {}}, path)
    with pytest.raises(CheckpointError, match="not a ResNet Pilot checkpoint"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="2 class names"):
        save_checkpoint(path, build_model("resnet18", 3), ["a", "b"], 32, 1, {})
