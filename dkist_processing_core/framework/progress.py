"""Progress over loops of frames: a live bar in a terminal, periodic log lines elsewhere."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def report_progress(
    items: Iterable[T],
    *,
    description: str,
    logger: logging.Logger | logging.LoggerAdapter,
    total: int | None = None,
    every_fraction: float = 0.1,
) -> Iterator[T]:
    """Yield ``items`` while showing how far the loop has come.

    In a terminal this is a ``rich`` progress bar; under an engine (Dask, Airflow,
    cron) it logs a line at each tenth of the way, so logs stay readable.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if sys.stderr.isatty():
        from rich.progress import track

        yield from track(items, description=description, total=total, transient=True)
        return
    start = time.perf_counter()
    step = max(1, int((total or 0) * every_fraction)) if total else None
    done = 0
    for item in items:
        yield item
        done += 1
        if step and (done % step == 0 or done == total):
            rate = done / max(time.perf_counter() - start, 1e-9)
            logger.info("%s: %d/%d (%.1f/s)", description, done, total, rate)
    if not step:
        logger.info("%s: %d done", description, done)
