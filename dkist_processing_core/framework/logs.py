"""Logging an operator can read: one line per event, with the run and task it concerns."""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "dkist_processing_core"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: int | str = "INFO", *, rich: bool | None = None) -> None:
    """Send the library's log records to stderr, with colour and alignment in a terminal."""
    root = logging.getLogger(LOGGER_NAME)
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if rich is None:
        rich = sys.stderr.isatty()
    if rich:
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, rich_tracebacks=True)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    root.propagate = False
    # Plotting libraries chatter about fonts while the quality report is drawn.
    logging.getLogger("matplotlib").setLevel(logging.WARNING)


class RunLoggerAdapter(logging.LoggerAdapter):
    """Prefixes every message with the recipe run and task, e.g. ``[run 12 DarkCalibration]``."""

    def process(self, msg, kwargs):
        extra = self.extra or {}
        prefix = f"[run {extra.get('recipe_run_id')} {extra.get('task') or '-'}]"
        kwargs.setdefault("extra", {}).update(extra)
        return f"{prefix} {msg}", kwargs


def run_logger(recipe_run_id: int, task: str | None = None) -> RunLoggerAdapter:
    name = f"{LOGGER_NAME}.run" if task is None else f"{LOGGER_NAME}.task.{task}"
    return RunLoggerAdapter(logging.getLogger(name), {"recipe_run_id": recipe_run_id, "task": task})
