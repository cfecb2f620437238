"""Science calibration (dark, gain, geometric, demodulation) against the simulated Stokes truth."""

import numpy as np
import pytest

from dkist_processing_core.calibration.polcal.algorithm import (
    accumulate_polcal,
    demodulation_per_pixel,
    fit_modulation_matrix,
)
from dkist_processing_core.calibration.science.algorithm import (
    calibrate_polarimetric_step,
    correct_telescope_polarization,
    dark_gain_correct,
    demodulate,
    reciprocal_gain,
)
from dkist_processing_core.simulate import read_frame
from dkist_processing_core.simulate.oracle import expected_stokes, predicted_stokes_sigma

INNER = slice(8, -8)  # wavelength columns away from the edges filled by the shift correction


def test_engines_agree():
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 60000, (32, 48)).astype(np.uint16)
    dark = rng.normal(1000, 10, (32, 48)).astype(np.float32)
    inv = reciprocal_gain(rng.uniform(0.8, 1.2, (32, 48)))
    a = dark_gain_correct(raw, dark, inv, engine="numba")
    b = dark_gain_correct(raw, dark, inv, engine="numpy")
    np.testing.assert_allclose(a, (raw.astype(np.float64) - dark) * inv, rtol=1e-5, atol=1e-2)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-3)
    modulated = rng.normal(size=(10, 32, 48)).astype(np.float32)
    per_pixel = rng.normal(size=(4, 10, 32, 48)).astype(np.float32)
    np.testing.assert_allclose(
        demodulate(modulated, per_pixel, engine="numba"),
        demodulate(modulated, per_pixel, engine="einsum"),
        rtol=1e-4,
        atol=1e-4,
    )
    constant = per_pixel[:, :, 0, 0]
    np.testing.assert_allclose(
        demodulate(modulated, constant),
        np.einsum("sm,myx->syx", constant, modulated),
        rtol=1e-4,
        atol=1e-4,
    )


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="shapes differ"):
        dark_gain_correct(np.ones((2, 2)), np.ones((2, 3)), np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="for 8 modulator states, got 10"):
        demodulate(np.ones((10, 2, 2), np.float32), np.ones((4, 8)))
    with pytest.raises(ValueError, match="gain has 1 pixels <= 0"):
        reciprocal_gain(np.array([1.0, 0.0]))


@pytest.fixture(scope="module")
def science(visp, visp_calibration):
    """Calibrated Stokes of every scan step, plus the per-pixel demodulation used."""
    truth = visp.truth
    n_mod = truth.n_modulator_states
    inverse_gain = reciprocal_gain(visp_calibration.gain)
    dark = visp_calibration.darks[truth.polcal_exposure_ms]
    polcal = (
        (
            r.cal_unit_state,
            r.modulator_state - 1,
            dark_gain_correct(_read(visp, r), dark, inverse_gain),
        )
        for r in visp.select("POLCAL")
    )
    data = accumulate_polcal(polcal, truth.polcal_input_stokes.shape[1], n_mod, (4, 1))
    fit = fit_modulation_matrix(data, truth.polcal_input_stokes)
    demod = demodulation_per_pixel(fit.demodulation, tuple(truth.size))
    dark = visp_calibration.darks[truth.observe_exposure_ms]
    steps = []
    for step in range(truth.n_scan_steps):
        frames = (
            (r.modulator_state - 1, _read(visp, r))
            for r in visp.select("OBSERVE", spatial_step=step)
        )
        stokes = calibrate_polarimetric_step(
            frames,
            dark,
            inverse_gain,
            demod,
            n_mod,
            spectral_shifts=visp_calibration.spectral_shifts,
        )
        # Into the Sun's frame: the telescope at the step's geometry removed.
        steps.append(correct_telescope_polarization(stokes, truth.step_telescope_mueller[step]))
    return np.stack(steps, axis=1), demod


def test_telescope_correction_inverts_the_telescope():
    rng = np.random.default_rng(2)
    telescope = np.eye(4) + 0.1 * rng.normal(size=(4, 4))
    true = rng.normal(size=(4, 8, 6)).astype(np.float32)
    seen = np.einsum("ij,jyx->iyx", telescope, true).astype(np.float32)
    out = correct_telescope_polarization(seen, telescope)
    assert out is seen  # in place
    np.testing.assert_allclose(out, true, atol=1e-5)


def _read(visp, record):
    return read_frame(visp.path_of(record))[1]


def test_calibrated_intensity_matches_scene(visp, science):
    truth = visp.truth
    stokes, _ = science
    expected = expected_stokes(truth)[0]
    error = (stokes[0] / expected - 1)[..., INNER]
    # Photon noise of I: ~2e5 counts per pixel summed over 10 states -> ~0.25%; bias must be
    # far smaller than that (gain, dark and intensity scale all right).
    assert abs(error.mean()) < 5e-4
    assert error.std() < 0.004


def test_demodulated_polarization_matches_truth_within_noise(visp, visp_calibration, science):
    truth = visp.truth
    stokes, demod = science
    sigma = predicted_stokes_sigma(visp.truth, demod, visp_calibration.gain)
    for i, name in ((1, "Q"), (2, "U"), (3, "V")):
        recovered = (stokes[i] / stokes[0])[..., INNER]
        expected = (truth.stokes[i] / truth.stokes[0])[..., INNER]
        predicted = (sigma[i] / stokes[0])[..., INNER]
        z = (recovered - expected) / predicted
        # The truth signal is several times the noise per pixel, so a wrong sign or crosstalk
        # would show; the residual must be pure noise: no bias (8 steps x 64 x 112 pixels ->
        # 0.004 sigma expected, 0.05 allowed) and a spread no larger than predicted (the
        # spline resampling of the geometric correction can only smooth, hence < 1).
        assert np.abs(expected).max() > 5 * np.median(predicted), name
        assert abs(z.mean()) < 0.05, name
        assert 0.6 < z.std() < 1.05, name
        assert np.max(np.abs(z)) < 6, name
