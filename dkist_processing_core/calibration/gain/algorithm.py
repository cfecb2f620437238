"""Gain (flat-field) calibration: the relative response of every pixel, normalised to mean 1.

Science frames are divided by the gain: ``corrected = (raw - dark) / gain``.

* Imager (VBI): the gain is the dark-corrected average of frames of a uniformly illuminated field,
  normalised to mean 1.
* Spectrograph (ViSP): the lamp gain carries the pixel response and the slit illumination of the
  lamp; the solar gain, divided by the lamp gain, still carries the solar spectrum (distorted by
  the slit tilt/curvature) and the difference between solar and lamp slit illumination. The solar
  spectrum is removed so that the solar gain is a pure flat; the gain that science frames are
  divided by is ``lamp_gain * solar_gain``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dkist_processing_core.calibration.geometric.algorithm import correct_spectral_shifts
from dkist_processing_core.calibration.streaming import FrameSource, average_frames


def _mean_or_average(frames: FrameSource | np.ndarray) -> np.ndarray:
    if isinstance(frames, np.ndarray) and frames.ndim == 2:
        return frames.astype(np.float64)
    return average_frames(frames)


def normalised_gain(
    frames: FrameSource | np.ndarray, dark: np.ndarray, *, minimum: float = 1e-3
) -> np.ndarray:
    """Plain gain: ``g = (mean(frames) - dark) / mean(mean(frames) - dark)``.

    Parameters
    ----------
    frames
        Flat-field frames (stream, callable or one already averaged 2-D array), all with the
        exposure time of ``dark``.
    dark
        Average dark for that exposure time.
    minimum
        Values below it (dead pixels, vignetted corners) are set to it, so dividing by the gain
        never divides by zero.

    Returns
    -------
    gain, float32, mean 1.
    """
    flat = _mean_or_average(frames) - dark
    level = flat.mean()
    if not level > 0:
        raise ValueError(
            f"dark-corrected gain frames have mean {level:.3g}: no light (wrong dark, or darks "
            "given as gain frames?)"
        )
    return np.maximum(flat / level, minimum).astype(np.float32)


def lamp_gain(frames: FrameSource | np.ndarray, dark: np.ndarray) -> np.ndarray:
    """Lamp gain of a spectrograph: dark-corrected mean lamp frame normalised to mean 1.

    The lamp is spectrally flat over the small passband of the spectrograph, so
    ``lamp_gain(y, x) = G(y, x) L(y) / <G L>`` with ``G`` the pixel response and ``L`` the slit
    illumination by the lamp.
    """
    return normalised_gain(frames, dark)


def imager_gain(frames: FrameSource | np.ndarray, dark: np.ndarray) -> np.ndarray:
    """Gain of an imager (e.g. VBI) from solar flat frames: see :func:`normalised_gain`."""
    return normalised_gain(frames, dark)


@dataclass
class SolarGain:
    """Result of :func:`solar_gain`.

    gain
        The pure flat left after removing the solar spectrum (mean 1): the ratio of solar to
        lamp slit illumination.
    characteristic_spectrum
        The solar spectrum on the reference wavelength grid (mean-normalised), what was removed.
    """

    gain: np.ndarray
    characteristic_spectrum: np.ndarray


def solar_gain(
    frames: FrameSource | np.ndarray,
    dark: np.ndarray,
    lamp: np.ndarray,
    spectral_shifts: np.ndarray,
) -> SolarGain:
    """Solar gain of a spectrograph with the solar spectrum removed.

    With ``c(y, x) = (mean(solar frames) - dark) / lamp_gain = k A(y) I_sun(x - s_y)``:

    1. Align the rows (``x -> x + s_y``), divide each row by its mean and take the median over
       rows: the characteristic spectrum ``I_char(x) ~ I_sun(x)``.
    2. Put it back on the detector grid of each row (``x -> x - s_y``):
       ``M(y, x) = I_char(x - s_y)``.
    3. ``solar_gain = c / M``, normalised to mean 1: ``~ A(y)`` (solar over lamp illumination).

    Parameters
    ----------
    frames
        Solar gain frames (averaged over the modulator states), one exposure time.
    dark
        Average dark of that exposure time.
    lamp
        Lamp gain (:func:`lamp_gain`).
    spectral_shifts
        Per-row spectral shift, from
        :func:`dkist_processing_core.calibration.geometric.algorithm.measure_spectral_shifts`
        applied to ``c`` (see :func:`lamp_corrected_solar`).
    """
    corrected = lamp_corrected_solar(frames, dark, lamp)
    return solar_gain_from_corrected(corrected, spectral_shifts)


def lamp_corrected_solar(
    frames: FrameSource | np.ndarray, dark: np.ndarray, lamp: np.ndarray
) -> np.ndarray:
    """``(mean(solar frames) - dark) / lamp_gain``: the frame spectral shifts are measured on."""
    return (_mean_or_average(frames) - dark) / lamp


def solar_gain_from_corrected(corrected: np.ndarray, spectral_shifts: np.ndarray) -> SolarGain:
    """Steps 1-3 of :func:`solar_gain` on an already lamp-corrected solar frame."""
    aligned = correct_spectral_shifts(corrected, spectral_shifts).astype(np.float64)
    aligned /= aligned.mean(axis=1, keepdims=True)
    characteristic = np.median(aligned, axis=0)
    characteristic /= characteristic.mean()
    model = correct_spectral_shifts(
        np.broadcast_to(characteristic, corrected.shape), -np.asarray(spectral_shifts)
    )
    residual = corrected / model
    gain = (residual / residual.mean()).astype(np.float32)
    return SolarGain(gain=gain, characteristic_spectrum=characteristic)


def combine_gains(*gains: np.ndarray) -> np.ndarray:
    """Product of gains, normalised to mean 1 (e.g. lamp gain x solar gain), float32."""
    total = np.ones_like(gains[0], dtype=np.float64)
    for g in gains:
        total *= g
    return (total / total.mean()).astype(np.float32)
