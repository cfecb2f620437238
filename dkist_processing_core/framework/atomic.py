"""Atomic file writes: write beside the target, fsync, then rename into place.

A reader never sees a half-written product: the bytes go to a temporary file in
the target's own folder (so the rename stays on one file system), are flushed to
disk, and only then replace the target in a single ``os.replace``.
"""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file object whose content becomes ``path`` only on success.

    On an exception inside the block the temporary file is removed and any
    existing file at ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
