"""The run registry: every training run, its per-epoch metrics and its final scores, in SQLite.

One database file in the workspace, shared by the dashboard's threads, the command line and any
other process that opens the same workspace. WAL journal (readers never block the writer), one
connection per thread, short write transactions taken with BEGIN IMMEDIATE so waiting writers queue
on the busy timeout instead of failing with "database is locked".
"""
from __future__ import annotations

import json
import math
import os
import shutil
import socket
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from resnet_core.config import ConfigError, TrainConfig
from resnet_core.fsutil import atomic_write_json, owner_alive, process_token
from resnet_core.status import FINISHED, RANKED, STORED, STORED_ACTIVE, RunStatus
from resnet_core.workspace import Workspace

EPOCH_COLUMNS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s", "images_per_s")
FINAL_FIELDS = ("val_loss", "val_acc", "test_acc", "train_time_s", "epoch_ended", "best_epoch",
                "stopped_early", "peak_memory_mb", "final_metrics")

RUN_FILE = "run.json"  # the run's row and epochs, mirrored into its folder

NOTE_OWNER_GONE = "the process running it stopped"
NOTE_NEVER_STARTED = "queued, never started"

# A name fits a table cell and a select box; a note a few sentences.
MAX_NAME_CHARS = 80
MAX_NOTE_CHARS = 1000

# Waiting this long for another writer is far beyond any of our small transactions.
BUSY_TIMEOUT_MS = 30_000

# Each entry brings the schema from version i to i + 1; a newer version appends, never edits.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dataset TEXT NOT NULL,
        dataset_root TEXT,
        num_images INTEGER,
        num_train INTEGER,
        num_val INTEGER,
        num_test INTEGER,
        model TEXT NOT NULL,
        description TEXT,
        config TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        owner_pid INTEGER,
        owner_host TEXT,
        owner_token TEXT,
        val_loss REAL,
        val_acc REAL,
        test_acc REAL,
        train_time_s REAL,
        epoch_ended INTEGER,
        best_epoch INTEGER,
        stopped_early INTEGER,
        peak_memory_mb REAL,
        final_metrics TEXT,
        notes TEXT NOT NULL DEFAULT '[]',
        error TEXT
    );
    CREATE INDEX runs_dataset ON runs (dataset);
    CREATE INDEX runs_status ON runs (status);
    CREATE TABLE epochs (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        train_loss REAL,
        train_acc REAL,
        val_loss REAL,
        val_acc REAL,
        lr REAL,
        epoch_time_s REAL,
        images_per_s REAL,
        PRIMARY KEY (run_id, epoch)
    );
    """,
    # 2: one row per device a run trains on, so processes sharing a workspace take turns on it.
    """
    CREATE TABLE device_leases (
        device TEXT PRIMARY KEY,
        run_id INTEGER NOT NULL,
        owner_pid INTEGER NOT NULL,
        owner_host TEXT,
        owner_token TEXT,
        since TEXT NOT NULL
    );
    """,
    # 3: a repeat of a configuration with another seed names the run it repeats (its group's first run).
    """
    ALTER TABLE runs ADD COLUMN repeat_of INTEGER;
    """,
    # 4: the user's own name for a run and a note about it (the run's `notes` are what training said).
    """
    ALTER TABLE runs ADD COLUMN name TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN user_note TEXT NOT NULL DEFAULT '';
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)


class StoreError(RuntimeError):
    """The run database cannot be opened or used; the message says what to do."""


def is_busy(e: sqlite3.Error) -> bool:
    """SQLite gave up waiting for another connection (after the busy timeout)."""
    return "locked" in str(e).lower() or "busy" in str(e).lower()


def store_error(path: Path, e: sqlite3.Error) -> StoreError:
    """The one plain message about a run database that cannot be used, with what to do."""
    if is_busy(e):
        return StoreError(
            f"the run database {path} is busy: another process has held it for over "
            f"{BUSY_TIMEOUT_MS // 1000} s; try again in a moment (it is not damaged, leave it in place)")
    return StoreError(
        f"cannot open the run database {path} ({e}); run `python -m resnet_core repair` (or Repair "
        "on the Home page): it sets the damaged file aside and rebuilds the run list from the run "
        "folders")


class RunNotFoundError(ValueError):
    """No run has this id."""


class RunInUseError(ValueError):
    """The run is queued or running, so it cannot be deleted yet."""


@dataclass(frozen=True)
class RunRecord:
    """One row of `runs`, decoded. Everything after `status` may be None (not known yet)."""

    id: int
    dataset: str
    model: str
    status: str
    config: TrainConfig | None = None  # None only when this version cannot read the stored config
    description: str = ""
    dataset_root: str | None = None
    num_images: int | None = None
    num_train: int | None = None
    num_val: int | None = None
    num_test: int | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    owner_pid: int | None = None
    owner_host: str | None = None
    owner_token: str | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    test_acc: float | None = None
    train_time_s: float | None = None
    epoch_ended: int | None = None
    best_epoch: int | None = None
    stopped_early: bool | None = None
    peak_memory_mb: float | None = None
    final_metrics: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
    error: str | None = None
    repeat_of: int | None = None  # the run this one repeats with another seed (None: not a repeat)
    name: str = ""  # the user's name for the run ("" until given one)
    user_note: str = ""  # the user's note about it (apart from `notes`, which training wrote)

    @property
    def run_id(self) -> int:
        return self.id

    @property
    def is_ranked(self) -> bool:
        """Has a final test accuracy: completed, or cancelled after a final evaluation."""
        return self.status in RANKED and self.test_acc is not None and math.isfinite(self.test_acc)

    @property
    def is_active(self) -> bool:
        return self.status in STORED_ACTIVE


@dataclass(frozen=True)
class DeviceLease:
    """Who trains on a device now: a run, and the process running it."""

    device: str
    run_id: int
    owner_pid: int
    owner_host: str | None
    owner_token: str | None
    since: str
    this_process: bool


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunStore:
    """Thread-safe access to the run database of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.path: Path = workspace.db_path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}
        self._closed = False
        self._host = socket.gethostname()
        self._token = process_token(os.getpid())
        try:
            self._migrate()
        except StoreError:
            self.close()
            raise
        except sqlite3.DatabaseError as e:
            self.close()
            raise store_error(self.path, e) from e

    # ----- connections -------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError("the run store is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._drop_dead_threads()
                self._connections[threading.current_thread()] = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        try:
            # check_same_thread=False only so close() may close it; each thread uses its own.
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.DatabaseError as e:
            raise store_error(self.path, e) from e
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; a crash loses no committed run
        except sqlite3.DatabaseError as e:
            conn.close()
            raise store_error(self.path, e) from e
        return conn

    def _drop_dead_threads(self) -> None:
        """Close connections of threads that ended (Streamlit starts a thread per script run)."""
        for thread in [t for t in self._connections if not t.is_alive()]:
            self._connections.pop(thread).close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._connections.values():
                conn.close()
            self._connections.clear()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One small write transaction; the write lock is taken up front so it never deadlocks."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise store_error(self.path, e) from e
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the run database {self.path} was written by a newer version of ResNet Pilot "
                    f"(schema {version}, this one knows {SCHEMA_VERSION}); upgrade ResNet Pilot")
            for script in _MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ----- writing -----------------------------------------------------------------------------

    def create_run(self, config: TrainConfig, dataset_root: str, num_images: int, num_train: int,
                   num_val: int, num_test: int, status: str = RunStatus.QUEUED,
                   repeat_of: int | None = None, name: str = "", note: str = "") -> int:
        """Register a run and create its folder (with config.json); returns the run id.

        repeat_of: the run whose configuration this one repeats with another seed. name, note: the
        user's name for the run and note about it (checked by `clean_label`)."""
        _check_status(status)
        name, note = clean_label(name, note)
        with self._write() as conn:
            cur = conn.execute(
                """INSERT INTO runs (dataset, dataset_root, num_images, num_train, num_val, num_test,
                       model, description, config, status, created_at, owner_pid, owner_host,
                       owner_token, repeat_of, name, user_note)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (config.dataset, str(dataset_root), num_images, num_train, num_val, num_test,
                 config.model, config.describe(), json.dumps(config.to_dict()), status, utc_now(),
                 os.getpid(), self._host, self._token, repeat_of, name, note))
            run_id = int(cur.lastrowid)
        try:
            folder = self.workspace.run_dir(run_id)
            if folder.exists():  # left by an earlier database the file of which was removed
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            atomic_write_json(folder / "config.json", config.to_dict())
        except OSError:
            with self._write() as conn:
                conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            raise
        self._mirror(run_id)
        return run_id

    def mark_running(self, run_id: int) -> None:
        """The run starts (or resumes) in this process."""
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute(
                """UPDATE runs SET status = 'running', started_at = COALESCE(started_at, ?),
                       finished_at = NULL, error = NULL, owner_pid = ?, owner_host = ?, owner_token = ?
                   WHERE id = ?""",
                (utc_now(), os.getpid(), self._host, self._token, run_id))
        self._mirror(run_id)

    def requeue_run(self, run_id: int) -> None:
        """Queue a stopped run again (to resume it) in this process; its epochs and notes stay."""
        with self._write() as conn:
            row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFoundError(f"no run with id {run_id}; list the runs to see which exist")
            # Queued counts too: two processes resuming the same run at once must not both win.
            if row["status"] in STORED_ACTIVE:
                raise RunInUseError(f"run {run_id} is {row['status']}; it cannot be queued again")
            conn.execute(
                """UPDATE runs SET status = 'queued', finished_at = NULL, error = NULL,
                       owner_pid = ?, owner_host = ?, owner_token = ? WHERE id = ?""",
                (os.getpid(), self._host, self._token, run_id))
        self._mirror(run_id)

    def set_devices(self, run_id: int, devices: int) -> TrainConfig:
        """Resume a stopped run on another number of devices: its config says so from now on (the
        saved state fits any number; the batch stays per device). Returns the new config."""
        record = self.get_run(run_id)
        if record is None or record.config is None:
            raise RunNotFoundError(f"no run with id {run_id}; list the runs to see which exist")
        config = record.config.replace(devices=devices,
                                       sync_batchnorm=record.config.sync_batchnorm and devices > 1)
        with self._write() as conn:
            conn.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(config.to_dict()), run_id))
        with suppress(OSError):
            atomic_write_json(self.workspace.run_dir(run_id) / "config.json", config.to_dict())
        self._mirror(run_id)
        return config

    def add_epoch(self, run_id: int, metrics: dict[str, Any]) -> None:
        """Store one epoch's metrics (keys: "epoch" plus EPOCH_COLUMNS); rewriting an epoch replaces it."""
        if "epoch" not in metrics:
            raise ValueError("epoch metrics need an 'epoch' number")
        values = [_number(metrics.get(name)) for name in EPOCH_COLUMNS]
        columns = ", ".join(EPOCH_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in EPOCH_COLUMNS)
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute(
                f"""INSERT INTO epochs (run_id, epoch, {columns}) VALUES (?, ?, {", ".join("?" * len(EPOCH_COLUMNS))})
                    ON CONFLICT (run_id, epoch) DO UPDATE SET {updates}""",
                (run_id, int(metrics["epoch"]), *values))
        self._mirror(run_id)

    def add_note(self, run_id: int, note: str) -> None:
        with self._write() as conn:
            self._append_note(conn, run_id, note)
        self._mirror(run_id)

    def label_run(self, run_id: int, name: str | None = None, note: str | None = None) -> None:
        """Set the user's name and/or note of a run (None leaves that one as it is; "" clears it).
        Any run may be labelled, a running one too: the label is not part of how it trains."""
        current = self.get_run(run_id)
        if current is None:
            raise RunNotFoundError(f"no run with id {run_id}; list the runs to see which exist")
        name, note = clean_label(current.name if name is None else name,
                                 current.user_note if note is None else note)
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute("UPDATE runs SET name = ?, user_note = ? WHERE id = ?", (name, note, run_id))
        self._mirror(run_id)

    def finish_run(self, run_id: int, status: str, final: dict[str, Any] | None = None,
                   error: str | None = None) -> None:
        """Record how the run ended and its final scores (keys of FINAL_FIELDS)."""
        if status not in FINISHED:
            raise ValueError(f"a run finishes as one of {', '.join(FINISHED)}; got {status!r}")
        final = dict(final or {})
        unknown = sorted(set(final) - set(FINAL_FIELDS))
        if unknown:
            raise ValueError(f"unknown final fields {unknown}; allowed: {', '.join(FINAL_FIELDS)}")
        values: dict[str, Any] = {"status": status, "finished_at": utc_now(), "error": error}
        for name, value in final.items():
            if name == "final_metrics":
                value = None if value is None else json.dumps(value, default=_json_default)
            elif name == "stopped_early":
                value = None if value is None else int(bool(value))
            elif name in ("epoch_ended", "best_epoch"):
                value = None if value is None else int(value)
            else:
                value = _number(value)
            values[name] = value
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._write() as conn:
            self._require(conn, run_id)
            conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*values.values(), run_id))
        self._mirror(run_id)

    def delete_run(self, run_id: int, force: bool = False) -> bool:
        """Remove the run, its epochs and its folder. Refused while queued or running unless force.

        Returns False when there was no such run.
        """
        with self._write() as conn:
            row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                return False
            if row["status"] in STORED_ACTIVE and not force:
                raise RunInUseError(
                    f"run {run_id} is {row['status']}; cancel it first, then delete it")
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))  # epochs go with it (cascade)
        folder = self.workspace.run_dir(run_id)
        if self.workspace.contains(folder):
            shutil.rmtree(folder, ignore_errors=True)
        return True

    def recover_interrupted(self) -> list[int]:
        """Mark runs whose owning process is gone as interrupted; returns their ids.

        A run's owner is the process that created it (while queued) or runs it. Left alone: runs of
        live processes, this one included (so its own queue is safe), and runs owned by another
        host, whose processes we cannot see.
        """
        candidates = self._conn().execute(
            "SELECT id, status, owner_pid, owner_host, owner_token FROM runs "
            "WHERE status IN ('queued', 'running')").fetchall()
        recovered = []
        for row in candidates:
            if row["owner_host"] not in (None, self._host):
                continue
            if owner_alive(row["owner_pid"], row["owner_token"]):
                continue
            note = NOTE_NEVER_STARTED if row["status"] == RunStatus.QUEUED else NOTE_OWNER_GONE
            with self._write() as conn:
                # Re-check inside the transaction: another process may have finished it meanwhile.
                # epoch_ended: how far it got, so a list of runs shows it before it is resumed.
                cur = conn.execute(
                    "UPDATE runs SET status = 'interrupted', finished_at = ?, epoch_ended = "
                    "(SELECT MAX(epoch) FROM epochs WHERE run_id = runs.id) WHERE id = ? AND status = ?",
                    (utc_now(), row["id"], row["status"]))
                if cur.rowcount:
                    self._append_note(conn, row["id"], note)
                    recovered.append(int(row["id"]))
            self._mirror(int(row["id"]))
        return recovered

    # ----- the copy in the run folder ----------------------------------------------------------

    def _mirror(self, run_id: int) -> None:
        """Keep the run's row and epochs in its folder too (run.json), so `repair` can rebuild the
        registry from the folders when the database is lost. Best effort: the database is the truth."""
        folder = self.workspace.run_dir(run_id)
        row = self._conn().execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None or not folder.is_dir():
            return
        with suppress(OSError):
            atomic_write_json(folder / RUN_FILE, {"run": dict(row), "epochs": self.epochs(run_id)})

    def restore_run(self, row: dict[str, Any], epochs: list[dict[str, Any]]) -> None:
        """Put back a run read from its folder (see runs/repair.py), with its own id."""
        columns = [c for c in row if c in _RUN_COLUMNS]
        with self._write() as conn:
            conn.execute(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         [row[c] for c in columns])
            for metrics in epochs:
                conn.execute(
                    f"INSERT OR REPLACE INTO epochs (run_id, epoch, {', '.join(EPOCH_COLUMNS)}) "
                    f"VALUES (?, ?, {', '.join('?' * len(EPOCH_COLUMNS))})",
                    (row["id"], int(metrics["epoch"]), *[_number(metrics.get(c)) for c in EPOCH_COLUMNS]))
        self._mirror(int(row["id"]))

    # ----- device leases: one run per device across every process of the workspace -------------

    def claim_device(self, device: str, run_id: int) -> DeviceLease | None:
        """Take the device for run_id; returns None when taken, else the lease that holds it.

        A lease whose process is gone (on this host), or whose run no longer trains, is stale and
        taken over: the lease is freed when its owner dies, however it died.
        """
        with self._write() as conn:
            row = conn.execute("SELECT * FROM device_leases WHERE device = ?", (device,)).fetchone()
            if row is not None and row["run_id"] != run_id and self._lease_live(conn, row):
                return self._lease(row)
            conn.execute(
                """INSERT INTO device_leases (device, run_id, owner_pid, owner_host, owner_token, since)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (device) DO UPDATE SET run_id = excluded.run_id,
                       owner_pid = excluded.owner_pid, owner_host = excluded.owner_host,
                       owner_token = excluded.owner_token, since = excluded.since""",
                (device, run_id, os.getpid(), self._host, self._token, utc_now()))
        return None

    def device_lease(self, device: str) -> DeviceLease | None:
        """The live lease on the device, or None when it is free."""
        conn = self._conn()
        row = conn.execute("SELECT * FROM device_leases WHERE device = ?", (device,)).fetchone()
        return self._lease(row) if row is not None and self._lease_live(conn, row) else None

    def release_device(self, device: str, run_id: int) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM device_leases WHERE device = ? AND run_id = ? AND owner_pid = ?",
                         (device, run_id, os.getpid()))

    def _lease_live(self, conn: sqlite3.Connection, row: sqlite3.Row) -> bool:
        run = conn.execute("SELECT status FROM runs WHERE id = ?", (row["run_id"],)).fetchone()
        if run is None or run["status"] not in STORED_ACTIVE:
            return False  # its run ended without releasing it
        if row["owner_host"] not in (None, self._host):
            return True  # another machine's process: we cannot see it, so we trust the lease
        return owner_alive(row["owner_pid"], row["owner_token"])

    def _lease(self, row: sqlite3.Row) -> DeviceLease:
        mine = row["owner_pid"] == os.getpid() and row["owner_host"] in (None, self._host)
        return DeviceLease(row["device"], int(row["run_id"]), int(row["owner_pid"]), row["owner_host"],
                           row["owner_token"], row["since"], mine)

    # ----- reading -----------------------------------------------------------------------------

    def get_run(self, run_id: int) -> RunRecord | None:
        row = self._conn().execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else _record(row)

    def list_runs(self, dataset: str | None = None, statuses: Iterable[str] | None = None) -> list[RunRecord]:
        """Runs, newest first, optionally of one dataset and/or with one of the given statuses."""
        where, params = [], []
        if dataset is not None:
            where.append("dataset = ?")
            params.append(dataset)
        if statuses is not None:
            statuses = [statuses] if isinstance(statuses, str) else list(statuses)
            for status in statuses:
                _check_status(status)
            where.append(f"status IN ({', '.join('?' * len(statuses))})" if statuses else "0")
            params.extend(statuses)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
        return [_record(row) for row in self._conn().execute(sql, params).fetchall()]

    def epochs(self, run_id: int) -> list[dict[str, Any]]:
        """Per-epoch metrics, ordered by epoch; val_* are None when that epoch was not evaluated."""
        rows = self._conn().execute(
            f"SELECT epoch, {', '.join(EPOCH_COLUMNS)} FROM epochs WHERE run_id = ? ORDER BY epoch",
            (run_id,)).fetchall()
        return [dict(row) for row in rows]

    def runs_using_dataset(self, name: str) -> list[RunRecord]:
        """Queued or running runs of the dataset (a dataset must not be deleted under them)."""
        return self.list_runs(dataset=name, statuses=STORED_ACTIVE)

    def integrity_check(self) -> str:
        rows = self._conn().execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(row[0]) for row in rows)

    # ----- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _require(conn: sqlite3.Connection, run_id: int) -> None:
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise RunNotFoundError(f"no run with id {run_id}; list the runs to see which exist")

    def _append_note(self, conn: sqlite3.Connection, run_id: int, note: str) -> None:
        row = conn.execute("SELECT notes FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"no run with id {run_id}; list the runs to see which exist")
        notes = _json_list(row["notes"]) + [str(note)]
        conn.execute("UPDATE runs SET notes = ? WHERE id = ?", (json.dumps(notes), run_id))


# ----- process identity ------------------------------------------------------------------------


# ----- decoding --------------------------------------------------------------------------------

_RECORD_FIELDS = {f.name for f in fields(RunRecord)}
_RUN_COLUMNS = _RECORD_FIELDS | {"config"}


def _record(row: sqlite3.Row) -> RunRecord:
    data = {key: row[key] for key in row.keys() if key in _RECORD_FIELDS}
    try:
        data["config"] = TrainConfig.from_dict(json.loads(row["config"]))
    except (ValueError, TypeError, ConfigError):
        data["config"] = None
    data["notes"] = tuple(_json_list(row["notes"]))
    try:
        data["final_metrics"] = json.loads(row["final_metrics"]) if row["final_metrics"] else None
    except ValueError:
        data["final_metrics"] = None
    if data.get("stopped_early") is not None:
        data["stopped_early"] = bool(data["stopped_early"])
    data["description"] = data.get("description") or ""
    data["name"], data["user_note"] = data.get("name") or "", data.get("user_note") or ""
    return RunRecord(**data)


def _json_list(text: str | None) -> list[str]:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    if value is None:
        return None
    return float(value)  # also turns 0-d tensors and numpy scalars into plain floats


def _json_default(value: Any) -> Any:
    """numpy arrays/scalars and tensors in final_metrics become plain lists and numbers."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in final_metrics")


def clean_label(name: str, note: str) -> tuple[str, str]:
    """A run's name and note as stored: trimmed; a name is one line. Raises ValueError saying what
    is wrong and what to do when either is too long."""
    name = " ".join(str(name or "").split())
    note = str(note or "").strip()
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"the run name has {len(name)} characters; keep it to {MAX_NAME_CHARS} "
                         "(put the rest in the note)")
    if len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"the note has {len(note)} characters; keep it to {MAX_NOTE_CHARS}")
    return name, note


def _check_status(status: str) -> None:
    if status not in STORED:
        raise ValueError(f"status must be one of {', '.join(STORED)}; got {status!r}")
