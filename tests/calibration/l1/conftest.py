"""Raw SPEC-0122 headers from dkist-data-simulator, with physically sensible values set."""

import warnings

import numpy as np
import pytest
from astropy.io import fits

from dkist_processing_core.calibration.l1.header import (
    DatasetAxis,
    L1FrameDescription,
    L1Provenance,
)


def raw_header(instrument: str, shape: tuple[int, int]) -> fits.Header:
    """A valid raw SPEC-0122 header (random values where physics does not matter)."""
    from dkist_data_simulator.spec122 import Spec122Dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = Spec122Dataset((2, *shape), (1, *shape), time_delta=1.0, instrument=instrument)
        header = fits.Header(next(iter(ds)).header())
    header["DATE-OBS"] = "2024-05-01T18:00:00.000"
    header["CAM__004"] = 12.5  # XPOSURE, ms
    header["WAVELNTH"] = 630.2
    header["AO___001"] = 0.071  # ATMOS_R0, m
    header["AO___002"] = True  # AO_LOCK
    if instrument == "visp":
        header["VISP_006"] = "observe_intensity"  # non-polarimetric unless a test changes it
    return header


@pytest.fixture
def provenance() -> L1Provenance:
    return L1Provenance(
        recipe_run_id=4711,
        recipe_id=12,
        recipe_instance_id=34,
        input_dataset_observe_id=101,
        input_dataset_calibration_id=102,
        input_dataset_parameters_id=103,
        workflow_name="l0_to_l1_visp",
        workflow_version="2.3.1",
        calibration_version="0.1.0",
        library_versions={"numpy": np.__version__, "astropy": "8.0.2"},
        manual_processing=True,
        dataset_id="DSABCD",
        product_id="L1-QWERT",
        parameter_values={"dark_rejection_sigma": 5.0, "wavelengths": list(range(60))},
        task_order=["DarkCalibration", "GainCalibration", "ScienceCalibration", "WriteL1"],
        info_url="https://docs.example.org/visp/2.3.1/",
        head_url="https://docs.example.org/specs/214/",
        cal_url="https://code.example.org/visp/tree/2.3.1",
    )


def visp_frame(ny: int = 50, nx: int = 60, stokes: str = "I") -> L1FrameDescription:
    """A slit spectrograph frame: array (1, wavelength, slit); raster position 0 of 2."""
    wcs = {
        "WCSAXES": 3,
        "CTYPE1": "HPLT-TAN", "CTYPE2": "AWAV", "CTYPE3": "HPLN-TAN",
        "CUNIT1": "arcsec", "CUNIT2": "nm", "CUNIT3": "arcsec",
        "CRPIX1": nx / 2, "CRPIX2": ny / 2, "CRPIX3": 1.0,
        "CRVAL1": 10.0, "CRVAL2": 630.2, "CRVAL3": -200.0,
        "CDELT1": 0.03, "CDELT2": 0.001, "CDELT3": 0.03,
    }  # fmt: skip
    wcs.update({f"PC{i}_{j}": float(i == j) for i in range(1, 4) for j in range(1, 4)})
    axes = [
        DatasetAxis(physical_type="SPATIAL", pixel_name="slit position",
                    world_name="helioprojective latitude", unit="arcsec", length=nx),
        DatasetAxis(physical_type="SPECTRAL", pixel_name="wavelength", world_name="wavelength",
                    unit="nm", length=ny),
        DatasetAxis(physical_type="SPATIAL", pixel_name="raster position",
                    world_name="helioprojective longitude", unit="arcsec", length=2),
    ]  # fmt: skip
    return L1FrameDescription(dataset_axes=axes, dataset_index=[0], wcs=wcs, stokes=stokes)


def vbi_frame(n: int = 64) -> L1FrameDescription:
    """An imager frame: array (y, x); time index 3 of 10; filter 630.1-630.3 nm."""
    wcs = {
        "WCSAXES": 2, "WCSNAME": "Helioprojective-cartesian",
        "CTYPE1": "HPLN-TAN", "CTYPE2": "HPLT-TAN", "CUNIT1": "arcsec", "CUNIT2": "arcsec",
        "CRPIX1": n / 2, "CRPIX2": n / 2, "CRVAL1": 100.0, "CRVAL2": -50.0,
        "CDELT1": 0.017, "CDELT2": 0.017, "PC1_1": 1.0, "PC1_2": 0.0, "PC2_1": 0.0, "PC2_2": 1.0,
    }  # fmt: skip
    axes = [
        DatasetAxis(physical_type="SPATIAL", pixel_name="spatial x",
                    world_name="helioprojective longitude", unit="arcsec", length=n),
        DatasetAxis(physical_type="SPATIAL", pixel_name="spatial y",
                    world_name="helioprojective latitude", unit="arcsec", length=n),
        DatasetAxis(physical_type="TEMPORAL", pixel_name="frame number", world_name="time",
                    unit="s", length=10),
    ]  # fmt: skip
    # VBI's own L1 keys (mosaic repeat counts, central-region intensity and contrast)
    vbi_keys = {"VBINMOSC": 1, "VBICMOSC": 1, "VBICRI": 2000.0, "VBICRMSC": 0.015, "VBICRLEN": 16}
    return L1FrameDescription(
        dataset_axes=axes,
        dataset_index=[3],
        wcs=wcs,
        wavelength_range_nm=(630.1, 630.3),
        instrument_keys=vbi_keys,
    )
