"""The run journal: each task's status, duration and error, kept in the run's scratch.

It lives beside the scratch index (SQLite, WAL) so that every engine, in any
process, records into the same place, and a second invocation of the same
recipe run knows what has already completed.
"""

from __future__ import annotations

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
    error TEXT
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


class RunJournal:
    def __init__(self, scratch_dir: Path | str):
        self.path = Path(scratch_dir) / JOURNAL_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            conn = open_shared(self.path, _SCHEMA, marker_table="task_runs")
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
                "SELECT name, status, attempts, started, ended, duration_s, error FROM task_runs "
                "WHERE name = ?",
                (name,),
            )
            .fetchone()
        )
        if row is None:
            return TaskRecord(name=name)
        keys = ("name", "status", "attempts", "started", "ended", "duration_s", "error")
        return TaskRecord(**dict(zip(keys, row)))

    def records(self, names: list[str]) -> list[TaskRecord]:
        return [self.record(n) for n in names]

    def start(self, name: str) -> None:
        self._db().execute(
            "INSERT INTO task_runs(name, status, attempts, started) VALUES (?, ?, 1, ?) "
            "ON CONFLICT(name) DO UPDATE SET status=excluded.status, attempts=attempts+1, "
            "started=excluded.started, ended=NULL, duration_s=NULL, error=NULL",
            (name, RUNNING, time.time()),
        )

    def finish(self, name: str, status: str, error: str | None = None) -> None:
        now = time.time()
        self._db().execute(
            "UPDATE task_runs SET status=?, ended=?, duration_s=? - started, error=? WHERE name=?",
            (status, now, now, error, name),
        )

    def mark(self, name: str, status: str, error: str | None = None) -> None:
        self._db().execute(
            "INSERT INTO task_runs(name, status, error) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET status=excluded.status, error=excluded.error",
            (name, status, error),
        )
