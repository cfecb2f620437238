"""Every labelled intermediate of a ViSP run opens with xarray, named and true to the truth;
the L1 xarray view gives what ``dkist.load_dataset`` gives."""

import dkist
import numpy as np
import pytest
import xarray as xr
from dkist_processing_visp import DEFAULT_PARAMETER_VALUES

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.calibration.polcal.task import read_polcal_fit
from dkist_processing_core.calibration.products import read_array_product
from dkist_processing_core.framework import LocalExecutor, Scratch, read_run_report
from dkist_processing_core.simulate import simulate_visp
from dkist_processing_core.simulate.oracle import demodulation_crosstalk
from dkist_processing_core.simulate.runs import run_spec_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("visp-xarray")
    observation = simulate_visp(root / "summit", seed=5, n_scan_steps=2)
    spec = run_spec_for(
        observation, "visp:l1_calibration", root / "scratch", DEFAULT_PARAMETER_VALUES
    )
    report = LocalExecutor().run(spec)
    return observation, spec, report


def _provenance_is_recorded(ds, task):
    assert ds.attrs["task"] == task and ds.attrs["workflow"] == "visp:l1_calibration"
    assert ds.attrs["workflow_version"] and isinstance(ds.attrs["parameter_values"], dict)
    assert ds.attrs["Conventions"] == "CF-1.8"


def test_the_demodulation_matrices_invert_the_true_modulation(run):
    observation, spec, report = run
    path = report.path(t.INTERMEDIATE, t.task(t.DEMODULATION))
    ds = xr.open_dataset(path, engine="h5netcdf")  # nothing but the engine
    assert ds["demodulation"].dims == ("bin_y", "bin_x", "stokes", "modulator_state")
    assert list(ds["stokes"].values) == ["I", "Q", "U", "V"]
    n_mod = ds.sizes["modulator_state"]
    assert list(ds["modulator_state"].values) == list(range(1, n_mod + 1))
    assert ds["bin_y"].attrs["units"] == "pixel" and ds.sizes["bin_y"] == 4
    assert ds["modulation"].dims == ("bin_y", "bin_x", "modulator_state", "stokes")
    assert ds["efficiency"].dims == ("bin_y", "bin_x", "stokes")
    assert ds["residual_rms"].attrs["units"] == "1"
    assert ds["calibration_unit_retardance_deg"].attrs["units"] == "degree"
    # The values against the truth: D O_true is the identity to within 0.2% in every bin.
    crosstalk = demodulation_crosstalk(ds["demodulation"].values, observation.truth)
    assert np.max(np.abs(crosstalk)) < 2e-3
    # The same matrices the science calibration reads.
    with Scratch(spec.scratch_dir) as scratch:
        np.testing.assert_array_equal(
            read_array_product(scratch, t.task(t.DEMODULATION)), ds["demodulation"].values
        )
    view = report.xarray(t.INTERMEDIATE, t.task(t.DEMODULATION))
    _provenance_is_recorded(view, "PolarimetricCalibration")
    polcal_frames = {observation.path_of(r).name for r in observation.select("POLCAL")}
    assert sorted(view.attrs["input_frame_ids"]) == sorted(polcal_frames)
    assert view.attrs["parameter_values"]["polcal_spatial_bins"] == [4, 1]


def test_the_polcal_fit_recovers_the_true_calibration_unit(run):
    observation, spec, report = run
    truth = observation.truth
    ds = xr.open_dataset(report.path(t.INTERMEDIATE, t.task(t.POLCAL)), engine="h5netcdf")
    # The unit's parameters with units, nominal values and uncertainties, against the truth.
    for name, parameter, true, units, tolerance in (
        ("retardance_deg", "polcal_retarder_retardance_deg", truth.polcal_retardance_deg,
         "degree", 0.1),
        ("polarizer_transmission", "polcal_polarizer_transmission",
         truth.polcal_polarizer_transmission, "1", 1e-3),
        ("retarder_transmission", "polcal_retarder_transmission",
         truth.polcal_retarder_transmission, "1", 1e-3),
    ):  # fmt: skip
        value = ds[f"calibration_unit_{name}"]
        sigma = ds[f"calibration_unit_{name}_uncertainty"]
        assert value.dims == () and value.attrs["units"] == units == sigma.attrs["units"]
        assert value.attrs["fitted"] == 1
        assert value.attrs["nominal"] == DEFAULT_PARAMETER_VALUES[parameter]
        assert abs(float(value) - true) < tolerance, name
        assert 0 < float(sigma) < 0.05, name
    assert list(ds["parameter_row"].values) == DEFAULT_PARAMETER_VALUES["polcal_fit_parameters"]
    correlation = ds["correlation"].values
    np.testing.assert_allclose(np.diag(correlation), 1.0)
    np.testing.assert_allclose(correlation, correlation.T)
    # The sequence: one calibration-unit state per polcal step, in time order, as simulated.
    sequence = truth.polcal_sequence
    assert ds.sizes["calibration_unit_state"] == len(sequence)
    for name in ("polarizer_angle", "retarder_angle", "elevation", "azimuth", "table_angle"):
        assert ds[name].dims == ("calibration_unit_state",) and ds[name].attrs["units"] == "degree"
        expected = [np.nan if s[f"{name}_deg"] is None else s[f"{name}_deg"] for s in sequence]
        if name in ("polarizer_angle", "retarder_angle"):  # a linear element repeats every 180
            expected = np.mod(expected, 180.0)
        np.testing.assert_allclose(ds[name].values, expected, atol=1e-6, equal_nan=True)
    # The Stokes vectors the fitted unit prepared, against those the simulator made.
    assert ds["input_stokes"].dims == ("stokes", "calibration_unit_state")
    np.testing.assert_allclose(ds["input_stokes"].values, truth.polcal_input_stokes, atol=2e-4)
    # Each bin's modulation matrix against the true one (normalised to a mean I response of one).
    true_modulation = truth.effective_modulation_matrix
    true_modulation = true_modulation / true_modulation[:, 0].mean()
    assert ds["modulation"].dims == ("bin_y", "bin_x", "modulator_state", "stokes")
    np.testing.assert_allclose(
        ds["modulation"].values, np.broadcast_to(true_modulation, ds["modulation"].shape), atol=2e-3
    )
    # The residual of every bin, modulator state and unit state; its RMS is each bin's residual_rms.
    residual = ds["residual"]
    assert residual.dims == ("bin_y", "bin_x", "modulator_state", "calibration_unit_state")
    rms = np.sqrt((residual**2).mean(("modulator_state", "calibration_unit_state")))
    np.testing.assert_allclose(rms.values, ds["residual_rms"].values, rtol=1e-4)
    assert ds["residual_mean"].dims == ("modulator_state", "calibration_unit_state")
    assert float(ds["residual_sigma"]) < 1e-3
    # The telescope parameters the fit held fixed.
    assert list(ds["mirror_group"].values) == ["M1-M2", "M3-M4", "M5-M6"]
    mirrors = DEFAULT_PARAMETER_VALUES["polcal_telescope_mirrors"]
    assert list(ds["mirror_amplitude_ratio"].values) == [mirrors[k] for k in ("x12", "x34", "x56")]
    assert ds["mirror_retardance"].attrs["units"] == "degree"
    view = report.xarray(t.INTERMEDIATE, t.task(t.POLCAL))
    _provenance_is_recorded(view, "PolarimetricCalibration")
    assert view.attrs["fitted_parameters"] == DEFAULT_PARAMETER_VALUES["polcal_fit_parameters"]
    assert view.attrs["success"] == 1 and view.attrs["iterations"] > 0
    polcal_frames = {observation.path_of(r).name for r in observation.select("POLCAL")}
    assert sorted(view.attrs["input_frame_ids"]) == sorted(polcal_frames)
    # What the science calibration and the L1 provenance read from it.
    with Scratch(spec.scratch_dir) as scratch:
        fit = read_polcal_fit(scratch)
    assert fit["calibration_unit"]["retardance_deg"] == float(ds["calibration_unit_retardance_deg"])
    assert fit["telescope_mirrors"] == {
        **mirrors,
        "r23_offset_deg": -3.517,
        "r45_offset_deg": -4.385,
    }


def test_the_spectral_shifts_follow_the_true_slit_curvature(run):
    observation, _, report = run
    ds = xr.open_dataset(report.path(t.INTERMEDIATE, t.task(t.GEOMETRIC)), engine="h5netcdf")
    assert ds["spectral_shift"].dims == ("slit_row",)
    assert ds["spectral_shift"].attrs["units"] == "pixel"
    assert list(ds["slit_row"].values) == list(range(observation.truth.size[0]))
    error = ds["spectral_shift"].values - observation.truth.spectral_shifts
    assert np.max(np.abs(error)) < 0.05
    view = report.xarray(t.INTERMEDIATE, t.task(t.GEOMETRIC))
    _provenance_is_recorded(view, "GeometricCalibration")
    assert len(view.attrs["input_frame_ids"]) == len(observation.select("SOLAR_GAIN"))


def test_the_characteristic_spectrum_is_the_true_solar_spectrum(run):
    observation, _, report = run
    ds = xr.open_dataset(report.path(t.INTERMEDIATE, t.task(t.SOLAR_GAIN)), engine="h5netcdf")
    spectrum = ds["characteristic_spectrum"]
    assert spectrum.dims == ("spectral_pixel",) and spectrum.attrs["units"] == "1"
    assert ds["spectral_pixel"].attrs["units"] == "pixel"
    assert list(ds["spectral_pixel"].values) == list(range(observation.truth.size[1]))
    true = observation.truth.mean_solar_spectrum
    np.testing.assert_allclose(
        spectrum.values / spectrum.values.mean(), true / true.mean(), atol=3e-3
    )
    view = report.xarray(t.INTERMEDIATE, t.task(t.SOLAR_GAIN))
    _provenance_is_recorded(view, "SolarGainCalibration")
    assert len(view.attrs["input_frame_ids"]) == len(observation.select("SOLAR_GAIN"))


def test_the_quality_time_series_beside_the_json(run):
    observation, _, report = run
    ds = xr.open_dataset(report.path(t.OUTPUT, t.QUALITY, t.QUALITY_TIMESERIES), engine="h5netcdf")
    n_frames = 4 * observation.truth.n_scan_steps
    assert ds.sizes["frame"] == n_frames
    assert ds["time"].dtype.kind == "M" and ds["fried_parameter"].attrs["units"] == "m"
    assert sorted(set(ds["frame_stokes"].values)) == ["I", "Q", "U", "V"]
    for name in ("light_level", "noise", "mean"):
        assert ds[name].dims == ("frame",) and np.all(np.isfinite(ds[name].values))
    assert ds["polarimetric_sensitivity"].dims == ("measurement", "polarization")
    assert list(ds["polarization"].values) == ["Q", "U", "V"]
    assert ds.sizes["measurement"] == observation.truth.n_scan_steps
    # The same numbers as the JSON dkist-quality reads.
    quality = report.path(t.OUTPUT, t.QUALITY, t.QUALITY_DATA)
    import json

    frames = json.loads(quality.read_text())["frames"]
    assert sorted(f["noise"] for f in frames) == pytest.approx(sorted(ds["noise"].values))


def test_the_l1_view_matches_dkist_load_dataset(run):
    _, spec, report = run
    view = report.xarray(t.OUTPUT, t.ASDF)
    loaded = dkist.load_dataset(report.path(t.OUTPUT, t.ASDF))
    import dask.array as da

    assert isinstance(view["data"].data, da.Array)  # lazy: nothing read yet
    assert view["data"].shape == loaded.data.shape
    np.testing.assert_array_equal(view["data"].values, np.asarray(loaded.data))
    # World coordinates of the same pixels, from the dataset's own gWCS.
    shape = loaded.data.shape
    pixel = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    world = loaded.wcs.pixel_to_world_values(*(p.ravel() for p in pixel[::-1]))
    by_type = dict(zip(loaded.wcs.world_axis_physical_types, world, strict=True))
    order = view["data"].dims

    def on_every_pixel(coordinate):
        """A coordinate spread over the data's dimensions, in the data's axis order."""
        own = [d for d in order if d in coordinate.dims]
        values = coordinate.transpose(*own).values
        index = tuple(slice(None) if d in own else np.newaxis for d in order)
        return np.broadcast_to(values[index], shape)

    for name, kind in (
        ("wavelength", "em.wl"),
        ("helioprojective_longitude", "custom:pos.helioprojective.lon"),
        ("helioprojective_latitude", "custom:pos.helioprojective.lat"),
    ):
        values = on_every_pixel(view[name]).ravel()
        np.testing.assert_allclose(values, by_type[kind], rtol=0, atol=1e-9)
    assert view["wavelength"].attrs["units"] == "nm"
    times = loaded.axis_world_coords("time")[0]
    view_time = view["time"].transpose(*[d for d in order if d in view["time"].dims]).values
    np.testing.assert_array_equal(view_time, np.asarray(times.utc.datetime64))
    assert list(view["stokes"].values) == ["I", "Q", "U", "V"]
    # A report read back from disk opens the same way.
    again = read_run_report(spec.scratch_dir).xarray(t.INTERMEDIATE, t.task(t.GAIN))
    assert again["data"].dims == ("y", "x")
