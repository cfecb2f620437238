"""Modulation-matrix fit against the simulator's known modulator and calibration unit."""

import numpy as np
import pytest

from dkist_processing_core.calibration.polcal.algorithm import (
    PolcalSequenceError,
    accumulate_polcal,
    calibration_unit_stokes,
    fit_modulation_matrix,
    linear_polarizer,
    linear_retarder,
)
from dkist_processing_core.calibration.science.algorithm import dark_gain_correct, reciprocal_gain
from dkist_processing_core.simulate import read_frame


def test_mueller_matrices_textbook_values():
    unpolarized = np.array([1.0, 0, 0, 0])
    np.testing.assert_allclose(linear_polarizer(0) @ unpolarized, [0.5, 0.5, 0, 0], atol=1e-12)
    np.testing.assert_allclose(linear_polarizer(45) @ unpolarized, [0.5, 0, 0.5, 0], atol=1e-12)
    np.testing.assert_allclose(linear_polarizer(90) @ unpolarized, [0.5, -0.5, 0, 0], atol=1e-12)
    # Quarter-wave plate at 45 deg turns +Q into circular polarization (V = +-1), U untouched.
    out = linear_retarder(90, 45) @ np.array([1.0, 1, 0, 0])
    np.testing.assert_allclose(np.abs(out), [1, 0, 0, 1], atol=1e-12)
    # A retarder preserves the degree of polarization.
    for angle in (10, 33, 71):
        s = linear_retarder(92, angle) @ np.array([1.0, 0.3, -0.4, 0.5])
        assert np.isclose(np.linalg.norm(s[1:]), np.linalg.norm([0.3, -0.4, 0.5]))


def _sequence(truth):
    sequence = truth.polcal_sequence
    return calibration_unit_stokes(
        [s["polarizer_angle_deg"] for s in sequence],
        [s["retarder_angle_deg"] for s in sequence],
        truth.polcal_retardance_deg,
    )


@pytest.fixture(scope="module")
def polcal_fit(visp, visp_calibration):
    truth = visp.truth
    stokes_in = _sequence(truth)
    inverse_gain = reciprocal_gain(visp_calibration.gain)
    dark = visp_calibration.darks[truth.polcal_exposure_ms]
    frames = (
        (
            r.cal_unit_state,
            r.modulator_state - 1,
            dark_gain_correct(read_frame(visp.path_of(r))[1], dark, inverse_gain),
        )
        for r in visp.select("POLCAL")
    )
    data = accumulate_polcal(frames, stokes_in.shape[1], truth.n_modulator_states, (4, 1))
    return stokes_in, data, fit_modulation_matrix(data, stokes_in)


def test_calibration_unit_states_from_headers_equal_truth(visp, polcal_fit):
    np.testing.assert_allclose(polcal_fit[0], visp.truth.polcal_input_stokes, atol=1e-12)


def test_fitted_modulation_matrix_matches_truth(visp, polcal_fit):
    truth = visp.truth
    fit = polcal_fit[2]
    expected = truth.modulation_matrix / truth.modulation_matrix[:, 0].mean()
    # Noise: each bin averages 16 rows x 128 columns of ~6000-12000 counts per state;
    # the per-element error is ~1/sqrt(2048 * 6000) / efficiency ~ 5e-4 at most.
    for b in range(fit.modulation.shape[0]):
        np.testing.assert_allclose(fit.modulation[b, 0], expected, atol=2e-3)
    np.testing.assert_allclose(
        fit.demodulation[0, 0],
        np.linalg.pinv(expected),
        atol=2e-3 * np.abs(np.linalg.pinv(expected)).max() * 4,
    )
    assert np.all(fit.residual_rms < 1e-3)  # linear model fits to the noise
    assert np.all(fit.efficiency[..., 1:] > 0.4)  # Q, U, V all measurable


def test_degenerate_sequence_without_retarder_names_stokes_v(polcal_fit):
    _stokes_in, data, _ = polcal_fit
    no_retarder = calibration_unit_stokes([None, 0, 45, 90, 135], [None] * 5, 92.0)
    with pytest.raises(PolcalSequenceError, match=r"Stokes V unconstrained.*retarder"):
        fit_modulation_matrix(data[:5], no_retarder)


def test_degenerate_sequence_only_clear_names_linear_and_circular():
    only_clear = calibration_unit_stokes([None] * 6, [None] * 6, 92.0)
    with pytest.raises(PolcalSequenceError, match=r"span only 1 of the 4.*Stokes Q, U, V"):
        fit_modulation_matrix(np.ones((6, 8, 1, 1)), only_clear)


def test_too_few_states_or_modulator_states(polcal_fit):
    stokes_in, data, _ = polcal_fit
    with pytest.raises(PolcalSequenceError, match="3 calibration-unit state"):
        fit_modulation_matrix(data[:3], stokes_in[:, :3])
    with pytest.raises(PolcalSequenceError, match="3 modulator state"):
        fit_modulation_matrix(data[:, :3], stokes_in)


def test_missing_polcal_frame_is_named():
    frames = [(0, 0, np.ones((4, 4))), (1, 0, np.ones((4, 4)))]
    with pytest.raises(
        ValueError, match="no polcal frame for calibration-unit state 0, modulator state 1"
    ):
        accumulate_polcal(frames, 2, 2, (1, 1))
