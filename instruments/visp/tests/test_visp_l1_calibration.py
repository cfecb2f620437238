"""The ViSP L1 workflow on a simulated observation, against the simulator's truth."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning
from dkist_header_validator import spec214_validator
from dkist_processing_visp import DEFAULT_PARAMETER_VALUES

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.calibration.asdf.algorithm import check_dataset_asdf
from dkist_processing_core.calibration.dataset_products import PRODUCT_TASKS
from dkist_processing_core.calibration.l1.header import read_provenance_history
from dkist_processing_core.calibration.outputs import (
    DATASET_PRODUCTS,
    L1_FRAMES,
    read_dataset_inventory,
)
from dkist_processing_core.calibration.polcal.algorithm import demodulation_per_pixel
from dkist_processing_core.calibration.polcal.task import read_polcal_fit
from dkist_processing_core.calibration.products import read_array_product
from dkist_processing_core.framework import LocalExecutor, RunProvenance, Scratch
from dkist_processing_core.framework.links import workflow_doc_url, workflow_source_url
from dkist_processing_core.simulate import simulate_visp
from dkist_processing_core.simulate.oracle import (
    demodulation_crosstalk,
    expected_stokes,
    predicted_stokes_sigma,
)
from dkist_processing_core.simulate.runs import run_spec_for

INNER = slice(8, -8)  # wavelength columns away from the edges the shift correction fills
STOKES = "IQUV"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("visp-l1")
    observation = simulate_visp(root / "summit", seed=5)
    spec = run_spec_for(
        observation,
        "visp:l1_calibration",
        root / "scratch",
        DEFAULT_PARAMETER_VALUES,
        recipe_run_id=42,
        provenance=RunProvenance(
            recipe_id=3,
            recipe_instance_id=4,
            input_dataset_observe_id=5,
            input_dataset_calibration_id=5,
            input_dataset_parameters_id=5,
        ),
    )
    report = LocalExecutor().run(spec)
    scratch = Scratch(spec.scratch_dir)
    yield observation, spec, report, scratch
    scratch.close()


def product(scratch: Scratch, *query: str) -> np.ndarray:
    return read_array_product(scratch, *query).astype(np.float64)


def l1_cube(scratch: Scratch, n_steps: int) -> np.ndarray:
    """The L1 Stokes data read back from the compressed files: (4, step, slit, wavelength)."""
    cube = []
    for s in STOKES:
        steps = []
        for step in range(n_steps):
            path = scratch.find_one(t.OUTPUT, t.L1, t.spatial_step(step), t.stokes(s))
            with fits.open(path) as hdul:
                steps.append(hdul[1].data[0].astype(np.float64))
        cube.append(steps)
    return np.array(cube)


def test_every_task_ran(run):
    _, _, report, _ = run
    assert report.status == "succeeded"
    assert all(x.status == "succeeded" for x in report.tasks)
    assert {"VispWriteL1Frames", "AssembleQualityReport", "MakeBrowseMovie"} <= {
        x.name for x in report.tasks
    }


def test_the_dataset_products_are_tagged_outputs_of_the_workflow(run):
    _, _, report, scratch = run
    tasks = [x.name for x in report.tasks]
    for task in PRODUCT_TASKS:
        assert tasks.index(task.__name__) > tasks.index("VispWriteL1Frames"), task.__name__
    frames = scratch.find(*L1_FRAMES)
    for product in DATASET_PRODUCTS:
        (path,) = scratch.find(*product.tags)  # one file of each kind
        assert path.stat().st_size > 0, product.kind
    inventory = read_dataset_inventory(scratch.find_one(t.OUTPUT, t.INVENTORY, t.DATASET_INVENTORY))
    assert inventory.instrument == "VISP" and inventory.frame_count == len(frames)
    assert inventory.stokes_parameters == list(STOKES)
    # The ASDF lies beside the frames it names and agrees with their WCS and data.
    check = check_dataset_asdf(scratch.find_one(t.OUTPUT, t.ASDF))
    assert check.frame_count == len(frames) and check.max_data_difference == 0.0


def test_darks_within_half_a_percent(run):
    observation, _, _, scratch = run
    truth = observation.truth
    for exposure in truth.dark_exposure_times_ms:
        dark = product(scratch, t.task(t.DARK), t.exposure_time(exposure))
        assert np.max(np.abs(dark / truth.dark(exposure) - 1)) < 0.005


def test_gain_within_half_a_percent(run):
    observation, _, _, scratch = run
    error = product(scratch, t.task(t.GAIN)) / observation.truth.gain - 1
    # Target 0.5% RMS; worst pixel bounded by its photon-noise budget (see the algorithm tests).
    assert np.sqrt(np.mean(error**2)) < 0.005
    assert np.max(np.abs(error)) < 6 * 0.0025


def test_spectral_shifts_recovered(run):
    observation, _, _, scratch = run
    shifts = product(scratch, t.task(t.GEOMETRIC))
    assert np.max(np.abs(shifts - observation.truth.spectral_shifts)) < 0.05  # pixels


def test_demodulation_inverts_the_true_modulation(run):
    observation, _, _, scratch = run
    demodulation = product(scratch, t.task(t.DEMODULATION))  # (bins y, bins x, 4, n_mod)
    # Crosstalk between Stokes parameters below 0.2% in every bin (the modulation the pipeline
    # sees includes M7-M10, which turn with the instrument): photon noise of the binned polcal
    # data is ~3e-4 of the signal per matrix element.
    assert np.max(np.abs(demodulation_crosstalk(demodulation, observation.truth))) < 2e-3


def test_polcal_fit_recovers_the_off_nominal_unit(run):
    observation, _, _, scratch = run
    truth = observation.truth
    fit = read_polcal_fit(scratch)  # the labelled polcal fit file
    unit = fit["calibration_unit"]
    nominal = DEFAULT_PARAMETER_VALUES["polcal_retarder_retardance_deg"]
    assert truth.polcal_retardance_deg - nominal == pytest.approx(3.0)
    assert abs(unit["retardance_deg"] - truth.polcal_retardance_deg) < 0.1
    assert abs(unit["polarizer_transmission"] - truth.polcal_polarizer_transmission) < 1e-3
    assert abs(unit["retarder_transmission"] - truth.polcal_retarder_transmission) < 1e-3
    for name in unit:
        assert 0 < fit["uncertainties"][name] < 0.05, name
    assert fit["telescope_mirrors"] == {
        **DEFAULT_PARAMETER_VALUES["polcal_telescope_mirrors"],
        "r23_offset_deg": -3.517,
        "r45_offset_deg": -4.385,
    }


def test_quality_output_has_the_polcal_fit_diagnostics(run):
    _, _, _, scratch = run
    path = scratch.find_one(t.OUTPUT, t.QUALITY, t.DIAGNOSTIC, t.task(t.POLCAL))
    diagnostics = scratch.read_json(path)
    assert set(diagnostics["parameters"]) == set(diagnostics["uncertainties"])
    assert diagnostics["fitted"] == DEFAULT_PARAMETER_VALUES["polcal_fit_parameters"]
    assert diagnostics["residual_rms_max"] < 1e-3 and diagnostics["success"]
    # One polcal sequence at each of three geometries; each step knows its own.
    assert diagnostics["telescope_geometries"] == sorted(
        [list(g) for g in run[0].truth.polcal_geometries]
    )
    assert diagnostics["calibration_unit_states"] == len(run[0].truth.polcal_sequence)
    assert np.array(diagnostics["efficiency"]).shape == (4, 1, 4)
    assert min(diagnostics["efficiency_min"][1:]) > 0.4


def test_l1_stokes_match_the_true_scene_within_noise(run):
    observation, _, _, scratch = run
    truth = observation.truth
    cube = l1_cube(scratch, truth.n_scan_steps)
    expected = expected_stokes(truth)
    # Intensity: photon noise ~0.25% per pixel; the bias must be far below it.
    error = (cube[0] / expected[0] - 1)[..., INNER]
    assert abs(error.mean()) < 5e-4
    assert error.std() < 0.004
    # Q/I, U/I, V/I: the residual is photon + read noise propagated through gain,
    # demodulation and the telescope correction (the predicted sigma), plus the L1 quantisation (sigma/16 per step,
    # sigma/(16 sqrt 12) rms: 0.02% of the variance), so z must be pure noise.
    demodulation = demodulation_per_pixel(product(scratch, t.task(t.DEMODULATION)), truth.size)
    sigma = predicted_stokes_sigma(truth, demodulation, product(scratch, t.task(t.GAIN)))
    for i in (1, 2, 3):
        recovered = (cube[i] / cube[0])[..., INNER]
        true_ratio = (truth.stokes[i] / truth.stokes[0])[..., INNER]
        z = (recovered - true_ratio) / (sigma[i] / cube[0])[..., INNER]
        assert abs(z.mean()) < 0.05, STOKES[i]
        assert 0.6 < z.std() < 1.05, STOKES[i]
        assert np.max(np.abs(z)) < 6, STOKES[i]


def test_every_l1_header_is_valid_spec214_and_every_checksum_verifies(run):
    _, _, _, scratch = run
    paths = scratch.find(t.OUTPUT, t.L1)
    assert len(paths) == 4 * 8
    for path in paths:
        spec214_validator.validate(str(path), extra=False)
        with warnings.catch_warnings():
            warnings.simplefilter("error", AstropyUserWarning)  # a bad checksum only warns
            # The stored HDUs (the compressed binary table as written): sums present and right.
            with fits.open(path, checksum=True, disable_image_compression=True) as hdul:
                for hdu in hdul:
                    assert hdu.header["CHECKSUM"] and hdu.header["DATASUM"]
                    assert hdu.verify_checksum() == 1 and hdu.verify_datasum() == 1
            with fits.open(path, checksum=True) as hdul:
                assert np.isfinite(hdul[1].data).all()  # decompresses


def test_l1_headers_carry_provenance_links_and_r0(run):
    observation, _, report, scratch = run
    by_time = {r.date_obs[:23]: r for r in observation.select("OBSERVE")}
    for path in scratch.find(t.OUTPUT, t.L1):
        header = fits.getheader(path, 1)
        assert header["RRUNID"] == 42 and header["RECIPEID"] == 3 and header["RINSTID"] == 4
        assert header["IDSOBSID"] == 5
        assert (header["WKFLNAME"], header["WKFLVERS"]) == ("l1_calibration", "1.0.0")
        assert header["INFO_URL"] == workflow_doc_url("visp", "l1_calibration", "1.0.0")
        assert header["CAL_URL"] == workflow_source_url("visp", "1.0.0")
        raw = by_time[header["DATE-BEG"][:23]]
        assert header["ATMOS_R0"] == pytest.approx(raw.r0_m)
        assert header["AO_LOCK"] == raw.ao_lock
        history = read_provenance_history(header)
        assert history["task_order"] == [x.name for x in report.tasks]
        assert history["parameter_values"]["polcal_retarder_retardance_deg"]["value"] == 92.0
        # The fitted calibration unit the demodulation used, with its uncertainty.
        retardance = history["fitted_values"]["polcal_retardance_deg"]
        assert retardance["fitted"] and 0 < retardance["sigma"] < 0.05
        assert abs(retardance["value"] - observation.truth.polcal_retardance_deg) < 0.1
        assert history["fitted_values"]["polcal_telescope_mirrors"]["x12"] == 1.02
        assert "dkist-processing-core" in history["library_versions"]
        assert "dkist-processing-visp" in history["library_versions"]


def test_raw_frames_are_left_as_they_were(run):
    """The run reads the summit's frames in place and never writes to them."""
    observation, _, _, scratch = run
    for path in observation.paths:
        with warnings.catch_warnings():
            warnings.simplefilter("error", AstropyUserWarning)  # a changed byte fails the sums
            with fits.open(path, checksum=True) as hdul:
                assert hdul[0].header["CHECKSUM"]
                assert hdul[0].data is not None
    assert set(scratch.find(t.INPUT)) == {p.resolve() for p in observation.paths}
