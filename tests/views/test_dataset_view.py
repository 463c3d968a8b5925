"""What the Data page shows: samples per class, thumbnails, class counts, skipped files by reason."""
from __future__ import annotations

from PIL import Image

from resnet_core.data.scan import EMPTY_FILE, NOT_IMAGE, scan
from resnet_core.data.synthetic import make_image_folder
from resnet_core.views.dataset_view import (
    class_samples,
    counts_rows,
    dataset_name,
    skipped_rows,
    skipped_summary,
    smallest_class,
    thumbnail,
    upload_folder_name,
)


def test_class_samples_are_a_few_per_class_and_stable(tmp_path):
    report = scan(make_image_folder(tmp_path / "d", num_classes=3, per_class=[10, 4, 6]))
    samples = class_samples(report, per_class=5)
    assert list(samples) == report.classes
    assert [len(v) for v in samples.values()] == [5, 4, 5]
    assert all(p.parent.name == cls and p.is_file() for cls, paths in samples.items() for p in paths)
    assert class_samples(report, per_class=5) == samples


def test_thumbnail_is_small_and_survives_broken_files(tmp_path):
    big = tmp_path / "big.jpg"
    Image.new("RGB", (800, 400), (10, 200, 30)).save(big)
    thumb = thumbnail(big, size=96)
    assert max(thumb.size) == 96 and thumb.mode == "RGB"
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    assert thumbnail(broken, size=50).size == (50, 50)


def test_counts_rows_largest_first_with_shares(tmp_path):
    report = scan(make_image_folder(tmp_path / "d", num_classes=2, per_class=[3, 9]))
    rows = counts_rows(report)
    assert [(r["class"], r["images"]) for r in rows] == [("class_1", 9), ("class_0", 3)]
    assert abs(sum(r["share"] for r in rows) - 1) < 1e-9


def test_skipped_summary_groups_by_reason(tmp_path):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=3)
    for i in range(5):
        (root / "class_0" / f"notes{i}.txt").write_text("x")
    (root / "class_1" / "empty.png").write_bytes(b"")
    rows = skipped_summary(scan(root), examples=2)
    assert [(r["reason"], r["files"]) for r in rows] == [(NOT_IMAGE, 5), (EMPTY_FILE, 1)]
    assert rows[0]["examples"].endswith("(+3)")


def test_smallest_class_and_every_skipped_file(tmp_path):
    root = make_image_folder(tmp_path / "d", num_classes=3, per_class=[4, 2, 2])
    (root / "class_0" / "notes.txt").write_text("x")
    report = scan(root)
    assert smallest_class(report) == "class_1"  # the first by name on a tie
    assert skipped_rows(report) == [{"file": "class_0/notes.txt", "reason": NOT_IMAGE,
                                     "size": report.skipped[0].detail}]


def test_an_uploaded_folder_names_its_dataset_unless_a_name_is_typed():
    assert upload_folder_name(["pets/cat/1.jpg", "pets/dog/2.jpg"]) == "pets"
    assert upload_folder_name(["pets\\cat\\1.jpg"]) == "pets"  # a Windows browser's separators
    assert upload_folder_name(["1.jpg"]) == upload_folder_name([]) == "uploaded-images"
    assert dataset_name("  flowers ", "pets") == "flowers"
    assert dataset_name("   ", "pets") == dataset_name(None, "pets") == "pets"
