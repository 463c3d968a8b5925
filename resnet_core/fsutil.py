"""Files and processes at the lowest level: atomic writes, sweeping their leftovers, process liveness.

Every other module writes metadata and checkpoints through `atomic_write_bytes`, so a crash leaves
the old file or the new one, never half of one. The temporary file carries its writer's pid, which
`remove_stale_temp_files` uses to tell a write in progress from one a killed process left behind.
Imports nothing of ResNet Pilot's.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

# ----- writing files atomically ------------------------------------------------------------

def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a file so that a crash leaves either the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_leftovers(path)
    # The pid in the name tells a later sweep whether the writer is still alive.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.pid{os.getpid()}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sweep_leftovers(path: Path) -> None:
    """Remove temp files of earlier writes of this same file that a crash left behind (only ones
    named by this function, whose process is gone: the folder may be the user's own)."""
    remove_stale_temp_files(path.parent, path.name, max_age_s=None)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8"))


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return default


# ----- leftovers of writes cut short -------------------------------------------------------

# A leftover must be this old (seconds) before its age alone condemns it.
STALE_AFTER_S = 3600.0


# '.best.pt.pid1234-k3j2.tmp' (atomic writes) and '.key.u8.1234.5678.tmp' (image cache).
_TEMP_OWNER = (re.compile(r"\.pid(\d+)-[^.]*\.tmp$"), re.compile(r"\.(\d+)\.\d+\.tmp$"))


def owner_gone(pid: int, touched: float) -> bool:
    """True when the process that wrote something last touched at `touched` no longer runs."""
    if pid == os.getpid():
        return False
    if not owner_alive(pid, None):
        return True
    started = process_start_time(pid)
    # The pid was reused: today's holder started after the thing was last written to.
    return started is not None and started > touched + 1.0


def newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for folder, dirs, files in os.walk(path):
            for name in dirs + files:
                try:
                    newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
                except OSError:
                    continue
    return newest


def temp_owner_pid(name: str) -> int | None:
    """The pid written into a temporary file's name, or None for a name without one."""
    for pattern in _TEMP_OWNER:
        match = pattern.search(name)
        if match:
            return int(match.group(1))
    return None


def remove_stale_temp_files(folder: str | os.PathLike, name: str | None = None,
                            max_age_s: float | None = STALE_AFTER_S,
                            now: float | None = None) -> list[Path]:
    """Delete `.<name>.*.tmp` files in folder (any name when None) left by writes that never finished.

    A temp file whose writer still runs may be a write in progress (in another thread or another
    process): it stays. One without a pid in its name goes once it is max_age_s old; with
    max_age_s=None it always stays (for folders that are not the workspace's, e.g. an export
    target, where a file so named might be someone else's).
    """
    now = time.time() if now is None else now
    prefix = f".{name}." if name else "."
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            touched = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        pid = temp_owner_pid(entry.name)
        if pid is not None:
            stale = owner_gone(pid, touched)
        else:
            stale = max_age_s is not None and now - touched > max_age_s
        if stale:
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass  # gone already, or not ours to remove: harmless either way
    return removed


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), where the system tells (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat[stat.rfind(")") + 2:].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def remove_path(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        return True
    except FileNotFoundError:
        return False
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        return not path.exists()


# ----- process identity ------------------------------------------------------------------

def process_token(pid: int) -> str | None:
    """Something that tells this process apart from a later one that reuses its pid.

    Linux: boot id + the process's start time in clock ticks. None where unavailable.
    """
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after it are plain.
    after_name = stat[stat.rfind(")") + 2:].split()
    return f"{boot_id}:{after_name[19]}"  # field 22, starttime


def owner_alive(pid: int | None, token: str | None) -> bool:
    """True when process `pid` exists, is not a zombie, and (when known) is the same process."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rfind(")") + 2:].split()[0] in ("Z", "X"):
            return False  # killed, waiting to be reaped
    except (OSError, IndexError):
        pass
    if token is not None:
        current = process_token(pid)
        if current is not None and current != token:
            return False  # the pid now belongs to another process
    return True


# ----- what a file error means, in a person's words ------------------------------------------

def os_error_sentence(e: OSError) -> str:
    """A sentence about `e` without Python's "[Errno 13] Permission denied: '...'" form. An OSError
    raised by this program with a message and no errno already speaks to the user: its text is kept."""
    if e.errno is None:
        return str(e)
    name = f"'{e.filename}'" if e.filename else "a file"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk is full (writing {name}); free some space, then try again"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to read or write {name}; check its permissions, then try again"
    if e.errno == errno.ENOENT:
        return f"{name} does not exist (it may have been moved or deleted)"
    if e.errno == errno.ENOTDIR:
        return f"{name} is not a folder"
    if e.errno == errno.EISDIR:
        return f"{name} is a folder, not a file"
    if e.errno == errno.EROFS:
        return f"{name} is on a read-only disk; choose a writable place"
    reason = (e.strerror or type(e).__name__).lower()
    return f"the system could not read or write {name} ({reason}); try again"
