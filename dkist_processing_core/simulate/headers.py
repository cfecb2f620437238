"""Valid SPEC-0122 headers for simulated frames.

``dkist-data-simulator`` generates a header that passes SPEC-0122 validation (random values where
the truth does not care). We generate one such template per instrument program run, seeded, then
set every keyword the truth drives on a copy for each frame. Generating a template costs ~20 ms;
copying and setting keys per frame is cheap, so large runs stay fast.
"""

from __future__ import annotations

import datetime
import functools
import warnings
from typing import Any

import numpy as np
from astropy.io import fits
from dkist_data_simulator.spec122 import Spec122Dataset

# Alternate (equatorial) WCS keys carry random values in the generated template; a reader could
# pick them up, so they are dropped: they are optional in SPEC-0122.
_ALTERNATE_WCS_PREFIXES = ("WCSAXESA", "WCSNAMEA", "LONPOLEA", "LATPOLEA")


def _is_alternate_wcs_key(key: str) -> bool:
    if key in _ALTERNATE_WCS_PREFIXES:
        return True
    indexed = ("CRPIX", "CRVAL", "CDELT", "CUNIT", "CTYPE", "PC", "CRDATE")
    return key.endswith("A") and key.startswith(indexed)


@functools.lru_cache(maxsize=8)
def _header_dataset(instrument: str, frame_shape: tuple[int, int]) -> Spec122Dataset:
    ny, nx = frame_shape
    return Spec122Dataset(
        dataset_shape=(1, ny, nx),
        array_shape=(1, ny, nx),
        time_delta=1.0,
        instrument=instrument,
    )


def template_header(instrument: str, frame_shape: tuple[int, int], seed: int) -> fits.Header:
    """A SPEC-0122 header for ``instrument`` ('visp' or 'vbi'), seeded, ready for uint16 data.

    ``frame_shape`` is the numpy shape (rows, columns) of one frame; SPEC-0122 frames are 3-D with
    a leading axis of length 1. The structural cards (BITPIX, NAXISn, BZERO) are already in place.
    """
    ny, nx = frame_shape
    dataset = _header_dataset(instrument, (ny, nx))
    rng = np.random.default_rng(seed)
    for section in dataset.file_schema.sections:
        for key in section.keys:
            key.random = rng
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header = dataset.header()
    header = {k: v for k, v in header.items() if not _is_alternate_wcs_key(k)}
    header.update(
        {
            "BUNIT": "ct",
            "OBJECT": "quietsun",
            "NETWORK": "NSF-DKIST",
            "ID___001": "Data Model (SPEC-0122) Revision F",
            "DKIST001": "Auto",
            "DKIST002": "Full",
            "DKIST006": "Good",
            "DKIST007": False,
            "DKIST008": 1,
            "DKIST009": 1,
            "WCSNAME": "Helioprojective-cartesian",
            "WCSAXES": 3,
            "CAM__003": 16,
            "CAM__007": nx,
            "CAM__008": ny,
            "CAM__009": 1,
            "CAM__010": 1,
            "CAM__011": 1,
            "CAM__012": 1,
            "CAM__013": 1,
            "CAM__014": 1,
            "CAM__015": 1,
            "CAM__016": 1,
            "CAM__017": 0,
            "CAM__018": 0,
            "CAM__019": nx,
            "CAM__020": ny,
        }
    )
    for structural in ("NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "BITPIX", "BZERO", "BSCALE"):
        header.pop(structural, None)
    hdu = fits.PrimaryHDU(data=np.zeros((1, ny, nx), dtype=np.uint16), header=fits.Header(header))
    return hdu.header


def wcs_keys(
    ctype: tuple[str, str, str],
    cunit: tuple[str, str, str],
    crpix: tuple[float, float, float],
    crval: tuple[float, float, float],
    cdelt: tuple[float, float, float],
) -> dict[str, Any]:
    """FITS WCS keywords (axis 1 = numpy last axis) with an identity PC matrix."""
    keys: dict[str, Any] = {}
    for n in range(3):
        i = n + 1
        keys[f"CTYPE{i}"] = ctype[n]
        keys[f"CUNIT{i}"] = cunit[n]
        keys[f"CRPIX{i}"] = float(crpix[n])
        keys[f"CRVAL{i}"] = float(crval[n])
        keys[f"CDELT{i}"] = float(cdelt[n])
        for j in range(1, 4):
            keys[f"PC{i}_{j}"] = 1.0 if i == j else 0.0
    keys["LONPOLE"] = 180.0
    return keys


def isot(t: datetime.datetime) -> str:
    return t.isoformat(timespec="microseconds")
