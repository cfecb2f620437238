"""Gains against the simulator's known pixel response and illumination."""

import numpy as np
import pytest

from dkist_processing_core.calibration.dark.algorithm import average_darks_by_exposure_time
from dkist_processing_core.calibration.gain.algorithm import imager_gain, normalised_gain
from dkist_processing_core.simulate import read_frame


def _relative_errors(estimate, truth):
    error = estimate / truth - 1
    return np.sqrt(np.mean(error**2)), error


def test_lamp_gain_matches_truth(visp, visp_calibration):
    truth = visp.truth
    rms, error = _relative_errors(visp_calibration.lamp_gain, truth.lamp_gain)
    # Photon noise of the averaged lamp frames: n frames of ~k counts -> 1/sqrt(n k) per pixel.
    n = len(visp.select("LAMP_GAIN"))
    # Mean response of the modulator to the lamp light (which passes M3-M10 after the GOS).
    counts = truth.lamp_exposure_ms * truth.lamp_counts_per_ms * truth.lamp_modulation_response
    sigma = 1 / np.sqrt(n * counts)
    assert rms < 0.005  # target: 0.5%
    assert 0.8 < rms / sigma < 1.3  # the error is photon noise, not a model error
    assert np.max(np.abs(error)) < 5.5 * sigma


def test_spectrograph_gain_lamp_times_solar_matches_truth(visp, visp_calibration):
    truth = visp.truth
    rms, error = _relative_errors(visp_calibration.gain, truth.gain)
    assert rms < 0.005  # target: 0.5%
    # Noise budget per pixel: lamp average (~0.11%) and solar average, which has fewer counts
    # in the line core (depth 0.5): up to ~0.2%. 6 sigma of the worst pixel's budget:
    assert np.max(np.abs(error)) < 6 * 0.0025
    # Along the slit (row means), noise averages out: the slit illumination itself is recovered
    row_error = visp_calibration.gain.mean(axis=1) / truth.gain.mean(axis=1) - 1
    assert np.max(np.abs(row_error)) < 0.001


def test_solar_gain_is_a_pure_flat(visp, visp_calibration):
    # No solar spectrum left: the column profile of the solar gain is flat to the noise level,
    # while the raw lamp-corrected solar frame has the line at 50% depth.
    columns = visp_calibration.solar_gain.mean(axis=0)
    raw_columns = visp_calibration.lamp_corrected_solar.mean(axis=0)
    assert raw_columns.min() / raw_columns.max() < 0.6
    assert np.max(np.abs(columns / columns.mean() - 1)) < 0.002


def test_imager_gain_matches_truth_per_wavelength(vbi, frames_of):
    truth = vbi.truth
    darks = average_darks_by_exposure_time(
        (r.exposure_time_ms, read_frame(vbi.path_of(r))[1]) for r in vbi.select("DARK")
    )
    for w, wavelength in enumerate(truth.wavelengths_nm):
        gain = imager_gain(
            frames_of(vbi, "SOLAR_GAIN", wavelength_nm=wavelength), darks[truth.exposure_ms[w]]
        )
        rms, error = _relative_errors(gain, truth.gain[w])
        n = len(vbi.select("SOLAR_GAIN", wavelength_nm=wavelength))
        counts = truth.exposure_ms[w] * truth.counts_per_ms[w] * truth.intensity_scale[w]
        sigma = 1 / np.sqrt(n * counts)  # photon noise of the averaged flat, per pixel
        assert rms < 0.005  # target: 0.5%
        assert 0.8 < rms / sigma < 1.3
        assert np.max(np.abs(error)) < 5.5 * sigma


def test_gain_without_light_is_refused():
    dark = np.full((4, 4), 100.0)
    with pytest.raises(ValueError, match="no light"):
        normalised_gain(np.full((4, 4), 100.0), dark)
