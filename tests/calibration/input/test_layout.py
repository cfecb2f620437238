"""Pixel axes read from the header, and the one reorder at the door, with the header renumbered."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from astropy.io import fits

from dkist_processing_core.calibration.input.frames import read_raw_frame
from dkist_processing_core.calibration.input.layout import (
    axis_layout,
    from_algorithm_layout,
    to_algorithm_layout,
)
from dkist_processing_core.calibration.input.validation import (
    AXIS_LAYOUT,
    FRAME_SHAPE,
    SETUP,
    FrameFacts,
    KeywordRule,
    validate_frames,
)


def algorithm_header(ny: int, nx: int) -> fits.Header:
    """A spectrograph header in the algorithm layout: wavelength on axis 1, slit on 2."""
    h = fits.Header()
    h["NAXIS"] = 3
    h["NAXIS1"], h["NAXIS2"], h["NAXIS3"] = nx, ny, 1
    for n, (ctype, cunit, crval, cdelt) in enumerate(
        [("AWAV", "nm", 630.25, 0.001), ("HPLT-TAN", "arcsec", -340.0, 0.2),
         ("HPLN-TAN", "arcsec", 120.0, 0.5)], start=1,
    ):  # fmt: skip
        h[f"CTYPE{n}"], h[f"CUNIT{n}"], h[f"CRVAL{n}"], h[f"CDELT{n}"] = ctype, cunit, crval, cdelt
        h[f"CRPIX{n}"] = float(n)
    for i, j in itertools.product((1, 2, 3), repeat=2):
        h[f"PC{i}_{j}"] = 1.0 if i == j else 0.01 * (10 * i + j)  # distinct off-diagonals
    return h


@pytest.mark.parametrize(("columns", "rows"), [(1, 2), (2, 1), (3, 1), (1, 3), (2, 3), (3, 2)])
def test_any_axis_order_comes_back_to_the_algorithm_layout(columns, rows):
    ny, nx = 5, 7
    data = np.arange(ny * nx, dtype=np.float64).reshape(ny, nx)
    header = algorithm_header(ny, nx)
    file_header, cube = from_algorithm_layout(header, data, columns, rows)
    file_header["NAXIS1"], file_header["NAXIS2"], file_header["NAXIS3"] = cube.shape[::-1]
    assert file_header[f"CTYPE{columns}"] == "AWAV" and file_header[f"NAXIS{columns}"] == nx
    assert file_header[f"CTYPE{rows}"] == "HPLT-TAN" and file_header[f"NAXIS{rows}"] == ny
    layout = axis_layout(file_header)
    assert (layout.columns, layout.rows, layout.shape) == (columns, rows, (ny, nx))
    assert layout.roles == ("spectral", "latitude")
    back_header, back = to_algorithm_layout(file_header, cube)
    np.testing.assert_array_equal(back, data)
    for key in ("CTYPE", "CUNIT", "CRVAL", "CDELT", "CRPIX", "NAXIS"):
        for n in (1, 2, 3):
            assert back_header[f"{key}{n}"] == header[f"{key}{n}"], f"{key}{n}"
    for i, j in itertools.product((1, 2, 3), repeat=2):
        assert back_header[f"PC{i}_{j}"] == header[f"PC{i}_{j}"], (i, j)


def test_an_imager_reads_longitude_along_the_columns():
    h = fits.Header({"NAXIS": 3, "NAXIS1": 4, "NAXIS2": 6, "NAXIS3": 1, "CTYPE1": "HPLT-TAN",
                     "CTYPE2": "HPLN-TAN", "CTYPE3": "anything"})  # fmt: skip
    layout = axis_layout(h)
    assert (layout.columns, layout.rows, layout.shape) == (2, 1, (4, 6))
    assert layout.description == "axis 1 latitude, axis 2 longitude"


def test_read_raw_frame_reorders_at_the_door(tmp_path):
    ny, nx = 5, 7
    data = np.arange(ny * nx, dtype=np.int16).reshape(ny, nx)
    file_header, cube = from_algorithm_layout(algorithm_header(ny, nx), data, 2, 1)
    path = tmp_path / "slit_first.fits"
    fits.PrimaryHDU(cube, file_header).writeto(path, checksum=True)
    header, read = read_raw_frame(path, (ny, nx))
    np.testing.assert_array_equal(read, data)
    assert (header["CTYPE1"], header["CTYPE2"], header["CTYPE3"]) == (
        "AWAV",
        "HPLT-TAN",
        "HPLN-TAN",
    )


_COUNT = itertools.count()


def facts(path: str, ctypes=("AWAV", "HPLT-TAN"), shape=(4, 8), **extra) -> FrameFacts:
    second = next(_COUNT) % 60
    header = {
        "NAXIS": 3, "NAXIS1": shape[1], "NAXIS2": shape[0], "NAXIS3": 1,
        "CTYPE1": ctypes[0], "CTYPE2": ctypes[1], "CTYPE3": "HPLN-TAN",
        "DATE-OBS": f"2024-05-02T17:00:{second:02d}", "DKIST004": "observe",
        "DKIST003": "observe", "ID___008": "op", "CAM__004": 2.0, "WAVELNTH": 630.25,
    }  # fmt: skip
    header.update(extra)
    return FrameFacts(path, header)


def test_one_axis_layout_per_dataset():
    frames = [facts("/raw/a.fits"), facts("/raw/b.fits"),
              facts("/raw/cc.fits", ctypes=("HPLT-TAN", "AWAV"), shape=(8, 4))]  # fmt: skip
    problems = validate_frames(frames, frame_kinds=("OBSERVE",)).problems
    [problem] = problems
    assert (problem.file, problem.check) == ("/raw/cc.fits", AXIS_LAYOUT)
    assert problem.found == "axis 1 latitude, axis 2 spectral"
    assert problem.expected.startswith("axis 1 spectral, axis 2 latitude like 2 other frame(s)")


def test_the_shape_compared_is_the_algorithm_layouts():
    # Same shape once reordered: (4, 8) and (8, 4) with the axes swapped are one shape.
    a = facts("/raw/a.fits")
    b = facts("/raw/bb.fits", shape=(4, 9))
    problems = validate_frames([a, facts("/raw/c.fits"), b], frame_kinds=("OBSERVE",)).problems
    assert [(p.file, p.check, p.found) for p in problems] == [
        ("/raw/bb.fits", FRAME_SHAPE, "(4, 9)")
    ]


def test_the_axes_an_instrument_needs():
    frames = [facts("/raw/a.fits", ctypes=("HPLN-TAN", "HPLT-TAN"))]
    [problem] = validate_frames(
        frames, frame_kinds=("OBSERVE",), required_axes=("spectral", "spatial")
    ).problems
    assert problem.check == AXIS_LAYOUT
    assert "CTYPE1 = 'HPLN-TAN', CTYPE2 = 'HPLT-TAN'" in problem.found
    assert problem.expected == "image axes of kinds spectral and spatial"


def test_calibration_frames_of_another_setup_are_refused():
    rule = KeywordRule("WAVELNTH", kinds=("OBSERVE", "SOLAR_GAIN"), match=True)
    gain = facts("/raw/gain.fits", DKIST004="gain", DKIST003="gain", PAC__002="clear",
                 PAC__003="off", WAVELNTH=854.2)  # fmt: skip
    problems = validate_frames(
        [facts("/raw/o.fits"), gain], frame_kinds=("OBSERVE", "SOLAR_GAIN"), rules=[rule]
    ).problems
    [problem] = problems
    assert (problem.file, problem.check, problem.keyword, problem.found) == (
        "/raw/gain.fits", SETUP, "WAVELNTH", "854.2"
    )  # fmt: skip
    assert problem.expected.startswith("630.25, as the observe frames'")


def test_an_exposure_time_without_a_dark_is_refused():
    dark = facts("/raw/dark.fits", DKIST004="dark", DKIST003="dark", CAM__004=4.0)
    problems = validate_frames(
        [facts("/raw/o.fits"), dark], frame_kinds=("OBSERVE", "DARK"), dark_for=("OBSERVE",)
    ).problems
    [problem] = problems
    assert (problem.file, problem.check, problem.keyword, problem.found) == (
        "/raw/o.fits", SETUP, "CAM__004", "2.0"
    )  # fmt: skip
    assert problem.expected.startswith("an exposure time of the dark frames (4 ms)")
