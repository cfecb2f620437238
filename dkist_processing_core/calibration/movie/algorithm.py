"""The browse movie: an H.264 MP4 of a dataset for a quick look, and a still preview.

One movie frame per measurement (dataset position apart from the Stokes axis),
in time order. For polarimetric data the frame shows Stokes I, Q, U and V side by
side; otherwise Stokes I alone. Each panel is one L1 frame's image (for a slit
spectrograph: wavelength against slit position), enlarged by an integer factor
(nearest neighbour, so no pixel is invented) to at least ``min_panel_height``
pixels and the whole frame padded to a multiple of 16 pixels (the H.264
macroblock), so its size is known in advance and no encoder rescaling happens.

Grey levels are fixed for the whole movie so that changes over time are real:
Stokes I spans its 1st to 99th percentile, Q/U/V span +-99th percentile of their
absolute value, estimated from up to ``scale_sample`` measurements spread over
the dataset. Frames are streamed: one measurement in memory at a time.

The still preview (PNG) is the movie frame of the middle measurement.
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
from dkist_processing_core.calibration.quality.metrics import _measurement_index
from dkist_processing_core.framework.atomic import atomic_write

__all__ = ["BrowseMovie", "write_browse_movie"]

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


def _read_image(path: Path) -> np.ndarray:
    with fits.open(path) as hdul:
        data = hdul[find_image_hdu(hdul)].data
    image = np.squeeze(np.asarray(data, dtype=np.float32))
    if image.ndim != 2:
        raise ValueError(
            f"{path}: browse movie needs a 2-D image per frame, got shape {data.shape}"
        )
    return image


def _measurements(frame_paths: Sequence[Path]) -> list[tuple[str, dict[str, Path]]]:
    """(time, {stokes: path}) per measurement, in time order."""
    groups: dict[tuple, tuple[str, dict[str, Path]]] = {}
    for path in frame_paths:
        with fits.open(path) as hdul:
            header = hdul[find_image_hdu(hdul)].header
            key = tuple(_measurement_index(header))
            stokes = str(header.get("STOKES", "I"))
            time = str(header["DATE-BEG"])
        entry = groups.setdefault(key, (time, {}))
        entry[1][stokes] = path
        groups[key] = (min(time, entry[0]), entry[1])
    return sorted(groups.values(), key=lambda g: g[0])


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
    grey = np.clip((image - lo) / (hi - lo), 0.0, 1.0)
    grey = np.nan_to_num(grey, nan=0.0)
    grey = (grey * 255.0 + 0.5).astype(np.uint8)[::-1]  # FITS row 0 at the bottom
    return np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)


def write_browse_movie(
    frame_paths: Sequence[str | Path],
    movie_path: str | Path,
    preview_path: str | Path,
    *,
    fps: float = 10.0,
    min_panel_height: int = 256,
    scale_sample: int = 8,
    preset: str = "veryfast",
) -> BrowseMovie:
    """Write the browse movie (MP4, H.264) and preview (PNG); see module docstring."""
    import imageio_ffmpeg

    frame_paths = [Path(p) for p in frame_paths]
    movie_path, preview_path = Path(movie_path), Path(preview_path)
    if not frame_paths:
        raise ValueError(f"{movie_path}: no frames given for the browse movie")
    measurements = _measurements(frame_paths)
    polarimetric = any({"Q", "U", "V"} & m[1].keys() for m in measurements)
    panels = ["I", "Q", "U", "V"] if polarimetric else ["I"]
    first = _read_image(next(iter(measurements[0][1].values())))
    h, w = first.shape
    scale = max(1, math.ceil(min_panel_height / h))
    panel_h, panel_w = h * scale, w * scale
    raw_w = len(panels) * panel_w + (len(panels) - 1) * _GAP
    width = -(-raw_w // _MACROBLOCK) * _MACROBLOCK
    height = -(-panel_h // _MACROBLOCK) * _MACROBLOCK
    levels = _grey_levels(measurements, panels, scale_sample)

    def compose(group: dict[str, Path]) -> np.ndarray:
        canvas = np.zeros((height, width, 3), dtype=np.uint8)
        for k, stokes in enumerate(panels):
            if stokes not in group:
                continue  # an incomplete measurement leaves its panel black
            image = _read_image(group[stokes])
            if image.shape != (h, w):
                raise ValueError(f"{group[stokes]}: frame shape {image.shape}, expected {(h, w)}")
            x0 = k * (panel_w + _GAP)
            canvas[:panel_h, x0 : x0 + panel_w, :] = _to_grey(image, *levels[stokes], scale)[
                ..., None
            ]
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
            pix_fmt_out="yuv420p",
            output_params=["-preset", preset, "-f", "mp4"],
            ffmpeg_log_level="error",
        )
        writer.send(None)
        for i, (_, group) in enumerate(measurements):
            frame = compose(group)
            if i == middle:
                preview = frame
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        # The encoder needs a named, seekable file; copy it into place atomically.
        with open(tmp, "rb") as src, atomic_write(movie_path) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    with atomic_write(preview_path) as f:
        f.write(iio.imwrite("<bytes>", preview, extension=".png"))
    return BrowseMovie(
        movie_path=movie_path,
        preview_path=preview_path,
        frame_count=len(measurements),
        width=width,
        height=height,
        fps=fps,
        panels=panels,
    )
