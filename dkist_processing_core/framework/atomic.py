"""Atomic file writes: write beside the target, fsync, then rename into place.

A reader never sees a half-written product: the bytes go to a temporary file in
the target's own folder (so the rename stays on one file system), are flushed to
disk, and only then replace the target in a single ``os.replace``.
"""

import contextlib
import glob
import os
import tempfile
from pathlib import Path

from .crashpoints import crash_point

#: Temporary files of atomic writes end with this; a leftover one is an interrupted write.
PART_SUFFIX = ".part"


def part_files_of(path) -> list[Path]:
    """Temporary files an interrupted atomic write of ``path`` may have left beside it."""
    path = Path(path)
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.*{PART_SUFFIX}"))


@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file object whose content becomes ``path`` only on success.

    On an exception inside the block the temporary file is removed and any
    existing file at ``path`` is left untouched. A process killed before the
    rename leaves the temporary file (see :func:`part_files_of`); whoever owns
    ``path`` removes it before writing again.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PART_SUFFIX, dir=path.parent)
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
