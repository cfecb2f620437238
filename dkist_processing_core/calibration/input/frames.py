"""Reading raw frames, with errors that name the file and what is wrong with it."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from dkist_processing_core.framework.errors import InputError


class InputFrameError(ValueError, InputError):
    """A raw frame that cannot be used: the message names the file and the problem."""


def _open_checked(path: Path) -> fits.HDUList:
    try:
        hdul = fits.open(path, memmap=False, checksum=True)
    except (OSError, ValueError, TypeError) as e:
        raise InputFrameError(f"{path}: not a readable FITS file ({e})") from e
    return hdul


def data_hdu(hdul: fits.HDUList, path: Path):
    for hdu in hdul:
        if hdu.header.get("NAXIS", 0) >= 2:
            return hdu
    raise InputFrameError(f"{path}: no image HDU (NAXIS >= 2) in the file")


def check_complete(path: Path | str) -> None:
    """Refuse a truncated file: its size must hold every byte its header announces."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        try:
            with fits.open(path, memmap=False, lazy_load_hdus=False) as hdul:
                hdu = data_hdu(hdul, path)
                expected = hdu._data_offset + hdu._data_size
        except (OSError, ValueError, TypeError, IndexError) as e:
            raise InputFrameError(f"{path}: not a readable FITS file ({e})") from e
    actual = os.path.getsize(path)
    if actual < expected:
        raise InputFrameError(
            f"{path}: truncated: the header announces {expected} bytes, the file has {actual}"
        )


def read_header(path: Path | str) -> fits.Header:
    path = Path(path)
    check_complete(path)
    with _open_checked(path) as hdul:
        return data_hdu(hdul, path).header.copy()


def read_raw_frame(path: Path | str, expected_shape: tuple[int, ...] | None = None):
    """``(header, 2-D float64 data)`` of a raw frame, verified against its checksums.

    A raw DKIST frame is 3-D with a leading axis of length 1; it is returned as 2-D.
    A checksum mismatch, a truncated file or a frame of another shape than
    ``expected_shape`` raises :class:`InputFrameError` naming the file.
    """
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AstropyUserWarning)  # astropy only warns on bad checksums
        try:
            with _open_checked(path) as hdul:
                hdu = data_hdu(hdul, path)
                header = hdu.header.copy()
                data = np.asarray(hdu.data, dtype=np.float64)
        except AstropyUserWarning as e:
            raise InputFrameError(f"{path}: {e}") from e
        except (OSError, ValueError, TypeError) as e:
            raise InputFrameError(f"{path}: data cannot be read ({e})") from e
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2:
        raise InputFrameError(f"{path}: expected a 2-D frame (or 1 x ny x nx), got {data.shape}")
    if expected_shape is not None and data.shape != tuple(expected_shape):
        raise InputFrameError(
            f"{path}: frame shape {data.shape} differs from the dataset's {tuple(expected_shape)}"
        )
    return header, data


def keyword(header: fits.Header, key: str, path: Path | str, kind: type = str) -> Any:
    """A required keyword's value as ``kind``; the error names the file, keyword and value."""
    if key not in header:
        raise InputFrameError(f"{path}: required keyword {key} is missing")
    value = header[key]
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            raise TypeError
        if kind in (int, float) and isinstance(value, bool):
            raise TypeError
        return kind(value)
    except (TypeError, ValueError):
        raise InputFrameError(
            f"{path}: keyword {key} = {value!r} is not a valid {kind.__name__}"
        ) from None
