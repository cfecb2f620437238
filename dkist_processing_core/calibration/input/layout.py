"""A raw frame's pixel axes as its header declares them, and the one reorder made at the door.

SPEC-0122 frames are 3-D (``NAXIS = 3``), one axis of length 1, and the header says what
each FITS axis is (``CTYPEn``, with ``CUNITn``, ``CDELTn``, ``CRPIXn``, ``CRVALn`` and the
``PCi_j`` matrix). Nothing fixes which FITS axis is which: a spectrograph may write the
dispersion along the first FITS axis or the second (DKIST's ViSP writes the slit first).
The algorithms work on one layout, the *algorithm layout*, a 2-D array ``(rows, columns)``:

- a frame with a spectral axis (``CTYPE`` ``AWAV``, ``WAVE``, ``FREQ``, ``WAVN``): columns
  along wavelength, rows along the other (spatial) axis, the slit;
- a frame without one (an imager): columns along helioprojective longitude (``HPLN``), rows
  along latitude (``HPLT``);
- a frame whose image axes the header does not name in one of these ways keeps the file's
  order (the instrument's parse task says whether it accepts that, see
  :attr:`~dkist_processing_core.calibration.input.task.ParseInputData.required_axes`).

:func:`to_algorithm_layout` reorders the data once, when a raw frame is read, and permutes
the header's WCS cards with it, so the header that travels with the data (into the
calibrated frames and the L1 headers) keeps describing it: FITS axis 1 of the result is the
column axis, FITS axis 2 the row axis, FITS axis 3 the axis of length 1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

SPECTRAL_CTYPES = ("AWAV", "WAVE", "FREQ", "WAVN")
_AXIS_CARD = re.compile(
    r"^(NAXIS|CRPIX|CRVAL|CDELT|CUNIT|CTYPE|CNAME|CRDATE|CROTA|CRDER|CSYER)(\d)(A?)$"
)
_MATRIX_CARD = re.compile(r"^(PC|CD)(\d)_(\d)(A?)$")
_PV_CARD = re.compile(r"^(PV|PS)(\d)_(\d+)(A?)$")


def axis_role(ctype: Any) -> str:
    """``spectral``, ``longitude``, ``latitude``, ``stokes`` or ``other`` from a ``CTYPEn``."""
    text = str(ctype or "").strip().upper()
    if text.startswith(SPECTRAL_CTYPES):
        return "spectral"
    if text.startswith("HPLN"):
        return "longitude"
    if text.startswith("HPLT"):
        return "latitude"
    if text.startswith("STOKES"):
        return "stokes"
    return "other"


@dataclass(frozen=True)
class AxisLayout:
    """Which FITS axes of a raw frame become the algorithm layout's rows and columns."""

    naxis: int
    columns: int  # FITS axis number that becomes the columns (algorithm FITS axis 1)
    rows: int  # FITS axis number that becomes the rows (algorithm FITS axis 2)
    roles: tuple[str, str]  # (role of the columns, role of the rows)
    shape: tuple[int, int]  # the algorithm layout's (rows, columns)

    @property
    def reordered(self) -> bool:
        """True when the file's axes are not already in the algorithm layout."""
        return (self.columns, self.rows) != (1, 2)

    @property
    def description(self) -> str:
        """How the file lays its pixels out, e.g. ``'axis 1 latitude, axis 2 spectral'``."""
        by_axis = sorted([(self.columns, self.roles[0]), (self.rows, self.roles[1])])
        return ", ".join(f"axis {n} {role}" for n, role in by_axis)

    @property
    def signature(self) -> tuple:
        """What frames of one dataset share: the file's axis numbers of each role."""
        return (self.columns, self.rows, self.roles)


def _int(header: Mapping[str, Any], key: str, default: int) -> int:
    value = header.get(key, default)
    return (
        int(value)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        else default
    )


def axis_layout(header: Mapping[str, Any]) -> AxisLayout:
    """The frame's axis layout from ``NAXIS``, ``NAXISn`` and ``CTYPEn`` (see the module)."""
    naxis = _int(header, "NAXIS", 2)
    lengths = {n: _int(header, f"NAXIS{n}", 1) for n in range(1, naxis + 1)}
    image = [n for n in range(1, naxis + 1) if lengths[n] != 1]
    if len(image) != 2:
        # A frame of one pixel along an image axis, or no 2-D image: keep axes 1 and 2.
        image = [1, 2]
    roles = {n: axis_role(header.get(f"CTYPE{n}")) for n in image}
    a, b = image
    columns, rows = a, b
    if (roles[b] == "spectral" and roles[a] != "spectral") or (
        "spectral" not in roles.values() and roles[a] == "latitude" and roles[b] == "longitude"
    ):
        columns, rows = b, a
    return AxisLayout(
        naxis=naxis,
        columns=columns,
        rows=rows,
        roles=(roles[columns], roles[rows]),
        shape=(lengths.get(rows, 1), lengths.get(columns, 1)),
    )


def axis_permutation(layout: AxisLayout) -> dict[int, int]:
    """``{file's FITS axis: algorithm FITS axis}``: columns -> 1, rows -> 2, the rest after."""
    others = [n for n in range(1, layout.naxis + 1) if n not in (layout.columns, layout.rows)]
    order = [layout.columns, layout.rows, *others]
    return {old: new for new, old in enumerate(order, start=1)}


def permute_header(header, mapping: Mapping[int, int]):
    """A copy of ``header`` with every axis-numbered WCS card renumbered by ``mapping``."""
    out = header.copy()
    moved: dict[str, Any] = {}
    for key in list(header.keys()):
        new_key = None
        if m := _AXIS_CARD.match(key):
            n = int(m[2])
            if n in mapping:
                new_key = f"{m[1]}{mapping[n]}{m[3]}"
        elif m := _MATRIX_CARD.match(key):
            i, j = int(m[2]), int(m[3])
            if i in mapping and j in mapping:
                new_key = f"{m[1]}{mapping[i]}_{mapping[j]}{m[4]}"
        elif m := _PV_CARD.match(key):
            i = int(m[2])
            if i in mapping:
                new_key = f"{m[1]}{mapping[i]}_{m[3]}{m[4]}"
        if new_key is not None and new_key != key:
            moved[new_key] = header[key]
            del out[key]
    for key, value in moved.items():
        out[key] = value
    return out


def to_algorithm_layout(header, data: np.ndarray):
    """``(header, 2-D data)`` in the algorithm layout (see the module); unchanged if already.

    ``data`` is the array as read (numpy order: the last axis is FITS axis 1). Axes of length
    1 other than the image axes are dropped from the returned data; the header keeps them,
    renumbered after the two image axes.
    """
    layout = axis_layout(header)
    if data.ndim == 2 and not layout.reordered:
        return header, data
    ndim = data.ndim
    # numpy axis of FITS axis n is ndim - n
    rows_np, cols_np = ndim - layout.rows, ndim - layout.columns
    if not (0 <= rows_np < ndim and 0 <= cols_np < ndim):
        return header, np.squeeze(data) if data.ndim > 2 else data
    image = np.moveaxis(data, (rows_np, cols_np), (ndim - 2, ndim - 1))
    image = image.reshape(image.shape[-2:]) if image.size == np.prod(image.shape[-2:]) else image
    if not layout.reordered:
        return header, image
    return permute_header(header, axis_permutation(layout)), np.ascontiguousarray(image)


def from_algorithm_layout(header, data: np.ndarray, columns: int, rows: int):
    """The inverse, for making test frames: put 2-D ``data`` whose header is in the algorithm
    layout into a 3-D frame whose FITS axis ``columns`` is the columns and ``rows`` the rows."""
    mapping_back = {1: columns, 2: rows}
    rest = [n for n in (1, 2, 3) if n not in (columns, rows)]
    mapping_back[3] = rest[0]
    out = permute_header(header, mapping_back)
    cube = data[None]  # FITS (1, 2, 3) = numpy (2, 1, 0): columns, rows, unit
    order = {columns: 1, rows: 2, rest[0]: 3}  # file axis -> algorithm axis
    # numpy axes of the file, from FITS axis 3 down to 1, taken from the algorithm cube
    axes = [3 - order[n] for n in (3, 2, 1)]
    return out, np.ascontiguousarray(np.transpose(cube, axes))
