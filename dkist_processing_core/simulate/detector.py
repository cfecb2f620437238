"""The simulated camera: bias and dark current, pixel response, photon and read noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dkist_processing_core.simulate.scene import RandomWaveField

ADC_MAX = 65535


@dataclass
class DetectorTruth:
    """Known detector properties.

    * ``bias`` (counts) and ``dark_current`` (counts / ms) per pixel: the expected dark frame for an
      exposure of ``t`` ms is ``bias + dark_current * t``.
    * ``read_noise`` (counts RMS, Gaussian).
    """

    bias: np.ndarray
    dark_current: np.ndarray
    read_noise: float

    def dark(self, exposure_time_ms: float) -> np.ndarray:
        return self.bias + self.dark_current * exposure_time_ms

    @classmethod
    def create(cls, shape, seed: int, *, bias_level=1500.0, dark_current=0.8, read_noise=4.0):
        rng = np.random.default_rng(seed)
        ny, nx = shape
        # Fixed pattern: smooth amplifier gradient + column structure + per-pixel scatter.
        smooth = RandomWaveField.create(seed + 1, scale_px=max(ny, nx) / 2).evaluate(
            np.arange(ny), np.arange(nx)
        )
        columns = rng.normal(0, 4.0, nx)[None, :]
        bias = bias_level + 25.0 * smooth + columns + rng.normal(0, 3.0, shape)
        current = dark_current * np.clip(1 + 0.15 * rng.standard_normal(shape), 0.2, None)
        return cls(bias=bias, dark_current=current, read_noise=read_noise)


def pixel_response(shape, seed: int, *, scatter=0.02, vignetting=0.06, n_dust=3) -> np.ndarray:
    """Detector gain pattern (mean ~1): pixel-to-pixel scatter, a smooth vignetting, dust spots."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    y = (np.arange(ny) - (ny - 1) / 2) / ny
    x = (np.arange(nx) - (nx - 1) / 2) / nx
    smooth = 1 - vignetting * (y[:, None] ** 2 + x[None, :] ** 2) * 2
    response = smooth * (1 + scatter * rng.standard_normal(shape))
    yy, xx = np.mgrid[0:ny, 0:nx]
    for _ in range(n_dust):
        cy, cx = rng.uniform(0, ny), rng.uniform(0, nx)
        radius = rng.uniform(1.5, 4.0) * max(ny, nx) / 128
        response *= 1 - 0.15 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
    return response


def expose(
    expected_signal: np.ndarray,
    detector: DetectorTruth,
    exposure_time_ms: float,
    rng: np.random.Generator,
    noise: str = "poisson",
) -> np.ndarray:
    """Read out one frame: ``bias + N(photons + dark current * t) + read noise`` as uint16.

    ``expected_signal`` is the mean photo-electron count from light (gain and exposure time
    already applied). ``noise`` is 'poisson' (exact shot noise), 'gaussian' (normal
    approximation, faster for big frames) or 'none' (expected value, rounded).
    """
    mean_electrons = expected_signal + detector.dark_current * exposure_time_ms
    if noise == "poisson":
        counts = rng.poisson(np.clip(mean_electrons, 0, None)).astype(np.float32)
        counts += rng.normal(0, detector.read_noise, counts.shape).astype(np.float32)
    elif noise == "gaussian":
        counts = mean_electrons.astype(np.float32)
        sigma = np.sqrt(np.clip(mean_electrons, 0, None) + detector.read_noise**2)
        counts += rng.standard_normal(counts.shape, dtype=np.float32) * sigma.astype(np.float32)
    elif noise == "none":
        counts = mean_electrons.astype(np.float32)
    else:
        raise ValueError(f"noise must be 'poisson', 'gaussian' or 'none', got {noise!r}")
    counts += detector.bias.astype(np.float32)
    return np.clip(np.rint(counts), 0, ADC_MAX).astype(np.uint16)


def fried_parameter_series(
    n: int, seed: int, *, mean_m=0.08, amplitude_m=0.04, period_frames=200.0, jitter_m=0.005
) -> np.ndarray:
    """r0 (metres) for ``n`` consecutive frames: a slow seeing oscillation plus jitter, >= 1 cm."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    r0 = mean_m + amplitude_m * np.sin(2 * np.pi * t / period_frames) + rng.normal(0, jitter_m, n)
    return np.clip(r0, 0.01, None)
