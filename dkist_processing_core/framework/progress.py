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
    min_interval_s: float = 5.0,
) -> Iterator[T]:
    """Yield ``items`` while showing how far the loop has come.

    In a terminal this is a ``rich`` progress bar; under an engine (Dask, Airflow,
    cron) it logs a line every few seconds and one at the end, so logs stay readable.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if sys.stderr.isatty():
        from rich.progress import track

        yield from track(items, description=description, total=total, transient=True)
        return
    start = last_log = time.perf_counter()
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.perf_counter()
        # Log the last item, and otherwise at most every `min_interval_s` seconds.
        if done == total or now - last_log >= min_interval_s:
            last_log = now
            rate = done / max(now - start, 1e-9)
            of = f"/{total}" if total else ""
            logger.info("%s: %d%s (%.1f/s)", description, done, of, rate)
    if not total:
        logger.info("%s: %d done", description, done)
