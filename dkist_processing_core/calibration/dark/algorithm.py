"""Dark frames: the detector signal without light, per exposure time.

A raw frame is ``raw = dark(t) + light``; the dark of exposure time ``t`` (bias plus accumulated
dark current, ``dark(t) = bias + i_dark t``) is estimated as the per-pixel mean of frames taken with
the shutter closed at that exposure time.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from dkist_processing_core.calibration.streaming import (
    FrameSource,
    RunningMean,
    is_reiterable,
    iterate,
)


def average_dark(frames: FrameSource, *, rejection_sigma: float | None = None) -> np.ndarray:
    """Average dark frame from a stream of dark frames of one exposure time.

    Without rejection: ``dark = (1/N) sum_i raw_i``, one pass, running sums only.

    With ``rejection_sigma = k``: two passes. Pass one computes the per-pixel mean ``m`` and
    standard deviation ``s``; pass two averages, per pixel, only the frames with
    ``|raw_i - m| <= k s`` (e.g. cosmic-ray hits are excluded). Pixels where every frame is rejected
    (impossible for k >= 1) keep ``m``.

    Parameters
    ----------
    frames
        Dark frames (2-D arrays of equal shape), as an iterable or a callable returning a fresh
        iterable. Rejection needs two passes, so then a one-shot iterator is refused.
    rejection_sigma
        ``k`` above, or None for a plain mean.

    Returns
    -------
    The average dark, float64, shape of one frame.
    """
    if rejection_sigma is None:
        return RunningMean().extend(iterate(frames)).mean
    if rejection_sigma <= 0:
        raise ValueError(f"rejection_sigma must be positive, got {rejection_sigma}")
    if not is_reiterable(frames):
        raise TypeError(
            "sigma rejection reads the dark frames twice: pass a list, or a callable returning a "
            "fresh iterable of frames, not a one-shot iterator"
        )
    first = RunningMean().extend(iterate(frames))
    if first.count < 3:
        raise ValueError(f"sigma rejection needs at least 3 dark frames, got {first.count}")
    mean = first.mean
    limit = rejection_sigma * np.sqrt(first.variance)
    total = np.zeros_like(mean)
    count = np.zeros(mean.shape, dtype=np.int64)
    for frame in iterate(frames):
        frame = np.asarray(frame, dtype=np.float64)
        keep = np.abs(frame - mean) <= limit
        total += np.where(keep, frame, 0.0)
        count += keep
    return np.where(count > 0, total / np.maximum(count, 1), mean)


def average_darks_by_exposure_time(
    frames: Iterable[tuple[float, np.ndarray]],
) -> dict[float, np.ndarray]:
    """Average dark per exposure time from one stream of ``(exposure time, frame)`` pairs.

    One running mean per exposure time; frames may arrive in any order.
    """
    accumulators: dict[float, RunningMean] = {}
    for exposure_time, frame in frames:
        accumulators.setdefault(float(exposure_time), RunningMean()).add(frame)
    return {t: acc.mean for t, acc in sorted(accumulators.items())}


def dark_for_exposure_time(
    darks: dict[float, np.ndarray],
    exposure_time: float,
    *,
    tolerance: float = 1e-6,
    allow_interpolation: bool = False,
) -> np.ndarray:
    """The dark for ``exposure_time`` from darks measured at several exposure times.

    An exact match (within ``tolerance``) is returned as is. With ``allow_interpolation`` and at
    least two measured times, the per-pixel linear model ``dark(t) = b + i t`` is fitted by least
    squares to all measured darks and evaluated at ``exposure_time``. Otherwise a ``KeyError``
    names the missing time and the available ones.
    """
    for t, dark in darks.items():
        if abs(t - exposure_time) <= tolerance:
            return dark
    if allow_interpolation and len(darks) >= 2:
        times = np.array(sorted(darks))
        stack_mean = sum(darks[t] for t in times) / len(times)
        t_mean = times.mean()
        slope = sum((t - t_mean) * (darks[t] - stack_mean) for t in times) / np.sum(
            (times - t_mean) ** 2
        )
        return stack_mean + slope * (exposure_time - t_mean)
    raise KeyError(
        f"no dark for exposure time {exposure_time} ms; darks exist for {sorted(darks)} ms"
    )
