"""Self-describing HDF5 files that follow the NetCDF4 conventions, written with h5py.

A labelled array file holds named variables, each with named dimensions; a dimension is an
HDF5 *dimension scale* (``make_scale``), attached to every variable that uses it
(``attach_scale``), so ``xarray.open_dataset(path, engine="h5netcdf")`` opens it with its
dimension names and coordinates and nothing else. Each variable carries ``units`` and
``long_name`` attributes; a coordinate that is not a dimension (a time per frame, say) is
named in the ``coordinates`` attribute of the variables that use it (the CF convention xarray
reads). Arrays are chunked and compressed (gzip with byte shuffle); the file's attributes
carry whatever provenance the writer passes (dictionaries and lists as JSON text).

Nothing here knows what the arrays mean: the calibration layer says that
(:mod:`dkist_processing_core.calibration.intermediates`). Writes go through the scratch's
atomic write (:meth:`~dkist_processing_core.framework.scratch.Scratch.write_with`), so a reader
never sees half a file.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

#: The suffix of a labelled array file in the scratch.
SUFFIX = ".h5"

#: What the NetCDF4 library writes into the NAME attribute of a dimension without coordinates.
_DIMENSION_ONLY = "This is a netCDF dimension but not a netCDF variable."


class LabelledFileError(ValueError):
    """A labelled array file that cannot be written or read; the message names the variable."""


@dataclass
class Variable:
    """A named array with its dimensions, ``units`` and ``long_name`` (and further attributes)."""

    dims: tuple[str, ...]
    data: Any
    units: str = ""
    long_name: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    def array(self, name: str) -> np.ndarray:
        data = np.asarray(self.data)
        if data.dtype.kind == "U" or data.dtype == object:
            data = np.asarray(data, dtype=object).astype(str).astype(object)
        if data.ndim != len(self.dims):
            raise LabelledFileError(
                f"variable {name!r} has {data.ndim} axes but names {len(self.dims)} dimensions "
                f"{self.dims}"
            )
        return data


def _attribute(value: Any) -> Any:
    """An HDF5 attribute value: numbers and strings as they are, anything else as JSON text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str, np.integer, np.floating)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def write_labelled(
    target: BinaryIO | str | Path,
    variables: Mapping[str, Variable],
    coords: Mapping[str, Variable] = (),
    attrs: Mapping[str, Any] = (),
    *,
    compression_level: int = 4,
) -> None:
    """Write ``variables`` and ``coords`` as a NetCDF4-conventions HDF5 file into ``target``.

    ``target`` is a binary file object (such as the one ``Scratch.write_with`` hands out, which
    makes the write atomic) or a path. A coordinate whose name equals its only dimension becomes
    that dimension's scale; every other dimension gets a scale without values (as NetCDF4 does).
    """
    import h5py

    coords = dict(coords)
    variables = dict(variables)
    clash = sorted(set(coords) & set(variables))
    if clash:
        raise LabelledFileError(f"names {clash} are both coordinates and variables")
    arrays = {n: v.array(n) for n, v in {**coords, **variables}.items()}
    sizes: dict[str, int] = {}
    for name, var in {**coords, **variables}.items():
        for dim, n in zip(var.dims, arrays[name].shape, strict=True):
            if sizes.setdefault(dim, n) != n:
                raise LabelledFileError(
                    f"variable {name!r}: dimension {dim!r} has length {n}, elsewhere {sizes[dim]}"
                )
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver=("v108", "latest")) as h5:
        for key, value in dict(attrs).items():
            h5.attrs[key] = _attribute(value)
        datasets = {}

        def create(name: str, var: Variable) -> h5py.Dataset:
            data = arrays[name]
            kwargs: dict[str, Any] = {}
            if data.dtype == object:
                kwargs["dtype"] = h5py.string_dtype()
            elif data.ndim and data.size:
                kwargs.update(
                    chunks=True,
                    compression="gzip",
                    compression_opts=compression_level,
                    shuffle=True,
                )
            ds = h5.create_dataset(name, data=data, **kwargs)
            if var.units:
                ds.attrs["units"] = var.units
            if var.long_name:
                ds.attrs["long_name"] = var.long_name
            for key, value in var.attrs.items():
                ds.attrs[key] = _attribute(value)
            return ds

        scales = {}
        for dim, n in sizes.items():
            var = coords.get(dim)
            if var is not None and tuple(var.dims) == (dim,):
                scales[dim] = create(dim, var)
                scales[dim].make_scale(dim)
            else:
                scales[dim] = h5.create_dataset(dim, shape=(n,), dtype="f4")
                scales[dim].make_scale(f"{_DIMENSION_ONLY}{n:10d}")
        auxiliary = [n for n in coords if n not in scales]
        for name, var in {**coords, **variables}.items():
            if name in scales:
                continue
            datasets[name] = ds = create(name, var)
            for axis, dim in enumerate(var.dims):
                ds.dims[axis].attach_scale(scales[dim])
            used = [c for c in auxiliary if c != name and set(coords[c].dims) <= set(var.dims)]
            if name in variables and used:
                ds.attrs["coordinates"] = " ".join(used)
    data = buffer.getbuffer()
    if isinstance(target, (str, Path)):
        Path(target).write_bytes(data)
    else:
        target.write(data)


def open_labelled(path: str | Path, **kwargs):
    """The labelled array file at ``path`` as an ``xarray.Dataset`` (lazily read, h5netcdf)."""
    import xarray as xr

    try:
        return xr.open_dataset(path, engine="h5netcdf", **kwargs)
    except (OSError, ValueError) as error:
        raise LabelledFileError(f"cannot open {path} as a labelled array file: {error}") from error


def attribute_value(text: Any) -> Any:
    """An attribute written by :func:`write_labelled`, with JSON text decoded back."""
    if isinstance(text, bytes):
        text = text.decode()
    if isinstance(text, str):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text.item() if isinstance(text, np.generic) else text


# -- any scratch file as an xarray.Dataset ------------------------------------------------------

#: How a file of each suffix opens as an ``xarray.Dataset``; other layers add their formats
#: (the calibration layer adds the dataset ASDF, :mod:`dkist_processing_core.calibration.xarray_views`).
OPENERS: dict[str, Callable[[Path], Any]] = {}


def register_opener(suffix: str, opener: Callable[[Path], Any]) -> None:
    """Open files ending in ``suffix`` with ``opener(path) -> xarray.Dataset``."""
    OPENERS[suffix.lower()] = opener


def _open_fits_image(path: Path):
    """A FITS image as an ``xarray.Dataset``: ``data (y, x)`` (or ``axis_<n>``), header as attrs."""
    import xarray as xr
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        hdu = next((h for h in hdul if h.data is not None), None)
        if hdu is None:
            raise LabelledFileError(f"{path}: no HDU with data")
        data = hdu.data.astype(hdu.data.dtype.newbyteorder("="))
        header = hdu.header
        names = ("y", "x") if data.ndim == 2 else tuple(f"axis_{i}" for i in range(data.ndim))
        attrs = {
            k: v
            for k, v in header.items()
            if k and k not in ("COMMENT", "HISTORY", "") and isinstance(v, (int, float, str, bool))
        }
    coords = {n: np.arange(s) for n, s in zip(names, data.shape, strict=True)}
    units = str(header.get("BUNIT", ""))
    variable = xr.Variable(names, data, {"units": units} if units else {})
    return xr.Dataset({"data": variable}, coords=coords, attrs=attrs)


def _open_labelled(path: Path):
    ds = open_labelled(path)
    ds.attrs = {k: attribute_value(v) for k, v in ds.attrs.items()}
    return ds


register_opener(SUFFIX, _open_labelled)
register_opener(".nc", _open_labelled)
register_opener(".fits", _open_fits_image)


def open_as_xarray(path: str | Path):
    """The file at ``path`` as an ``xarray.Dataset``, by its suffix (see :data:`OPENERS`)."""
    path = Path(path)
    opener = OPENERS.get(path.suffix.lower())
    if opener is None:
        raise LabelledFileError(
            f"{path}: no xarray view of {path.suffix!r} files; known: {sorted(OPENERS)} "
            "(the calibration layer adds '.asdf' when dkist_processing_core.calibration is imported)"
        )
    return opener(path)
