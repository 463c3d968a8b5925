"""A folder upload that arrives from the browser in batches: what the user chose, what arrived,
and an import that records both.

The browser first sends a manifest (every chosen file's relative name and size), then batches of
files, each a small binary frame (see parse_batch). Batches may arrive twice (the browser resends
one it saw no acknowledgement for) or never; the upload keeps count, so nothing is lost silently:
import() refuses while files are missing unless the caller accepts the loss knowingly.
"""
from __future__ import annotations

import json
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet_core.data.importing import install_upload, save_uploaded_file
from resnet_core.data.registry import DatasetInfo, ensure_new_name
from resnet_core.data.scan import DatasetError
from resnet_core.workspace import Workspace

BATCH_MAGIC = b"RPB1"  # a batch frame: magic, uint32 LE header length, JSON header, the files' bytes
_HEADER_LEN = struct.Struct("<I")
# The browser side sends no single file larger than this (Streamlit takes at most 25 MB per message
# from a browser); keep it equal to MAX_FILE_BYTES in assets/folder_upload/index.html.
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_NAMES_RECORDED = 100  # missing names kept in the dataset's metadata (the count is always kept)


class UploadError(ValueError):
    """A manifest or batch that is not what the browser side sends."""


@dataclass(frozen=True)
class Manifest:
    upload_id: str
    files: tuple[tuple[str, int], ...]  # (relative name, size in bytes), as the browser listed them

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


@dataclass(frozen=True)
class Batch:
    upload_id: str
    number: int
    files: list[tuple[str, bytes]]


def parse_manifest(value: Any) -> Manifest:
    """{"kind": "manifest", "upload": id, "files": [[name, size], ...]} from the browser."""
    if not isinstance(value, dict) or value.get("kind") != "manifest":
        raise UploadError("not a manifest")
    upload_id, files = value.get("upload"), value.get("files")
    if not isinstance(upload_id, str) or not upload_id or not isinstance(files, list):
        raise UploadError("a manifest needs an upload id and a file list")
    listed = []
    for item in files:
        if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str)
                or not isinstance(item[1], int) or item[1] < 0):
            raise UploadError(f"a manifest entry is not [name, size]: {item!r}")
        listed.append((item[0], item[1]))
    return Manifest(upload_id, tuple(listed))


def encode_batch(upload_id: str, number: int, files: list[tuple[str, bytes]]) -> bytes:
    """The frame the browser builds (used by tests and the benchmark to speak its language)."""
    header = json.dumps({"upload": upload_id, "batch": number,
                         "files": [[name, len(data)] for name, data in files]}).encode()
    return BATCH_MAGIC + _HEADER_LEN.pack(len(header)) + header + b"".join(data for _, data in files)


def parse_batch(blob: bytes | bytearray | memoryview) -> Batch:
    """Split a batch frame into its files; UploadError when the frame is cut short or malformed."""
    view = memoryview(blob)
    start = len(BATCH_MAGIC) + _HEADER_LEN.size
    if len(view) < start or bytes(view[:len(BATCH_MAGIC)]) != BATCH_MAGIC:
        raise UploadError("not a batch frame")
    (header_len,) = _HEADER_LEN.unpack_from(view, len(BATCH_MAGIC))
    try:
        header = json.loads(bytes(view[start:start + header_len]))
    except (ValueError, UnicodeDecodeError) as e:
        raise UploadError("the batch header is not JSON") from e
    if not isinstance(header, dict) or not isinstance(header.get("files"), list):
        raise UploadError("the batch header lists no files")
    upload_id, number = header.get("upload"), header.get("batch")
    if not isinstance(upload_id, str) or not isinstance(number, int):
        raise UploadError("the batch header needs an upload id and a batch number")
    offset = start + header_len
    files = []
    for item in header["files"]:
        if not isinstance(item, list) or len(item) != 2 or not isinstance(item[1], int) or item[1] < 0:
            raise UploadError(f"a batch entry is not [name, size]: {item!r}")
        name, size = item
        if offset + size > len(view):
            raise UploadError("the batch is shorter than its header says")
        files.append((str(name), bytes(view[offset:offset + size])))
        offset += size
    if offset != len(view):
        raise UploadError("the batch is longer than its header says")
    return Batch(upload_id, number, files)


@dataclass
class FolderUpload:
    """One chosen folder on its way in: its manifest, the files that arrived (saved under a private
    staging folder of the workspace as they come) and the files the browser reported it could not send."""
    manifest: Manifest
    workspace: Workspace
    staging: Path = field(init=False)
    received: dict[str, int] = field(default_factory=dict)  # relative name -> bytes
    batches: set[int] = field(default_factory=set)
    browser_failed: list[str] = field(default_factory=list)
    finished: bool = False  # the browser has sent everything it could

    def __post_init__(self) -> None:
        self.staging = self.workspace.scratch_dir("upload")
        (self.staging / "incoming").mkdir()
        self._chosen = {name: size for name, size in self.manifest.files}
        self._made_dirs: set[Path] = set()

    @property
    def upload_id(self) -> str:
        return self.manifest.upload_id

    @property
    def chosen_files(self) -> int:
        return len(self.manifest.files)

    @property
    def chosen_bytes(self) -> int:
        return self.manifest.total_bytes

    @property
    def received_files(self) -> int:
        return len(self.received)

    @property
    def received_bytes(self) -> int:
        return sum(self.received.values())

    @property
    def complete(self) -> bool:
        return self.received_files == self.chosen_files

    def missing(self) -> list[str]:
        """The chosen files that have not arrived, in the order they were chosen."""
        return [name for name, _ in self.manifest.files if name not in self.received]

    def too_large(self) -> list[str]:
        """The missing files that the folder uploader cannot send at all (over MAX_FILE_BYTES)."""
        return [name for name, size in self.manifest.files if size > MAX_FILE_BYTES and name not in self.received]

    def top_folder(self) -> str:
        """The folder the user chose ('pets' for 'pets/cat/1.jpg')."""
        first = self.manifest.files[0][0].replace("\\", "/").split("/") if self.manifest.files else []
        return first[0] if len(first) > 1 and first[0] else "uploaded-images"

    def receive(self, batch: Batch) -> int:
        """Save a batch's files; returns how many were new. A batch seen before, a file not in the
        manifest or one whose size differs from the chosen file's is left out."""
        if batch.upload_id != self.upload_id:
            raise UploadError("the batch belongs to another upload")
        if batch.number in self.batches:
            return 0
        new = 0
        for name, data in batch.files:
            if name in self.received or self._chosen.get(name) != len(data):
                continue
            try:
                save_uploaded_file(self.staging / "incoming", name, data, self.workspace, self._made_dirs)
            except OSError as e:
                raise DatasetError(f"Saving the uploaded file {name!r} failed: {e.strerror or e}. "
                                   "Check the disk space, then choose the folder again.") from e
            self.received[name] = len(data)
            new += 1
        self.batches.add(batch.number)
        return new

    def finish(self, failed: list[str]) -> None:
        """The browser has sent all it could; `failed` are the files it could not read or send."""
        self.finished = True
        self.browser_failed = [name for name in failed if name in self._chosen and name not in self.received]

    def origin(self) -> dict[str, Any]:
        """What the dataset's metadata records about this upload."""
        missing = self.missing()
        return {"kind": "browser folder upload", "folder": self.top_folder(),
                "chosen_files": self.chosen_files, "chosen_bytes": self.chosen_bytes,
                "received_files": self.received_files, "received_bytes": self.received_bytes,
                "missing_files": len(missing), "missing_names": missing[:MAX_NAMES_RECORDED]}

    def import_as(self, name: str, accept_missing: bool = False) -> DatasetInfo:
        """Make the arrived files the dataset `name`. While files are missing this is refused unless
        accept_missing says the user chose to import the rest knowingly."""
        missing = self.missing()
        if missing and not accept_missing:
            raise DatasetError(f"{len(missing):,} of the {self.chosen_files:,} chosen files have not "
                               "arrived; wait for them, or import the rest knowingly.")
        name = ensure_new_name(name, self.workspace)
        try:
            return install_upload(self.staging, name, self.workspace, self.origin())
        except OSError as e:
            raise DatasetError(f"The import failed: {e.strerror or e}. Check the disk space and "
                               "permissions, then try again.") from e

    def discard(self) -> None:
        """Forget the files that arrived (a new folder was chosen, or the user started over)."""
        shutil.rmtree(self.staging, ignore_errors=True)
