"""The machine's limits, measured in the same run as a benchmark, to report ratios against."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """The fastest of ``repeat`` calls, in seconds (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def write_fsync_seconds(path: Path, payload: bytes, repeat: int = 3) -> float:
    """Seconds to write ``payload`` to ``path`` and fsync it (the disk's limit); removes the file."""

    def write() -> None:
        with open(path, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())

    try:
        return best_of(write, repeat)
    finally:
        Path(path).unlink(missing_ok=True)
