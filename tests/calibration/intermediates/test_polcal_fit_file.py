"""The polcal fit file on a synthetic sequence with a known unit: written as labelled HDF5,
opened by xarray, read back by what the science calibration and the L1 provenance use."""

import numpy as np
import pytest
import xarray as xr

from dkist_processing_core.calibration import intermediates
from dkist_processing_core.calibration.intermediates import (
    IntermediateError,
    polcal_fit_variables,
    read_polcal_fit_file,
)
from dkist_processing_core.calibration.polcal.algorithm import fit_polcal
from dkist_processing_core.calibration.polcal.model import (
    PolcalStates,
    TelescopeMirrors,
    unit_stokes,
)
from dkist_processing_core.framework.netcdf import Variable, write_labelled
from dkist_processing_core.simulate.optics import default_polcal_sequence

NOMINAL = {"retardance_deg": 92.0, "polarizer_transmission": 1.0, "retarder_transmission": 1.0}
TRUE_UNIT = {"retardance_deg": 95.0, "polarizer_transmission": 0.96, "retarder_transmission": 0.98}
MIRRORS = TelescopeMirrors(x12=1.02, t12=172.0, x34=1.03, t34=168.0, x56=1.025, t56=163.0)
GEOMETRIES = [(30.0, 100.0, 40.0), (55.0, 200.0, 120.0), (75.0, 300.0, 250.0)]
N_MOD, BINS, FRAME = 8, (3, 2), (30, 20)


@pytest.fixture(scope="module")
def sequence():
    """Polcal data of a known unit and modulation matrix, with 1e-4 noise."""
    records = [
        {
            "polarizer_angle_deg": s.polarizer_angle_deg,
            "retarder_angle_deg": s.retarder_angle_deg,
            "elevation_deg": g[0],
            "azimuth_deg": g[1],
            "table_angle_deg": g[2],
        }
        for g in GEOMETRIES
        for s in default_polcal_sequence()
    ]
    states = PolcalStates.from_records(records)
    rng = np.random.default_rng(3)
    modulation = np.column_stack([np.ones(N_MOD), rng.uniform(-0.6, 0.6, (N_MOD, 3))])
    stokes = unit_stokes(states, MIRRORS, **TRUE_UNIT)  # (4, K)
    data = np.einsum("mj,jk->km", modulation, stokes)[:, :, None, None] * np.ones((1, 1, *BINS))
    data = data * (1 + 1e-4 * rng.standard_normal(data.shape))
    return records, states, modulation, stokes, data


def _write(tmp_path, states, fit, name="polcal_fit.h5"):
    variables, coords, attrs = polcal_fit_variables(fit, states, MIRRORS.as_dict(), NOMINAL, FRAME)
    path = tmp_path / name
    write_labelled(path, variables, coords, {**attrs, "primary_variable": "modulation"})
    return path


def test_the_file_holds_the_fit_with_dimensions_units_and_the_truth(tmp_path, sequence):
    records, states, modulation, stokes, data = sequence
    fit = fit_polcal(data, states, MIRRORS, NOMINAL)
    ds = xr.open_dataset(_write(tmp_path, states, fit), engine="h5netcdf")
    assert abs(float(ds["calibration_unit_retardance_deg"]) - 95.0) < 0.05
    assert ds["calibration_unit_retardance_deg"].attrs["units"] == "degree"
    assert ds["calibration_unit_retardance_deg"].attrs["nominal"] == 92.0
    for name in ("polarizer_transmission", "retarder_transmission"):
        assert abs(float(ds[f"calibration_unit_{name}"]) - TRUE_UNIT[name]) < 1e-3
        assert ds[f"calibration_unit_{name}_uncertainty"].attrs["units"] == "1"
    assert ds.sizes["calibration_unit_state"] == len(records)
    np.testing.assert_allclose(ds["input_stokes"].values, stokes, atol=1e-3)
    assert ds["modulation"].dims == ("bin_y", "bin_x", "modulator_state", "stokes")
    np.testing.assert_allclose(ds["modulation"].values[0, 0], modulation, atol=2e-3)
    assert ds["residual"].shape == (*BINS, N_MOD, len(records))
    # Its reductions over the bins: the mean (systematic) and RMS of each state's residual.
    np.testing.assert_allclose(
        ds["residual_mean"].values, ds["residual"].mean(("bin_y", "bin_x")).values, atol=1e-9
    )
    rms = np.sqrt((ds["residual"] ** 2).mean(("bin_y", "bin_x")))
    np.testing.assert_allclose(ds["residual_state_rms"].values, rms.values, rtol=1e-5)
    assert ds["residual_state_rms"].dims == ("modulator_state", "calibration_unit_state")
    np.testing.assert_allclose(ds["elevation"].values, [r["elevation_deg"] for r in records])
    # 135 degrees in, 135 out; a clear state is NaN.
    assert np.isnan(ds["polarizer_angle"].values[0]) and ds["polarizer_angle"].values[4] == 135.0
    assert ds["correlation"].dims == ("parameter_row", "parameter_column")
    read = read_polcal_fit_file(ds.encoding["source"])
    assert read["fitted"] == list(fit.fitted)
    assert read["calibration_unit"] == pytest.approx(fit.parameters)
    assert read["uncertainties"] == pytest.approx(fit.uncertainties)
    assert read["nominal"] == NOMINAL
    assert read["telescope_mirrors"] == MIRRORS.as_dict()


def test_a_fit_with_every_parameter_held_has_no_correlations(tmp_path, sequence):
    _, states, _, _, data = sequence
    fit = fit_polcal(data, states, MIRRORS, NOMINAL, fit_parameters=())
    path = _write(tmp_path, states, fit)
    ds = xr.open_dataset(path, engine="h5netcdf")
    assert "correlation" not in ds and "parameter_row" not in ds.dims
    assert ds["calibration_unit_retardance_deg"].attrs["fitted"] == 0
    assert float(ds["calibration_unit_retardance_deg_uncertainty"]) == 0.0
    read = read_polcal_fit_file(path)
    assert read["fitted"] == [] and read["calibration_unit"] == NOMINAL


def test_a_large_residual_cube_is_left_out_and_said_so(tmp_path, sequence, monkeypatch):
    _, states, _, _, data = sequence
    fit = fit_polcal(data, states, MIRRORS, NOMINAL)
    monkeypatch.setattr(intermediates, "RESIDUAL_CUBE_LIMIT", fit.residual.size - 1)
    ds = xr.open_dataset(_write(tmp_path, states, fit), engine="h5netcdf")
    assert "residual" not in ds and "residual_mean" in ds and "residual_state_rms" in ds
    assert "residual (bin_y, bin_x" in ds.attrs["residual_omitted"]


def test_another_labelled_file_is_named_as_not_a_polcal_fit(tmp_path):
    path = tmp_path / "shifts.h5"
    write_labelled(path, {"spectral_shift": Variable(("slit_row",), np.zeros(3), "pixel")})
    with pytest.raises(IntermediateError, match=r"shifts\.h5: not a polcal fit file"):
        read_polcal_fit_file(path)
