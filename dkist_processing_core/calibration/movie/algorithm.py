"""The browse movie: an H.264 MP4 of a dataset for a quick look, and a still preview.

One movie frame per measurement (dataset position apart from the Stokes axis),
in time order. For polarimetric data the frame shows Stokes I, Q, U and V side by
side; otherwise Stokes I alone. Each panel is one L1 frame's image (for a slit
spectrograph: wavelength against slit position) at preview resolution:

* a large image is reduced by the smallest integer factor ``f`` that makes the
  movie frame's longest side at most ``max_size`` pixels (default 2048, as DKIST's
  browse movies), each movie pixel the mean of an ``f x f`` block of image pixels
  (area average; rows and columns beyond a whole block are dropped, a block with
  a NaN pixel is black);
* a small image is enlarged by an integer factor (nearest neighbour, so no pixel
  is invented) to at least ``min_panel_height`` pixels, as long as the frame stays
  within ``max_size``.

The whole frame is padded to a multiple of 16 pixels (the H.264 macroblock), so
its size is known in advance and no encoder rescaling happens.

Grey levels are fixed for the whole movie so that changes over time are real:
Stokes I spans its 1st to 99th percentile, Q/U/V span +-99th percentile of their
absolute value. Frames written by this pipeline's L1 writer carry those
percentiles in their headers (``DATAP01``, ``DATAP99``, SPEC-0214), so the limits
are the median over all frames of the header percentiles (for Q/U/V the larger
of ``|DATAP01|`` and ``|DATAP99|``), at no pixel cost; otherwise they are estimated
from up to ``scale_sample`` measurements spread over the dataset.

Frames are streamed: one L1 frame is read, reduced at once, and the movie frame
(8-bit grey) is piped to the ffmpeg encoder (libx264, ``preset``, at most
``threads`` encoder threads, which bounds the encoder's memory); one measurement
is in memory at a time.

The still preview (PNG, 8-bit grey) is the movie frame of the middle measurement.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from astropy.io import fits
from pydantic import BaseModel

from dkist_processing_core.calibration.inventory.algorithm import find_image_hdu
from dkist_processing_core.calibration.quality.metrics import (
    _measurement_index,
    written_by_this_pipeline,
)
from dkist_processing_core.framework.atomic import atomic_write

__all__ = ["BrowseMovie", "decimate", "write_browse_movie"]

_MACROBLOCK = 16
_GAP = 4  # pixels between panels


class BrowseMovie(BaseModel):
    """Where the movie and preview are and what they hold."""

    movie_path: Path
    preview_path: Path
    frame_count: int
    width: int
    height: int
    fps: float
    panels: list[str]
    reduction: int = 1  # image pixels per movie pixel along each axis (area average)


def _read_image(path: Path) -> np.ndarray:
    with fits.open(path) as hdul:
        data = hdul[find_image_hdu(hdul)].data
    image = np.squeeze(np.asarray(data, dtype=np.float32))
    if image.ndim != 2:
        raise ValueError(
            f"{path}: browse movie needs a 2-D image per frame, got shape {data.shape}"
        )
    return image


def _measurements(
    frame_paths: Sequence[Path],
) -> tuple[list[tuple[str, dict[str, Path]]], dict[str, list[tuple[float, float]]] | None]:
    """(time, {stokes: path}) per measurement, in time order, and per Stokes parameter the
    (DATAP01, DATAP99) of every frame if all frames were written by this pipeline (else None)."""
    groups: dict[tuple, tuple[str, dict[str, Path]]] = {}
    percentiles: dict[str, list[tuple[float, float]]] | None = {}
    for path in frame_paths:
        with fits.open(path) as hdul:
            header = hdul[find_image_hdu(hdul)].header
            key = tuple(_measurement_index(header))
            stokes = str(header.get("STOKES", "I"))
            time = str(header["DATE-BEG"])
            if percentiles is not None:
                p = _header_percentiles(header)
                if p is None:
                    percentiles = None
                else:
                    percentiles.setdefault(stokes, []).append(p)
        entry = groups.setdefault(key, (time, {}))
        entry[1][stokes] = path
        groups[key] = (min(time, entry[0]), entry[1])
    return sorted(groups.values(), key=lambda g: g[0]), percentiles


def _header_percentiles(header) -> tuple[float, float] | None:
    if not written_by_this_pipeline(header):
        return None
    try:
        lo, hi = float(header["DATAP01"]), float(header["DATAP99"])
    except (KeyError, TypeError, ValueError):
        return None
    return (lo, hi) if np.isfinite(lo) and np.isfinite(hi) else None


def _levels_from_headers(percentiles, panels) -> dict[str, tuple[float, float]]:
    levels = {}
    for stokes in panels:
        p = np.asarray(percentiles.get(stokes, [(0.0, 1.0)]), dtype=np.float64)
        if stokes == "I":
            lo, hi = float(np.median(p[:, 0])), float(np.median(p[:, 1]))
        else:
            hi = float(np.median(np.abs(p).max(axis=1))) or 1.0
            lo = -hi
        levels[stokes] = (lo, hi if hi > lo else lo + 1.0)
    return levels


def decimate(image: np.ndarray, factor: int) -> np.ndarray:
    """Area average over ``factor x factor`` blocks (rows/columns beyond whole blocks dropped)."""
    if factor <= 1:
        return image
    h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    blocks = image[:h, :w].reshape(h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def _layout(h: int, w: int, n_panels: int, max_size: int, min_panel_height: int):
    """(factor, enlargement, panel_h, panel_w, width, height) of the movie frame."""

    def size(ph, pw):
        raw_w = n_panels * pw + (n_panels - 1) * _GAP
        return -(-raw_w // _MACROBLOCK) * _MACROBLOCK, -(-ph // _MACROBLOCK) * _MACROBLOCK

    scale = max(1, math.ceil(min_panel_height / h))
    while scale > 1 and max(size(h * scale, w * scale)) > max_size:
        scale -= 1
    factor = 1
    while max(size(h // factor * scale, w // factor * scale)) > max_size and factor < max(h, w):
        factor += 1
    ph, pw = h // factor * scale, w // factor * scale
    width, height = size(ph, pw)
    return factor, scale, ph, pw, width, height


def _grey_levels(measurements, panels, sample: int) -> dict[str, tuple[float, float]]:
    picks = np.unique(
        np.linspace(0, len(measurements) - 1, min(sample, len(measurements))).astype(int)
    )
    values: dict[str, list[np.ndarray]] = {p: [] for p in panels}
    for i in picks:
        for stokes in panels:
            path = measurements[i][1].get(stokes)
            if path is not None:
                values[stokes].append(_read_image(path).ravel()[::7])  # a thinned sample
    levels = {}
    for stokes, chunks in values.items():
        v = np.concatenate(chunks) if chunks else np.zeros(1)
        v = v[np.isfinite(v)]
        if stokes == "I":
            lo, hi = np.percentile(v, [1, 99])
        else:
            hi = float(np.percentile(np.abs(v), 99)) or 1.0
            lo = -hi
        levels[stokes] = (float(lo), float(hi) if hi > lo else float(lo) + 1.0)
    return levels


def _to_grey(image: np.ndarray, lo: float, hi: float, scale: int) -> np.ndarray:
    grey = np.clip((image - lo) * np.float32(255.0 / (hi - lo)) + 0.5, 0.0, 255.0)
    grey = np.nan_to_num(grey, nan=0.0)
    grey = grey.astype(np.uint8)[::-1]  # FITS row 0 at the bottom
    if scale == 1:
        return grey
    return np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)


def write_browse_movie(
    frame_paths: Sequence[str | Path],
    movie_path: str | Path,
    preview_path: str | Path,
    *,
    fps: float = 10.0,
    max_size: int = 2048,
    min_panel_height: int = 256,
    scale_sample: int = 8,
    preset: str = "veryfast",
    threads: int = 2,
) -> BrowseMovie:
    """Write the browse movie (MP4, H.264) and preview (PNG); see module docstring.

    ``max_size``: the longest side of the movie frame at most (pixels, >= 16).
    """
    import imageio_ffmpeg

    if max_size < _MACROBLOCK:
        raise ValueError(f"browse movie max_size {max_size}: expected at least {_MACROBLOCK}")
    frame_paths = [Path(p) for p in frame_paths]
    movie_path, preview_path = Path(movie_path), Path(preview_path)
    if not frame_paths:
        raise ValueError(f"{movie_path}: no frames given for the browse movie")
    measurements, percentiles = _measurements(frame_paths)
    polarimetric = any({"Q", "U", "V"} & m[1].keys() for m in measurements)
    panels = ["I", "Q", "U", "V"] if polarimetric else ["I"]
    with fits.open(next(iter(measurements[0][1].values()))) as hdul:
        shape = tuple(hdul[find_image_hdu(hdul)].shape)
    squeezed = tuple(n for n in shape if n != 1)
    if len(squeezed) != 2:
        raise ValueError(f"browse movie needs a 2-D image per frame, got shape {shape}")
    h, w = squeezed
    factor, scale, panel_h, panel_w, width, height = _layout(
        h, w, len(panels), max_size, min_panel_height
    )
    if percentiles is not None:
        levels = _levels_from_headers(percentiles, panels)
    else:
        levels = _grey_levels(measurements, panels, scale_sample)

    def compose(group: dict[str, Path]) -> np.ndarray:
        canvas = np.zeros((height, width), dtype=np.uint8)
        for k, stokes in enumerate(panels):
            if stokes not in group:
                continue  # an incomplete measurement leaves its panel black
            image = _read_image(group[stokes])
            if image.shape != (h, w):
                raise ValueError(f"{group[stokes]}: frame shape {image.shape}, expected {(h, w)}")
            small = decimate(image, factor)
            del image  # one full-resolution frame in memory at a time
            x0 = k * (panel_w + _GAP)
            canvas[:panel_h, x0 : x0 + panel_w] = _to_grey(small, *levels[stokes], scale)
        return canvas

    movie_path.parent.mkdir(parents=True, exist_ok=True)
    # Named as an atomic write's temporary file, so a killed run's leftover is recognised.
    fd, tmp = tempfile.mkstemp(prefix=f".{movie_path.name}.", suffix=".part", dir=movie_path.parent)
    os.close(fd)
    middle = len(measurements) // 2
    preview = None
    try:
        writer = imageio_ffmpeg.write_frames(
            tmp,
            (width, height),
            fps=fps,
            codec="libx264",
            macro_block_size=_MACROBLOCK,
            pix_fmt_in="gray",
            pix_fmt_out="yuv420p",
            output_params=["-preset", preset, "-threads", str(int(threads)), "-f", "mp4"],
            ffmpeg_log_level="error",
        )
        writer.send(None)
        try:
            for i, (_, group) in enumerate(measurements):
                frame = compose(group)
                if i == middle:
                    preview = frame
                writer.send(frame)
        finally:
            writer.close()
        # The encoder needs a named, seekable file; copy it into place atomically.
        with open(tmp, "rb") as src, atomic_write(movie_path) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    with atomic_write(preview_path) as f:
        # 8-bit grey, zlib level 1: a noisy 2048-pixel RGB frame at the default level takes
        # seconds, for a file ~40 % smaller
        f.write(iio.imwrite("<bytes>", preview, extension=".png", compress_level=1))
    return BrowseMovie(
        movie_path=movie_path,
        preview_path=preview_path,
        frame_count=len(measurements),
        width=width,
        height=height,
        fps=fps,
        panels=panels,
        reduction=factor,
    )
