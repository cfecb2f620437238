"""Progress over loops of frames: periodic log lines, or a live display a program installs.

By default a loop logs a line every few seconds and one at the end, so logs stay readable
under an engine (Dask, Airflow, cron) and in a notebook. A program that owns a terminal (the
command line) may install a live display with :func:`set_progress_display`; the framework
itself draws nothing.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

ProgressDisplay = Callable[[Iterable[Any], str, int | None], Iterator[Any]]
_display: ProgressDisplay | None = None


def set_progress_display(display: ProgressDisplay | None) -> None:
    """Install ``display(items, description, total)`` for loops run while stderr is a terminal
    (``None`` removes it)."""
    global _display
    _display = display


def report_progress(
    items: Iterable[T],
    *,
    description: str,
    logger: logging.Logger | logging.LoggerAdapter,
    total: int | None = None,
    min_interval_s: float = 5.0,
) -> Iterator[T]:
    """Yield ``items`` while showing how far the loop has come.

    With a display installed and stderr a terminal, the display draws it; otherwise it
    logs a line every few seconds and one at the end, so logs stay readable.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if _display is not None and sys.stderr.isatty():
        yield from _display(items, description, total)
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
