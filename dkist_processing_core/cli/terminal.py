"""What the command line draws in a terminal: rich log lines and live progress bars.

The library draws nothing itself (it is a guest in notebooks and services); the command
line owns its process, so it installs these when stderr is a terminal.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from ..framework.logs import configure_logging
from ..framework.progress import set_progress_display


def _rich_progress(items: Iterable[Any], description: str, total: int | None) -> Iterator[Any]:
    from rich.progress import track

    yield from track(items, description=description, total=total, transient=True)


def set_up_terminal(level: int | str = "INFO") -> None:
    """Log records and loop progress for a person at a terminal, plain lines otherwise."""
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler | None = RichHandler(show_path=False, rich_tracebacks=True)
        handler.setFormatter(logging.Formatter("%(message)s"))
        set_progress_display(_rich_progress)
    else:
        handler = None
    configure_logging(level, handler=handler)
