"""Bringing images into the workspace: copy a folder, extract a zip, or save a browser upload.

Everything is written into a staging folder under the workspace's tmp/ and renamed into place
at the end, so a failed import leaves nothing half-written. Zips and uploaded names are
untrusted: zips are checked entry by entry before anything is extracted, and every path is
rebuilt from sanitised components and checked to stay inside the workspace.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import unicodedata
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from resnet_core.data.registry import (
    DatasetInfo,
    ensure_new_name,
    install_meta_dir,
    write_info,
)
from resnet_core.data.scan import DatasetError, Progress, is_hidden_name
from resnet_core.workspace import Workspace

# Zip bomb guards, checked before extracting. Tests lower them with monkeypatch.
MAX_ZIP_TOTAL_BYTES = 20 * 1024**3  # 20 GB uncompressed
MAX_ZIP_FILES = 200_000
MAX_ZIP_RATIO = 200  # uncompressed / compressed, for the whole archive and for any large entry
_RATIO_MIN_ENTRY_BYTES = 1024**2  # tiny entries may compress very well without being bombs
# Room left on the disk after an import, so the workspace never fills it to the brim.
DISK_MARGIN_BYTES = 200 * 1024**2
_MAX_COMPONENT_BYTES = 255
_COPY_CHUNK = 1024**2

UploadData = bytes | bytearray | memoryview | IO[bytes]


# ---------------------------------------------------------------------------------------------
# Untrusted relative paths
# ---------------------------------------------------------------------------------------------

_DRIVE = re.compile(r"^[A-Za-z]:")


def sanitize_component(part: str) -> str:
    """One path component made safe: no control characters, no '.'/'..', Unicode and spaces kept.
    Returns '' when nothing usable is left (the component is then dropped)."""
    text = unicodedata.normalize("NFC", part)
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
    text = text.strip()
    if text in ("", ".", ".."):
        return ""
    # Filesystems limit a name to 255 bytes; shorten the stem and keep the extension.
    while len(text.encode("utf-8")) > _MAX_COMPONENT_BYTES:
        stem, ext = os.path.splitext(text)
        text = (stem[:-1] + ext) if stem else text[:-1]
    return text


def sanitize_relative_path(name: str) -> tuple[str, ...]:
    """Split an untrusted relative name ('a/b.png', 'C:\\x\\a.png', '../../x.png') into safe
    components: drive letters, leading slashes and '..' are dropped, '\\' counts as a separator."""
    text = str(name).replace("\\", "/")
    text = _DRIVE.sub("", text)
    parts = (sanitize_component(p) for p in text.split("/"))
    return tuple(p for p in parts if p)


def _target(base: Path, parts: tuple[str, ...]) -> Path:
    target = base.joinpath(*parts)
    # Belt and braces: the components are already clean, but never write outside `base`.
    if not os.path.abspath(target).startswith(os.path.abspath(base) + os.sep):
        raise DatasetError(f"Refusing to write {'/'.join(parts)!r} outside the dataset folder.")
    return target


# ---------------------------------------------------------------------------------------------
# Import entry points
# ---------------------------------------------------------------------------------------------

def import_dataset(source: str | os.PathLike, name: str, workspace: Workspace,
                   progress: Progress | None = None) -> DatasetInfo:
    """Copy a folder, or extract a .zip of one, into the workspace as dataset `name`.

    A zip holding a single top folder with the class folders inside is unwrapped. Raises
    DatasetError for a missing source, an unsafe zip, a taken name or too little disk space.
    """
    name = ensure_new_name(name, workspace)
    src = Path(source).expanduser()
    if not src.exists():
        raise DatasetError(f"{str(src)!r} does not exist: give a folder of class subfolders or a .zip.")
    is_zip = src.is_file() and (src.suffix.lower() == ".zip" or zipfile.is_zipfile(src))
    if not src.is_dir() and not is_zip:
        raise DatasetError(f"{str(src)!r} is neither a folder nor a .zip file: give a folder of "
                           "class subfolders or a .zip of one.")
    with _staging(workspace, name) as (staging, files_dir):
        if is_zip:
            entries = _extract_zip(src, files_dir, workspace, progress)
            root = _unwrap_single_top_folder(files_dir)
            origin = {"kind": "zip", "archive": src.name, "files_in_archive": entries}
        else:
            _copy_folder(src, files_dir, workspace, progress)
            root = files_dir
            origin = {"kind": "folder copy", "source": str(src)}
        return _finish(staging, root, name, workspace, origin)


def import_uploaded_files(files: Iterable[tuple[str, UploadData]], name: str,
                          workspace: Workspace) -> DatasetInfo:
    """Save the files of a browser folder upload as dataset `name`.

    `files` yields (relative_name, data); data is bytes or a readable binary file. Names are
    untrusted and sanitised; if all files share one top folder that holds subfolders (the
    browser sends 'myfolder/cat/1.png'), that folder is dropped.
    """
    name = ensure_new_name(name, workspace)
    with _staging(workspace, name) as (staging, files_dir):
        for rel, data in files:
            save_uploaded_file(files_dir, rel, data, workspace)
        return install_upload(staging, name, workspace)


def save_uploaded_file(files_dir: Path, rel: str, data: UploadData, workspace: Workspace,
                       made_dirs: set[Path] | None = None) -> Path | None:
    """Write one uploaded file under files_dir at its sanitised relative name; None when the name
    has nothing usable or a file already holds one of its folders' names (the first one is kept).
    `made_dirs` remembers the folders already made and checked, so a batch of thousands of files in
    a few folders does not pay for that on every file."""
    parts = sanitize_relative_path(rel)
    if not parts:
        return None
    target = _unique(_target(files_dir, parts))
    if made_dirs is None or target.parent not in made_dirs:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            return None
        # Never write outside the workspace. Checking the folder is enough: the target is new (_unique),
        # and only plain files and folders are ever created inside it.
        assert workspace.contains(target.parent), target
        if made_dirs is not None:
            made_dirs.add(target.parent)
    with open(target, "wb") as f:
        if isinstance(data, (bytes, bytearray, memoryview)):
            f.write(data)
        elif hasattr(data, "getvalue"):  # BytesIO and Streamlit's UploadedFile
            f.write(data.getvalue())
        else:
            shutil.copyfileobj(data, f, _COPY_CHUNK)
    return target


def install_upload(staging: Path, name: str, workspace: Workspace, origin: dict | None = None) -> DatasetInfo:
    """Turn a staging folder whose incoming/ holds uploaded files into the dataset `name`, recording
    `origin` in its metadata. The name must be free (ensure_new_name)."""
    files_dir = staging / "incoming"
    if not any(files_dir.iterdir()):
        raise DatasetError("The upload is empty: choose a folder that contains class subfolders "
                           "with images.")
    root = _unwrap_single_top_folder(files_dir)
    return _finish(staging, root, name, workspace, origin)


# ---------------------------------------------------------------------------------------------
# Staging
# ---------------------------------------------------------------------------------------------

class _staging:
    """A fresh folder under tmp/ that is removed unless it was renamed into place."""

    def __init__(self, workspace: Workspace, name: str) -> None:
        self.path = workspace.scratch_dir("import")
        self.files = self.path / "incoming"
        self.files.mkdir()

    def __enter__(self) -> tuple[Path, Path]:
        return self.path, self.files

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
        if isinstance(exc, OSError):
            raise DatasetError(f"The import failed and was undone: {exc.strerror or exc}. "
                               "Check the disk space and permissions, then try again.") from exc


def _finish(staging: Path, root: Path, name: str, workspace: Workspace,
            origin: dict | None = None) -> DatasetInfo:
    if not any(p.is_file() for p in root.rglob("*")):
        raise DatasetError("Nothing to import: the source holds no files. Choose a folder with "
                           "class subfolders of images.")
    images = staging / "images"
    os.rename(root, images)
    if (staging / "incoming").exists():
        shutil.rmtree(staging / "incoming")
    final = workspace.datasets_dir / name
    write_info(staging, name, final / "images", imported=True, origin=origin)
    return install_meta_dir(staging, name, workspace)


def _unwrap_single_top_folder(folder: Path) -> Path:
    """The folder itself, or its only visible subfolder when that one holds the class folders."""
    visible = [p for p in folder.iterdir() if not is_hidden_name(p.name)]
    if len(visible) != 1 or not visible[0].is_dir() or visible[0].is_symlink():
        return folder
    inner = visible[0]
    if any(p.is_dir() and not is_hidden_name(p.name) for p in inner.iterdir()):
        return inner
    return folder  # a single class folder: keep it as the class


def _unique(path: Path) -> Path:
    if not path.exists():
        return path
    stem, ext = os.path.splitext(path.name)
    n = 2
    while (candidate := path.with_name(f"{stem} ({n}){ext}")).exists():
        n += 1
    return candidate


def _check_disk_space(needed: int, workspace: Workspace) -> None:
    free = shutil.disk_usage(workspace.tmp_dir).free
    if needed + DISK_MARGIN_BYTES > free:
        raise DatasetError(f"Not enough disk space: the import needs {needed / 1e9:.2f} GB and "
                           f"{free / 1e9:.2f} GB is free. Free some space or import fewer images.")


# ---------------------------------------------------------------------------------------------
# Zip
# ---------------------------------------------------------------------------------------------

def check_zip(archive: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """Refuse unsafe archives before extracting anything; return (entry, safe parts) per file."""
    infos = archive.infolist()
    files = [i for i in infos if not i.is_dir()]
    if len(files) > MAX_ZIP_FILES:
        raise DatasetError(f"The zip holds {len(files):,} files, more than the {MAX_ZIP_FILES:,} "
                           "allowed: split it into smaller archives.")
    total = sum(i.file_size for i in files)
    if total > MAX_ZIP_TOTAL_BYTES:
        raise DatasetError(f"The zip would unpack to {total / 1e9:.1f} GB, more than the "
                           f"{MAX_ZIP_TOTAL_BYTES / 1e9:.0f} GB allowed.")
    packed = sum(i.compress_size for i in files)
    if total > _RATIO_MIN_ENTRY_BYTES and total > MAX_ZIP_RATIO * max(packed, 1):
        raise DatasetError(f"The zip would unpack to {total / max(packed, 1):.0f}× its size, which "
                           "looks like a zip bomb; it was not extracted.")
    out = []
    for info in infos:
        raw = info.filename
        if raw.startswith(("/", "\\")) or _DRIVE.match(raw):
            raise DatasetError(f"The zip contains an absolute path ({raw!r}); it was not extracted. "
                               "Re-create the zip from inside the dataset folder.")
        if ".." in re.split(r"[/\\]", raw):
            raise DatasetError(f"The zip contains a path that climbs out of the folder ({raw!r}); "
                               "it was not extracted.")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DatasetError(f"The zip contains a symbolic link ({raw!r}); links are not allowed. "
                               "Zip the images themselves.")
        if info.flag_bits & 0x1:
            raise DatasetError("The zip is password-protected: unzip it yourself and import the folder.")
        if info.is_dir():
            continue
        if (info.file_size > _RATIO_MIN_ENTRY_BYTES
                and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1)):
            raise DatasetError(f"The zip entry {raw!r} would unpack to "
                               f"{info.file_size / max(info.compress_size, 1):.0f}× its size, which "
                               "looks like a zip bomb; nothing was extracted.")
        parts = sanitize_relative_path(raw)
        if parts:
            out.append((info, parts))
    return out


def _extract_zip(src: Path, dest: Path, workspace: Workspace, progress: Progress | None) -> int:
    """Extract the archive's files into dest; returns how many files the archive holds."""
    try:
        archive = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError) as e:
        raise DatasetError(f"{src.name!r} is not a readable zip file ({e}).") from e
    with archive:
        entries = check_zip(archive)
        _check_disk_space(sum(i.file_size for i, _ in entries), workspace)
        for n, (info, parts) in enumerate(entries, 1):
            target = _unique(_target(dest, parts))
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                continue
            try:
                # zipfile stops at the declared size and checks the CRC, so a lying header fails.
                with archive.open(info) as fin, open(target, "wb") as fout:
                    shutil.copyfileobj(fin, fout, _COPY_CHUNK)
            except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as e:
                raise DatasetError(f"The zip entry {info.filename!r} is damaged or uses an "
                                   f"unsupported compression ({e}).") from e
            if progress and (n % 100 == 0 or n == len(entries)):
                progress(n, len(entries))
    return len(entries)


# ---------------------------------------------------------------------------------------------
# Folder copy
# ---------------------------------------------------------------------------------------------

def _copy_folder(src: Path, dest: Path, workspace: Workspace, progress: Progress | None) -> None:
    """Copy src's files into dest. Links leading outside src, hidden/system files and the
    workspace itself (should it sit inside src) are left behind."""
    src_real = os.path.realpath(src)
    skip_real = os.path.realpath(workspace.root)
    pairs: list[tuple[str, Path]] = []

    def inside(path: str) -> bool:
        return path == src_real or path.startswith(src_real.rstrip(os.sep) + os.sep)

    def visit(folder: str, out: Path, ancestors: frozenset[str]) -> None:
        try:
            with os.scandir(folder) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError:
            return  # unreadable folders are left out; the scan of the copy reports what is there
        for entry in items:
            if is_hidden_name(entry.name):
                continue
            real = os.path.realpath(entry.path)
            if entry.is_symlink() and (not inside(real) or not os.path.exists(real)):
                continue
            if real == skip_real or real.startswith(skip_real + os.sep):
                continue
            try:
                if entry.is_dir():
                    if real not in ancestors:
                        visit(entry.path, out / entry.name, ancestors | {real})
                elif entry.is_file():
                    pairs.append((entry.path, out / entry.name))
            except OSError:
                continue

    visit(str(src), dest, frozenset({src_real}))
    sizes = []
    for path, _ in pairs:
        try:
            sizes.append(os.path.getsize(path))
        except OSError:
            sizes.append(0)
    _check_disk_space(sum(sizes), workspace)
    for n, (path, target) in enumerate(pairs, 1):
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(path, target)
        except PermissionError:
            continue  # unreadable file: left out, like the scan would skip it
        if progress and (n % 100 == 0 or n == len(pairs)):
            progress(n, len(pairs))
