"""The simulator: valid SPEC-0122 headers, keywords that match the truth, manifest, faults."""

import itertools
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning
from dkist_header_validator import spec122_validator
from dkist_header_validator.exceptions import SpecValidationException

from dkist_processing_core.calibration import keywords as kw
from dkist_processing_core.calibration.polcal.model import model_angles_from_header
from dkist_processing_core.simulate import (
    SimulatedObservation,
    VispConfig,
    calibration_unit_angles,
    frame_task_type,
    iter_visp_frames,
    simulate_vbi,
    simulate_visp,
)
from dkist_processing_core.simulate.faults import remove_keyword, truncate_file, wrong_shape
from dkist_processing_core.simulate.optics import polarizer_mueller, retarder_mueller


@pytest.fixture(scope="module")
def visp(tmp_path_factory):
    return simulate_visp(tmp_path_factory.mktemp("visp"), seed=1, n_scan_steps=3)


@pytest.fixture(scope="module")
def vbi(tmp_path_factory):
    return simulate_vbi(tmp_path_factory.mktemp("vbi"), seed=2)


def _one_per_kind(observation):
    seen, chosen = set(), []
    for r in observation.frames:
        key = (r.task_type, r.exposure_time_ms, r.cal_unit_state, r.wavelength_nm)
        if key not in seen:
            seen.add(key)
            chosen.append(r)
    return chosen


@pytest.mark.parametrize("which", ["visp", "vbi"])
def test_raw_headers_pass_spec122_validation(which, request):
    observation = request.getfixturevalue(which)
    for record in _one_per_kind(observation):
        spec122_validator.validate(observation.path_of(record), extra=False)


@pytest.mark.parametrize("which", ["visp", "vbi"])
def test_checksums_verify(which, request):
    observation = request.getfixturevalue(which)
    for record in _one_per_kind(observation):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # astropy warns on a checksum mismatch
            with fits.open(observation.path_of(record), checksum=True) as hdul:
                hdul.verify("exception")
                assert hdul[0].data.shape == (1, *observation.truth.size)


def test_visp_header_keywords_match_records_and_truth(visp):
    truth = visp.truth
    for record in visp.frames:
        header = fits.getheader(visp.path_of(record))
        assert frame_task_type(header) == record.task_type
        assert header[kw.OP_RUN_ID] == record.op_run_id
        assert header[kw.IP_RUN_ID] == record.ip_run_id
        assert header[kw.EXPOSURE_TIME_MS] == record.exposure_time_ms
        assert header[kw.VISP_CURRENT_STATE] == record.modulator_state
        assert header[kw.VISP_NUMBER_OF_STATES] == truth.n_modulator_states
        assert header[kw.FRIED_PARAMETER_M] == pytest.approx(record.r0_m)
        assert header[kw.AO_LOCK] == record.ao_lock
        assert header["DATE-OBS"] == record.date_obs
        if record.task_type == "POLCAL":
            state = truth.polcal_sequence[record.cal_unit_state]
            # The header gives the angles in DKIST's header frame.
            for got, want in zip(
                model_angles_from_header(*calibration_unit_angles(header)),
                (state["polarizer_angle_deg"], state["retarder_angle_deg"]),
            ):
                # The same element orientation: equal angles modulo 180 degrees (or both clear).
                assert (got is None and want is None) or (got - want) % 180.0 == pytest.approx(0)
            assert (header[kw.TELESCOPE_ELEVATION], header[kw.TELESCOPE_AZIMUTH],
                    header[kw.COUDE_TABLE_ANGLE]) == (
                state["elevation_deg"], state["azimuth_deg"], state["table_angle_deg"]
            )  # fmt: skip
        if record.task_type == "OBSERVE":
            assert header[kw.VISP_CURRENT_STEP] == record.spatial_step
            assert header["CRVAL3"] == pytest.approx(truth.step_hpln_arcsec[record.spatial_step])
            assert header["CTYPE3"] == "HPLN-TAN" and header["CTYPE2"] == "HPLT-TAN"
            assert header["CRVAL2"] == pytest.approx(truth.slit_hplt_arcsec.mean())
    # AO lock follows the r0 series: locked exactly when observing with r0 above the threshold
    observe = visp.select("OBSERVE")
    assert all(r.ao_lock == (r.r0_m >= truth.ao_lock_min_r0_m) for r in observe)
    dates = [r.date_obs for r in visp.frames]
    assert dates == sorted(dates)


def test_transfer_manifest_and_op_runs(visp, vbi):
    assert set(visp.op_runs.values()) == {"dark", "gain", "polcal", "observe"}
    assert set(vbi.op_runs.values()) == {"dark", "gain", "observe"}
    truth = visp.truth
    n_mod = truth.n_modulator_states
    expected = {
        "observe": 3 * n_mod,
        "polcal": len(truth.polcal_sequence) * n_mod,
        "dark": 20 * len(truth.dark_exposure_times_ms),
        "gain": 8 * n_mod,
    }
    for op_run_id, count in visp.transfer_manifest.items():
        assert count == expected[visp.op_runs[op_run_id]]
        on_disk = list((visp.root / "raw" / op_run_id).glob("*.fits"))
        assert len(on_disk) == count
    # Each OP run is one task kind; the OP run id is the only grouping needed.
    for op_run_id in visp.op_runs:
        kinds = {r.task_type for r in visp.frames if r.op_run_id == op_run_id}
        assert kinds <= {"DARK"} or kinds <= {"LAMP_GAIN", "SOLAR_GAIN"} or len(kinds) == 1


def test_observation_and_truth_reload_from_disk(visp):
    loaded = SimulatedObservation.load(visp.root)
    assert loaded.transfer_manifest == visp.transfer_manifest
    assert loaded.frames == visp.frames
    for name, array in visp.truth.arrays.items():
        np.testing.assert_array_equal(loaded.truth.arrays[name], array)
    assert loaded.truth.values["intensity_scale"] == visp.truth.intensity_scale
    assert not list(visp.root.rglob("*.pkl")) and not list(visp.root.rglob("*.part"))


def test_simulation_is_reproducible_from_the_seed():
    config = VispConfig(seed=7)
    first = [f.data for f in itertools.islice(iter_visp_frames(config), 3)]
    again = [f.data for f in itertools.islice(iter_visp_frames(VispConfig(seed=7)), 3)]
    other = [f.data for f in itertools.islice(iter_visp_frames(VispConfig(seed=8)), 3)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])


def test_lazy_frames_at_real_spectrograph_size():
    config = VispConfig(size=(2560, 1000), n_scan_steps=2, noise="gaussian")
    frame = next(iter_visp_frames(config))
    assert frame.data.shape == (2560, 1000) and frame.data.dtype == np.uint16
    spec122_validator.validate(frame.header, extra=False)


def test_simulator_optics_textbook_values():
    unpolarized = np.array([1.0, 0, 0, 0])
    np.testing.assert_allclose(polarizer_mueller(0) @ unpolarized, [0.5, 0.5, 0, 0], atol=1e-12)
    np.testing.assert_allclose(polarizer_mueller(45) @ unpolarized, [0.5, 0, 0.5, 0], atol=1e-12)
    out = retarder_mueller(90, 45) @ np.array([1.0, 1, 0, 0])
    np.testing.assert_allclose(np.abs(out), [1, 0, 0, 1], atol=1e-12)


def test_fault_truncated_file(visp, tmp_path):
    source = visp.path_of(visp.frames[0])
    target = tmp_path / "truncated.fits"
    target.write_bytes(source.read_bytes())
    truncate_file(target, 0.5)
    assert target.stat().st_size == source.stat().st_size // 2
    with (
        pytest.warns(AstropyUserWarning, match="truncated"),
        fits.open(target) as hdul,
        pytest.raises((OSError, ValueError, TypeError)),
    ):
        hdul[0].data.sum()


def test_fault_missing_keyword_fails_validation(visp, tmp_path):
    target = tmp_path / "missing.fits"
    target.write_bytes(visp.path_of(visp.frames[-1]).read_bytes())
    remove_keyword(target, kw.EXPOSURE_TIME_MS)
    assert kw.EXPOSURE_TIME_MS not in fits.getheader(target)
    with pytest.raises(SpecValidationException, match=kw.EXPOSURE_TIME_MS):
        spec122_validator.validate(target, extra=False)


def test_fault_wrong_shape(visp, tmp_path):
    target = tmp_path / "shape.fits"
    target.write_bytes(visp.path_of(visp.frames[-1]).read_bytes())
    wrong_shape(target)
    ny, nx = visp.truth.size
    assert fits.getdata(target).shape == (1, ny - 1, nx - 1)
