"""The tagged scratch: a recipe run's working files on local disk, found by tags.

Every file a task writes is indexed with a set of tags (plain strings such as
``"INPUT"``, ``"TASK_DARK"``, ``"EXP_TIME_0.1"``). A query names several tags
and returns the files that carry all of them (their intersection).

The index is a SQLite database in the scratch folder, with one row per
(tag, file) pair and a primary key on ``(tag, file_id)``, so each tag of a query
is an index range scan and the intersection is done by SQLite: a query over
100,000 files stays in the millisecond range (see ``benchmarks/``). SQLite in
WAL mode lets several processes (Dask workers, Airflow tasks) of one run read
and write the same scratch at once.

Writes are atomic (see :mod:`.atomic`): the file appears complete under its
final name, and only then is it indexed. Each file records which task wrote
it, so that an interrupted task's partial outputs can be removed before it runs
again while every completed task's outputs stay intact.

No output is ever overwritten inside a run, and a write survives ``kill -9`` at
any moment. A write first *reserves* its name: a pending row in the index that
records the writer and the *source* (what the file is made from, e.g. the raw
frame); a second reservation of the same name is refused with an error naming
both sources. Then the bytes go to a temporary ``.part`` file, which is renamed
into place, and only then are the file's tags committed (the row stops being
pending). A process killed at any of these steps leaves a pending row, a
``.part`` file, or a file that no index row completes. Every temporary ``.part``
file a task's atomic write makes is recorded as the task's before it is created
(:meth:`Scratch.record_temporary`), wherever in the scratch the task writes, also
beside another task's files. Before the task runs again,
:meth:`Scratch.remove_written_by` and :meth:`Scratch.discard_leftovers` remove
exactly these, and the task's completed files of an earlier attempt.
Pending files are never found by a query.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .atomic import atomic_write, part_files_of
from .crashpoints import crash_point
from .sqlite import open_shared

INDEX_NAME = ".scratch-index.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    writer TEXT,
    created REAL NOT NULL,
    source TEXT,
    pending INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS files_by_writer ON files(writer);
CREATE TABLE IF NOT EXISTS tags (
    tag TEXT NOT NULL,
    file_id INTEGER NOT NULL,
    PRIMARY KEY (tag, file_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_by_file ON tags(file_id);
CREATE TABLE IF NOT EXISTS tag_counts (tag TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS tags_counted AFTER INSERT ON tags BEGIN
    INSERT INTO tag_counts(tag, n) VALUES (new.tag, 1)
    ON CONFLICT(tag) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS tags_uncounted AFTER DELETE ON tags BEGIN
    UPDATE tag_counts SET n = n - 1 WHERE tag = old.tag;
END;
"""


# The temporary files of a task's atomic writes, wherever in the scratch it writes them.
_TEMPORARIES = """
CREATE TABLE IF NOT EXISTS temporaries (
    path TEXT PRIMARY KEY,
    writer TEXT NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS temporaries_by_writer ON temporaries(writer);
"""
_SCHEMA += _TEMPORARIES


class ScratchError(Exception):
    """A scratch operation that cannot be carried out; the message names the file."""


class ScratchConflict(ScratchError):
    """Two writes of one run want the same file name; the message names both sources."""

    def __init__(self, message: str, path: Path, first_source: str, second_source: str):
        super().__init__(message)
        self.path = path
        self.first_source = first_source
        self.second_source = second_source


_NEW_COLUMNS = {"source": "TEXT", "pending": "INTEGER NOT NULL DEFAULT 0"}


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring an index made by an older version up to date (columns and tables added since)."""
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'temporaries'"
    ).fetchone():
        conn.executescript(_TEMPORARIES)  # IF NOT EXISTS: another process may add it meanwhile
    have = {row[1] for row in conn.execute("PRAGMA table_info(files)")}
    for name, kind in _NEW_COLUMNS.items():
        if name not in have:
            try:
                conn.execute(f"ALTER TABLE files ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError as e:  # another process added it meanwhile
                if "duplicate column" not in str(e).lower():
                    raise


def _normalise_tags(tags: Iterable[str] | str) -> list[str]:
    if isinstance(tags, str):
        tags = [tags]
    out = sorted({str(t) for t in tags})
    if not out:
        raise ScratchError("at least one tag is required")
    return out


class Scratch:
    """Tagged working files of one recipe run, under ``root``.

    ``writer`` names the task on whose behalf files are written; the executor
    sets it so that every file is attributed to the task that made it.
    """

    def __init__(self, root: Path | str, *, writer: str | None = None):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.writer = writer
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._batch_depth = 0
        # Stored paths this instance returned from queries or indexed from outside: the files
        # a task read, which make part of its fingerprint (see framework.fingerprint).
        self.looked_up: set[str] = set()

    # -- index connection -------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        # A connection must not be shared across a fork; open one per process.
        if self._conn is None or self._pid != os.getpid():
            conn = open_shared(self.root / INDEX_NAME, _SCHEMA, marker_table="tag_counts")
            _add_missing_columns(conn)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group many index changes into one transaction (fast bulk tagging)."""
        db = self._db()
        if self._batch_depth == 0:
            db.execute("BEGIN IMMEDIATE")
        self._batch_depth += 1
        try:
            yield
        except BaseException:
            self._batch_depth -= 1
            if self._batch_depth == 0:
                db.execute("ROLLBACK")
            raise
        self._batch_depth -= 1
        if self._batch_depth == 0:
            db.execute("COMMIT")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        if self._batch_depth:
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- paths ------------------------------------------------------------
    def _stored_path(self, path: Path) -> str:
        path = Path(path).resolve()
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)  # a file outside the scratch (e.g. an input frame) keeps its path

    def _absolute(self, stored: str) -> Path:
        p = Path(stored)
        return p if p.is_absolute() else self.root / p

    def path_for(self, name: str | None = None, *, suffix: str = "") -> Path:
        """Where a new file named ``name`` goes (a unique name when not given)."""
        if name is None:
            name = f"{uuid.uuid4().hex}{suffix}"
        elif suffix and not name.endswith(suffix):
            name = f"{name}{suffix}"
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ScratchError(f"scratch file name {name!r} must be relative, inside the scratch")
        return self.root / (self.writer or "files") / name

    # -- indexing -----------------------------------------------------------
    def add(self, path: Path | str, tags: Iterable[str] | str) -> Path:
        """Index an existing file with ``tags`` (added to any tags it already has)."""
        path = Path(path)
        if not path.exists():
            raise ScratchError(f"cannot tag {path}: no such file")
        tags = _normalise_tags(tags)
        stored = self._stored_path(path)
        if Path(stored).is_absolute():  # a file from outside the scratch: an input it reads
            self.looked_up.add(stored)
        with self._transaction() as db:
            # A reserved (pending) file becomes complete; an indexed one keeps its writer.
            db.execute(
                "INSERT INTO files(path, writer, created) VALUES (?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET pending = 0",
                (stored, self.writer, time.time()),
            )
            (file_id,) = db.execute("SELECT id FROM files WHERE path = ?", (stored,)).fetchone()
            db.executemany(
                "INSERT OR IGNORE INTO tags(tag, file_id) VALUES (?, ?)",
                [(t, file_id) for t in tags],
            )
            crash_point("index-before-commit", path)
        return self._absolute(stored)

    def reserve(self, path: Path | str, *, source: str | None = None) -> Path:
        """Record the intent to write ``path`` (made from ``source``) before writing it.

        The pending index row names the writer, so an interrupted write is removed
        with the writer's other outputs; :meth:`add` completes it. A name that is
        already reserved or written in this scratch is refused with
        :class:`ScratchConflict` naming both sources: no output is ever overwritten.
        """
        path = Path(path)
        stored = self._stored_path(path)
        source = None if source is None else str(source)
        with self._transaction() as db:
            row = db.execute(
                "SELECT writer, source, pending FROM files WHERE path = ?", (stored,)
            ).fetchone()
            if row is None and path.exists():
                raise ScratchConflict(
                    f"refusing to overwrite {path}: it already exists in the scratch (a file no "
                    f"write of this run recorded); now {self.describe_source(source)} would "
                    "replace it",
                    path, "an unrecorded file", source or "",
                )  # fmt: skip
            if row is not None:
                writer, first, pending = row
                state = "is being written" if pending else "was written"
                raise ScratchConflict(
                    f"refusing to overwrite {path}: it already exists in the scratch; it "
                    f"{state} by {writer or 'an unnamed writer'} from "
                    f"{self.describe_source(first)}, and now {self.writer or 'an unnamed writer'} "
                    f"would write it from {self.describe_source(source)}",
                    path, first or "", source or "",
                )  # fmt: skip
            db.execute(
                "INSERT INTO files(path, writer, created, source, pending) VALUES (?, ?, ?, ?, 1)",
                (stored, self.writer, time.time(), source),
            )
        target = self._absolute(stored)
        if target.is_relative_to(self.root):
            target.parent.mkdir(parents=True, exist_ok=True)  # ready to be written
        return target

    def release(self, path: Path | str) -> None:
        """Give up a reservation whose write failed (the name can be written again)."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM files WHERE path = ? AND pending = 1", (self._stored_path(Path(path)),)
            )

    def source_of(self, path: Path | str) -> str | None:
        """What a file was made from, as its writer said (``None`` when it did not say)."""
        row = (
            self._db()
            .execute("SELECT source FROM files WHERE path = ?", (self._stored_path(Path(path)),))
            .fetchone()
        )
        return None if row is None else row[0]

    def describe_source(self, source: str | None, depth: int = 3) -> str:
        """``source``, followed back through what it was made from when the scratch knows."""
        if not source:
            return "an unnamed source"
        text = str(source)
        made_from = self.source_of(source) if depth > 0 else None
        if made_from and made_from != source:
            text += f" (made from {self.describe_source(made_from, depth - 1)})"
        return text

    def tag(self, path: Path | str, tags: Iterable[str] | str) -> None:
        """Add tags to an indexed file."""
        self._require_indexed(path)
        self.add(path, tags)

    def untag(self, path: Path | str, tags: Iterable[str] | str) -> None:
        """Remove tags from an indexed file (the file stays)."""
        file_id = self._require_indexed(path)
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM tags WHERE tag = ? AND file_id = ?",
                [(t, file_id) for t in _normalise_tags(tags)],
            )

    def _require_indexed(self, path: Path | str) -> int:
        row = (
            self._db()
            .execute("SELECT id FROM files WHERE path = ?", (self._stored_path(Path(path)),))
            .fetchone()
        )
        if row is None:
            raise ScratchError(f"{path} is not in the scratch index of {self.root}")
        return row[0]

    def tags_of(self, path: Path | str) -> set[str]:
        file_id = self._require_indexed(path)
        rows = self._db().execute("SELECT tag FROM tags WHERE file_id = ?", (file_id,))
        return {r[0] for r in rows}

    # -- queries -------------------------------------------------------------
    def _query(self, select: str, tags: Iterable[str] | str) -> tuple[str, list[str]]:
        """SQL selecting files that carry every tag, driven from the rarest tag.

        Per-tag counts (kept by triggers) order the tags, so the scan starts on
        the smallest set and each further tag is one primary-key probe per
        candidate: the cost follows the rarest tag, not the scratch's size.
        """
        tags = _normalise_tags(tags)
        if len(tags) > 1:
            marks = ",".join("?" * len(tags))
            counts = dict(
                self._db().execute(f"SELECT tag, n FROM tag_counts WHERE tag IN ({marks})", tags)
            )
            tags.sort(key=lambda t: counts.get(t, 0))
        probes = "".join(
            " AND EXISTS (SELECT 1 FROM tags t WHERE t.tag = ? AND t.file_id = t0.file_id)"
            for _ in tags[1:]
        )
        sql = f"{select} FROM tags t0 JOIN files ON files.id = t0.file_id WHERE t0.tag = ?{probes}"
        return sql, tags

    def find(self, *tags: str) -> list[Path]:
        """Files carrying every one of ``tags``, in a stable (path) order."""
        sql, args = self._query("SELECT files.path", tags)
        stored = [r[0] for r in self._db().execute(sql + " ORDER BY files.path", args)]
        self.looked_up.update(stored)
        return [self._absolute(p) for p in stored]

    def find_one(self, *tags: str) -> Path:
        """The single file carrying ``tags``; an error naming the tags otherwise."""
        found = self.find(*tags)
        if len(found) != 1:
            raise ScratchError(
                f"expected exactly one file tagged {sorted(tags)} in {self.root}, found {len(found)}"
            )
        return found[0]

    def count(self, *tags: str) -> int:
        sql, args = self._query("SELECT count(*)", tags)
        return self._db().execute(sql, args).fetchone()[0]

    def values_of(self, prefix: str, *tags: str) -> list[str]:
        """The distinct suffixes of tags starting with ``prefix`` among files carrying ``tags``.

        ``values_of("EXP_TIME_", "INPUT", "TASK_DARK")`` lists the exposure times of the darks.
        """
        like = prefix.replace("_", r"\_") + "%"
        if tags:
            sql, args = self._query("SELECT files.id", tags)
            sql = (
                f"SELECT DISTINCT tag FROM tags WHERE tag LIKE ? ESCAPE '\\' AND file_id IN ({sql})"
            )
            args = [like, *args]
        else:
            sql, args = "SELECT DISTINCT tag FROM tags WHERE tag LIKE ? ESCAPE '\\'", [like]
        return sorted(r[0][len(prefix) :] for r in self._db().execute(sql, args))

    def written_by(self, writer: str, *, pending: bool = False) -> list[Path]:
        """Files ``writer`` wrote (with ``pending``, also those reserved and not completed)."""
        where = "writer = ?" if pending else "writer = ? AND pending = 0"
        rows = self._db().execute(f"SELECT path FROM files WHERE {where} ORDER BY path", (writer,))
        return [self._absolute(r[0]) for r in rows]

    def remove_written_by(self, writer: str) -> int:
        """Delete the files a task wrote (and their index rows); inputs it tagged are kept.

        Used before a task runs again after an interruption, so it starts clean:
        its completed files, its reserved names whose write never completed, and
        the temporary ``.part`` files of writes killed before their rename.
        Only files inside the scratch are deleted from disk.
        """
        paths = self.written_by(writer, pending=True)
        with self._transaction() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM files WHERE writer = ?", (writer,))]
            db.executemany("DELETE FROM tags WHERE file_id = ?", [(i,) for i in ids])
            db.execute("DELETE FROM files WHERE writer = ?", (writer,))
        for p in paths:
            if p.is_relative_to(self.root):
                for leftover in (p, *part_files_of(p)):
                    with contextlib.suppress(FileNotFoundError):
                        leftover.unlink()
        return len(paths)

    # -- temporary files of atomic writes ----------------------------------------
    def record_temporary(self, path: Path | str) -> None:
        """Record, before it is created, a temporary file this scratch's writer will write.

        The executors make every atomic write of a task call this
        (:func:`~dkist_processing_core.framework.atomic.temporaries_recorded_by`), so a
        temporary ``.part`` file a kill leaves is the task's wherever it lies in the
        scratch, also beside another task's files (the dataset ASDF beside the L1
        frames). Files outside the scratch and writes with no writer are not recorded.
        Inside :meth:`batch` the record is committed with the batch.
        """
        if self.writer is None:
            return
        stored = self._stored_path(Path(path))
        if Path(stored).is_absolute():
            return
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO temporaries(path, writer, created) VALUES (?, ?, ?)",
                (stored, self.writer, time.time()),
            )

    def temporaries_of(self, writer: str) -> list[Path]:
        """The temporary files recorded for ``writer`` (most no longer exist: renamed)."""
        rows = self._db().execute(
            "SELECT path FROM temporaries WHERE writer = ? ORDER BY path", (writer,)
        )
        return [self._absolute(r[0]) for r in rows]

    def forget_temporaries(self, writer: str) -> None:
        """Drop ``writer``'s records of temporary files (its run finished: none is left)."""
        with self._transaction() as db:
            db.execute("DELETE FROM temporaries WHERE writer = ?", (writer,))

    def discard_leftovers(self, writer: str) -> list[Path]:
        """Delete what ``writer``'s killed writes left: its recorded temporary files
        wherever they lie, and the files in its own folder that no index row records.

        Every temporary ``.part`` file of a task's atomic writes is recorded before it
        is created (:meth:`record_temporary`), in whichever folder it lies. Every name
        :meth:`path_for` gives ``writer`` lies in its own folder, so a file there that
        the index does not know is what a killed write left: a temporary file, or a
        file renamed into place but never indexed (also by a task that writes a file
        itself and then :meth:`add` s it). Run before the task runs again; returns the
        paths removed.
        """
        removed = []
        for path in self.temporaries_of(writer):
            if path.is_relative_to(self.root) and (path.is_file() or path.is_symlink()):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
        self.forget_temporaries(writer)
        folder = self.root / writer
        if not folder.is_dir():
            return removed
        # Files the index records, and other writers' recorded temporary files (theirs).
        known = {
            self._absolute(r[0])
            for r in self._db().execute(
                "SELECT path FROM files WHERE path LIKE ?1 "
                "UNION ALL SELECT path FROM temporaries WHERE path LIKE ?1",
                (f"{writer}/%",),
            )
        }
        for path in sorted(folder.rglob("*")):
            if (path.is_file() or path.is_symlink()) and path not in known:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                removed.append(path)
        return removed

    def remove(self, path: Path | str) -> None:
        """Remove a file from the index, and from disk when it lies inside the scratch."""
        file_id = self._require_indexed(path)
        with self._transaction() as db:
            db.execute("DELETE FROM tags WHERE file_id = ?", (file_id,))
            db.execute("DELETE FROM files WHERE id = ?", (file_id,))
        path = Path(path).resolve()
        if path.is_relative_to(self.root):
            path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return self._db().execute("SELECT count(*) FROM files WHERE pending = 0").fetchone()[0]

    # -- writing ---------------------------------------------------------------
    def write_with(
        self,
        write: Callable[[BinaryIO], Any],
        tags: Iterable[str] | str,
        name: str | None = None,
        *,
        suffix: str = "",
        overwrite: bool = False,
        source: str | os.PathLike | None = None,
    ) -> Path:
        """Atomically write a new file with ``write(fileobj)`` and index it with ``tags``.

        ``source`` says what the file is made from (e.g. the raw frame); it is
        kept in the index and named if another write wants the same name. An
        existing file of that name is never replaced (:class:`ScratchConflict`)
        unless ``overwrite``.
        """
        path = self.path_for(name, suffix=suffix)
        reserved = not (overwrite and path.exists())
        if reserved:
            self.reserve(path, source=None if source is None else str(source))
        try:
            with atomic_write(path) as f:
                write(f)
        except BaseException:
            if reserved:
                self.release(path)
            raise
        return self.add(path, tags)

    def write_bytes(self, data: bytes, tags, name: str | None = None, **kw) -> Path:
        return self.write_with(lambda f: f.write(data), tags, name, **kw)

    def write_json(self, obj: Any, tags, name: str | None = None, **kw) -> Path:
        text = json.dumps(obj, indent=2, sort_keys=True, default=str).encode()
        return self.write_with(lambda f: f.write(text), tags, name, suffix=".json", **kw)

    def write_array(self, array: np.ndarray, tags, name: str | None = None, **kw) -> Path:
        return self.write_with(
            lambda f: np.save(f, np.asarray(array), allow_pickle=False),
            tags,
            name,
            suffix=".npy",
            **kw,
        )

    def write_fits(
        self,
        data: np.ndarray | None = None,
        tags: Iterable[str] | str = (),
        name: str | None = None,
        *,
        header=None,
        hdul=None,
        checksum: bool = False,
        **kw,
    ) -> Path:
        """Write a FITS file: an array (and header) as a primary HDU, or a whole HDUList."""
        from astropy.io import fits

        if hdul is None:
            hdul = fits.HDUList([fits.PrimaryHDU(data=data, header=header)])

        def write(f):
            # astropy seeks on the file it writes; give it a buffer, then stream out.
            buf = io.BytesIO()
            hdul.writeto(buf, checksum=checksum)
            f.write(buf.getbuffer())

        return self.write_with(write, tags, name, suffix=".fits", **kw)

    # -- reading ---------------------------------------------------------------
    @staticmethod
    def read_json(path: Path | str) -> Any:
        try:
            return json.loads(Path(path).read_text())
        except json.JSONDecodeError as e:
            raise ScratchError(f"{path} is not valid JSON: {e}") from e

    @staticmethod
    def read_array(path: Path | str) -> np.ndarray:
        return np.load(path, allow_pickle=False)

    @staticmethod
    def read_fits(path: Path | str, hdu: int | None = None):
        """Read ``(data, header)`` of a FITS file (the first HDU with data unless ``hdu``).

        The data are a native-byte-order copy, independent of the file.

        A truncated or unreadable file raises :class:`ScratchError` naming the file.
        """
        from astropy.io import fits

        try:
            with fits.open(path, memmap=False) as hdul:
                if hdu is None:
                    hdu = next((i for i, h in enumerate(hdul) if h.data is not None), 0)
                h = hdul[hdu]
                # FITS is big-endian; hand out native byte order (numba and speed need it).
                data = None if h.data is None else h.data.astype(h.data.dtype.newbyteorder("="))
                return data, h.header.copy()
        except (OSError, ValueError, IndexError, TypeError) as e:
            raise ScratchError(f"cannot read FITS file {path}: {e}") from e
