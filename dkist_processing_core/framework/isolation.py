"""Leave the caller's process as it was: a workflow runs inside notebooks and services.

:func:`preserved_process_state` saves, and restores after the block, what a
run's code or the libraries it calls may change in the process that runs it:

- the working directory;
- the warnings filters (and ``warnings.showwarning``);
- numpy's floating-point error handling (``np.seterr``);
- the logging configuration: the root logger's level and handlers, and the
  level, handlers, ``propagate`` and ``disabled`` of every logger that existed
  before (``logging.disable`` too);
- matplotlib's ``rcParams`` (and so its style) and backend, when matplotlib
  was imported before the run.

Code that draws should still not change these (draw on a ``Figure`` with the
Agg canvas, style inside ``matplotlib.rc_context``): this guard is the second
line, so that one library's habit does not leak into the caller's session.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator

import numpy as np


def _logging_state() -> tuple:
    manager = logging.root.manager
    loggers = {
        name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for name, logger in list(manager.loggerDict.items())
        if isinstance(logger, logging.Logger)
    }
    root = logging.getLogger()
    return (root.level, list(root.handlers), root.disabled), loggers, manager.disable


def _restore_logging(state: tuple) -> None:
    (root_level, root_handlers, root_disabled), loggers, disable = state
    root = logging.getLogger()
    root.setLevel(root_level)
    root.handlers[:] = root_handlers
    root.disabled = root_disabled
    for name, (level, handlers, propagate, disabled) in loggers.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.disabled = disabled
    if logging.root.manager.disable != disable:
        logging.disable(disable)


def _matplotlib_state():
    mpl = sys.modules.get("matplotlib")
    if mpl is None or not hasattr(mpl, "rcParams"):
        return None
    params = dict(mpl.rcParams.copy())
    return params.pop("backend"), params  # the raw value: an unresolved default stays so


def _restore_matplotlib(state) -> None:
    if state is None:
        return
    import matplotlib

    backend, params = state
    dict.update(matplotlib.rcParams, params)  # as matplotlib.rc_context restores
    if dict.__getitem__(matplotlib.rcParams, "backend") != backend:
        with contextlib.suppress(Exception):
            matplotlib.use(backend)


@contextlib.contextmanager
def preserved_process_state() -> Iterator[None]:
    """Restore the caller's process state (see the module documentation) after the block."""
    cwd = os.getcwd()
    numpy_errors = np.geterr()
    logging_state = _logging_state()
    matplotlib_state = _matplotlib_state()
    try:
        with warnings.catch_warnings():
            yield
    finally:
        _restore_matplotlib(matplotlib_state)
        _restore_logging(logging_state)
        np.seterr(**numpy_errors)
        if os.getcwd() != cwd:
            with contextlib.suppress(OSError):
                os.chdir(cwd)
