"""Spectral distortion of a slit spectrograph: measure and remove the shift of each row.

On the detector of a slit spectrograph a spectral line is not a straight column: slit tilt and
curvature put the spectrum of slit row ``y`` at ``observed_y(x) = true_y(x - s_y)``, with ``s_y`` in
pixels. We measure ``s_y`` relative to a reference row (``s_ref = 0``) on a frame with strong lines
and uniform spatial content (the dark-corrected, lamp-gain-corrected solar gain), and correct any
frame by resampling each row: ``corrected_y(x) = observed_y(x + s_y)``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.interpolate import CubicSpline

from ...framework.errors import ExpectedError


class SpectralShiftOutOfRange(ValueError, ExpectedError):
    """A fitted spectral shift beyond the search bound: the fit is not to be trusted.

    The integer search covers ``-max_shift..max_shift``; a shift fitted beyond it means the
    lines were not where the algorithm looks for them (another axis order, a wrong frame,
    a bound too small for this spectrograph). The message names the rows, their shifts and
    the bound.
    """

    def __init__(self, shifts: np.ndarray, max_shift: float, name: str = "max_shift"):
        self.shifts = np.asarray(shifts)
        self.max_shift = float(max_shift)
        bad = np.flatnonzero(~(np.abs(self.shifts) <= self.max_shift))
        self.rows = bad
        shown = ", ".join(f"row {r}: {self.shifts[r]:.3g} px" for r in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        super().__init__(
            f"{len(bad)} of {len(self.shifts)} slit rows have a fitted spectral shift beyond "
            f"{name} = {self.max_shift:g} px ({shown}{more}); expected |shift| <= "
            f"{self.max_shift:g}: check that the frames' spectral axis is the one their CTYPEn "
            f"declare, or raise {name} if the spectrograph's distortion is larger"
        )


def _normalised_rows(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D (slit, wavelength) image, got shape {image.shape}")
    level = np.median(image, axis=1, keepdims=True)
    if np.any(level <= 0):
        rows = np.flatnonzero(level[:, 0] <= 0)
        raise ValueError(f"rows {rows[:10].tolist()} have no signal (median <= 0)")
    return image / level


def _fit_shifts_to_reference(
    rows: np.ndarray, reference: np.ndarray, max_shift: float, margin: int, iterations: int
) -> np.ndarray:
    """Shift of each row against a reference spectrum: ``row(x) ~ a + b reference(x - s)``.

    Integer search for a start value, then Gauss-Newton on ``(a, b, s)`` for all rows at once.
    """
    nx = rows.shape[1]
    x = np.arange(nx, dtype=np.float64)
    spline = CubicSpline(x, reference, bc_type="natural")
    derivative = spline.derivative()
    inner = slice(margin, nx - margin)
    xi = x[inner]
    data = rows[:, inner]

    def residual_after_linear_fit(model):
        m = model - model.mean(axis=1, keepdims=True)
        d = data - data.mean(axis=1, keepdims=True)
        b = np.sum(m * d, axis=1) / np.sum(m * m, axis=1)
        return np.sum((d - b[:, None] * m) ** 2, axis=1)

    candidates = np.arange(-int(np.ceil(max_shift)), int(np.ceil(max_shift)) + 1, dtype=float)
    costs = np.stack([residual_after_linear_fit(spline(xi - c)[None, :]) for c in candidates])
    shifts = candidates[np.argmin(costs, axis=0)]
    for _ in range(iterations):
        xs = xi[None, :] - shifts[:, None]
        model = spline(xs)
        slope = derivative(xs)
        # Linearised model: row = a + b * model - b * slope * ds  -> unknowns a, b, c = -b ds
        basis = np.stack([np.ones_like(model), model, slope], axis=-1)  # (ny, n, 3)
        normal = np.einsum("yni,ynj->yij", basis, basis)
        rhs = np.einsum("yni,yn->yi", basis, data)
        a_b_c = np.linalg.solve(normal, rhs[..., None])[..., 0]
        step = -a_b_c[:, 2] / a_b_c[:, 1]
        shifts = shifts + np.clip(step, -1.0, 1.0)
    return shifts


def measure_spectral_shifts(
    image: np.ndarray,
    *,
    reference_row: int | None = None,
    max_shift: float = 5.0,
    margin: int | None = None,
    iterations: int = 6,
    zero_point_fit_order: int = 2,
) -> np.ndarray:
    """Spectral shift ``s_y`` (pixels) of every row of a spectrograph frame.

    Method:

    1. Each row is divided by its median (removes the along-slit illumination).
    2. Every row is fitted as ``a + b ref(x - s)``, with ``ref`` the reference row interpolated by
       a cubic spline: an integer search for a start value, then Gauss-Newton on ``(a, b, s)``.
    3. The rows are aligned with those shifts and averaged into a low-noise mean spectrum, and
       step 2 is repeated against it (so the noise of one reference row does not enter every
       shift).
    4. Zero point: the polynomial (``zero_point_fit_order``) through the shifts is made to vanish
       at the reference row, so ``s_ref = 0`` up to the noise of the fit, not of a single row.

    Parameters
    ----------
    image
        (slit, wavelength) frame with spectral lines, dark and gain corrected.
    reference_row
        Row defining zero shift (default: the central row ``ny // 2``).
    max_shift
        Largest expected ``|shift|`` in pixels (integer search range).
    margin
        Columns ignored at each end (default ``ceil(max_shift) + 2``): they are not covered by
        the shifted reference.
    iterations, zero_point_fit_order
        Gauss-Newton iterations; order of the zero-point polynomial.

    Returns
    -------
    shifts : (ny,) float64, ``observed_y(x) = aligned_y(x - shifts[y])``.

    Raises
    ------
    SpectralShiftOutOfRange
        When a fitted shift (or its value relative to the reference row) is beyond
        ``max_shift`` or not finite: a shift is never used outside the range searched.
    """
    rows = _normalised_rows(image)
    ny, nx = rows.shape
    reference_row = ny // 2 if reference_row is None else int(reference_row)
    if not 0 <= reference_row < ny:
        raise ValueError(f"reference_row {reference_row} is outside the {ny} rows of the image")
    margin = int(np.ceil(max_shift)) + 2 if margin is None else int(margin)
    if nx - 2 * margin < 8:
        raise ValueError(
            f"only {nx} wavelength columns: too few for a margin of {margin} on each side"
        )
    first = _fit_shifts_to_reference(rows, rows[reference_row], max_shift, margin, iterations)
    mean_spectrum = correct_spectral_shifts(rows, first).mean(axis=0)
    second = _fit_shifts_to_reference(rows, mean_spectrum, max_shift, margin, iterations)
    y = np.arange(ny)
    order = min(zero_point_fit_order, ny - 1)
    zero = np.polynomial.polynomial.polyval(
        reference_row, np.polynomial.polynomial.polyfit(y, second, order)
    )
    shifts = second - zero
    if not np.all(np.abs(second) <= max_shift) or not np.all(np.abs(shifts) <= max_shift):
        worst = np.where(np.abs(second) > np.abs(shifts), second, shifts)
        raise SpectralShiftOutOfRange(worst, max_shift)
    return shifts


def fit_shift_polynomial(shifts: np.ndarray, order: int = 2) -> np.ndarray:
    """Smooth measured shifts with a polynomial along the slit (noise-free distortion model)."""
    y = np.arange(len(shifts))
    coefficients = np.polynomial.polynomial.polyfit(y, shifts, order)
    return np.polynomial.polynomial.polyval(y, coefficients)


def correct_spectral_shifts(
    image: np.ndarray,
    shifts: np.ndarray,
    *,
    order: int = 3,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Resample every row onto the reference wavelength grid: ``out[y, x] = image[y, x + s_y]``.

    Cubic-spline interpolation (``order``) along the row; beyond the ends the edge value is
    repeated. ``image`` may have leading axes (e.g. modulator states): the last two are
    (slit, wavelength).
    """
    image = np.asarray(image)
    shifts = np.asarray(shifts, dtype=np.float64)
    if image.shape[-2] != shifts.shape[0]:
        raise ValueError(f"{shifts.shape[0]} shifts given for an image with {image.shape[-2]} rows")
    if out is None:
        out = np.empty(image.shape, dtype=np.result_type(image.dtype, np.float32))
    flat_in = image.reshape(-1, *image.shape[-2:])
    flat_out = out.reshape(-1, *image.shape[-2:])
    for plane_in, plane_out in zip(flat_in, flat_out):
        for y, s in enumerate(shifts):
            ndimage.shift(plane_in[y], -s, output=plane_out[y], order=order, mode="nearest")
    return out
