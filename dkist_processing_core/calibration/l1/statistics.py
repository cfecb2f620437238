"""Statistics of a calibrated array: the SPEC-0214 "Statistics" keywords (``DATAMIN`` ...).

The moments are exact over all finite pixels (a compiled two-pass loop); the median and the
percentiles are estimated on a regular subsample (see :func:`array_statistics`).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .errors import L1HeaderError

__all__ = ["STATISTICS_SAMPLE_SIZE", "array_statistics"]

_PERCENTILES = (1, 2, 5, 10, 25, 75, 90, 95, 98, 99)
#: Percentiles and the median are estimated on a regular subsample of at most this many pixels;
#: the rank error of a quantile from n samples is ~ sqrt(p(1-p)/n) < 0.1 % of the pixels here.
STATISTICS_SAMPLE_SIZE = 1 << 18


@numba.njit(cache=True, nogil=True)
def _moments(flat):  # pragma: no cover - compiled
    n = 0
    lo = np.inf
    hi = -np.inf
    s1 = 0.0
    for v in flat:
        if v == v:  # not NaN
            n += 1
            x = float(v)
            s1 += x
            lo = min(lo, x)
            hi = max(hi, x)
    if n == 0:
        return 0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan
    mean = s1 / n
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    for v in flat:
        if v == v:
            d = float(v) - mean
            d2 = d * d
            m2 += d2
            m3 += d2 * d
            m4 += d2 * d2
    m2 /= n
    m3 /= n
    m4 /= n
    skew = m3 / m2**1.5 if m2 > 0 else 0.0
    kurt = m4 / (m2 * m2) - 3.0 if m2 > 0 else 0.0
    return n, lo, hi, mean, math.sqrt(m2), skew, kurt


def array_statistics(data: np.ndarray) -> dict[str, float]:
    """Statistics of a calibrated array for the SPEC-0214 "Statistics" table (NaNs ignored).

    Exact over all finite pixels: ``DATAMIN``, ``DATAMAX``, ``DATAMEAN``, ``DATARMS`` (the RMS
    deviation from the mean, i.e. the standard deviation, as the specification defines it),
    ``DATASKEW`` (third standardised moment) and ``DATAKURT`` (excess kurtosis, fourth standardised
    moment minus 3), in float64 in two passes.

    Estimated on a regular subsample of at most :data:`STATISTICS_SAMPLE_SIZE` pixels (every k-th
    pixel of the flattened array): ``DATAMEDN`` and ``DATAPpp`` for pp in 01, 02, 05, 10, 25, 75,
    90, 95, 98, 99. SPEC-0214 does not ask for exact order statistics and a full sort of a
    4096x4096 frame would cost more than writing it.
    """
    flat = np.ascontiguousarray(data, dtype=np.dtype(data.dtype).newbyteorder("=")).reshape(-1)
    n, lo, hi, mean, rms, skew, kurt = _moments(flat)
    if n == 0:
        raise L1HeaderError("the calibrated array has no finite pixel; statistics are undefined")
    step = max(1, flat.size // STATISTICS_SAMPLE_SIZE)
    sample = flat[::step].astype(np.float64)
    sample = sample[np.isfinite(sample)]
    q = np.percentile(sample, (50, *_PERCENTILES)) if sample.size else np.full(11, mean)
    stats = {
        "DATAMIN": lo,
        "DATAMAX": hi,
        "DATAMEAN": mean,
        "DATAMEDN": float(q[0]),
        "DATARMS": rms,
        "DATAKURT": kurt,
        "DATASKEW": skew,
    }
    stats.update({f"DATAP{p:02d}": float(v) for p, v in zip(_PERCENTILES, q[1:])})
    return {k: float(v) for k, v in stats.items()}
