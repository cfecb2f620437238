"""Reading and writing calibration products in a run's scratch, shared by the tasks.

Plain image intermediates (darks, gains) are written as uncompressed float32 FITS;
those with more structure (spectral shifts, the characteristic spectrum, demodulation
matrices, the polcal fit) as labelled NetCDF4-conventions HDF5 (:mod:`.intermediates`),
read back through their ``primary_variable``; both carry tags that say what
they are. The functions here find them again with errors that say what is missing
and why it is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..framework import Scratch
from ..framework.errors import ExpectedError
from . import tags as t
from .input.frames import InputFrameError, read_raw_frame
from .intermediates import is_labelled, read_primary


class MissingCalibrationError(LookupError, ExpectedError):
    """A calibration product a task needs is not in the run (e.g. no dark for an exposure time)."""


def raw_frames(
    scratch: Scratch, *query: str, shape: tuple[int, int] | None = None
) -> Callable[[], Iterator[np.ndarray]]:
    """A re-iterable stream of the raw frames carrying ``query``: one frame in memory at a time."""
    paths = scratch.find(t.INPUT, *query)
    if not paths:
        raise MissingCalibrationError(f"no input frames tagged {sorted(query)}")

    def stream() -> Iterator[np.ndarray]:
        for p in paths:
            yield read_raw_frame(p, shape)[1]

    return stream


def frame_shape(scratch: Scratch) -> tuple[int, int]:
    """The frame shape every raw frame of the run has (checked when the input was parsed)."""
    summary = scratch.read_json(scratch.find_one(t.INPUT_SUMMARY))
    return tuple(summary["frame_shape"])


def write_array_product(scratch: Scratch, array: np.ndarray, tags: list[str], name: str) -> Path:
    return scratch.write_fits(np.asarray(array, dtype=np.float32), tags, name)


def array_product_path(scratch: Scratch, *query: str, needed_by: str = "") -> Path:
    """The one calibration product tagged ``query``; the error says what is missing and why."""
    found = scratch.find(t.INTERMEDIATE, *query)
    if len(found) != 1:
        why = f" (needed by {needed_by})" if needed_by else ""
        raise MissingCalibrationError(
            f"expected one calibration product tagged {sorted(query)}{why}, found {len(found)}"
        )
    return found[0]


def read_array_product(scratch: Scratch, *query: str, needed_by: str = "") -> np.ndarray:
    """The array of the one calibration product tagged ``query`` (FITS image or labelled HDF5)."""
    return read_product_array(array_product_path(scratch, *query, needed_by=needed_by))


def read_product_array(path: Path | str) -> np.ndarray:
    """The array of a calibration product file: a FITS image, or a labelled file's primary array."""
    if is_labelled(path):
        return read_primary(path)
    return Scratch.read_fits(path)[0]


def dark_path_for(scratch: Scratch, exposure_time_ms: float, needed_by: str) -> Path:
    """The dark of an exposure time; the error lists the exposure times that have darks."""
    found = scratch.find(t.INTERMEDIATE, t.task(t.DARK), t.exposure_time(exposure_time_ms))
    if not found:
        available = t.ExposureTime.values(scratch, t.INTERMEDIATE, t.task(t.DARK))
        raise MissingCalibrationError(
            f"no dark for exposure time {exposure_time_ms:g} ms, needed by {needed_by}; "
            f"darks exist for {', '.join(f'{ms:g}' for ms in available) or 'no'} ms"
        )
    return found[0]


def dark_for(scratch: Scratch, exposure_time_ms: float, needed_by: str) -> np.ndarray:
    """The dark of an exposure time; the error lists the exposure times that have darks."""
    return scratch.read_fits(dark_path_for(scratch, exposure_time_ms, needed_by))[0]


def exposure_times(scratch: Scratch, *query: str) -> list[float]:
    return t.ExposureTime.values(scratch, t.INPUT, *query)


def single_exposure_time(scratch: Scratch, kind: str) -> float:
    times = exposure_times(scratch, t.task(kind))
    if len(times) != 1:
        raise InputFrameError(
            f"{kind} frames must share one exposure time to be combined; found {times} ms"
        )
    return times[0]
