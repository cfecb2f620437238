"""Expected failures: what a person can act on without reading a traceback.

A failure caused by the run's input (a truncated raw frame, a missing keyword, a
calibration product the frames need but the input dataset lacks), by its
configuration (a parameter value that is not given) or by an unknown name is
*expected*: its exception class derives from :class:`ExpectedError` and its
message names the file, keyword or value and what was expected. Executors log
such a failure as its message alone; any other exception is a bug and keeps its
traceback in the log.
"""

from __future__ import annotations


class ExpectedError(Exception):
    """Base class of failures caused by bad input or configuration, not by a bug.

    Subclasses (for example ``InputFrameError``, ``MissingCalibrationError``,
    ``ParameterError``) keep their other bases, so ``except ValueError`` still
    catches an ``InputFrameError``.
    """


class InputError(ExpectedError):
    """An input (a frame, a document, a value) that cannot be used as given."""


class ServiceUnavailable(ExpectedError, ConnectionError):
    """A service the run needs (a Dask scheduler, a mail server) cannot be reached; the
    message names it and where it was looked for."""


def is_expected(error: BaseException) -> bool:
    """Whether ``error`` is an expected failure (see the module documentation).

    An error that stands for another one, such as a frame's failure in a chunk
    of parallel work, says so with an ``expected`` attribute.
    """
    return isinstance(error, ExpectedError) or bool(getattr(error, "expected", False))
