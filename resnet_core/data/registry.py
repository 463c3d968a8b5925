"""The datasets a workspace knows: names, where their images are, and their cached scans.

The workspace keeps one metadata folder per dataset, `datasets/<name>/` with dataset.json, the
cached scan (scan.json), the saved split (split.json, see splits.py) and the user's label decisions
(label-decisions.json, see label_decisions.py). Imported datasets keep
their images in `<meta>/images`; registered folders are referenced by path and never written to.
Importing (folder, zip, browser upload) lives in importing.py.
"""
from __future__ import annotations

import os
import re
import shutil
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from resnet_core.data.label_decisions import apply_decisions, load_decisions
from resnet_core.data.scan import (
    SCAN_CACHE_VERSION,
    DatasetError,
    Progress,
    ScanReport,
    check_listing,
    list_folder,
)
from resnet_core.fsutil import atomic_write_json, read_json
from resnet_core.workspace import Workspace

# ---------------------------------------------------------------------------------------------
# Workspace datasets
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DatasetInfo:
    name: str
    root: Path  # where the images are
    meta_dir: Path  # dataset.json, scan.json, split.json
    imported: bool  # True: images live in meta_dir/images; False: a registered folder
    created: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "root": str(self.root), "meta_dir": str(self.meta_dir),
                "imported": self.imported, "created": self.created}


_UNSAFE_NAME_CHARS = re.compile(r'[/\\:*?"<>|]')


def sanitize_name(name: str) -> str:
    """A dataset name that is safe as a folder name: Unicode and spaces kept, no slashes,
    control characters or leading dots. Raises DatasetError when nothing usable is left."""
    text = unicodedata.normalize("NFC", str(name))
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
    text = _UNSAFE_NAME_CHARS.sub("-", text)
    text = re.sub(r"\s+", " ", text).strip().lstrip(".").strip()
    text = text[:100].rstrip(" .")
    if not text:
        raise DatasetError(f"The dataset name {name!r} has no usable characters: "
                           "choose a name with letters or digits.")
    return text


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _meta_dir(name: str, workspace: Workspace) -> Path | None:
    """The metadata folder for a name, or None when the name could not be a dataset's."""
    try:
        if not name or sanitize_name(name) != name:
            return None
    except DatasetError:
        return None
    path = workspace.datasets_dir / name
    return path if path.parent == workspace.datasets_dir else None


def _load_info(meta: Path) -> DatasetInfo | None:
    data = read_json(meta / "dataset.json")
    if not isinstance(data, dict) or "name" not in data:
        return None
    imported = bool(data.get("imported"))
    # Imported images sit beside the metadata, so a moved workspace still finds them.
    root = meta / "images" if imported else Path(data.get("root", ""))
    return DatasetInfo(name=meta.name, root=root, meta_dir=meta, imported=imported,
                       created=str(data.get("created", "")))


def write_info(meta: Path, name: str, root: Path, imported: bool,
               origin: dict[str, Any] | None = None) -> DatasetInfo:
    """Write dataset.json into a (possibly still staging) metadata folder. `origin` says how the
    images came in (for an upload: how many files were chosen and how many arrived)."""
    created = now_iso()
    data: dict[str, Any] = {"name": name, "root": str(root), "imported": imported, "created": created}
    if origin:
        data["origin"] = origin
    atomic_write_json(meta / "dataset.json", data)
    return DatasetInfo(name=name, root=root, meta_dir=meta, imported=imported, created=created)


def dataset_origin(info: DatasetInfo) -> dict[str, Any]:
    """How the dataset's images came in, as recorded at import ({} when nothing was recorded)."""
    data = read_json(info.meta_dir / "dataset.json")
    origin = data.get("origin") if isinstance(data, dict) else None
    return origin if isinstance(origin, dict) else {}


def list_datasets(workspace: Workspace) -> list[DatasetInfo]:
    if not workspace.datasets_dir.is_dir():
        return []
    infos = [_load_info(p) for p in workspace.datasets_dir.iterdir() if p.is_dir()]
    return sorted((i for i in infos if i), key=lambda i: (i.name.casefold(), i.name))


def get_dataset(name: str, workspace: Workspace) -> DatasetInfo:
    meta = _meta_dir(name, workspace)
    info = _load_info(meta) if meta and meta.is_dir() else None
    if info is None:
        raise DatasetError(f"No dataset named {name!r}. {_known(workspace)}")
    return info


def _known(workspace: Workspace) -> str:
    names = [i.name for i in list_datasets(workspace)]
    if not names:
        return "There are no datasets yet: import a folder or a .zip first."
    return "Known datasets: " + ", ".join(names) + "."


def ensure_new_name(name: str, workspace: Workspace) -> str:
    """The sanitised name, or DatasetError when a dataset already has it."""
    clean = sanitize_name(name)
    if (workspace.datasets_dir / clean).exists():
        raise DatasetError(f"A dataset named {clean!r} already exists: choose another name, "
                           "or delete the old dataset first.")
    return clean


def install_meta_dir(staging: Path, name: str, workspace: Workspace) -> DatasetInfo:
    """Rename a finished staging folder into place as the dataset `name` (all or nothing)."""
    final = workspace.datasets_dir / name
    if final.exists():
        raise DatasetError(f"A dataset named {name!r} already exists: choose another name, "
                           "or delete the old dataset first.")
    os.rename(staging, final)
    info = _load_info(final)
    assert info is not None
    return info


def register_folder(path: str | os.PathLike, workspace: Workspace,
                    name: str | None = None) -> DatasetInfo:
    """Remember a folder as a dataset without copying it. The same folder twice → the same entry."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise DatasetError(f"The folder {str(folder)!r} does not exist: check the path and try again.")
    if not folder.is_dir():
        raise DatasetError(f"{str(folder)!r} is not a folder: give the folder whose subfolders are "
                           "the classes, or import a .zip instead.")
    folder = folder.resolve()
    for info in list_datasets(workspace):
        if info.root.resolve() == folder:
            return info
    if name is not None:
        name = ensure_new_name(name, workspace)
    else:
        try:
            base = sanitize_name(folder.name)
        except DatasetError:
            base = "dataset"
        name, n = base, 1
        while (workspace.datasets_dir / name).exists():
            n += 1
            name = f"{base}-{n}"
    staging = workspace.scratch_dir("register")
    try:
        write_info(staging, name, folder, imported=False)
        return install_meta_dir(staging, name, workspace)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def resolve_dataset(name_or_path: str | os.PathLike, workspace: Workspace) -> DatasetInfo:
    """A dataset by name, or a folder path (registered on the fly)."""
    text = os.fspath(name_or_path)
    meta = _meta_dir(text, workspace) if isinstance(name_or_path, str) else None
    if meta is not None and meta.is_dir():
        return get_dataset(text, workspace)
    if text and Path(text).expanduser().is_dir():
        return register_folder(text, workspace)
    if text and Path(text).expanduser().exists():
        raise DatasetError(f"{text!r} is a file, not a dataset folder: import a .zip as a dataset, "
                           "or give the folder whose subfolders are the classes.")
    raise DatasetError(f"No dataset named {text!r} and no folder at that path. {_known(workspace)}")


def delete_dataset(name: str, workspace: Workspace) -> None:
    """Forget a dataset: its metadata and, when imported, its images. A registered folder's own
    files are never touched."""
    info = get_dataset(name, workspace)
    meta = info.meta_dir
    assert meta.parent == workspace.datasets_dir and workspace.contains(meta)
    # Move it out of the way first, so the dataset disappears at once even if deleting is slow.
    trash = workspace.scratch_dir("delete")
    os.rename(meta, trash / "dataset")
    shutil.rmtree(trash, ignore_errors=True)


def dataset_report(info: DatasetInfo, progress: Progress | None = None) -> ScanReport:
    """The scan of a workspace dataset with the user's label decisions applied (excluded images
    out, moved ones in their new class): what the report, the split and every run use."""
    return apply_decisions(folder_report(info, progress), load_decisions(info.meta_dir))


def folder_report(info: DatasetInfo, progress: Progress | None = None) -> ScanReport:
    """The scan of the dataset's folder as it is, cached in scan.json while its files are unchanged."""
    listing = list_folder(info.root)
    key = listing.fingerprint()
    cache_path = info.meta_dir / "scan.json"
    cached = read_json(cache_path)
    if (isinstance(cached, dict) and cached.get("version") == SCAN_CACHE_VERSION
            and cached.get("listing") == key):
        try:
            report = ScanReport.from_dict(cached["report"])
            report.root = listing.root
            return report
        except (KeyError, TypeError, ValueError):
            pass  # a damaged cache is simply rebuilt
    report = check_listing(listing, progress)
    try:
        atomic_write_json(cache_path, {"version": SCAN_CACHE_VERSION, "listing": key,
                                       "report": report.to_dict(include_images=True)})
    except OSError:
        pass  # a read-only metadata folder only costs a rescan next time
    return report


