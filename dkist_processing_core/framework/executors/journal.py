"""The run journal: each task's status, duration and error, kept in the run's scratch.

It lives beside the scratch index (SQLite, WAL) so that every engine, in any
process, records into the same place, and a second invocation of the same
recipe run knows what has already completed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from pydantic import BaseModel

from ..sqlite import open_shared

JOURNAL_NAME = ".run-journal.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS task_runs (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL,
    ended REAL,
    duration_s REAL,
    error TEXT,
    fingerprint TEXT,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
"""

PENDING, RUNNING, SUCCEEDED, FAILED, UPSTREAM_FAILED = (
    "pending",
    "running",
    "succeeded",
    "failed",
    "upstream_failed",
)


class TaskRecord(BaseModel):
    name: str
    status: str = PENDING
    attempts: int = 0
    started: float | None = None
    ended: float | None = None
    duration_s: float | None = None
    error: str | None = None
    resumed: bool = False  # completed by an earlier invocation and not run again
    reason: str | None = None  # why it ran, or why it was reused


class RunJournal:
    def __init__(self, scratch_dir: Path | str):
        self.path = Path(scratch_dir) / JOURNAL_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            conn = open_shared(self.path, _SCHEMA, marker_table="task_runs")
            columns = {r[1] for r in conn.execute("PRAGMA table_info(task_runs)")}
            for column in ("fingerprint", "reason"):  # a journal older than these columns
                if column not in columns:
                    with contextlib.suppress(sqlite3.OperationalError):  # another process did
                        conn.execute(f"ALTER TABLE task_runs ADD COLUMN {column} TEXT")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS file_hashes (path TEXT PRIMARY KEY, "
                    "size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL)"
                )
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def record(self, name: str) -> TaskRecord:
        row = (
            self._db()
            .execute(
                "SELECT name, status, attempts, started, ended, duration_s, error, reason "
                "FROM task_runs "
                "WHERE name = ?",
                (name,),
            )
            .fetchone()
        )
        if row is None:
            return TaskRecord(name=name)
        keys = ("name", "status", "attempts", "started", "ended", "duration_s", "error", "reason")
        return TaskRecord(**dict(zip(keys, row)))

    def records(self, names: list[str]) -> list[TaskRecord]:
        return [self.record(n) for n in names]

    def start(self, name: str, reason: str | None = None) -> None:
        self._db().execute(
            "INSERT INTO task_runs(name, status, attempts, started, reason) "
            "VALUES (?, ?, 1, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET status=excluded.status, attempts=attempts+1, "
            "started=excluded.started, ended=NULL, duration_s=NULL, error=NULL, "
            "fingerprint=NULL, reason=excluded.reason",
            (name, RUNNING, time.time(), reason),
        )

    def finish(
        self, name: str, status: str, error: str | None = None, fingerprint: str | None = None
    ) -> None:
        now = time.time()
        self._db().execute(
            "UPDATE task_runs SET status=?, ended=?, duration_s=? - started, error=?, "
            "fingerprint=? WHERE name=?",
            (status, now, now, error, fingerprint, name),
        )

    def fingerprint(self, name: str) -> str | None:
        """The fingerprint recorded when the task last succeeded (JSON), if any."""
        row = (
            self._db()
            .execute("SELECT fingerprint FROM task_runs WHERE name = ?", (name,))
            .fetchone()
        )
        return row[0] if row else None

    def file_hash(self, stored: str, path: Path, compute) -> str:
        """The content hash of a file, computed once per (size, modification time)."""
        stat = path.stat()
        db = self._db()
        row = db.execute(
            "SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ?",
            (stored, stat.st_size, stat.st_mtime_ns),
        ).fetchone()
        if row:
            return row[0]
        digest = compute(path)
        db.execute(
            "INSERT INTO file_hashes(path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns, "
            "sha256=excluded.sha256",
            (stored, stat.st_size, stat.st_mtime_ns, digest),
        )
        return digest

    def mark(self, name: str, status: str, error: str | None = None) -> None:
        self._db().execute(
            "INSERT INTO task_runs(name, status, error) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET status=excluded.status, error=excluded.error",
            (name, status, error),
        )
