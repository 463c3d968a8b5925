"""Scanning folders (every skip reason, odd-but-valid images, warnings) and the dataset registry."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resnet_core.data import registry
from resnet_core.data.registry import (
    dataset_report,
    delete_dataset,
    get_dataset,
    list_datasets,
    register_folder,
    resolve_dataset,
    sanitize_name,
)
from resnet_core.data.scan import (
    BROKEN_LINK,
    EMPTY_FILE,
    HIDDEN,
    LINK_LOOP,
    NOT_IMAGE,
    NOT_IMAGE_CONTENT,
    OUTSIDE_LINK,
    TOO_LARGE,
    TOP_LEVEL,
    UNREADABLE,
    DatasetError,
    ImageEntry,
    ScanReport,
    check_listing,
    dataset_warnings,
    scan,
)
from resnet_core.data.synthetic import make_image_folder


def noise_image(size: int = 32, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8), "RGB").convert(mode)


def image_bytes(fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    noise_image().save(buf, fmt, **kw)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A well-formed PNG whose header claims width × height (no real pixel data)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
            + chunk(b"IEND", b""))


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def reasons(report: ScanReport) -> dict[str, str]:
    return {s.path: s.reason for s in report.skipped}


# --------------------------------------------------------------------------------------------
# Skip reasons
# --------------------------------------------------------------------------------------------

@pytest.fixture
def messy(tmp_path) -> Path:
    """Two good classes of 12 images plus one file for every way a file can be unusable."""
    root = make_image_folder(tmp_path / "messy", num_classes=2, per_class=12, names=["cats", "dogs"])
    png, jpg = image_bytes("PNG"), image_bytes("JPEG")
    write(root / "cats" / "zero.png", b"")
    write(root / "cats" / "cut.png", png[: len(png) // 2])
    write(root / "cats" / "cut.jpg", jpg[: len(jpg) // 2])
    write(root / "cats" / "notes.jpg", b"this is a text file, not a picture\n" * 10)
    write(root / "cats" / "notes.txt", b"hello")
    write(root / "cats" / "huge.png", png_header_only(20000, 20000))  # PIL's own bomb limit
    write(root / "cats" / "big.png", png_header_only(9000, 8000))  # over our 64 Mpx limit only
    write(root / "cats" / ".DS_Store", b"\0" * 10)
    write(root / "dogs" / "Thumbs.db", b"\0" * 10)
    write(root / "dogs" / "desktop.ini", b"[x]")
    write(root / "dogs" / ".ipynb_checkpoints" / "a.png", png)
    write(root / "__MACOSX" / "cats" / "._a.png", png)
    write(root / "__MACOSX" / "dogs" / "._b.png", png)
    write(root / "loose.png", png)
    outside = tmp_path / "outside"
    write(outside / "secret.png", png)
    write(outside / "more" / "x.png", png)
    (root / "cats" / "link_out.png").symlink_to(outside / "secret.png")
    (root / "dogs" / "dir_out").symlink_to(outside / "more")
    (root / "outside_class").symlink_to(outside)
    (root / "dogs" / "dangling.png").symlink_to(tmp_path / "gone.png")
    (root / "dogs" / "loop").symlink_to(root / "dogs")
    (root / "cats" / "link_in.png").symlink_to(root / "cats" / "cats_0000.png")  # inside: fine
    return root


def test_every_skip_reason_is_distinct_and_named(messy):
    report = scan(messy)
    got = reasons(report)
    assert got["cats/zero.png"] == EMPTY_FILE
    assert got["cats/cut.png"] == UNREADABLE
    assert got["cats/cut.jpg"] == UNREADABLE
    assert got["cats/notes.jpg"] == NOT_IMAGE_CONTENT
    assert got["cats/notes.txt"] == NOT_IMAGE
    assert got["cats/huge.png"] == TOO_LARGE
    assert got["cats/big.png"] == TOO_LARGE
    assert got["cats/.DS_Store"] == HIDDEN
    assert got["dogs/Thumbs.db"] == HIDDEN
    assert got["dogs/desktop.ini"] == HIDDEN
    assert got["dogs/.ipynb_checkpoints/"] == HIDDEN
    assert got["__MACOSX/"] == HIDDEN  # the whole folder, reported once
    assert not any(p.startswith("__MACOSX/") and p != "__MACOSX/" for p in got)
    assert got["loose.png"] == TOP_LEVEL
    assert got["cats/link_out.png"] == OUTSIDE_LINK
    assert got["dogs/dir_out/"] == OUTSIDE_LINK
    assert got["outside_class/"] == OUTSIDE_LINK
    assert got["dogs/dangling.png"] == BROKEN_LINK
    assert got["dogs/loop/"] == LINK_LOOP
    reason_texts = [EMPTY_FILE, UNREADABLE, NOT_IMAGE_CONTENT, NOT_IMAGE, TOO_LARGE,
                    HIDDEN, TOP_LEVEL, OUTSIDE_LINK, BROKEN_LINK, LINK_LOOP]
    assert len(set(reason_texts)) == len(reason_texts)

    assert report.classes == ["cats", "dogs"]
    # 12 generated cats plus the link inside the folder; nothing skipped counts.
    assert report.counts == {"cats": 13, "dogs": 12}
    used = {e.path for e in report.images}
    assert "cats/link_in.png" in used
    assert not used & set(got)


def test_images_in_nested_folders_count_for_their_top_level_class(tmp_path):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=3)
    for i, sub in enumerate(["a", "a/b", "a/b/c"]):
        write(root / "class_0" / sub / f"deep{i}.png", image_bytes("PNG"))
    report = scan(root)
    assert report.counts == {"class_0": 6, "class_1": 3}
    assert ImageEntry("class_0/a/b/c/deep2.png", 0) in report.images


def test_unicode_and_spaces_in_class_and_file_names(tmp_path):
    root = tmp_path / "d"
    write(root / "chats noirs é" / "ä b.png", image_bytes("PNG"))
    write(root / "犬" / "写真 1.jpg", image_bytes("JPEG"))
    report = scan(root)
    assert report.classes == sorted(["chats noirs é", "犬"])
    assert {e.path for e in report.images} == {"chats noirs é/ä b.png", "犬/写真 1.jpg"}
    assert not report.skipped


def test_odd_but_valid_images_are_used(tmp_path):
    root = tmp_path / "odd"
    cls = root / "odd"
    cls.mkdir(parents=True)
    Image.fromarray(np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 60).save(cls / "grey16.png")
    noise_image(mode="CMYK").save(cls / "cmyk.jpg")
    pal = noise_image().convert("P", palette=Image.ADAPTIVE, colors=16)
    pal.save(cls / "palette.png", transparency=0)
    noise_image(mode="LA").save(cls / "la.png")
    frames = [noise_image(seed=s).convert("P") for s in range(3)]
    frames[0].save(cls / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    Image.new("RGB", (1, 1), (1, 2, 3)).save(cls / "tiny.png")
    noise_image().save(cls / "pic.webp")
    noise_image().save(cls / "pic.bmp")
    noise_image().save(cls / "pic.tiff")
    noise_image().save(cls / "UPPER.JPG", "JPEG")
    write(cls / "padded.jpg", image_bytes("JPEG") + b"\0" * 4096)  # trailing data after the end
    report = scan(root)
    assert report.skipped == []
    assert report.counts == {"odd": 11}


def test_report_is_sorted_and_stable(tmp_path):
    root = make_image_folder(tmp_path / "d", num_classes=3, per_class=4, names=["b", "c", "a"])
    first, second = scan(root), scan(root)
    assert first.classes == ["a", "b", "c"]
    assert first.images == second.images
    assert first.images == sorted(first.images, key=lambda e: (e.label, e.path))
    assert [first.classes[e.label] for e in first.images] == [p.path.split("/")[0] for p in first.images]
    assert first.fingerprint == second.fingerprint


def test_fingerprint_follows_the_used_files(tmp_path):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=3)
    before = scan(root).fingerprint
    write(root / "notes.txt", b"x")  # skipped: does not change the used files
    assert scan(root).fingerprint == before
    write(root / "class_0" / "new.png", image_bytes("PNG"))
    assert scan(root).fingerprint != before


def test_progress_is_reported_up_to_the_total(tmp_path):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=5)
    calls = []
    scan(root, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 10)
    assert calls[-1] == (10, 10)


def test_to_dict_and_back(messy):
    report = scan(messy)
    d = report.to_dict()
    for key in ("classes", "counts", "num_images", "skipped", "warnings"):
        assert key in d
    assert "images" not in d
    assert d["num_images"] == report.num_images
    assert {"path": "loose.png", "reason": TOP_LEVEL} in d["skipped"]
    again = ScanReport.from_dict(report.to_dict(include_images=True))
    assert again.images == report.images and again.skipped == report.skipped
    assert again.smallest_class_count == report.smallest_class_count == 12


# --------------------------------------------------------------------------------------------
# Warnings and errors
# --------------------------------------------------------------------------------------------

def test_warnings_for_imbalance_small_classes_and_model_minimums(tmp_path):
    root = make_image_folder(tmp_path / "d", num_classes=3, per_class=[40, 5, 12],
                             names=["big", "tiny", "small"])
    text = " ".join(scan(root).warnings)
    assert "imbalanced" in text and "'big'" in text and "'tiny'" in text and "8.0×" in text
    assert "'tiny' (5)" in text and "'big' (" not in text
    assert "'small'" not in text.split("minimum of 10–20")[-1]  # 12 is inside the cards' 10–20
    assert "ResNet18 (100)" in text and "ResNet50 (500)" in text and "ResNet101 (2,000)" in text


def test_classes_inside_the_cards_10_to_20_range_are_not_called_below_it():
    # A user's classes of 14 and 15 images were flagged as below "a minimum of 10–20 images".
    assert not any("per class" in w for w in dataset_warnings({"cats": 14, "dogs": 15, "owls": 10}))
    assert any("'owls' (9)" in w for w in dataset_warnings({"cats": 14, "owls": 9}))


def test_balanced_large_enough_classes_get_no_class_warnings(tmp_path):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=[20, 25])
    warns = scan(root).warnings
    assert not any("imbalanced" in w or "per class" in w for w in warns)
    assert any("ResNet18 (100)" in w for w in warns)  # 45 images is still below every model


def test_model_minimum_warning_names_only_the_models_not_met():
    warns = dataset_warnings({"a": 200, "b": 200})
    text = " ".join(warns)
    assert "ResNet50 (500)" in text and "ResNet101 (2,000)" in text and "ResNet18" not in text
    assert dataset_warnings({"a": 1500, "b": 1500}) == []


def test_one_class_empty_class_and_no_class_are_warned(tmp_path):
    root = make_image_folder(tmp_path / "d", num_classes=1, per_class=5, names=["only"])
    (root / "empty").mkdir()
    write(root / "junk" / "a.txt", b"x")
    report = scan(root)
    assert report.classes == ["only"]
    text = " ".join(report.warnings)
    assert "Only one class" in text
    assert "'empty'" in text and "'junk'" in text and "left out" in text

    bare = tmp_path / "bare"
    write(bare / "loose.jpg", image_bytes("JPEG"))
    report = scan(bare)
    assert report.classes == [] and report.num_images == 0
    assert any("No images found in class folders" in w for w in report.warnings)


def test_missing_path_and_file_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        scan(tmp_path / "nope")
    f = write(tmp_path / "file.png", image_bytes("PNG"))
    with pytest.raises(DatasetError, match="not a folder"):
        scan(f)


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, clean", [
    ("flowers", "flowers"), ("  my  photos ", "my photos"), ("a/b\\c", "a-b-c"),
    ("../etc", "-etc"), (".hidden", "hidden"), ("Blumen ä 花", "Blumen ä 花"), ("x\x00y\n", "xy"),
])
def test_sanitize_name(raw, clean):
    assert sanitize_name(raw) == clean


@pytest.mark.parametrize("raw", ["", "  ", "...", "\x00\x01"])
def test_sanitize_name_rejects_nothing_usable(raw):
    with pytest.raises(DatasetError, match="choose a name"):
        sanitize_name(raw)


def test_register_folder_references_and_deduplicates(workspace, tmp_path):
    a = make_image_folder(tmp_path / "a" / "flowers", num_classes=2, per_class=3)
    b = make_image_folder(tmp_path / "b" / "flowers", num_classes=2, per_class=3)
    info = register_folder(a, workspace)
    assert info.name == "flowers" and info.root == a.resolve() and not info.imported
    assert register_folder(a, workspace) == info  # same folder → same entry
    assert register_folder(b, workspace).name == "flowers-2"
    assert [i.name for i in list_datasets(workspace)] == ["flowers", "flowers-2"]
    assert not (a / "dataset.json").exists()  # the folder itself is never written to
    with pytest.raises(DatasetError, match="already exists"):
        register_folder(tmp_path / "a", workspace, name="flowers")
    with pytest.raises(DatasetError, match="does not exist"):
        register_folder(tmp_path / "nope", workspace)


def test_resolve_dataset_by_name_or_path(workspace, image_folder):
    info = resolve_dataset(str(image_folder), workspace)  # registered on the fly
    assert resolve_dataset(info.name, workspace) == info
    assert get_dataset(info.name, workspace) == info
    with pytest.raises(DatasetError, match=f"Known datasets: {info.name}"):
        resolve_dataset("unknown", workspace)


def test_unknown_names_cannot_escape_the_datasets_folder(workspace):
    for name in ("..", "../runs", "/etc", ""):
        with pytest.raises(DatasetError, match="No dataset"):
            get_dataset(name, workspace)


def test_delete_registered_keeps_the_users_files(workspace, image_folder):
    info = register_folder(image_folder, workspace)
    before = sorted(p for p in image_folder.rglob("*"))
    delete_dataset(info.name, workspace)
    assert list_datasets(workspace) == []
    assert not info.meta_dir.exists()
    assert sorted(p for p in image_folder.rglob("*")) == before


def test_dataset_report_is_cached_until_files_change(workspace, image_folder, monkeypatch):
    info = register_folder(image_folder, workspace)
    first = dataset_report(info)
    assert (info.meta_dir / "scan.json").exists()

    def no_rescan(*args, **kwargs):
        raise AssertionError("rescanned although nothing changed")
    monkeypatch.setattr(registry, "check_listing", no_rescan)
    cached = dataset_report(info)
    assert cached.images == first.images and cached.fingerprint == first.fingerprint
    monkeypatch.setattr(registry, "check_listing", check_listing)

    write(image_folder / "class_1" / "extra.png", image_bytes("PNG"))
    updated = dataset_report(info)
    assert updated.counts["class_1"] == first.counts["class_1"] + 1
    assert updated.fingerprint != first.fingerprint
