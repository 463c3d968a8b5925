"""One plain message per image problem, the same in the scan, training and prediction.

Huge images are built as a PNG header alone (no pixel data): opening reads only the header, so the
test needs no memory for 168 million pixels.
"""
from __future__ import annotations

import io

import pytest
from PIL import Image

from resnet_core.data.imageio import DAMAGED, ImageLoadError, open_rgb
from resnet_core.data.scan import TOO_LARGE, UNREADABLE, scan
from resnet_core.data.synthetic import png_header_only as png_header
from resnet_core.views.dataset_view import skipped_summary


def truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((256, 256), 60).convert("RGB").save(buffer, "JPEG", quality=95)
    data = buffer.getvalue()
    return data[: len(data) // 2]


@pytest.mark.parametrize(("width", "height", "expected"), [
    # Above our limit, below Pillow's own warning level.
    (9_000, 8_000, "too large to decode safely: 9,000 × 8,000 pixels, more than 64 million; downscale it"),
    # Between Pillow's warning and error levels: Pillow's text used to leak through here.
    (14_000, 12_000, "too large to decode safely: 14,000 × 12,000 pixels, more than 64 million; downscale it"),
    # Above Pillow's error level: Pillow refuses before the size is known to us; its count is kept.
    (20_000, 10_000, "too large to decode safely: 200,000,000 pixels, more than 64 million; downscale it"),
])
def test_a_huge_image_gets_one_plain_message_with_its_size(width, height, expected):
    with pytest.raises(ImageLoadError) as caught:
        open_rgb(io.BytesIO(png_header(width, height)))
    assert str(caught.value) == expected


def test_a_truncated_jpeg_gets_a_plain_message_without_pillows_words():
    with pytest.raises(ImageLoadError) as caught:
        open_rgb(io.BytesIO(truncated_jpeg()))
    assert str(caught.value) == DAMAGED
    assert "Truncated" not in str(caught.value) and "truncated (" not in str(caught.value)


def test_the_scan_uses_the_same_sentences_and_names_the_size(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("RGB", (16, 16), (40 * i, 0, 0)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "a" / "huge.png").write_bytes(png_header(14_000, 12_000))
    (tmp_path / "b" / "cut.jpg").write_bytes(truncated_jpeg())
    report = scan(tmp_path)
    reasons = {s.path: s for s in report.skipped}
    assert reasons["a/huge.png"].reason == TOO_LARGE
    assert reasons["a/huge.png"].detail == "14,000 × 12,000 pixels"
    assert reasons["b/cut.jpg"].reason == UNREADABLE == DAMAGED
    summary = {row["reason"]: row["examples"] for row in skipped_summary(report)}
    assert summary[TOO_LARGE] == "a/huge.png (14,000 × 12,000 pixels)"


def test_a_heic_photo_is_read_like_any_other_picture(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.new("RGB", (40, 30), (200, 20 * i, 20)).save(tmp_path / cls / f"{i}.heic", format="HEIF")
    report = scan(tmp_path)
    assert report.num_images == 4 and not report.skipped
    assert open_rgb(tmp_path / "a" / "0.heic").size == (40, 30)
