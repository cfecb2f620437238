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

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits
from pydantic import BaseModel

from dkist_processing_core.calibration.inventory.algorithm import find_image_hdu

__all__ = [
    "FrameQuality",
    "PolarimetricQuality",
    "QualityMetrics",
    "compute_quality_metrics",
    "estimate_noise",
]


def estimate_noise(image: np.ndarray) -> float:
    """Robust white-noise standard deviation of an image (see module docstring)."""
    image = np.asarray(image, dtype=np.float64)
    image = image.reshape(-1, image.shape[-1])
    d = (image[:, :-2] - 2.0 * image[:, 1:-1] + image[:, 2:]).ravel()
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    mad = np.median(np.abs(d - np.median(d)))
    return float(1.4826 * mad / np.sqrt(6.0))


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


class PolarimetricQuality(BaseModel):
    """Polarimetric noise and sensitivity of one polarimetric measurement."""

    time: str
    measurement: list[int]
    mean_intensity: float
    max_intensity: float
    noise: dict[str, float]  # Q/U/V: sigma_X / <I>
    sensitivity: dict[str, float]  # Q/U/V: sigma_X / max(I)


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


def compute_quality_metrics(
    frame_paths: Sequence[str | Path], *, expected_frame_count: int | None = None
) -> QualityMetrics:
    """Quality metrics of the frames (read one at a time; see module docstring).

    ``expected_frame_count``: if given (for example from the transfer manifest's
    frame count of the observe frames), a difference is reported as a warning.
    """
    frames: list[FrameQuality] = []
    dataset_ids, instruments = set(), set()
    for path in map(Path, frame_paths):
        with fits.open(path) as hdul:
            hdu = hdul[find_image_hdu(hdul)]
            header = hdu.header
            data = np.asarray(hdu.data, dtype=np.float32)
        dataset_ids.add(str(header.get("DSETID")))
        instruments.add(str(header.get("INSTRUME")))
        ao = header.get("AO_LOCK")
        finite = data[np.isfinite(data)]
        frames.append(
            FrameQuality(
                object_key=path.name,
                time=str(header["DATE-BEG"]),
                stokes=str(header.get("STOKES", "I")),
                measurement=_measurement_index(header),
                ao_locked=None if ao is None else bool(ao),
                fried_parameter_m=_optional_float(header, "ATMOS_R0"),
                light_level=_optional_float(header, "LIGHTLVL"),
                mean=float(finite.mean()) if finite.size else float("nan"),
                median=float(np.median(finite)) if finite.size else float("nan"),
                maximum=float(finite.max()) if finite.size else float("nan"),
                noise=estimate_noise(data),
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
            )
        )
    return result
