"""Every labelled intermediate of a ViSP run opens with xarray, named and true to the truth;
the L1 xarray view gives what ``dkist.load_dataset`` gives."""

import dkist
import numpy as np
import pytest
import xarray as xr
from dkist_processing_visp import DEFAULT_PARAMETER_VALUES

from dkist_processing_core.calibration import tags as t
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
