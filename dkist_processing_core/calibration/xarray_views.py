"""xarray views of a run's products, for users who prefer xarray to NDCube.

- :func:`l1_dataset`: the Level 1 dataset described by the dataset ASDF, as a lazily loaded,
  dask-backed ``xarray.Dataset`` (a mosaic's tiles stacked along ``tile_row``, ``tile_column``). The data are the very dask array ``dkist.load_dataset``
  builds (nothing is read until asked); the coordinates are the world coordinates of the
  dataset's gWCS, each computed only over the array axes it depends on: wavelength,
  helioprojective longitude and latitude (arcsec), time (UTC, ``datetime64``) and Stokes
  (``I``, ``Q``, ``U``, ``V``).
- :func:`open_intermediate`: a tagged intermediate as an ``xarray.Dataset`` (labelled HDF5
  with its dimensions, coordinates and units; a FITS image as ``data (y, x)``).

Importing this module (which :mod:`dkist_processing_core.calibration` does) lets
``RunReport.dataset(*tags)`` open the dataset ASDF too.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

from ..framework.netcdf import open_as_xarray, register_opener


def _name(text: str, fallback: str) -> str:
    name = re.sub(r"[^0-9a-zA-Z]+", "_", str(text or "")).strip("_").lower()
    return name or fallback


def _world_coordinates(wcs, shape: tuple[int, ...], dims: tuple = ()) -> dict:
    """Each world axis of ``wcs`` as ``name -> (array axes, values, attrs)``.

    A world axis is computed only over the array axes it depends on (the WCS's axis
    correlation matrix), so a real-size dataset costs a few small grids, not one per pixel.
    """
    from astropy.coordinates import StokesCoord
    from astropy.time import Time

    n = len(shape)
    correlation = np.asarray(wcs.axis_correlation_matrix)  # (world, pixel)
    names = list(getattr(wcs, "world_axis_names", None) or [""] * wcs.world_n_dim)
    types = list(wcs.world_axis_physical_types)
    units = list(wcs.world_axis_units)
    coords: dict = {}
    for w in range(wcs.world_n_dim):
        array_axes = sorted(n - 1 - p for p in np.nonzero(correlation[w])[0])
        grids = np.meshgrid(*(np.arange(shape[a]) for a in array_axes), indexing="ij")
        pixel = [np.zeros(grids[0].shape) for _ in range(n)]
        for a, g in zip(array_axes, grids, strict=True):
            pixel[n - 1 - a] = g
        kind = types[w]
        attrs = {"physical_type": kind}
        if kind == "time":
            objects = wcs.pixel_to_world(*pixel)
            objects = objects if isinstance(objects, (list, tuple)) else [objects]
            when = next(o for o in objects if isinstance(o, Time))
            values = np.asarray(when.utc.datetime64)
            name = "time"
        elif "polarization.stokes" in kind:
            values = np.asarray(wcs.pixel_to_world_values(*pixel)[w])
            values = np.asarray(StokesCoord(values).symbol).astype(str)
            name = "stokes"
        else:
            values = np.asarray(wcs.pixel_to_world_values(*pixel)[w])
            name = _name(names[w], _name(kind.split(":")[-1], f"world_{w}"))
            if "helioprojective.lon" in kind:
                name = "helioprojective_longitude"
            elif "helioprojective.lat" in kind:
                name = "helioprojective_latitude"
            elif kind == "em.wl":
                name = "wavelength"
            attrs["units"] = units[w]
        coords[name] = (tuple(array_axes), values, attrs)
    return coords


def _dimension_names(pixel_names: list[str], coords: dict, n: int) -> tuple[str, ...]:
    """Array dimension names: a world axis's name where it alone follows that array axis
    (``stokes``, ``wavelength``: then ``.sel(stokes="V")`` works), the pixel axis name otherwise.
    """
    dims = [_name(pixel_names[n - 1 - a], f"axis_{a}") for a in range(n)]
    for name, (axes, _, _) in coords.items():
        if len(axes) != 1:
            continue
        (axis,) = axes
        alone = sum(axis in other for other, _, _ in coords.values()) == 1
        if alone and name not in dims:
            dims[axis] = name
    return tuple(dims)


class L1ViewError(ValueError):
    """A dataset ASDF whose L1 dataset cannot be shown as one ``xarray.Dataset``."""


def _dataset_parts(loaded, *, by_world: bool = True) -> tuple[tuple[str, ...], object, dict, str]:
    """Dimensions, dask array, world coordinates and unit of one ``dkist.Dataset``.

    ``by_world``: an axis one world coordinate alone follows is named after it; otherwise
    every axis keeps its pixel axis name (a mosaic's tiles, whose world coordinates also
    follow the tile dimensions).
    """
    shape = tuple(loaded.data.shape)
    n = len(shape)
    pixel_names = list(getattr(loaded.wcs, "pixel_axis_names", None) or [""] * n)
    world = _world_coordinates(loaded.wcs, shape, dims=())
    if by_world:
        dims = _dimension_names(pixel_names, world, n)
    else:
        dims = tuple(_name(pixel_names[n - 1 - a], f"axis_{a}") for a in range(n))
    coords = {}
    for name, (axes, values, attrs) in world.items():
        axis_dims = tuple(dims[a] for a in axes)
        if name in dims and axis_dims != (name,):
            name = f"{name}_world"
        coords[name] = (axis_dims, values, attrs)
    unit = "" if loaded.unit is None else str(loaded.unit)
    return dims, loaded.data, coords, unit


def _tiled_parts(tiled, asdf_path) -> tuple[tuple[str, ...], object, dict, str]:
    """A mosaic's tiles stacked along ``tile_row`` and ``tile_column`` (tiles of one shape)."""
    import dask.array as da

    rows, columns = tiled.shape
    parts = [
        [_dataset_parts(tiled[r, c], by_world=False) for c in range(columns)] for r in range(rows)
    ]
    dims, _, coords, unit = parts[0][0]
    for r, c in np.ndindex(rows, columns):
        other_dims, data, other_coords, _ = parts[r][c]
        if other_dims != dims or data.shape != parts[0][0][1].shape:
            raise L1ViewError(
                f"{asdf_path}: tile ({r}, {c}) has dimensions {other_dims} {data.shape}, tile "
                f"(0, 0) {dims} {parts[0][0][1].shape}: an xarray view needs tiles of one shape"
            )
        if set(other_coords) != set(coords):
            raise L1ViewError(
                f"{asdf_path}: tile ({r}, {c}) has world coordinates {sorted(other_coords)}, "
                f"tile (0, 0) {sorted(coords)}"
            )
    tile_dims = ("tile_row", "tile_column")
    # Each tile's own dask array cannot be stacked: dkist gives every tile's graph the same
    # keys ('load_files', 'reshape-<token>'), so a stack of them computes the last tile
    # everywhere. Each tile is read through its own graph instead, block by block.
    path = str(Path(asdf_path).resolve())
    data = da.stack(
        [
            da.stack([_tile_array(path, r, c, parts[r][c][1]) for c in range(columns)])
            for r in range(rows)
        ]
    )
    stacked = {}
    for name, (axis_dims, _, attrs) in coords.items():
        values = np.stack([np.stack([p[2][name][1] for p in row]) for row in parts])
        stacked[name] = (tile_dims + axis_dims, values, attrs)
    return tile_dims + dims, data, stacked, unit


def _tile_array(path: str, row: int, column: int, like):
    """A lazy array of one tile of the mosaic in ``path``, with keys of its own."""
    import dask.array as da
    from dask.base import tokenize

    stamp = Path(path).stat().st_mtime_ns
    return da.map_blocks(
        _read_tile_block,
        path,
        stamp,
        row,
        column,
        chunks=like.chunks,
        dtype=like.dtype,
        meta=np.empty((0,) * like.ndim, dtype=like.dtype),
        name=f"l1-tile-{tokenize(path, stamp, row, column)}",
    )


@functools.lru_cache(maxsize=4)
def _load_mosaic(path: str, stamp: int):
    import dkist

    return dkist.load_dataset(Path(path))


def _read_tile_block(path: str, stamp: int, row: int, column: int, block_info=None):
    """One block of a tile, read in the calling process (no nested scheduling on a cluster)."""
    where = tuple(slice(a, b) for a, b in block_info[None]["array-location"])
    tile = _load_mosaic(path, stamp)[row, column]
    return np.asarray(tile.data[where].compute(scheduler="synchronous"))


def l1_dataset(asdf_path: str | Path):
    """The L1 dataset of a dataset ASDF as a lazily loaded, dask-backed ``xarray.Dataset``.

    ``data`` has the array axes of ``dkist.load_dataset(asdf_path)`` and the same dask array.
    An axis that one world coordinate alone follows is named after it (``stokes``,
    ``wavelength``), the others after the dataset's pixel axes (e.g. ``spatial_along_slit``);
    each world coordinate spans the dimensions it depends on. A mosaic (a ``TiledDataset``,
    VBI's) has its tiles stacked along two leading dimensions ``tile_row`` and
    ``tile_column``, each tile's world coordinates along them too.
    """
    import dkist
    import xarray as xr
    from dkist import TiledDataset

    loaded = dkist.load_dataset(Path(asdf_path))
    if isinstance(loaded, TiledDataset):
        dims, array, world, unit = _tiled_parts(loaded, asdf_path)
    else:
        dims, array, world, unit = _dataset_parts(loaded)
    coords = {
        name: xr.Variable(axis_dims, values, attrs)
        for name, (axis_dims, values, attrs) in world.items()
    }
    inventory = (getattr(loaded, "meta", None) or {}).get("inventory", {}) or {}
    attrs = {
        key: inventory[key]
        for key in ("datasetId", "instrumentName", "productId", "workflowName", "workflowVersion")
        if isinstance(inventory.get(key), str)
    }
    attrs["asdf"] = str(asdf_path)
    data = xr.Variable(dims, array, {"units": unit} if unit else {})
    return xr.Dataset({"data": data}, coords=coords, attrs=attrs)


def open_intermediate(path: str | Path):
    """A calibration product file as an ``xarray.Dataset`` (labelled HDF5 or FITS image)."""
    return open_as_xarray(path)


register_opener(".asdf", l1_dataset)
