"""Atomic file writes: write beside the target, fsync, then rename into place.

A reader never sees a half-written product: the bytes go to a temporary file in
the target's own folder (so the rename stays on one file system), are flushed to
disk, and only then replace the target in a single ``os.replace``.

A process killed before the rename leaves the temporary ``.part`` file. So that
whoever runs the write again can remove it wherever it lies, the name of the
temporary file is told to a *recorder* before the file is created: inside
:func:`temporaries_recorded_by` (the executors wrap every task's run in it, with
the scratch's :meth:`~dkist_processing_core.framework.scratch.Scratch.record_temporary`),
each atomic write of that thread first records its temporary file, then creates it.
"""

import contextlib
import glob
import os
import secrets
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path

from .crashpoints import crash_point

#: Temporary files of atomic writes end with this; a leftover one is an interrupted write.
PART_SUFFIX = ".part"

_recorder: ContextVar[Callable[[Path], None] | None] = ContextVar(
    "dkist_atomic_temporaries_recorder", default=None
)


def part_files_of(path) -> list[Path]:
    """Temporary files an interrupted atomic write of ``path`` may have left beside it."""
    path = Path(path)
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.*{PART_SUFFIX}"))


@contextlib.contextmanager
def temporaries_recorded_by(record: Callable[[Path], None]) -> Iterator[None]:
    """Inside, every atomic write calls ``record(temporary_path)`` before creating the file.

    The recorder belongs to the current thread (a context variable), so tasks running at
    once in threads of one process each record their own temporary files.
    """
    token = _recorder.set(record)
    try:
        yield
    finally:
        _recorder.reset(token)


def _create_temporary(path: Path) -> tuple[int, Path]:
    """Record (when a recorder is set), then create, a new temporary file beside ``path``."""
    record = _recorder.get()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}{PART_SUFFIX}"
        if record is not None:
            record(tmp)  # before the file exists: a kill from here on leaves a known file
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue


@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file object whose content becomes ``path`` only on success.

    On an exception inside the block the temporary file is removed and any
    existing file at ``path`` is left untouched. A process killed before the
    rename leaves the temporary file (see :func:`part_files_of`, and the recorder of
    :func:`temporaries_recorded_by`); whoever owns ``path`` removes it before writing
    again.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        crash_point("write-before-rename", path)
        os.replace(tmp, path)
        crash_point("write-after-rename", path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
