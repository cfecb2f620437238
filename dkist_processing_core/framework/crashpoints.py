"""Named points in the write path where a test can kill its own process (``SIGKILL``).

The scratch must survive ``kill -9`` at any moment. Tests prove it
deterministically: a subprocess started with ``DKIST_CRASH_AT=<point>`` (or
``<point>:<n>``, the n-th time the point is passed) kills itself there, and
``DKIST_CRASH_MATCH=<text>`` counts only passes whose path contains ``<text>``
(for example a task's scratch folder, ``"/MakeFrames/"``). The points are:

``write-before-rename``
    an atomic write has its bytes in the temporary ``.part`` file, not yet renamed;
``write-after-rename``
    the file is in place under its final name, not yet indexed in the scratch;
``index-before-commit``
    the index rows of a new file are written but their transaction is not committed.

Publishing a dataset version (the data center) passes these, in this order:

``publish-copy``
    one more file (path: the copy) is whole in the package being staged in
    ``<archive>/.staging``; the others are not copied yet;
``publish-staged``
    the package is whole in its staging folder (path), not yet renamed into the archive;
``publish-before-commit``
    the package is in place in the archive (path) and the version's rows are written in
    the store, not committed;
``outbox-before-commit``
    the PI's notice (path: its idempotency key) is inserted in the outbox, not committed;
``outbox-queued``
    the notice is queued (committed), not sent; the publication is not yet marked published.

Both variables are read once, when this module is imported; without them a
crash point is one comparison with ``None``.
"""

from __future__ import annotations

import os
import signal

ENV_POINT = "DKIST_CRASH_AT"
ENV_MATCH = "DKIST_CRASH_MATCH"

POINTS = (
    "write-before-rename",
    "write-after-rename",
    "index-before-commit",
    "publish-copy",
    "publish-staged",
    "publish-before-commit",
    "outbox-before-commit",
    "outbox-queued",
)


def _parse(spec: str | None) -> tuple[str, int] | None:
    if not spec:
        return None
    name, _, count = spec.partition(":")
    if name not in POINTS:
        raise ValueError(f"{ENV_POINT}={spec!r}: unknown crash point {name!r}; known: {POINTS}")
    return name, int(count or 1)


_TARGET = _parse(os.environ.get(ENV_POINT))
_MATCH = os.environ.get(ENV_MATCH, "")
_passes = 0


def crash_point(name: str, path: object = "") -> None:
    """Kill this process with ``SIGKILL`` if the environment names this point (tests only)."""
    global _passes
    if _TARGET is None or _TARGET[0] != name or _MATCH not in str(path):
        return
    _passes += 1
    if _passes == _TARGET[1]:
        os.kill(os.getpid(), signal.SIGKILL)
