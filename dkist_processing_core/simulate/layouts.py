"""Simulated frames rewritten as other software lays them out and describes them.

The simulator writes every frame in the algorithm layout (wavelength, or longitude, along
FITS axis 1) with headers it completes itself. Real frames need neither: a spectrograph
may put the slit along FITS axis 1 (DKIST's ViSP does), and the headers DKIST's own
software writes carry values the simulator never sets. :func:`rewrite_frames` keeps each
frame's pixel truth and rewrites it

- in the axis order ``columns``/``rows`` (the FITS axes that hold the algorithm's columns
  and rows), the data transposed to match and the WCS cards renumbered with it, and
- optionally with a header made by ``dkist-data-simulator``'s own ``Spec122Dataset``
  generator (one per instrument program run, seeded), of which only the keywords the truth
  drives (:data:`TRUTH_KEYS`: times, IDs, task types, exposure, GOS and telescope state,
  AO, the instrument's indices and the WCS) are set from the simulated frame; every other
  keyword is whatever the generator makes of it.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from dkist_data_simulator.spec122 import Spec122Dataset

from dkist_processing_core.calibration.input.layout import from_algorithm_layout
from dkist_processing_core.framework.atomic import atomic_write

from .observation import SimulatedObservation

# The keywords the simulated truth drives; the rest of a regenerated header is the generator's.
TRUTH_KEYS = re.compile(
    r"^(DATE|DATE-OBS|INSTRUME|WAVELNTH|ID___\d{3}|DKIST00[3489]|DKIST01[01]|CAM__00[45]"
    r"|CAM__00[7-9]|CAM__01\d|CAM__020|PAC__0\d\d|TELEVATN|TAZIMUTH|TTBLANGL|AO___00[12]|VISP_\d{3}|VBI__\d{3}"
    r"|WCSAXES|CRPIX\d|CRVAL\d|CDELT\d|CUNIT\d|CTYPE\d|PC\d_\d|LONPOLE|LATPOLE|BUNIT)$"
)
_STRUCTURAL = ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND", "BZERO",
               "BSCALE", "CHECKSUM", "DATASUM")  # fmt: skip
_ALTERNATE_WCS = re.compile(
    r"^(WCSAXES|WCSNAME|LONPOLE|LATPOLE|(CRPIX|CRVAL|CDELT|CUNIT|CTYPE|CNAME|CRDATE)\d|PC\d_\d)A$"
)


def generated_header(instrument: str, shape: tuple[int, int], seed: int) -> dict:
    """A header as ``dkist-data-simulator``'s ``Spec122Dataset`` generates it, seeded.

    ``shape`` is the frame's (rows, columns) as the file holds them. The generator's random
    alternate (equatorial) WCS is left out: it describes no real pointing.
    """
    ny, nx = shape
    dataset = Spec122Dataset(
        dataset_shape=(1, ny, nx), array_shape=(1, ny, nx), time_delta=1.0, instrument=instrument
    )
    rng = np.random.default_rng(seed)
    for section in dataset.file_schema.sections:
        for key in section.keys:
            key.random = rng
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header = dict(dataset.header())
    return {k: v for k, v in header.items() if k not in _STRUCTURAL and not _ALTERNATE_WCS.match(k)}


def rewrite_frames(
    observation: SimulatedObservation,
    *,
    columns: int = 1,
    rows: int = 2,
    generator_headers: bool = False,
    seed: int = 0,
    third_axis: dict | None = None,
) -> None:
    """Rewrite every frame of ``observation`` in place (see the module).

    ``third_axis`` replaces the cards of the axis of length 1 (in the algorithm's numbering:
    ``CTYPE3`` ...), e.g. to describe it as something other than wavelength.
    """
    templates: dict[str, dict] = {}
    for record in observation.frames:
        path = Path(observation.path_of(record))
        with fits.open(path) as hdul:
            header = hdul[0].header.copy()
            data = np.asarray(hdul[0].data[0])
        if generator_headers:
            if record.ip_run_id not in templates:
                shape = (data.shape[1], data.shape[0]) if columns == 2 else data.shape
                templates[record.ip_run_id] = generated_header(
                    observation.instrument, shape, seed + len(templates)
                )
            new = fits.Header(templates[record.ip_run_id])
            for key in header:
                if TRUTH_KEYS.match(key):
                    new[key] = header[key]
            header = new
        for key in _STRUCTURAL:
            header.remove(key, ignore_missing=True)
        for key, value in (third_axis or {}).items():
            header[key] = value
        header, cube = from_algorithm_layout(header, data, columns, rows)
        hdu = fits.PrimaryHDU(data=cube, header=header)
        with atomic_write(path) as f:
            hdu.writeto(f, checksum=True, output_verify="ignore")
