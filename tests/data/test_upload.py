"""The batched browser folder upload: frames, counting what arrived, and an import that never loses
files silently and records chosen and received counts."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from resnet_core.data.registry import dataset_origin, dataset_report, list_datasets
from resnet_core.data.scan import DatasetError
from resnet_core.data.upload import (
    MAX_FILE_BYTES,
    FolderUpload,
    UploadError,
    encode_batch,
    parse_batch,
    parse_manifest,
)


def png_bytes(shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 40, 90)).save(buf, "PNG")
    return buf.getvalue()


def folder_files(classes=2, per_class=5) -> list[tuple[str, bytes]]:
    return [(f"pets/class_{c}/img_{i}.png", png_bytes(10 * i + c)) for c in range(classes)
            for i in range(per_class)]


def start(files, workspace, upload_id="u1") -> FolderUpload:
    manifest = parse_manifest({"kind": "manifest", "upload": upload_id,
                               "files": [[name, len(data)] for name, data in files]})
    return FolderUpload(manifest, workspace)


def test_a_batch_frame_round_trips():
    files = [("a/b/1.png", b"\x89PNG one"), ("a/b/ü 2.png", b""), ("a/c/3.png", bytes(range(256)))]
    batch = parse_batch(encode_batch("u7", 3, files))
    assert (batch.upload_id, batch.number, batch.files) == ("u7", 3, files)


@pytest.mark.parametrize("blob", [b"", b"RPB1", b"XXXX\x00\x00\x00\x00",
                                  encode_batch("u", 0, [("a.png", b"12345")])[:-1],  # cut short
                                  encode_batch("u", 0, [("a.png", b"12345")]) + b"!",  # too long
                                  b"RPB1" + (5).to_bytes(4, "little") + b"{oops"])
def test_a_malformed_batch_is_refused(blob):
    with pytest.raises(UploadError):
        parse_batch(blob)


@pytest.mark.parametrize("value", [None, [], {"kind": "manifest"}, {"kind": "manifest", "upload": "u"},
                                   {"kind": "manifest", "upload": "u", "files": [["a.png", -1]]},
                                   {"kind": "manifest", "upload": "u", "files": [["a.png"]]}])
def test_a_malformed_manifest_is_refused(value):
    with pytest.raises(UploadError):
        parse_manifest(value)


def test_every_file_arrives_in_batches_and_the_import_records_the_counts(workspace):
    files = folder_files()
    upload = start(files, workspace)
    assert (upload.chosen_files, upload.received_files, upload.complete) == (10, 0, False)
    assert upload.chosen_bytes == sum(len(d) for _, d in files)
    assert upload.receive(parse_batch(encode_batch("u1", 0, files[:6]))) == 6
    assert upload.received_files == 6 and not upload.complete
    assert upload.missing() == [name for name, _ in files[6:]]
    # A resent batch counts once.
    assert upload.receive(parse_batch(encode_batch("u1", 0, files[:6]))) == 0
    assert upload.receive(parse_batch(encode_batch("u1", 1, files[6:]))) == 4
    assert upload.complete and upload.missing() == []
    info = upload.import_as("pets")
    assert dataset_report(info).counts == {"class_0": 5, "class_1": 5}
    origin = dataset_origin(info)
    assert origin["chosen_files"] == origin["received_files"] == 10
    assert origin["missing_files"] == 0 and origin["chosen_bytes"] == origin["received_bytes"]
    assert list(workspace.tmp_dir.iterdir()) == []  # the staging folder became the dataset


def test_missing_files_block_the_import_until_accepted_knowingly(workspace):
    files = folder_files()
    upload = start(files, workspace)
    upload.receive(parse_batch(encode_batch("u1", 0, files[:7])))
    upload.finish(failed=[name for name, _ in files[7:]] + ["not/chosen.png"])
    assert upload.browser_failed == [name for name, _ in files[7:]]
    with pytest.raises(DatasetError, match="3 of the 10 chosen files have not arrived"):
        upload.import_as("pets")
    assert list_datasets(workspace) == []
    info = upload.import_as("pets", accept_missing=True)
    assert dataset_report(info).num_images == 7
    origin = json.loads((info.meta_dir / "dataset.json").read_text())["origin"]
    assert (origin["chosen_files"], origin["received_files"], origin["missing_files"]) == (10, 7, 3)
    assert origin["missing_names"] == [name for name, _ in files[7:]]


def test_files_outside_the_manifest_or_of_the_wrong_size_do_not_count(workspace):
    files = folder_files(classes=1, per_class=2)
    upload = start(files, workspace)
    (name0, data0), (name1, data1) = files
    upload.receive(parse_batch(encode_batch("u1", 0, [(name0, data0[:-1]), ("pets/x/extra.png", b"x"),
                                                      (name1, data1)])))
    assert upload.received_files == 1 and upload.missing() == [name0]
    with pytest.raises(UploadError):
        upload.receive(parse_batch(encode_batch("other", 1, files)))


def test_names_from_the_browser_are_sanitised(workspace):
    files = [("../../evil/cat/1.png", png_bytes(1)), ("pets/cat/2.png", png_bytes(2))]
    upload = start(files, workspace)
    upload.receive(parse_batch(encode_batch("u1", 0, files)))
    info = upload.import_as("safe")
    assert all(info.root in p.parents for p in info.root.rglob("*"))
    assert not (workspace.root.parent / "evil").exists()


def test_discard_removes_what_arrived(workspace):
    files = folder_files(classes=1, per_class=2)
    upload = start(files, workspace)
    upload.receive(parse_batch(encode_batch("u1", 0, files)))
    upload.discard()
    assert not upload.staging.exists()


def test_an_upload_of_nothing_usable_is_refused(workspace):
    files = [("..", b"x")]
    upload = start(files, workspace)
    upload.receive(parse_batch(encode_batch("u1", 0, files)))
    with pytest.raises(DatasetError, match="empty"):
        upload.import_as("nothing")


def test_files_too_large_for_the_folder_uploader_are_told_apart(workspace):
    manifest = parse_manifest({"kind": "manifest", "upload": "u1",
                               "files": [["p/a/small.png", 10], ["p/a/huge.tif", MAX_FILE_BYTES + 1]]})
    upload = FolderUpload(manifest, workspace)
    upload.receive(parse_batch(encode_batch("u1", 0, [("p/a/small.png", b"0123456789")])))
    upload.finish(failed=["p/a/huge.tif"])
    assert upload.missing() == upload.too_large() == ["p/a/huge.tif"]
