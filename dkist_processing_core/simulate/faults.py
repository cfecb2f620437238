"""Faulty raw frames for tests of error handling: each helper damages one file in place.

Helpers that change an input dataset rather than a file (a frame delivered twice)
take and return the input dataset document.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from dkist_processing_core.framework.atomic import atomic_write


def truncate_file(path: Path | str, keep_fraction: float = 0.5) -> Path:
    """Cut the file to ``keep_fraction`` of its bytes (an interrupted transfer)."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(int(size * keep_fraction))
        f.flush()
        os.fsync(f.fileno())
    return path


def remove_keyword(path: Path | str, keyword: str) -> Path:
    """Rewrite the frame without ``keyword`` (a header missing a required key)."""
    path = Path(path)
    with fits.open(path) as hdul:
        header = hdul[0].header.copy()
        data = hdul[0].data.copy()
    if keyword not in header:
        raise KeyError(f"{path} has no keyword {keyword} to remove")
    del header[keyword]
    _rewrite(path, header, data)
    return path


def set_keyword(path: Path | str, keyword: str, value) -> Path:
    """Rewrite the frame with ``keyword = value`` (e.g. a wrong exposure time or task type)."""
    path = Path(path)
    with fits.open(path) as hdul:
        header = hdul[0].header.copy()
        data = hdul[0].data.copy()
    header[keyword] = value
    _rewrite(path, header, data)
    return path


def wrong_shape(path: Path | str, shape: tuple[int, ...] | None = None) -> Path:
    """Rewrite the frame with data of another shape (default: drop the last row and column)."""
    path = Path(path)
    with fits.open(path) as hdul:
        header = hdul[0].header.copy()
        data = hdul[0].data.copy()
    new = data[..., :-1, :-1] if shape is None else np.zeros(shape, dtype=data.dtype)
    _rewrite(path, header, np.ascontiguousarray(new))
    return path


def same_observation_time(path: Path | str, like: Path | str) -> Path:
    """Rewrite the frame at ``path`` with the ``DATE-OBS`` of the frame ``like``.

    Two frames of one observation at one time: their L1 files would get one name.
    """
    date_obs = fits.getheader(like)["DATE-OBS"]
    return set_keyword(path, "DATE-OBS", date_obs)


def deliver_twice(document: dict[str, Any], frame_id: str, new_frame_id: str) -> dict[str, Any]:
    """The input dataset ``document`` with frame ``frame_id`` also delivered as ``new_frame_id``.

    The frame's file is copied beside itself (a second transfer of the same frame under a
    new id) and the copy is listed after the original; returns the new document.
    """
    frames = list(document["frames"])
    try:
        original = next(f for f in frames if f["frame_id"] == frame_id)
    except StopIteration:
        raise KeyError(f"the input dataset has no frame {frame_id!r}") from None
    source = Path(original["path"])
    copy = source.with_name(f"{source.stem}.again{source.suffix}")
    shutil.copyfile(source, copy)
    frames.insert(
        frames.index(original) + 1, {**original, "frame_id": new_frame_id, "path": str(copy)}
    )
    return {**document, "frames": frames}


def _rewrite(path: Path, header: fits.Header, data: np.ndarray) -> None:
    for key in ("CHECKSUM", "DATASUM"):
        header.remove(key, ignore_missing=True)
    hdu = fits.PrimaryHDU(data=data, header=header)
    with atomic_write(path) as f:
        hdu.writeto(f, checksum=True, output_verify="ignore")


def non_finite_pixels(path: Path | str, nan: int = 0, inf: int = 0) -> Path:
    """Rewrite the frame as float32 pixels with ``nan`` NaN and ``inf`` +inf pixels (a bad
    readout stored as floats); the pixels are the first ones of the frame in memory order."""
    path = Path(path)
    with fits.open(path) as hdul:
        header = hdul[0].header.copy()
        data = hdul[0].data.astype(np.float32)
    for key in ("BZERO", "BSCALE", "BLANK"):
        header.remove(key, ignore_missing=True)
    flat = data.reshape(-1)
    if nan + inf > flat.size:
        raise ValueError(f"{path} has {flat.size} pixels, fewer than {nan + inf}")
    flat[:nan] = np.nan
    flat[nan : nan + inf] = np.inf
    _rewrite(path, header, data)
    return path


def corrupt_data(path: Path | str, offset_from_end: int = 100) -> Path:
    """Change one data byte in place without updating CHECKSUM/DATASUM (bit rot in transfer)."""
    path = Path(path)
    with open(path, "r+b") as f:
        f.seek(-offset_from_end, os.SEEK_END)
        byte = f.read(1)
        f.seek(-offset_from_end, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0xFF]))
        f.flush()
        os.fsync(f.fileno())
    return path


def copy_frame(
    path: Path | str, new_path: Path | str, keywords: dict | None = None, add: int = 0
) -> Path:
    """A second copy of a frame at ``new_path`` (one exposure delivered twice), with
    ``keywords`` changed in the copy's header and ``add`` counts added to its first pixel
    (0: the same data; else the same exposure read out twice, with other data)."""
    path, new_path = Path(path), Path(new_path)
    with fits.open(path) as hdul:
        header = hdul[0].header.copy()
        data = hdul[0].data.copy()
    for key, value in (keywords or {}).items():
        header[key] = value
    data.reshape(-1)[0] += add
    new_path.parent.mkdir(parents=True, exist_ok=True)
    _rewrite(new_path, header, data)
    return new_path


def not_fits(path: Path | str, content: bytes = b"this is not a FITS file\n") -> Path:
    """Replace the file with bytes that are not FITS (a wrong file delivered)."""
    path = Path(path)
    with atomic_write(path) as f:
        f.write(content)
    return path
