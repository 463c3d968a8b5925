import numpy as np
import torch
from PIL import Image
from torchvision import transforms

from resnet_core.data import imagecache
from resnet_core.data.imagecache import load_decoded
from resnet_core.data.imageio import open_rgb
from resnet_core.data.scan import scan
from resnet_core.data.synthetic import make_image_folder


def _decode(root, tmp_path, size=32, budget=None, progress=None):
    report = scan(root)
    paths = [e.path for e in report.images]
    return report, load_decoded(root, paths, report.fingerprint, size, tmp_path / "cache",
                                budget_bytes=budget, progress=progress)


def assert_matches_plain_path(decoded, root, mean_diff: float, max_diff: int) -> None:
    """Every cached image against torchvision's Resize + CenterCrop on a full decode of its file."""
    size = decoded.image_size
    plain = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])
    for i, path in enumerate(decoded.paths):
        expected = plain(Image.open(root / path).convert("RGB"))
        diff = (decoded.pixels[i].int() - expected.int()).abs()
        assert diff.float().mean() < mean_diff, path
        assert diff.max() <= max_diff, path


def test_pixels_match_the_plain_torchvision_path(tmp_path):
    root = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=4, size=48)
    # A non-square image exercises the shorter-side resize and the centre crop.
    Image.new("RGB", (60, 40), (10, 200, 30)).save(root / "class_0" / "wide.png")
    imagecache.clear_memory()
    _, decoded = _decode(root, tmp_path, size=32)
    assert_matches_plain_path(decoded, root, mean_diff=2.0, max_diff=40)  # resize rounding only


def test_large_jpegs_decode_at_reduced_scale_yet_match_the_plain_path(tmp_path):
    # 256 px JPEGs for 32 px inputs: decoded at 1/8 scale in the DCT, then resized as usual.
    root = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=3, size=256, ext=".jpg")
    imagecache.clear_memory()
    _, decoded = _decode(root, tmp_path, size=32)
    assert_matches_plain_path(decoded, root, mean_diff=3.0, max_diff=60)
    reduced = open_rgb(root / decoded.paths[0], min_size=32)
    assert reduced.size == (32, 32)  # 256 / 8: the smallest scale that still covers 32 px
    assert open_rgb(root / decoded.paths[0]).size == (256, 256)
    assert open_rgb(root / decoded.paths[0], min_size=200).size == (256, 256)  # under 2×: full scale


def test_reduced_scale_decoding_keeps_exif_rotation(tmp_path):
    image = Image.new("RGB", (400, 200), (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, 200, 200))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to show
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)
    upright = open_rgb(path, min_size=50)
    assert upright.size == (50, 100)  # decoded at 1/4, then turned upright
    top = np.asarray(upright)[5, 25]
    assert top[2] > 150 and top[0] < 100  # the blue half is on top after the rotation


def test_second_load_reuses_memory_then_the_file(tmp_path):
    root = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=3, size=32)
    imagecache.clear_memory()
    calls = []
    _, first = _decode(root, tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1] == (6, 6)
    _, again = _decode(root, tmp_path, progress=lambda d, t: calls.append("decoded again"))
    assert again is first  # same object from the in-memory cache
    imagecache.clear_memory()
    _, from_file = _decode(root, tmp_path, progress=lambda d, t: calls.append("decoded again"))
    assert "decoded again" not in calls  # read back from the cache file, not decoded
    assert torch.equal(from_file.pixels, first.pixels)


def test_changed_dataset_invalidates_and_removes_the_stale_file(tmp_path):
    root = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=3, size=32)
    imagecache.clear_memory()
    _, before = _decode(root, tmp_path)
    stale = sorted((tmp_path / "cache").glob("*.u8"))
    assert len(stale) == 1
    # Replace one image's content (new size and mtime) and add another.
    Image.new("RGB", (32, 32), (0, 0, 0)).save(root / "class_0" / "class_0_0000.png")
    Image.new("RGB", (32, 32), (255, 255, 255)).save(root / "class_1" / "new.png")
    imagecache.clear_memory()
    report, after = _decode(root, tmp_path)
    assert len(after.paths) == 7
    row = after.paths.index("class_0/class_0_0000.png")
    assert after.pixels[row].max() == 0
    files = sorted((tmp_path / "cache").glob("*.u8"))
    assert len(files) == 1 and files != stale


def test_other_image_sizes_are_kept_apart(tmp_path):
    root = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=2, size=32)
    imagecache.clear_memory()
    _, a = _decode(root, tmp_path, size=16)
    _, b = _decode(root, tmp_path, size=24)
    assert a.pixels.shape[-1] == 16 and b.pixels.shape[-1] == 24
    assert len(list((tmp_path / "cache").glob("*.u8"))) == 2


def test_over_budget_is_memory_mapped_not_loaded(tmp_path):
    root = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=5, size=32)
    imagecache.clear_memory()
    nbytes = 10 * 3 * 32 * 32
    _, small_budget = _decode(root, tmp_path, budget=nbytes - 1)
    assert small_budget.memory_mapped
    imagecache.clear_memory()
    _, big_budget = _decode(root, tmp_path, budget=nbytes)
    assert not big_budget.memory_mapped
    assert torch.equal(small_budget.pixels, big_budget.pixels)


def test_memory_lru_stays_within_budget(tmp_path):
    imagecache.clear_memory()
    roots = [make_image_folder(tmp_path / f"imgs{i}", num_classes=2, per_class=4, size=32, seed=i)
             for i in range(3)]
    one = 8 * 3 * 32 * 32
    for r in roots:
        _decode(r, tmp_path, budget=2 * one)
    assert imagecache._MEMORY._resident_bytes() <= 2 * one


def test_unreadable_image_is_reported_not_fatal(tmp_path):
    root = make_image_folder(tmp_path / "imgs", num_classes=2, per_class=3, size=32)
    bad = root / "class_1" / "class_1_0001.png"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated mid-stream
    imagecache.clear_memory()
    paths = ["class_0/class_0_0000.png", "class_1/class_1_0001.png"]
    decoded = load_decoded(root, paths, "fingerprint-x", 32, tmp_path / "cache")
    assert list(decoded.failed) == ["class_1/class_1_0001.png"]
    assert "truncated" in decoded.failed["class_1/class_1_0001.png"]
    assert decoded.pixels[1].max() == 0 and decoded.pixels[0].max() > 0
