"""What the truth predicts for calibrated data: the yardsticks calibration tests compare against."""

from __future__ import annotations

import numpy as np

from .observation import SimulationTruth


def expected_stokes(truth: SimulationTruth) -> np.ndarray:
    """Calibrated Stokes a perfect ViSP calibration gives: (4, scan step, slit, wavelength).

    ``(raw - dark) / gain`` demodulated equals exposure time x intensity scale x the true Stokes.
    """
    return truth.observe_exposure_ms * truth.intensity_scale * truth.stokes.astype(np.float64)


def predicted_stokes_sigma(
    truth: SimulationTruth, demodulation: np.ndarray, gain: np.ndarray
) -> np.ndarray:
    """Photon + read noise of the calibrated Stokes, per pixel: (4, scan step, slit, wavelength).

    For modulator state m the raw variance is signal_m + dark current x t + read noise^2;
    after the gain it is divided by gain^2; demodulation with the planar per-pixel matrices
    ``demodulation`` (4, n_mod, y, x) adds variances with weights D[i, m]^2.
    """
    t = truth.observe_exposure_ms
    o = truth.modulation_matrix
    d2 = demodulation.astype(np.float64) ** 2
    sigma = []
    for step in range(truth.n_scan_steps):
        stokes = truth.stokes[:, step].astype(np.float64)
        signal = (
            t
            * truth.pixel_response
            * truth.solar_illumination[:, None]
            * np.einsum("ms,syx->myx", o, stokes)
        )
        variance = (signal + truth.dark_current * t + truth.read_noise**2) / gain**2
        sigma.append(np.sqrt(np.einsum("smyx,myx->syx", d2, variance)))
    return np.stack(sigma, axis=1)


def expected_vbi_tile(truth: SimulationTruth, wavelength_index: int, tile: int) -> np.ndarray:
    """Calibrated intensity of mosaic tile ``tile`` (1-based, as VBI__004) at a wavelength."""
    oy, ox = truth.tile_origins[tile - 1]
    ny, nx = truth.size
    scene = truth.scene[wavelength_index, oy : oy + ny, ox : ox + nx].astype(np.float64)
    return truth.exposure_ms[wavelength_index] * truth.intensity_scale[wavelength_index] * scene
