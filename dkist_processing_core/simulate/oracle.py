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

    For modulator state m the raw variance is signal_m + dark current x t + read noise^2, with
    signal_m the true scene through the telescope at the step's geometry and the instrument
    (effective modulation matrix); after the gain it is divided by gain^2. Demodulation with the
    planar per-pixel matrices ``demodulation`` (4, n_mod, y, x) followed by the telescope
    correction ``T^-1`` is one linear map ``T^-1 D``: variances add with weights
    ``(T^-1 D)[i, m]^2``.
    """
    t = truth.observe_exposure_ms
    o = _effective_modulation(truth)
    sigma = []
    for step in range(truth.n_scan_steps):
        telescope = _step_telescope(truth, step)
        stokes = truth.stokes[:, step].astype(np.float64)
        signal = (
            t
            * truth.pixel_response
            * truth.solar_illumination[:, None]
            * np.einsum("ms,syx->myx", o @ telescope, stokes)
        )
        variance = (signal + truth.dark_current * t + truth.read_noise**2) / gain**2
        d2 = np.einsum("ij,jmyx->imyx", np.linalg.inv(telescope), demodulation) ** 2
        sigma.append(np.sqrt(np.einsum("smyx,myx->syx", d2, variance)))
    return np.stack(sigma, axis=1)


def _effective_modulation(truth: SimulationTruth) -> np.ndarray:
    """The modulation matrix the pipeline sees (instrument x M7-M10); older truths lack it."""
    if "effective_modulation_matrix" in truth.arrays:
        return truth.effective_modulation_matrix
    return truth.modulation_matrix


def _step_telescope(truth: SimulationTruth, step: int) -> np.ndarray:
    if "step_telescope_mueller" in truth.arrays:
        return np.asarray(truth.step_telescope_mueller[step], dtype=np.float64)
    return np.eye(4)


def demodulation_crosstalk(demodulation: np.ndarray, truth: SimulationTruth) -> np.ndarray:
    """``D O_eff`` normalised to its I-I element, minus the identity, per bin: (..., 4, 4).

    Zero for a perfect polcal; each element is the fraction of one true Stokes parameter that
    leaks into another recovered one.
    """
    product = np.asarray(demodulation, dtype=np.float64) @ _effective_modulation(truth)
    return product / product[..., :1, :1] - np.eye(4)


def expected_vbi_tile(truth: SimulationTruth, wavelength_index: int, tile: int) -> np.ndarray:
    """Calibrated intensity of mosaic tile ``tile`` (1-based, as VBI__004) at a wavelength."""
    oy, ox = truth.tile_origins[tile - 1]
    ny, nx = truth.size
    scene = truth.scene[wavelength_index, oy : oy + ny, ox : ox + nx].astype(np.float64)
    return truth.exposure_ms[wavelength_index] * truth.intensity_scale[wavelength_index] * scene
