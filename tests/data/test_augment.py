import pytest
import torch

from resnet_core.data.augment import POLICIES, augment_batch


def _batch(n=8, size=32):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, size, size, generator=g)


def test_none_returns_input_unchanged():
    x = _batch()
    assert augment_batch(x, "none") is x


@pytest.mark.parametrize("level", ["light", "standard", "heavy"])
def test_levels_keep_shape_and_range(level):
    x = _batch()
    out = augment_batch(x, level, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, x)


def test_each_image_gets_its_own_random_parameters():
    # The same image repeated across the batch must come out differently (per-image, not per-batch).
    x = _batch(1).repeat(6, 1, 1, 1)
    out = augment_batch(x, "standard", torch.Generator().manual_seed(2))
    diffs = [(out[0] - out[i]).abs().mean().item() for i in range(1, 6)]
    assert min(diffs) > 1e-3


def test_fresh_variants_every_call():
    x = _batch(4)
    g = torch.Generator().manual_seed(3)
    a = augment_batch(x, "standard", g)
    b = augment_batch(x, "standard", g)
    assert not torch.allclose(a, b)


def test_seeded_generator_is_reproducible():
    x = _batch(4)
    a = augment_batch(x, "heavy", torch.Generator().manual_seed(5))
    b = augment_batch(x, "heavy", torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_strength_increases_with_level():
    x = _batch(64)
    change = {}
    for level in ("light", "standard", "heavy"):
        out = augment_batch(x.clone(), level, torch.Generator().manual_seed(7))
        change[level] = (out - x).abs().mean().item()
    assert change["light"] < change["standard"] < change["heavy"]
    assert set(POLICIES) == {"none", "light", "standard", "heavy"}


def test_flip_only_policy_really_mirrors():
    from resnet_core.data import augment
    from resnet_core.data.augment import AugmentPolicy

    augment.POLICIES["_flip"] = AugmentPolicy(True, (1.0, 1.0), (1.0, 1.0), 0.0, 0.0, 0.0, 0.0, 0.0)
    try:
        x = _batch(32)
        out = augment_batch(x, "_flip", torch.Generator().manual_seed(0))
        for i in range(len(x)):
            same = torch.allclose(out[i], x[i], atol=1e-5)
            mirrored = torch.allclose(out[i], x[i].flip(-1), atol=1e-5)
            assert same or mirrored
        assert any(torch.allclose(out[i], x[i].flip(-1), atol=1e-5) for i in range(len(x)))
    finally:
        del augment.POLICIES["_flip"]
