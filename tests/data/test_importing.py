"""Importing folders, zips and browser uploads into the workspace, safely and all-or-nothing."""
from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from resnet_core.data import importing
from resnet_core.data.importing import (
    import_dataset,
    import_uploaded_files,
    sanitize_relative_path,
)
from resnet_core.data.registry import (
    dataset_origin,
    dataset_report,
    delete_dataset,
    list_datasets,
    register_folder,
)
from resnet_core.data.scan import DatasetError, scan


def png_bytes(color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "PNG")
    return buf.getvalue()


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return path


def assert_nothing_left(workspace) -> None:
    assert list(workspace.datasets_dir.iterdir()) == []
    assert list(workspace.tmp_dir.iterdir()) == []


def test_import_folder_copies_and_scans(workspace, image_folder, tmp_path):
    outside = tmp_path / "outside.png"
    outside.write_bytes(png_bytes())
    (image_folder / "class_0" / "link_out.png").symlink_to(outside)
    (image_folder / ".DS_Store").write_bytes(b"\0")
    calls = []
    info = import_dataset(image_folder, "shapes", workspace, progress=lambda d, t: calls.append((d, t)))
    assert info.imported and info.name == "shapes"
    assert info.root == workspace.datasets_dir / "shapes" / "images"
    assert not (info.root / "class_0" / "link_out.png").exists()  # links outside are not followed
    assert not (info.root / ".DS_Store").exists()
    report = dataset_report(info)
    assert report.counts == scan(image_folder).counts == {f"class_{i}": 20 for i in range(3)}
    assert calls and calls[-1] == (60, 60)
    assert list(workspace.tmp_dir.iterdir()) == []
    assert list_datasets(workspace) == [info]


def test_import_under_a_taken_name_is_refused(workspace, image_folder):
    import_dataset(image_folder, "shapes", workspace)
    with pytest.raises(DatasetError, match="already exists: choose another name"):
        import_dataset(image_folder, "shapes", workspace)


def test_import_rejects_missing_and_non_zip_sources(workspace, tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        import_dataset(tmp_path / "nope", "x", workspace)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(DatasetError, match="neither a folder nor a .zip"):
        import_dataset(text, "x", workspace)
    assert_nothing_left(workspace)


def test_import_zip_with_a_single_top_folder(workspace, tmp_path):
    z = make_zip(tmp_path / "pets.zip", {
        "pets/cats/a.png": png_bytes(), "pets/cats/b.png": png_bytes(),
        "pets/dogs/c.png": png_bytes((0, 0, 200)), "__MACOSX/pets/._a.png": b"junk",
    })
    info = import_dataset(z, "pets", workspace)
    report = dataset_report(info)
    assert report.classes == ["cats", "dogs"]
    assert report.counts == {"cats": 2, "dogs": 1}


def test_import_zip_of_class_folders_at_the_top(workspace, tmp_path):
    z = make_zip(tmp_path / "pets.zip", {"cats/a.png": png_bytes(), "dogs/ä b.png": png_bytes()})
    report = dataset_report(import_dataset(z, "pets", workspace))
    assert report.classes == ["cats", "dogs"]
    assert {e.path for e in report.images} == {"cats/a.png", "dogs/ä b.png"}


def test_zip_with_one_class_folder_keeps_it_as_the_class(workspace, tmp_path):
    z = make_zip(tmp_path / "c.zip", {"cats/a.png": png_bytes(), "cats/b.png": png_bytes()})
    assert dataset_report(import_dataset(z, "c", workspace)).classes == ["cats"]


@pytest.mark.parametrize("entry, message", [
    ("../evil.png", "climbs out"),
    ("cats/../../evil.png", "climbs out"),
    ("/abs/evil.png", "absolute path"),
    ("C:/evil.png", "absolute path"),
])
def test_zip_with_unsafe_paths_is_refused_before_extracting(workspace, tmp_path, entry, message):
    z = make_zip(tmp_path / "bad.zip", {"cats/a.png": png_bytes(), entry: png_bytes()})
    with pytest.raises(DatasetError, match=message):
        import_dataset(z, "bad", workspace)
    assert_nothing_left(workspace)
    assert not (tmp_path / "evil.png").exists()


def test_zip_with_a_symlink_is_refused(workspace, tmp_path):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("cats/a.png", png_bytes())
        link = zipfile.ZipInfo("cats/passwd.png")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
    with pytest.raises(DatasetError, match="symbolic link"):
        import_dataset(path, "link", workspace)
    assert_nothing_left(workspace)


def test_zip_limits_on_files_size_and_ratio(workspace, tmp_path, monkeypatch):
    z = make_zip(tmp_path / "many.zip", {f"cats/{i}.png": png_bytes() for i in range(5)})
    monkeypatch.setattr(importing, "MAX_ZIP_FILES", 4)
    with pytest.raises(DatasetError, match="5 files, more than the 4 allowed"):
        import_dataset(z, "many", workspace)
    monkeypatch.setattr(importing, "MAX_ZIP_FILES", 100)
    monkeypatch.setattr(importing, "MAX_ZIP_TOTAL_BYTES", 100)
    with pytest.raises(DatasetError, match="GB allowed"):
        import_dataset(z, "many", workspace)
    monkeypatch.setattr(importing, "MAX_ZIP_TOTAL_BYTES", 10**12)

    bomb = make_zip(tmp_path / "bomb.zip", {"cats/a.png": png_bytes(), "cats/zeros.png": b"\0" * 3_000_000})
    with pytest.raises(DatasetError, match="zip bomb"):
        import_dataset(bomb, "bomb", workspace)
    assert_nothing_left(workspace)


def test_not_enough_disk_space_is_refused(workspace, tmp_path, monkeypatch):
    z = make_zip(tmp_path / "ok.zip", {"cats/a.png": png_bytes(), "dogs/b.png": png_bytes()})
    monkeypatch.setattr(importing, "DISK_MARGIN_BYTES", 10**18)
    with pytest.raises(DatasetError, match="Not enough disk space"):
        import_dataset(z, "ok", workspace)
    assert_nothing_left(workspace)


def test_damaged_zip_is_a_clear_error(workspace, tmp_path):
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DatasetError, match="not a readable zip"):
        import_dataset(bad, "broken", workspace)
    assert_nothing_left(workspace)


def test_failed_import_leaves_nothing_behind(workspace, image_folder, monkeypatch):
    real_copy = importing.shutil.copy2
    copied = []

    def failing_copy(src, dst, *a, **kw):
        if len(copied) == 10:
            raise OSError(28, "No space left on device")
        copied.append(src)
        return real_copy(src, dst, *a, **kw)

    monkeypatch.setattr(importing.shutil, "copy2", failing_copy)
    with pytest.raises(DatasetError, match="import failed and was undone"):
        import_dataset(image_folder, "half", workspace)
    assert len(copied) == 10
    assert_nothing_left(workspace)


def test_delete_imported_dataset_removes_its_images(workspace, image_folder):
    info = import_dataset(image_folder, "shapes", workspace)
    delete_dataset("shapes", workspace)
    assert not info.root.exists() and list_datasets(workspace) == []
    assert len(list(image_folder.rglob("*.png"))) == 60  # the source is untouched


def test_registered_and_imported_copy_of_same_folder_are_separate(workspace, image_folder):
    registered = register_folder(image_folder, workspace)
    imported = import_dataset(image_folder, "copy", workspace)
    assert registered.name != imported.name and registered.root != imported.root


# --------------------------------------------------------------------------------------------
# Browser uploads
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, parts", [
    ("../../x.png", ("x.png",)),
    ("/abs/a.png", ("abs", "a.png")),
    ("C:\\x\\a.png", ("x", "a.png")),
    ("top/cls/ä b.png", ("top", "cls", "ä b.png")),
    ("a/./b/../c\x00d.png", ("a", "b", "cd.png")),
    ("cls/\x1b[31mred.png", ("cls", "[31mred.png")),
    ("", ()),
])
def test_sanitize_relative_path(raw, parts):
    assert sanitize_relative_path(raw) == parts


def test_upload_drops_the_common_top_folder_and_keeps_unicode(workspace):
    files = [("top/cats/ä b.png", png_bytes()), ("top/cats/2.png", io.BytesIO(png_bytes())),
             ("top/dogs/1.png", png_bytes((0, 0, 200)))]
    info = import_uploaded_files(files, "pets", workspace)
    report = dataset_report(info)
    assert report.classes == ["cats", "dogs"]
    assert {e.path for e in report.images} == {"cats/ä b.png", "cats/2.png", "dogs/1.png"}


def test_upload_with_hostile_names_stays_inside_the_workspace(workspace, tmp_path):
    files = [("../../x.png", png_bytes()), ("/abs/a.png", png_bytes()),
             ("C:\\x\\a.png", png_bytes()), ("../../../../cls/b.png", png_bytes()),
             ("cls/b.png", png_bytes())]
    info = import_uploaded_files(files, "hostile", workspace)
    written = sorted(p.relative_to(info.root).as_posix() for p in info.root.rglob("*") if p.is_file())
    assert written == ["abs/a.png", "cls/b (2).png", "cls/b.png", "x.png", "x/a.png"]
    assert all(workspace.contains(p) for p in info.root.rglob("*"))
    assert not (tmp_path / "x.png").exists() and not (workspace.root.parent / "x.png").exists()


def test_upload_of_a_single_class_folder_keeps_the_class(workspace):
    info = import_uploaded_files([("cats/1.png", png_bytes()), ("cats/2.png", png_bytes())],
                                 "c", workspace)
    assert dataset_report(info).classes == ["cats"]


def test_empty_upload_is_refused(workspace):
    with pytest.raises(DatasetError, match="upload is empty"):
        import_uploaded_files([], "empty", workspace)
    with pytest.raises(DatasetError, match="upload is empty"):
        import_uploaded_files([("../..", b"x"), ("", b"y")], "empty", workspace)
    assert_nothing_left(workspace)


def test_a_zip_import_records_how_many_files_the_archive_held(workspace, tmp_path):
    archive = make_zip(tmp_path / "pets.zip", {"pets/cat/1.png": png_bytes(), "pets/cat/2.png": png_bytes(),
                                               "pets/dog/1.png": png_bytes(), "pets/dog/readme.txt": b"hi"})
    info = import_dataset(archive, "pets", workspace)
    assert dataset_origin(info) == {"kind": "zip", "archive": "pets.zip", "files_in_archive": 4}
    assert dataset_report(info).num_images == 3
