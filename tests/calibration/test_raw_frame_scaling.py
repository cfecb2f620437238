"""A raw frame is read as float64 physical values equal to astropy's scaling of the stored ones."""

import numpy as np
import pytest
from astropy.io import fits

from dkist_processing_core.calibration.input.frames import read_raw_frame


@pytest.mark.parametrize(
    ("stored", "bscale", "bzero"),
    [
        (np.array([[0, 1], [-32768, 32767]], dtype=np.int16), 1.0, 32768.0),  # pseudo-unsigned
        (np.array([[0, 1], [-5, 7]], dtype=np.int16), 2.5, -3.0),
        (np.array([[0, 1], [-5, 7]], dtype=np.int32), 1.0, 0.0),
        (np.array([[0.5, np.inf], [-5.0, 7.25]], dtype=np.float32), 1.0, 0.0),
    ],
)
def test_physical_values_match_astropy(tmp_path, stored, bscale, bzero):
    path = tmp_path / "frame.fits"
    hdu = fits.PrimaryHDU(stored[np.newaxis])
    if stored.dtype.kind == "i":
        hdu.header["BSCALE"], hdu.header["BZERO"] = bscale, bzero
    hdu.writeto(path, checksum=True)
    _, data = read_raw_frame(path)
    with fits.open(path) as hdul:
        expected = np.asarray(hdul[0].data, dtype=np.float64)[0]
    expected[np.isinf(expected)] = np.nan
    assert data.dtype == np.float64
    np.testing.assert_array_equal(data, expected)


def test_blank_integer_pixels_are_nan(tmp_path):
    path = tmp_path / "frame.fits"
    hdu = fits.PrimaryHDU(np.array([[[1, -99], [3, 4]]], dtype=np.int16))
    hdu.header["BLANK"] = -99
    hdu.writeto(path, checksum=True)
    _, data = read_raw_frame(path)
    np.testing.assert_array_equal(data, [[1.0, np.nan], [3.0, 4.0]])
