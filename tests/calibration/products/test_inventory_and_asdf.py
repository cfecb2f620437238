import dkist
import numpy as np
import pytest
from astropy.io import fits

from dkist_processing_core.calibration.asdf.algorithm import check_dataset_asdf, write_dataset_asdf
from dkist_processing_core.calibration.inventory.algorithm import (
    dataset_inventory,
    frame_inventory,
)


def test_frame_inventory_has_provenance(l1_dataset):
    records = frame_inventory(l1_dataset.frame_paths)
    assert len(records) == 16
    assert {r.stokes for r in records} == {"I", "Q", "U", "V"}
    header = fits.getheader(l1_dataset.frame_paths[0], 1)
    assert records[0].provenance["RRUNID"] == header["RRUNID"]
    assert records[0].provenance["DSETID"] == l1_dataset.truth.dataset_id
    assert (
        records[0].datasum
        == fits.open(l1_dataset.frame_paths[0], disable_image_compression=True)[1].header["DATASUM"]
    )


def test_dataset_inventory_extent(l1_dataset):
    t = l1_dataset.truth
    inv = dataset_inventory(l1_dataset.frame_paths)
    assert inv.dataset_id == t.dataset_id and inv.proposal_id == t.proposal_id
    assert inv.instrument == "VISP" and inv.frame_count == 16
    assert inv.stokes_parameters == ["I", "Q", "U", "V"]
    # Wavelength: FITS pixels 1..32 with the line at CRPIX2 = 16, 0.01 nm per pixel.
    assert inv.wavelength_min_nm == pytest.approx(t.wavelength_nm - 15 * 0.01, abs=1e-9)
    assert inv.wavelength_max_nm == pytest.approx(t.wavelength_nm + 16 * 0.01, abs=1e-9)
    (lon0, lat0), (lon1, lat1) = inv.bounding_box_arcsec
    # The field of view spans the pointing: slit 64 px x 0.06" around the latitude.
    assert lat0 < t.pointing_lat_arcsec < lat1 and lat1 - lat0 == pytest.approx(63 * 0.06, abs=0.02)
    assert lon0 <= t.pointing_lon_arcsec + 0.05 and lon1 >= t.pointing_lon_arcsec - 0.05


def test_dataset_asdf_loads_and_matches_frames(l1_dataset, l1_copy):
    asdf_path = l1_copy[0].parent / "dataset.asdf"
    write_dataset_asdf(
        l1_copy, asdf_path, parameter_values=[{"id": 7, "name": "p", "value": [1, 2]}]
    )
    check = check_dataset_asdf(asdf_path)
    # Corner world coordinates of every frame agree with the frame's own FITS WCS
    # to far below a pixel (0.06"/px, 0.01 nm/px); data read through dkist equal the frames.
    assert check.frame_count == 16 and check.corners_checked == 64
    assert check.max_spatial_error_arcsec < 1e-3 and check.max_wavelength_error_nm < 1e-6
    assert check.max_data_difference == 0.0

    ds = dkist.load_dataset(asdf_path)
    assert ds.data.shape == (4, 2, 2, 32, 64)
    # Against the simulated truth: the line wavelength at CRPIX2 (FITS 16 = index 15)
    # and the pointing at the reference pixels.
    t = l1_dataset.truth
    sky, wavelength = ds.wcs.array_index_to_world(0, 0, 0, 15, 31)[:2]
    assert wavelength.to_value("nm") == pytest.approx(t.wavelength_nm, abs=1e-9)
    # Slit reference pixel (FITS 32 = index 31) is at the pointing latitude; raster
    # step 0 sits within one raster step (0.03") of the pointing longitude.
    assert sky.Ty.to_value("arcsec") == pytest.approx(t.pointing_lat_arcsec, abs=1e-3)
    assert sky.Tx.to_value("arcsec") == pytest.approx(t.pointing_lon_arcsec, abs=0.031)
    assert np.asarray(ds.data[1, 0, 0]).shape == (32, 64)
    assert ds.meta["inventory"]["datasetId"] == "SIMDS"


def test_dataset_asdf_check_detects_wrong_wcs(l1_copy):
    asdf_path = l1_copy[0].parent / "dataset.asdf"
    write_dataset_asdf(l1_copy, asdf_path)
    # Shift one frame's pointing after the ASDF was written: the check must see it.
    with fits.open(l1_copy[0], mode="update") as hdul:
        hdul[1].header["CRVAL1"] += 1.0 / 3600  # one arcsec
    from dkist_processing_core.calibration.asdf.algorithm import DatasetAsdfError

    with pytest.raises(DatasetAsdfError, match="helioprojective"):
        check_dataset_asdf(asdf_path)
