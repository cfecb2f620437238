"""Opening the SQLite files several processes of one run share (scratch index, run journal).

SQLite's busy timeout covers ordinary writes, but switching a file to WAL mode and
creating its schema can be refused at once ("database is locked") while another
process does the same; opening therefore retries those steps with a backoff.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

BUSY_TIMEOUT_S = 120.0


def _locked(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def open_shared(path: Path | str, schema: str, *, marker_table: str) -> sqlite3.Connection:
    """A WAL-mode autocommit connection to ``path`` with ``schema`` created if missing.

    ``marker_table`` is a table of ``schema``: when it exists the schema is not run again.
    """
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.01
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (marker_table,)
            ).fetchone()
            if not exists:
                conn.executescript(schema)
            return conn
        except sqlite3.OperationalError as error:
            if not _locked(error) or time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)
