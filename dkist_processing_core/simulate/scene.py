"""The simulated Sun: granulation-like intensity fields and polarized spectral lines.

Fields are sums of random plane waves evaluated exactly at any pixel coordinate, so a tile of a
mosaic, a slit position of a scan or a 4k frame can each be computed on its own, and overlapping
tiles agree to rounding. The sum is evaluated as one matrix product (rows x modes @ modes x
columns), which keeps a 4096x4096 field well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RandomWaveField:
    """A smooth, statistically isotropic random field with zero mean and unit variance.

    ``f(y, x) = sqrt(2 / M) * sum_j cos(ky_j y + kx_j x + phi_j)`` with ``M`` modes whose wave
    numbers have magnitude ``~ 2 pi / scale_px`` (15% spread) and uniform random directions.
    """

    ky: np.ndarray
    kx: np.ndarray
    phase: np.ndarray

    @classmethod
    def create(cls, seed: int, scale_px: float, n_modes: int = 160) -> RandomWaveField:
        rng = np.random.default_rng(seed)
        k = 2 * np.pi / scale_px * rng.normal(1.0, 0.15, n_modes)
        direction = rng.uniform(0, 2 * np.pi, n_modes)
        return cls(
            ky=k * np.sin(direction),
            kx=k * np.cos(direction),
            phase=rng.uniform(0, 2 * np.pi, n_modes),
        )

    def evaluate(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Field on the grid ``y`` (rows) x ``x`` (columns); both 1-D pixel coordinates."""
        y = np.asarray(y, dtype=float)[:, None]
        x = np.asarray(x, dtype=float)[:, None]
        # cos(a + b) = cos a cos b - sin a sin b, with a = ky y, b = kx x + phi
        ay, by = np.cos(y * self.ky), np.sin(y * self.ky)
        ax, bx = np.cos(x * self.kx + self.phase), np.sin(x * self.kx + self.phase)
        left = np.concatenate([ay, -by], axis=1)
        right = np.concatenate([ax, bx], axis=1).T
        return (left @ right) * np.sqrt(2.0 / self.ky.size)


@dataclass(frozen=True)
class SpectralLine:
    """A Gaussian absorption line on a flat continuum, in detector pixel units.

    ``I(x) = Ic (1 - depth * g(u))``, ``g(u) = exp(-u^2 / (2 width^2))``, ``u = x - center - v``,
    with ``v`` the Doppler shift in pixels. Weak-field polarization:

    * ``V = -cv * B_los * width * dI/dx`` (antisymmetric, peaks at ``u = +-width``),
    * ``Q = cq * Bt^2 cos(2 chi) * width^2 * d2I/dx2``, ``U`` the same with ``sin(2 chi)``.

    ``B_los`` and ``Bt`` are dimensionless field strengths (the maps of the truth); ``cv`` and
    ``cq`` fix the amplitude of V/I and Q/I.
    """

    center_px: float
    width_px: float
    depth: float
    cv: float = 1.0
    cq: float = 1.0

    def profile(self, x, v=0.0):
        u = np.asarray(x, dtype=float) - self.center_px - v
        return 1.0 - self.depth * np.exp(-0.5 * (u / self.width_px) ** 2)

    def stokes(self, x, continuum, doppler, b_los, b_trans, azimuth_rad) -> np.ndarray:
        """Stokes (4, ..., n_x): parameters broadcast against ``x`` on the last axis."""
        x = np.asarray(x, dtype=float)
        continuum, doppler, b_los, b_trans, azimuth_rad = (
            np.asarray(a, dtype=float)[..., None]
            for a in (continuum, doppler, b_los, b_trans, azimuth_rad)
        )
        w = self.width_px
        u = x - self.center_px - doppler
        g = np.exp(-0.5 * (u / w) ** 2)
        intensity = continuum * (1.0 - self.depth * g)
        d_i = continuum * self.depth * g * u / w**2
        d2_i = -continuum * self.depth * g * (u**2 / w**4 - 1.0 / w**2)
        v = -self.cv * b_los * w * d_i
        linear = self.cq * b_trans**2 * w**2 * d2_i
        q = linear * np.cos(2 * azimuth_rad)
        u_stokes = linear * np.sin(2 * azimuth_rad)
        return np.stack(np.broadcast_arrays(intensity, q, u_stokes, v))
