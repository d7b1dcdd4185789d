"""Persistent state of the sandbox: one SQLite database plus a blob directory, under the data dir.

This layer knows nothing about HTTP or about the B2SHARE API version: it stores users, communities,
records (a draft and its published record share one row), buckets and object versions, and it
streams file contents into immutable blobs.  The v2 views (and a later v3 mode) build on it.

Concurrency: every transaction opens its own connection (the threaded server runs one thread per
request), SQLite runs in WAL mode, and writers take the write lock up front (``BEGIN IMMEDIATE``) so
read-modify-write sequences never interleave.  Blobs are written to ``tmp/`` and renamed into
``blobs/`` only once complete, so a crash or a dropped upload never leaves a partial file behind.

One job: the sandbox's persistent state, so that both API versions share one database and one blob
store.

May import: ecasrepro.errors; never the HTTP layers (.v2, .v3, .web), ecasrepro.api,
ecasrepro.b2share (the client it serves), or a front end (ecasrepro.cli, ecasrepro.magic,
ecasrepro.compat).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from ecasrepro.errors import ConfigurationError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock, one sandbox per dir by hand
    fcntl = None  # type: ignore[assignment]

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL UNIQUE,
    superuser INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS roles (
    id INTEGER PRIMARY KEY,
    community_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('admin', 'member')),
    UNIQUE (community_id, kind)
);
CREATE TABLE IF NOT EXISTS user_roles (
    user_id INTEGER NOT NULL REFERENCES users(id),
    role_id INTEGER NOT NULL REFERENCES roles(id),
    PRIMARY KEY (user_id, role_id)
);
CREATE TABLE IF NOT EXISTS communities (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    head_id TEXT NOT NULL,
    owners TEXT NOT NULL,
    community TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    draft_state TEXT NOT NULL,
    draft_json TEXT NOT NULL,
    draft_revision INTEGER NOT NULL DEFAULT 0,
    draft_bucket TEXT NOT NULL,
    draft_created TEXT NOT NULL,
    draft_updated TEXT NOT NULL,
    record_state TEXT,
    record_json TEXT,
    record_revision INTEGER NOT NULL DEFAULT 0,
    record_bucket TEXT,
    record_created TEXT,
    record_updated TEXT,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS records_head ON records(head_id);
CREATE TABLE IF NOT EXISTS buckets (
    id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('draft', 'record')),
    locked INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    version_id TEXT PRIMARY KEY,
    bucket_id TEXT NOT NULL REFERENCES buckets(id),
    key TEXT NOT NULL,
    blob TEXT,
    size INTEGER NOT NULL DEFAULT 0,
    checksum TEXT,
    mimetype TEXT,
    is_head INTEGER NOT NULL DEFAULT 1,
    delete_marker INTEGER NOT NULL DEFAULT 0,
    epic_pid TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_bucket_key ON objects(bucket_id, key);
CREATE TABLE IF NOT EXISTS web_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    created TEXT NOT NULL
);
"""

READ_CHUNK = 1 << 20  # 1 MiB: large reads keep per-chunk Python overhead negligible
RING_BUFFERS = 8  # upload pipeline depth: at most 8 MiB in flight per upload


def utcnow_iso() -> str:
    """Record/file timestamps as the real server prints them: microseconds and ``+00:00``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def new_hex_id() -> str:
    return uuid.uuid4().hex


def new_uuid() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class BlobWrite:
    """A finished upload: where it lives (relative blob name), its size and md5."""

    blob: str
    size: int
    md5_hex: str


class IncompleteUpload(Exception):
    """The client sent fewer bytes than it announced (or the connection was dropped)."""


class _TransactionConnection(sqlite3.Connection):
    """A connection that remembers the blob files its transaction made unreferenced."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unreferenced_blobs: list[str] = []


class Storage:
    """SQLite metadata + blob files under ``data_dir``; safe to share between threads."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.blob_dir = self.data_dir / "blobs"
        self.tmp_dir = self.data_dir / "tmp"
        self.db_path = self.data_dir / "sandbox.sqlite3"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._seq_lock = threading.Lock()
        self._lock_file: IO[bytes] | None = self._lock_data_dir()
        self._keeper: sqlite3.Connection | None = None
        for leftover in self.tmp_dir.iterdir():  # partial uploads of a previous run
            with contextlib.suppress(OSError):
                leftover.unlink()
        # This first connection stays open, idle, for the storage's lifetime: closing the last
        # connection of a WAL database checkpoints and deletes the WAL (with fsyncs), which
        # tripled the cost of every request when each transaction had its own connection.
        try:
            db = self._connect()
            try:
                db.executescript(SCHEMA_SQL)
            finally:
                db.close()
        except BaseException:
            self.close()  # the directory lock
            raise
        self._keeper = sqlite3.connect(
            self.db_path, check_same_thread=False
        )

    def _lock_data_dir(self) -> IO[bytes] | None:
        """Hold an exclusive lock on the directory for the storage's lifetime: a second sandbox
        would clear ``tmp/`` under the first one's streaming uploads (they fail, 500)."""
        if fcntl is None:
            return None
        handle = open(self.data_dir / "sandbox.lock", "ab")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ConfigurationError(
                f"the data directory {self.data_dir} is already used by another sandbox; "
                "stop it or pass another --data."
            ) from None
        return handle

    def close(self) -> None:
        """Release the idle connection (the WAL is checkpointed once, here) and the dir lock."""
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.close()
        lock, self._lock_file = self._lock_file, None
        if lock is not None:
            lock.close()

    # --- database ------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.db_path, timeout=30, isolation_level=None, factory=_TransactionConnection
        )
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One connection per transaction; writers lock up front so check-then-act is atomic."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            # Only now is no row pointing at them: a failed commit must not lose a stored byte.
            for blob in getattr(db, "unreferenced_blobs", ()):
                with contextlib.suppress(OSError):
                    self.blob_path(blob).unlink()
        finally:
            db.close()

    @staticmethod
    def discard_blob_after_commit(db: sqlite3.Connection, blob: str) -> None:
        """Remove ``blob``'s file once the transaction that dropped its last reference commits."""
        db.unreferenced_blobs.append(blob)  # type: ignore[attr-defined]

    def read(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self.transaction(write=False)

    @staticmethod
    def next_seq(db: sqlite3.Connection, table: str) -> int:
        row = db.execute(f"SELECT COALESCE(MAX(seq), 0) + 1 FROM {table}").fetchone()
        return int(row[0])

    def get_meta(self, key: str) -> str | None:
        with self.read() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # --- blobs ---------------------------------------------------------------------------------
    def blob_path(self, blob: str) -> Path:
        return self.blob_dir / blob[:2] / blob

    def write_blob(
        self,
        stream: IO[bytes],
        length: int,
        *,
        stop_at: int | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> BlobWrite:
        """Stream exactly ``length`` bytes into a new blob, hashing on the fly; never buffers it.

        A three-stage pipeline over a small ring of 1 MiB buffers: this thread receives, a hasher
        thread runs md5, a writer thread writes to disk (hashlib, socket reads and file writes all
        release the GIL, so the stages overlap on different buffers).  Memory stays at the ring
        size whatever the file size.  ``stop_at`` (fault injection) stops reading after that many
        bytes, calls ``on_stop`` and raises :class:`IncompleteUpload`; the temporary file is
        removed in every failure case.
        """
        blob = new_uuid().replace("-", "")
        tmp_path = self.tmp_dir / f"{blob}.part"
        md5 = hashlib.md5()
        limit = length if stop_at is None else min(stop_at, length)
        free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(RING_BUFFERS):
            free.put(bytearray(READ_CHUNK))
        to_hash: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
        to_write: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
        failure: list[BaseException] = []
        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

        def hasher() -> None:
            while (item := to_hash.get()) is not None:
                buf, size = item
                if not failure:
                    try:
                        md5.update(memoryview(buf)[:size])
                    except BaseException as exc:  # reported to the receiving thread
                        failure.append(exc)
                to_write.put(item)
            to_write.put(None)

        def writer() -> None:
            while (item := to_write.get()) is not None:
                buf, size = item
                view = memoryview(buf)[:size]
                try:
                    while view and not failure:
                        view = view[os.write(fd, view) :]
                except BaseException as exc:
                    failure.append(exc)
                free.put(buf)

        stages = [threading.Thread(target=hasher), threading.Thread(target=writer)]
        for stage in stages:
            stage.start()
        received = 0
        try:
            try:
                while received < limit and not failure:
                    buf = free.get()
                    want = min(READ_CHUNK, limit - received)
                    try:
                        got = stream.readinto(memoryview(buf)[:want])  # type: ignore[attr-defined]
                    except OSError as exc:  # reset by the client, or silent past the timeout
                        free.put(buf)
                        raise IncompleteUpload(
                            f"connection lost after {received} of {length} bytes ({exc})"
                        ) from None
                    if not got:
                        free.put(buf)
                        raise IncompleteUpload(
                            f"connection closed after {received} of {length} bytes"
                        )
                    received += got
                    to_hash.put((buf, got))
            finally:
                to_hash.put(None)
                for stage in stages:
                    stage.join()
            if failure:
                raise failure[0]
            if received < length:
                if on_stop is not None:
                    on_stop()
                raise IncompleteUpload(f"upload dropped after {received} of {length} bytes")
            os.close(fd)
            fd = -1
            final = self.blob_path(blob)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_path, final)
            return BlobWrite(blob=blob, size=received, md5_hex=md5.hexdigest())
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(OSError):
                tmp_path.unlink()
            raise

    def delete_blob_if_unused(self, db: sqlite3.Connection, blob: str | None) -> None:
        """Remove a blob file once no object version refers to it (snapshots share blobs)."""
        if not blob:
            return
        row = db.execute("SELECT COUNT(*) FROM objects WHERE blob = ?", (blob,)).fetchone()
        if int(row[0]) == 0:
            self.discard_blob_after_commit(db, blob)


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=False, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
