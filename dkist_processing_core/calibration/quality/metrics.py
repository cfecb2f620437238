"""Quality metrics of an L1 dataset, computed from its frames and headers.

Per frame (:class:`FrameQuality`):

* time ``DATE-BEG``, Stokes parameter ``STOKES``, AO loop state ``AO_LOCK``,
  Fried parameter ``ATMOS_R0`` (m) and light level ``LIGHTLVL`` from the header;
* mean and median of the data;
* noise: a robust estimate of the white (pixel-to-pixel) noise that ignores
  smooth solar structure. With the second difference along the fastest axis
  ``d = x[:, j-1] - 2 x[:, j] + x[:, j+1]``, white noise of standard deviation
  sigma gives ``std(d) = sigma * sqrt(6)``, while a scene that is smooth on the
  pixel scale (constant or linear over three pixels) contributes nothing; the
  median absolute deviation makes it robust to outliers (cosmic rays, hot
  pixels)::

      sigma = 1.4826 * median(|d - median(d)|) / sqrt(6)

Cost. The mean, median and maximum are those the L1 writer already computed
while it held the pixels (``DATAMEAN``, ``DATAMEDN``, ``DATAMAX`` of SPEC-0214),
so they cost nothing here; a frame without them, or written by another writer
(no ``DKPC`` provenance in ``HISTORY``), is read whole. The noise is
estimated from a sample of at most :data:`NOISE_SAMPLE_SIZE` second differences:
blocks of whole rows (one compression tile of rows each, so only those tiles are
decompressed), one block drawn from each of equal strata of the frame's rows
with a fixed seed (:data:`NOISE_SAMPLE_SEED`), the same rows for every frame. A
frame with fewer second differences than the sample size is used whole.

Statistical error. Every noise estimate comes with its standard error,
``noise_error = 1.45 * sigma / sqrt(n)`` for ``n`` second differences
(:data:`NOISE_ERROR_FACTOR`, from a Monte Carlo of white Gaussian noise: the
MAD of independent samples gives 1.17, overlapping second differences are
correlated), and the sample size ``noise_sample_size``. For a 4096x4096 frame
``n`` is about 1.3 million (5 blocks of 64 rows): 0.13 % of sigma. The error is that of white noise;
noise that varies over the frame (photon noise on a structured scene) adds a
sampling error of the strata that this figure does not include.

For polarimetric data, the frames of one polarimetric measurement (the same
dataset position apart from the Stokes axis) are combined
(:class:`PolarimetricQuality`): for X in Q, U, V

* polarimetric noise ``sigma_X / <I>``: the noise of X in units of the mean
  intensity of the measurement, and
* polarimetric sensitivity ``sigma_X / max(I)``: the smallest polarization
  fraction detectable at one sigma relative to the brightest intensity.

The Fried parameter is reported for AO-locked frames only, since r0 from the
wavefront sensor is meaningless when the loop is open.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits
from pydantic import BaseModel

from dkist_processing_core.calibration.inventory.algorithm import find_image_hdu
from dkist_processing_core.calibration.l1.header import HISTORY_PREFIX

__all__ = [
    "FrameQuality",
    "PolarimetricQuality",
    "QualityMetrics",
    "compute_quality_metrics",
    "estimate_noise",
    "estimate_noise_with_error",
    "noise_sample_blocks",
    "written_by_this_pipeline",
]


#: Second differences per frame at most in the noise estimate (see module docstring).
NOISE_SAMPLE_SIZE = 1 << 20
#: Seed of the row blocks drawn for the noise estimate: the same rows for every frame.
NOISE_SAMPLE_SEED = 20240
#: Standard error of the noise estimate is ``NOISE_ERROR_FACTOR * sigma / sqrt(n)``.
NOISE_ERROR_FACTOR = 1.45


def _second_differences(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    image = image.reshape(-1, image.shape[-1])
    d = (image[:, :-2] - 2.0 * image[:, 1:-1] + image[:, 2:]).ravel()
    return d[np.isfinite(d)]


def _mad_noise(d: np.ndarray) -> tuple[float, float, int]:
    if d.size == 0:
        return float("nan"), float("nan"), 0
    # float32 order statistics: twice as fast as float64, and exact to 1e-7 relative
    mad = np.median(np.abs(d - np.median(d)))
    sigma = float(1.4826 * mad / np.sqrt(6.0))
    return sigma, float(NOISE_ERROR_FACTOR * sigma / np.sqrt(d.size)), int(d.size)


def estimate_noise(image: np.ndarray) -> float:
    """Robust white-noise standard deviation of an image, from all its pixels (see module
    docstring)."""
    return _mad_noise(_second_differences(image))[0]


def estimate_noise_with_error(image: np.ndarray) -> tuple[float, float, int]:
    """(sigma, standard error of sigma, number of second differences) from all pixels."""
    return _mad_noise(_second_differences(image))


def noise_sample_blocks(
    n_rows: int,
    n_columns: int,
    *,
    block_rows: int = 1,
    sample_size: int = NOISE_SAMPLE_SIZE,
    seed: int = NOISE_SAMPLE_SEED,
) -> list[tuple[int, int]]:
    """Row blocks ``[(start, stop), ...]`` of the noise sample of a frame (see module docstring).

    Blocks are ``block_rows`` rows long and aligned to multiples of it (compression tiles);
    one block is drawn from each of equal strata of the blocks, with ``seed``. All rows when the
    frame has at most ``sample_size`` second differences.
    """
    per_row = max(0, n_columns - 2)
    block_rows = max(1, min(int(block_rows), n_rows))
    n_blocks = -(-n_rows // block_rows)
    if per_row == 0 or n_rows * per_row <= sample_size:
        return [(0, n_rows)]
    wanted = min(n_blocks, max(1, -(-sample_size // (block_rows * per_row))))
    rng = np.random.default_rng(seed)
    edges = np.linspace(0, n_blocks, wanted + 1).astype(int)
    picks = sorted({int(rng.integers(lo, hi)) for lo, hi in itertools.pairwise(edges) if hi > lo})
    return [(b * block_rows, min(n_rows, (b + 1) * block_rows)) for b in picks]


def _sampled_noise(hdu, sample_size: int = NOISE_SAMPLE_SIZE) -> tuple[float, float, int]:
    """Noise of an image HDU from its sampled row blocks, decompressing only those tiles."""
    shape = tuple(hdu.shape)
    if len(shape) < 2:
        return _mad_noise(_second_differences(np.atleast_2d(hdu.data)))
    ny, nx = shape[-2:]
    planes = list(np.ndindex(*shape[:-2]))
    tile_shape = getattr(hdu, "tile_shape", None)  # compressed: (..., rows, columns)
    block_rows = int(tile_shape[-2]) if tile_shape and len(tile_shape) >= 2 else 1
    blocks = noise_sample_blocks(
        ny, nx, block_rows=block_rows, sample_size=max(1, sample_size // len(planes))
    )
    chunks = [
        _second_differences(hdu.section[(*plane, slice(r0, r1), slice(None))])
        for plane in planes
        for r0, r1 in blocks
    ]
    return _mad_noise(np.concatenate(chunks) if chunks else np.zeros(0, np.float32))


class FrameQuality(BaseModel):
    """Quality numbers of one L1 frame."""

    object_key: str
    time: str
    stokes: str
    measurement: list[int]  # dataset position without the Stokes axis
    ao_locked: bool | None
    fried_parameter_m: float | None
    light_level: float | None
    mean: float
    median: float
    maximum: float
    noise: float
    noise_error: float | None = None  # standard error of ``noise`` (white-noise model)
    noise_sample_size: int | None = None  # second differences behind ``noise``
    statistics_from_header: bool = False  # mean/median/maximum from DATAMEAN/DATAMEDN/DATAMAX


class PolarimetricQuality(BaseModel):
    """Polarimetric noise and sensitivity of one polarimetric measurement."""

    time: str
    measurement: list[int]
    mean_intensity: float
    max_intensity: float
    noise: dict[str, float]  # Q/U/V: sigma_X / <I>
    sensitivity: dict[str, float]  # Q/U/V: sigma_X / max(I)
    noise_error: dict[str, float] | None = None  # Q/U/V: standard error of ``noise``


class QualityMetrics(BaseModel):
    """All quality metrics of a dataset (JSON-able; the quality data behind the report)."""

    dataset_id: str
    instrument: str
    frame_count: int
    frame_counts_by_stokes: dict[str, int]
    ao_locked_count: int
    frames: list[FrameQuality]
    polarimetric: list[PolarimetricQuality]
    warnings: list[str]

    def fried_parameter_series(self) -> tuple[list[str], list[float]]:
        """Times and r0 (m) of AO-locked frames with a known r0 (one per time)."""
        seen: dict[str, float] = {}
        for f in self.frames:
            if f.ao_locked and f.fried_parameter_m is not None and f.time not in seen:
                seen[f.time] = f.fried_parameter_m
        times = sorted(seen)
        return times, [seen[t] for t in times]

    def summary(self) -> dict:
        """A few numbers for the dataset inventory record."""
        _, r0 = self.fried_parameter_series()
        noise_i = [f.noise for f in self.frames if f.stokes == "I"]
        pol = {
            x: float(np.median([p.sensitivity[x] for p in self.polarimetric]))
            for x in ("Q", "U", "V")
            if self.polarimetric
        }
        return {
            "frameCount": self.frame_count,
            "aoLockedFrameCount": self.ao_locked_count,
            "medianFriedParameterAoLocked": float(np.median(r0)) if r0 else None,
            "medianNoiseStokesI": float(np.median(noise_i)) if noise_i else None,
            "medianPolarimetricSensitivity": pol or None,
            "warningCount": len(self.warnings),
        }


def _optional_float(header, key):
    value = header.get(key)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def _measurement_index(header) -> list[int]:
    """Dataset position of a frame apart from its Stokes axis (DINDEX of other axes)."""
    dnaxis = int(header.get("DNAXIS", 0))
    daaxes = int(header.get("DAAXES", 0))
    return [
        int(header.get(f"DINDEX{k}", 0))
        for k in range(daaxes + 1, dnaxis + 1)
        if str(header.get(f"DTYPE{k}", "")).upper() != "STOKES"
    ]


def written_by_this_pipeline(header) -> bool:
    """Whether an L1 header carries this pipeline's provenance (``HISTORY`` records ``DKPC``).

    Only then are its statistics (``DATAMEAN``, ``DATAP99``, ...) trusted to describe the data:
    another writer's may not (a simulator fills them from the schema).
    """
    return any(str(v).startswith(f"{HISTORY_PREFIX} ") for v in header.get("HISTORY", []))


def _header_statistics(header) -> tuple[float, float, float] | None:
    """(mean, median, maximum) this pipeline's L1 writer recorded, or None."""
    if not written_by_this_pipeline(header):
        return None
    values = tuple(_optional_float(header, k) for k in ("DATAMEAN", "DATAMEDN", "DATAMAX"))
    return None if any(v is None for v in values) else values


def compute_quality_metrics(
    frame_paths: Sequence[str | Path],
    *,
    expected_frame_count: int | None = None,
    noise_sample_size: int = NOISE_SAMPLE_SIZE,
) -> QualityMetrics:
    """Quality metrics of the frames (read one at a time; see module docstring).

    ``expected_frame_count``: if given (for example from the transfer manifest's
    frame count of the observe frames), a difference is reported as a warning.
    ``noise_sample_size``: second differences per frame at most in the noise estimate.
    """
    frames: list[FrameQuality] = []
    dataset_ids, instruments = set(), set()
    for path in map(Path, frame_paths):
        with fits.open(path) as hdul:
            hdu = hdul[find_image_hdu(hdul)]
            header = hdu.header
            stats = _header_statistics(header)
            if stats is None:  # not written by the L1 writer: read the frame whole
                data = np.asarray(hdu.data, dtype=np.float32)
                finite = data[np.isfinite(data)]
                stats = (
                    (float(finite.mean()), float(np.median(finite)), float(finite.max()))
                    if finite.size
                    else (float("nan"),) * 3
                )
                noise, noise_error, n = estimate_noise_with_error(data)
                del data, finite
                from_header = False
            else:
                noise, noise_error, n = _sampled_noise(hdu, noise_sample_size)
                from_header = True
        dataset_ids.add(str(header.get("DSETID")))
        instruments.add(str(header.get("INSTRUME")))
        ao = header.get("AO_LOCK")
        frames.append(
            FrameQuality(
                object_key=path.name,
                time=str(header["DATE-BEG"]),
                stokes=str(header.get("STOKES", "I")),
                measurement=_measurement_index(header),
                ao_locked=None if ao is None else bool(ao),
                fried_parameter_m=_optional_float(header, "ATMOS_R0"),
                light_level=_optional_float(header, "LIGHTLVL"),
                mean=stats[0],
                median=stats[1],
                maximum=stats[2],
                noise=noise,
                noise_error=noise_error,
                noise_sample_size=n,
                statistics_from_header=from_header,
            )
        )
    if len(dataset_ids) > 1:
        raise ValueError(
            f"frames belong to several datasets (DSETID {sorted(dataset_ids)}); expected one"
        )

    polarimetric = _polarimetric_quality(frames)
    counts: dict[str, int] = {}
    for f in frames:
        counts[f.stokes] = counts.get(f.stokes, 0) + 1
    ao_locked = sum(1 for f in frames if f.ao_locked)
    warnings = []
    if expected_frame_count is not None and expected_frame_count != len(frames):
        warnings.append(f"{len(frames)} frames in the dataset, {expected_frame_count} expected")
    unlocked = sum(1 for f in frames if f.ao_locked is False)
    if unlocked:
        warnings.append(
            f"AO loop open for {unlocked} of {len(frames)} frames "
            f"({100 * unlocked / len(frames):.0f}%); their Fried parameter is not reported"
        )
    if not any(f.fried_parameter_m is not None for f in frames):
        warnings.append("No frame has a Fried parameter (ATMOS_R0)")
    if len(set(counts.values())) > 1:
        warnings.append(f"Unequal frame counts per Stokes parameter: {counts}")
    return QualityMetrics(
        dataset_id=next(iter(dataset_ids)),
        instrument=next(iter(instruments)),
        frame_count=len(frames),
        frame_counts_by_stokes=counts,
        ao_locked_count=ao_locked,
        frames=frames,
        polarimetric=polarimetric,
        warnings=warnings,
    )


def _polarimetric_quality(frames: list[FrameQuality]) -> list[PolarimetricQuality]:
    """Group frames by measurement and combine the noise of Q/U/V with I."""
    groups: dict[tuple, dict[str, FrameQuality]] = {}
    for f in frames:
        groups.setdefault(tuple(f.measurement), {})[f.stokes] = f
    result = []
    for key in sorted(groups):
        group = groups[key]
        if not {"I", "Q", "U", "V"} <= group.keys():
            continue
        i_frame = group["I"]
        max_i = i_frame.maximum
        result.append(
            PolarimetricQuality(
                time=i_frame.time,
                measurement=list(key),
                mean_intensity=i_frame.mean,
                max_intensity=max_i,
                noise={x: group[x].noise / i_frame.mean for x in "QUV"},
                sensitivity={x: group[x].noise / max_i for x in "QUV"},
                noise_error=(
                    {x: group[x].noise_error / i_frame.mean for x in "QUV"}
                    if all(group[x].noise_error is not None for x in "QUV")
                    else None
                ),
            )
        )
    return result
