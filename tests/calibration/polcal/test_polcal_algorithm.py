"""Modulation-matrix fit against the simulator's known modulator and calibration unit."""

import numpy as np
import pytest

from dkist_processing_core.calibration.polcal import model
from dkist_processing_core.calibration.polcal.algorithm import (
    PolcalSequenceError,
    accumulate_polcal,
    calibration_unit_stokes,
    fit_modulation_matrix,
    fit_polcal,
    fit_polcal_bin_by_bin,
    linear_polarizer,
    linear_retarder,
)
from dkist_processing_core.calibration.polcal.model import (
    CU_PARAMETERS,
    PolcalStates,
    TelescopeMirrors,
    unit_stokes,
)
from dkist_processing_core.calibration.science.algorithm import dark_gain_correct, reciprocal_gain
from dkist_processing_core.simulate import read_frame
from dkist_processing_core.simulate.optics import TelescopeTruth, mirror_mueller
from dkist_processing_core.simulate.oracle import demodulation_crosstalk


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


NOMINAL = {"retardance_deg": 92.0, "polarizer_transmission": 1.0, "retarder_transmission": 1.0}


def _truth_unit(truth) -> dict:
    return {
        "retardance_deg": truth.polcal_retardance_deg,
        "polarizer_transmission": truth.polcal_polarizer_transmission,
        "retarder_transmission": truth.polcal_retarder_transmission,
    }


def _mirrors(truth) -> TelescopeMirrors:
    """What the pipeline knows of the telescope (M7-M10 belong to the modulation matrix)."""
    return TelescopeMirrors(**{k: v for k, v in truth.telescope.items() if "710" not in k})


@pytest.fixture(scope="module")
def polcal_fit(visp, visp_calibration):
    truth = visp.truth
    states = PolcalStates.from_records(truth.polcal_sequence)
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
    data = accumulate_polcal(frames, len(states), truth.n_modulator_states, (4, 1))
    return states, data, fit_polcal(data, states, _mirrors(truth), NOMINAL)


def test_the_simulated_unit_is_off_nominal_and_the_telescope_polarizes(visp):
    truth = visp.truth
    assert truth.polcal_retardance_deg - NOMINAL["retardance_deg"] == pytest.approx(3.0)
    assert truth.polcal_polarizer_transmission < 0.98 and truth.polcal_retarder_transmission < 0.99
    assert len(truth.polcal_geometries) >= 3
    telescope = truth.step_telescope_mueller[0]
    assert np.max(np.abs(telescope[1:, 0])) > 0.01  # I -> Q, U: percent-level
    assert np.max(np.abs(telescope[1:, 1:] - np.diag(np.diag(telescope[1:, 1:])))) > 0.1


def test_pipeline_telescope_model_equals_the_simulators_jones_route(visp):
    truth = visp.truth
    simulator = TelescopeTruth(**truth.telescope)
    mirrors = _mirrors(truth)
    for elevation, azimuth, table in [(10, 0, 0), (45, 130, 75), (80, 290, 200)]:
        np.testing.assert_allclose(
            model.telescope(mirrors, elevation, azimuth, table),
            simulator.mueller(elevation, azimuth, table),
            atol=1e-12,
        )
    np.testing.assert_allclose(mirror_mueller(1.04, 165.0), model.mirror(1.04, 165.0), atol=1e-12)


def test_calibration_unit_states_from_headers_equal_truth(visp, polcal_fit):
    states = polcal_fit[0]
    stokes = unit_stokes(states, _mirrors(visp.truth), **_truth_unit(visp.truth))
    np.testing.assert_allclose(stokes, visp.truth.polcal_input_stokes, atol=1e-12)


def test_analytic_jacobian_equals_finite_differences(visp):
    states = PolcalStates.from_records(visp.truth.polcal_sequence)
    mirrors = _mirrors(visp.truth)
    _, partials = unit_stokes(states, mirrors, **NOMINAL, derivatives=True)
    for name, step in (("retardance_deg", 1e-4), ("polarizer_transmission", 1e-6),
                       ("retarder_transmission", 1e-6)):  # fmt: skip
        up, down = dict(NOMINAL), dict(NOMINAL)
        up[name] += step
        down[name] -= step
        numeric = (unit_stokes(states, mirrors, **up) - unit_stokes(states, mirrors, **down)) / (
            2 * step
        )
        np.testing.assert_allclose(partials[name], numeric, atol=1e-7)


def test_profiled_jacobian_equals_finite_differences():
    """The fit's Jacobian of the projected residuals, checked on a random problem."""
    rng = np.random.default_rng(1)
    records = [
        {"polarizer_angle_deg": p, "retarder_angle_deg": r, "elevation_deg": e,
         "azimuth_deg": a, "table_angle_deg": 10.0}
        for e, a in ((30, 80), (60, 200))
        for p, r in ((None, None), (0, None), (45, None), (90, None), (0, 0), (0, 30),
                     (0, 60), (0, 120))
    ]  # fmt: skip
    states = PolcalStates.from_records(records)
    mirrors = TelescopeMirrors(1.02, 172, 1.03, 168, 1.025, 163)
    truth = {"retardance_deg": 95.0, "polarizer_transmission": 0.95, "retarder_transmission": 0.97}
    o = rng.normal(size=(3, 8, 4))
    o[..., 0] = 1 + rng.random((3, 8))
    data = np.einsum("bmj,jk->kmb", o, unit_stokes(states, mirrors, **truth))
    data += 1e-3 * rng.normal(size=data.shape)
    fit = fit_polcal(data, states, mirrors, NOMINAL)
    for name, value in truth.items():
        assert fit.parameters[name] == pytest.approx(value, abs=5 * fit.uncertainties[name] + 1e-9)
    assert fit.success and fit.residual_sigma == pytest.approx(1e-3 / data.mean(), rel=0.3)


def test_joint_fit_recovers_the_unit_and_the_modulation(visp, polcal_fit):
    truth = visp.truth
    _, _, fit = polcal_fit
    # The retardance 3 deg off nominal is recovered to far better than 0.1 deg; transmissions to
    # 1e-3; each within a few of its stated uncertainty.
    assert abs(fit.parameters["retardance_deg"] - truth.polcal_retardance_deg) < 0.1
    for name, value in _truth_unit(truth).items():
        error = fit.parameters[name] - value
        assert abs(error) < 5 * fit.uncertainties[name] + 1e-4, name
        assert 0 < fit.uncertainties[name] < 0.02
    assert (
        abs(fit.parameters["polarizer_transmission"] - truth.polcal_polarizer_transmission) < 1e-3
    )
    # Demodulation crosstalk below 0.2% in every bin.
    assert np.max(np.abs(demodulation_crosstalk(fit.demodulation, truth))) < 2e-3
    expected = truth.effective_modulation_matrix / truth.effective_modulation_matrix[:, 0].mean()
    for b in range(fit.modulation.shape[0]):
        np.testing.assert_allclose(fit.modulation[b, 0], expected, atol=2e-3)
        assert np.all(
            np.abs(fit.modulation[b, 0] - expected) < 6 * fit.modulation_uncertainty[b, 0]
        )
    assert np.all(fit.residual_rms < 1e-3)  # the model fits to the noise
    assert np.all(fit.efficiency[..., 1:] > 0.4)  # Q, U, V all measurable
    summary = fit.summary()
    assert summary["fitted"] == list(CU_PARAMETERS) and summary["success"]


def test_retardance_fixed_at_nominal_shows_the_bias_the_fit_removes(visp, polcal_fit):
    truth = visp.truth
    states, data, joint = polcal_fit
    fixed = fit_polcal(
        data, states, _mirrors(truth), NOMINAL, ["polarizer_transmission", "retarder_transmission"]
    )
    assert fixed.parameters["retardance_deg"] == NOMINAL["retardance_deg"]
    crosstalk_fixed = np.max(np.abs(demodulation_crosstalk(fixed.demodulation, truth)))
    crosstalk_joint = np.max(np.abs(demodulation_crosstalk(joint.demodulation, truth)))
    assert crosstalk_fixed > 3e-3 > 2e-3 > crosstalk_joint  # percent-level V <-> Q, U leakage
    assert np.min(fixed.residual_rms) > 10 * np.max(joint.residual_rms)  # and it shows


def test_bin_by_bin_fit_agrees_with_the_joint_fit(visp, polcal_fit):
    states, data, joint = polcal_fit
    per_bin = fit_polcal_bin_by_bin(data, states, _mirrors(visp.truth), NOMINAL)
    for name in CU_PARAMETERS:
        difference = per_bin[name] - joint.parameters[name]
        assert np.all(np.abs(difference) < 5 * per_bin[f"{name}_sigma"]), name
        # Joint over 4 bins: about half the uncertainty of one bin.
        assert joint.uncertainties[name] < 0.7 * np.median(per_bin[f"{name}_sigma"])


def test_sequence_without_retarder_names_the_unconstrained_unit_parameters(visp, polcal_fit):
    states, data, _ = polcal_fit
    keep = ~states.retarder_in
    subset = PolcalStates(*(np.asarray(a)[keep] for a in vars(states).values()))
    mirrors = _mirrors(visp.truth)
    with pytest.raises(
        PolcalSequenceError,
        match=r"cannot determine the calibration-unit parameter\(s\) retardance_deg, "
        r"retarder_transmission.*no state has the retarder",
    ):
        fit_polcal(data[keep], subset, mirrors, NOMINAL)
    # Held at nominal, the remaining parameter is fitted.
    fit = fit_polcal(data[keep], subset, mirrors, NOMINAL, ["polarizer_transmission"])
    assert fit.parameters["polarizer_transmission"] == pytest.approx(
        visp.truth.polcal_polarizer_transmission, abs=1e-3
    )


def test_sequence_without_clear_states_cannot_determine_the_polarizer_transmission(
    visp, polcal_fit
):
    states, data, _ = polcal_fit
    keep = states.polarizer_in
    subset = PolcalStates(*(np.asarray(a)[keep] for a in vars(states).values()))
    with pytest.raises(PolcalSequenceError, match=r"polarizer_transmission \(needs states without"):
        fit_polcal(data[keep], subset, _mirrors(visp.truth), NOMINAL)


def test_linear_fit_with_known_input_stokes_gives_the_effective_modulation(visp, polcal_fit):
    _, data, _ = polcal_fit
    truth = visp.truth
    fit = fit_modulation_matrix(data, truth.polcal_input_stokes)
    expected = truth.effective_modulation_matrix / truth.effective_modulation_matrix[:, 0].mean()
    np.testing.assert_allclose(
        fit.modulation[:, 0], np.broadcast_to(expected, (4, 10, 4)), atol=2e-3
    )


def test_degenerate_sequence_without_retarder_names_stokes_v(polcal_fit):
    _stokes_in, data, _ = polcal_fit
    no_retarder = calibration_unit_stokes([None, 0, 45, 90, 135], [None] * 5, 92.0)
    with pytest.raises(PolcalSequenceError, match=r"Stokes V unconstrained.*retarder"):
        fit_modulation_matrix(data[:5], no_retarder)


def test_degenerate_sequence_only_clear_names_linear_and_circular():
    only_clear = calibration_unit_stokes([None] * 6, [None] * 6, 92.0)
    with pytest.raises(PolcalSequenceError, match=r"span only 1 of the 4.*Stokes Q, U, V"):
        fit_modulation_matrix(np.ones((6, 8, 1, 1)), only_clear)


def test_too_few_states_or_modulator_states(visp, polcal_fit):
    stokes_in = visp.truth.polcal_input_stokes
    _, data, _ = polcal_fit
    with pytest.raises(PolcalSequenceError, match="3 calibration-unit state"):
        fit_modulation_matrix(data[:3], stokes_in[:, :3])
    with pytest.raises(PolcalSequenceError, match="3 modulator state"):
        fit_modulation_matrix(data[:, :3], stokes_in)
    states = polcal_fit[0]
    with pytest.raises(PolcalSequenceError, match="3 modulator state"):
        fit_polcal(data[:, :3], states, _mirrors(visp.truth), NOMINAL)


def test_missing_polcal_frame_is_named():
    frames = [(0, 0, np.ones((4, 4))), (1, 0, np.ones((4, 4)))]
    with pytest.raises(
        ValueError, match="no polcal frame for calibration-unit state 0, modulator state 1"
    ):
        accumulate_polcal(frames, 2, 2, (1, 1))
