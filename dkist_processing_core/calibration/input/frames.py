"""Reading raw frames, with errors that name the file and what is wrong with it."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from .layout import to_algorithm_layout
from .validation import (
    CHECKSUM,
    TRUNCATED,
    UNREADABLE,
    FrameFacts,
    InputFrameError,
    InputProblem,
    type_matches,
)

FITS_BLOCK = 2880


def _open_checked(path: Path, *, scaled: bool = True) -> fits.HDUList:
    try:
        hdul = fits.open(path, memmap=False, checksum=True, do_not_scale_image_data=not scaled)
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


def _truncation(path: Path) -> InputProblem | None:
    """The problem of a FITS file cut short (its header or its data), or None if it is not one."""
    if not path.is_file():
        return None
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if f.read(9) != b"SIMPLE  =":
            return None  # not a FITS file at all
        f.seek(0)
        try:
            header = fits.Header.fromfile(f)
        except (OSError, ValueError, EOFError):
            return InputProblem(
                str(path),
                TRUNCATED,
                "",
                f"{size} bytes, the header has no END card",
                "a complete FITS header",
            )
        header_bytes = f.tell()
    header_bytes = -(-header_bytes // FITS_BLOCK) * FITS_BLOCK
    pixels = 1
    for n in range(1, int(header.get("NAXIS", 0)) + 1):
        pixels *= int(header.get(f"NAXIS{n}", 0))
    data_bytes = (
        abs(int(header.get("BITPIX", 8)))
        // 8
        * int(header.get("GCOUNT", 1))
        * (int(header.get("PCOUNT", 0)) + (pixels if header.get("NAXIS", 0) else 0))
    )
    expected = header_bytes + -(-data_bytes // FITS_BLOCK) * FITS_BLOCK
    if size >= expected:
        return None
    return InputProblem(
        str(path), TRUNCATED, "", f"{size} bytes", f"{expected} bytes, as the header announces"
    )


def read_header(path: Path | str) -> fits.Header:
    path = Path(path)
    check_complete(path)
    with _open_checked(path) as hdul:
        return data_hdu(hdul, path).header.copy()


def read_raw_frame(path: Path | str, expected_shape: tuple[int, ...] | None = None):
    """``(header, 2-D float64 data)`` of a raw frame, verified against its checksums.

    Infinite pixels are returned as NaN (masked): see the non-finite pixel policy in
    :mod:`.validation`.

    A raw DKIST frame is 3-D with an axis of length 1; it is returned as 2-D in the algorithm
    layout (wavelength, or longitude, along the columns), whatever order of FITS axes its
    ``CTYPEn`` declare, with its header's WCS cards renumbered to match (see :mod:`.layout`).
    A checksum mismatch, a truncated file or a frame of another shape than
    ``expected_shape`` raises :class:`InputFrameError` naming the file.
    """
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AstropyUserWarning)  # astropy only warns on bad checksums
        try:
            with _open_checked(path, scaled=False) as hdul:
                hdu = data_hdu(hdul, path)
                header = hdu.header.copy()
                data = _physical_float64(hdu.data, header)
        except AstropyUserWarning as e:
            raise InputFrameError(f"{path}: {e}") from e
        except (OSError, ValueError, TypeError) as e:
            raise InputFrameError(f"{path}: data cannot be read ({e})") from e
    # The one reorder at the door: the pixel axes the header declares, into the algorithm layout.
    header, data = to_algorithm_layout(header, data)
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if header.get("BITPIX", 16) < 0:
        # Non-finite pixels the door accepted (see .validation) are NaN from here on.
        data[np.isinf(data)] = np.nan
    if data.ndim != 2:
        raise InputFrameError(f"{path}: expected a 2-D frame (or 1 x ny x nx), got {data.shape}")
    if expected_shape is not None and data.shape != tuple(expected_shape):
        raise InputFrameError(
            f"{path}: frame shape {data.shape} differs from the dataset's {tuple(expected_shape)}"
        )
    return header, data


def _physical_float64(stored: np.ndarray, header: fits.Header) -> np.ndarray:
    """``stored * BSCALE + BZERO`` as float64, in one pass over the stored (raw) values.

    astropy's scaling of a pseudo-unsigned int16 frame (``BZERO = 32768``) makes a uint16
    copy that ``float64`` then copies again; here the byte swap, the conversion and the
    scaling are one ufunc loop into the result. Integer pixels equal to ``BLANK`` are NaN.
    """
    bscale, bzero = float(header.get("BSCALE", 1.0)), float(header.get("BZERO", 0.0))
    data = np.empty(stored.shape, dtype=np.float64)
    if bscale != 1.0:
        np.multiply(stored, bscale, out=data)
        if bzero:
            data += bzero
    elif bzero:
        np.add(stored, bzero, out=data)
    else:
        data[...] = stored
    if stored.dtype.kind in "iu" and "BLANK" in header:
        data[stored == header["BLANK"]] = np.nan
    return data


_TYPE_NAMES = {int: "int", float: "float", str: "str", bool: "bool"}


def keyword(header: fits.Header, key: str, path: Path | str, kind: type = str) -> Any:
    """A required keyword's value as ``kind``; the error names the file, keyword and value.

    Strict, never coercing: ``1.5`` is not an int (it is not truncated to 1), ``'5'`` is not
    a float; an int is accepted for a float.
    """
    if key not in header:
        raise InputFrameError(f"{path}: required keyword {key} is missing")
    value = header[key]
    name = _TYPE_NAMES.get(kind, kind.__name__)
    if not type_matches(value, name):
        raise InputFrameError(f"{path}: keyword {key} = {value!r} is not a valid {name}")
    return float(value) if kind is float else value


def inspect_frame(path: Path | str) -> FrameFacts:
    """Read a raw frame's header at the door, with the reader's problems rather than a raise.

    One open of the file: astropy verifies CHECKSUM/DATASUM as it opens (it reads the data
    bytes for that anyway); a file shorter than its header announces is *truncated*. Only a
    frame with float pixels (``BITPIX < 0``) or a ``BLANK`` value has its pixels decoded, to
    count NaN and inf; integer frames have none.
    """
    path = Path(path)
    name = str(path)
    facts = FrameFacts(path=name, header=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AstropyUserWarning)
        try:
            with fits.open(path, memmap=False, checksum=True, lazy_load_hdus=False) as hdul:
                hdu = data_hdu(hdul, path)
                header = hdu.header.copy()
                expected = hdu._data_offset + hdu._data_size
                actual = os.path.getsize(path)
                if actual < expected:
                    facts.problems.append(
                        InputProblem(
                            name,
                            TRUNCATED,
                            "",
                            f"{actual} bytes",
                            f"{expected} bytes, as the header announces",
                        )
                    )
                    return facts
                bad_sums = [
                    str(w.message) for w in caught if "verification failed" in str(w.message)
                ]
                if bad_sums:
                    computed = hdu._calculate_datasum()
                    key = "DATASUM" if any("Datasum" in m for m in bad_sums) else "CHECKSUM"
                    found = repr(header.get(key))
                    wanted = (
                        f"{str(computed)!r}, the sum of the data as read"
                        if key == "DATASUM"
                        else "the checksum of the header and data as read"
                    )
                    facts.problems.append(InputProblem(name, CHECKSUM, key, found, wanted))
                    return facts
                facts.datasum = str(header["DATASUM"]) if "DATASUM" in header else None
                if facts.datasum is None:
                    facts.datasum = str(hdu._calculate_datasum())
                facts.pixels = int(np.prod(hdu.shape)) if hdu.shape else 0
                if header.get("BITPIX", 0) < 0 or "BLANK" in header:
                    data = hdu.data
                    facts.nan = int(np.count_nonzero(np.isnan(data)))
                    facts.inf = int(np.count_nonzero(np.isinf(data)))
        except InputFrameError as e:
            facts.problems.append(
                InputProblem(
                    name,
                    UNREADABLE,
                    "",
                    str(e).removeprefix(f"{name}: "),
                    "a FITS file with an image HDU",
                )
            )
            return facts
        except (OSError, ValueError, TypeError, IndexError) as e:
            problem = _truncation(path)
            facts.problems.append(
                problem
                or InputProblem(
                    name, UNREADABLE, "", f"{type(e).__name__}: {e}", "a readable FITS file"
                )
            )
            return facts
    facts.header = header
    return facts


def data_digest(path: Path | str) -> str:
    """SHA-256 of a frame's data bytes (to confirm that two frames with one DATASUM are one)."""
    path = Path(path)
    with fits.open(path, memmap=False) as hdul:
        hdu = data_hdu(hdul, path)
        raw = hdu._get_raw_data(hdu._data_size, "ubyte", hdu._data_offset)
        return hashlib.sha256(raw.tobytes() if raw is not None else b"").hexdigest()
