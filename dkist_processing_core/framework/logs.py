"""Logging an operator can read: one line per event, with the run and task it concerns."""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "dkist_processing_core"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: int | str = "INFO", *, handler: logging.Handler | None = None) -> None:
    """Send the library's log records to ``handler`` (default: plain lines on stderr).

    For programs that own their process (the command line); a library caller keeps its own
    logging configuration and simply does not call this. The command line passes a handler
    that draws in a terminal.
    """
    root = logging.getLogger(LOGGER_NAME)
    root.setLevel(level)
    for existing in list(root.handlers):
        root.removeHandler(existing)
    if handler is None:
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
