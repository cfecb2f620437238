"""The VBI L1 workflow on a simulated mosaic of one filter, against the truth."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from dkist_header_validator import spec214_validator
from dkist_processing_vbi import DEFAULT_PARAMETER_VALUES

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.calibration.asdf.algorithm import check_dataset_asdf
from dkist_processing_core.calibration.dataset_products import PRODUCT_TASKS
from dkist_processing_core.calibration.outputs import (
    DATASET_PRODUCTS,
    L1_FRAMES,
    read_dataset_inventory,
)
from dkist_processing_core.framework import LocalExecutor, Scratch, TaskFailed
from dkist_processing_core.simulate import simulate_vbi, single_filter
from dkist_processing_core.simulate.oracle import expected_vbi_tile
from dkist_processing_core.simulate.runs import run_spec_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("vbi-l1")
    # A VBI dataset is one filter (one pass band): the run calibrates the 430.52 nm filter.
    observation = simulate_vbi(root / "summit", seed=6, **single_filter(1))
    spec = run_spec_for(
        observation, "vbi:l1_calibration", root / "scratch", DEFAULT_PARAMETER_VALUES
    )
    report = LocalExecutor().run(spec)
    scratch = Scratch(spec.scratch_dir)
    yield observation, report, scratch
    scratch.close()


def test_darks_and_gains_within_half_a_percent(run):
    observation, report, scratch = run
    truth = observation.truth
    assert report.status == "succeeded"
    for exposure in truth.dark_exposure_times_ms:
        path = scratch.find_one(t.INTERMEDIATE, t.task(t.DARK), t.exposure_time(exposure))
        dark = scratch.read_fits(path)[0]
        assert np.max(np.abs(dark / truth.dark(exposure) - 1)) < 0.005
    for w, wavelength in enumerate(truth.wavelengths_nm):
        path = scratch.find_one(t.INTERMEDIATE, t.task(t.GAIN), t.wavelength(wavelength))
        error = scratch.read_fits(path)[0] / truth.gain[w] - 1
        assert np.sqrt(np.mean(error**2)) < 0.005


def test_every_tile_matches_the_true_scene(run):
    observation, _, scratch = run
    truth = observation.truth
    n_tiles = len(truth.tile_origins)
    for w, wavelength in enumerate(truth.wavelengths_nm):
        for tile in range(1, n_tiles + 1):
            paths = scratch.find(t.OUTPUT, t.L1, t.spatial_step(tile), t.wavelength(wavelength))
            assert len(paths) == observation.extra.get("frames_per_tile", len(paths)) > 0
            with fits.open(paths[0]) as hdul:
                data = hdul[1].data[0].astype(np.float64)
            expected = expected_vbi_tile(truth, w, tile)
            error = data / expected - 1
            # Photon noise of one frame: ~1/sqrt(counts) per pixel; divided by the gain's
            # own noise (many frames): the relative error is that, with no bias.
            counts = truth.exposure_ms[w] * truth.counts_per_ms[w] * truth.intensity_scale[w]
            sigma = 1 / np.sqrt(counts)
            assert abs(error.mean()) < 0.1 * sigma + 5e-4, (wavelength, tile)
            assert 0.7 < error.std() / sigma < 1.4, (wavelength, tile)


def test_l1_headers_valid_and_describe_the_mosaic(run):
    observation, _, scratch = run
    truth = observation.truth
    paths = scratch.find(t.OUTPUT, t.L1)
    n_frames = len(observation.select("OBSERVE"))
    n_tiles = len(truth.tile_origins)
    assert n_frames == n_tiles * 2  # 2 per tile, one filter
    assert len(paths) == n_frames
    places = {}
    for path in paths:
        spec214_validator.validate(str(path), extra=False)
        header = fits.getheader(path, 1)
        # The dataset axes DKIST knows for VBI: x, y, frame number; the mosaic is MAXIS/MINDEX.
        assert header["DNAXIS"] == 3 and header["DNAXIS3"] == 2  # frames per tile
        assert [header[f"DTYPE{d}"] for d in (1, 2, 3)] == ["SPATIAL", "SPATIAL", "TEMPORAL"]
        assert (header["MAXIS"], header["MAXIS1"], header["MAXIS2"]) == (2, 2, 2)
        assert header["LINEWAV"] == truth.wavelengths_nm[0]
        assert header["VBINMOSC"] == 1 and header["VBICRI"] > 0
        tile = t.SpatialStep.of(scratch.tags_of(path))
        places.setdefault(tile, set()).add((header["MINDEX1"], header["MINDEX2"]))
    # Each tile has one grid place, the places are distinct, and they follow the pointing:
    # MINDEX1 counts columns (longitude, scene x), MINDEX2 rows (latitude, scene y).
    assert all(len(p) == 1 for p in places.values())
    for tile, ((mindex1, mindex2),) in places.items():
        row, column = truth.tile_origins[tile - 1]
        assert (mindex1, mindex2) == (1 + int(column > 0), 1 + int(row > 0))


def test_an_input_dataset_of_several_filters_is_refused(tmp_path):
    # One DKIST dataset is one pass band: three filters in one input dataset stop the run at
    # parsing, with the filters named.
    observation = simulate_vbi(tmp_path / "summit", seed=7, n_dark_frames=2, n_gain_frames=2)
    spec = run_spec_for(
        observation, "vbi:l1_calibration", tmp_path / "scratch", DEFAULT_PARAMETER_VALUES
    )
    with pytest.raises(TaskFailed) as failed:
        LocalExecutor().run(spec)
    assert failed.value.task_name == "VbiParseInputData"
    for wavelength in observation.truth.wavelengths_nm:
        assert f"{wavelength:g} nm" in failed.value.error
    assert "one filter" in failed.value.error


def test_the_dataset_products_are_tagged_outputs_of_the_workflow(run):
    _, report, scratch = run
    tasks = [x.name for x in report.tasks]
    assert all(x.status == "succeeded" for x in report.tasks)
    for task in PRODUCT_TASKS:
        assert tasks.index(task.__name__) > tasks.index("VbiWriteL1Frames"), task.__name__
    frames = scratch.find(*L1_FRAMES)
    for product in DATASET_PRODUCTS:
        (path,) = scratch.find(*product.tags)  # one file of each kind
        assert path.stat().st_size > 0, product.kind
    inventory = read_dataset_inventory(scratch.find_one(t.OUTPUT, t.INVENTORY, t.DATASET_INVENTORY))
    assert inventory.instrument == "VBI" and inventory.frame_count == len(frames)
    # A mosaic: the ASDF (a TiledDataset) lies beside the frames and agrees with them.
    check = check_dataset_asdf(scratch.find_one(t.OUTPUT, t.ASDF))
    assert check.frame_count == len(frames) and check.tile_count > 1
    assert check.max_data_difference == 0.0


def test_the_mosaic_as_xarray_agrees_with_dkist_load_dataset(run):
    import dask.array as da
    import dkist

    _, report, scratch = run
    view = report.xarray(t.OUTPUT, t.ASDF)
    tiled = dkist.load_dataset(report.path(t.OUTPUT, t.ASDF))
    assert view["data"].dims[:2] == ("tile_row", "tile_column")
    assert (view.sizes["tile_row"], view.sizes["tile_column"]) == tiled.shape
    assert isinstance(view["data"].data, da.Array)  # lazy: nothing read yet
    for r, c in np.ndindex(tiled.shape):
        tile, here = tiled[r, c], view.isel(tile_row=r, tile_column=c)
        np.testing.assert_array_equal(here["data"].values, np.asarray(tile.data))
        # World coordinates of the same pixels, from the tile's own gWCS.
        shape, order = tile.data.shape, here["data"].dims
        pixel = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
        world = tile.wcs.pixel_to_world_values(*(p.ravel() for p in pixel[::-1]))
        by_type = dict(zip(tile.wcs.world_axis_physical_types, world, strict=True))
        for name in ("helioprojective_longitude", "helioprojective_latitude"):
            coordinate = here[name]
            own = [d for d in order if d in coordinate.dims]
            index = tuple(slice(None) if d in own else np.newaxis for d in order)
            values = np.broadcast_to(coordinate.transpose(*own).values[index], shape)
            kind = f"custom:pos.{name.replace('_', '.').replace('longitude', 'lon')}"
            kind = kind.replace("latitude", "lat")
            np.testing.assert_allclose(values.ravel(), by_type[kind], rtol=0, atol=1e-9)
        times = tile.axis_world_coords("time")[0]
        np.testing.assert_array_equal(here["time"].values, np.asarray(times.utc.datetime64))
    # The quality time series of an imager: per frame, no polarimetric measurement.
    quality = report.xarray(t.OUTPUT, t.QUALITY, t.QUALITY_TIMESERIES)
    assert quality.sizes["frame"] == len(scratch.find(t.OUTPUT, t.L1))
    assert quality["noise"].attrs["units"] == "adu" and "polarimetric_noise" not in quality
