"""The dataset ASDF file: one file that describes a whole L1 dataset.

Built with ``dkist-inventory`` (``asdf_tree_from_filenames`` and
``make_asdf_file_object``, the DKIST data center's own generator): a
``dkist.Dataset`` whose gwcs is assembled from the frames' SPEC-0214 WCS and
dataset-axis keys, whose array refers to the FITS frames by relative path, and
whose ``meta`` carries the dataset inventory record, every frame header, the
parameter values and the input frames. The file is validated against the
``dkist`` level-1 schema before it is written (atomically).

:func:`check_dataset_asdf` opens the file with the DKIST user tools
(``dkist.load_dataset``) and compares, for every frame, the world coordinates of
the dataset at that frame's pixel corners with those of the frame's own FITS WCS
(astropy), and the data read through the dataset with the frame's data.
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from pydantic import BaseModel

from dkist_processing_core.calibration.asdf.spectral import correct_gwcs
from dkist_processing_core.calibration.inventory.algorithm import dataset_inventory, find_image_hdu
from dkist_processing_core.framework.atomic import atomic_write

__all__ = ["AsdfCheck", "DatasetAsdfError", "check_dataset_asdf", "write_dataset_asdf"]


class DatasetAsdfError(ValueError):
    """The dataset ASDF disagrees with its frames."""


def _dkist_parameters(parameter_values: Sequence[Mapping[str, Any]] | None) -> list[dict]:
    """Our parameter values ``{id, name, value}`` in dkist-inventory's parameter shape."""
    by_name: dict[str, list[dict]] = {}
    for pv in parameter_values or []:
        by_name.setdefault(str(pv["name"]), []).append(
            {
                "parameterValueId": int(pv["id"]),
                "parameterValue": json.dumps(pv["value"], sort_keys=True),
                "parameterValueStartDate": pv.get("start_date"),
            }
        )
    return [{"parameterName": n, "parameterValues": v} for n, v in sorted(by_name.items())]


def write_dataset_asdf(
    frame_paths: Sequence[str | Path],
    asdf_path: str | Path,
    *,
    inventory: Mapping[str, Any] | None = None,
    parameter_values: Sequence[Mapping[str, Any]] | None = None,
    recipe_run_config: Mapping[str, Any] | None = None,
    history: Sequence[tuple[str, dict]] = (),
) -> Path:
    """Write the dataset ASDF for ``frame_paths`` to ``asdf_path``.

    The frames are referred to relative to the ASDF file's folder, so the ASDF and
    the frames travel together (the distribution package keeps them side by side).
    ``inventory``: the dataset inventory record (dkist-inventory's key names) to
    embed; generated from the headers if omitted. ``parameter_values``: list of
    ``{"id", "name", "value"}`` parameter values used by the recipe run.
    """
    from dkist_inventory.asdf_generator import asdf_tree_from_filenames, make_asdf_file_object

    asdf_path = Path(asdf_path)
    frame_paths = [Path(p).resolve() for p in frame_paths]
    if not frame_paths:
        raise ValueError(f"{asdf_path}: no frames given to describe")
    with fits.open(frame_paths[0]) as hdul:
        hdu = find_image_hdu(hdul)
        first_header = hdul[hdu].header.copy()
    if not inventory:
        inventory = dataset_inventory(frame_paths).record
    tree = asdf_tree_from_filenames(
        frame_paths,
        inventory=dict(inventory),
        hdu=hdu,
        relative_to=asdf_path.parent.resolve(),
        parameters=_dkist_parameters(parameter_values),
        recipe_run_config=dict(recipe_run_config) if recipe_run_config else None,
    )
    datasets = [tree["dataset"]]
    if hasattr(tree["dataset"], "flat"):  # a mosaic: TiledDataset
        datasets = [d for d in tree["dataset"].flat if d is not None]
    for ds in datasets:
        correct_gwcs(ds.wcs, first_header)
    with (
        make_asdf_file_object(tree, extra_history=list(history)) as afile,
        atomic_write(asdf_path) as f,
    ):
        afile.write_to(f, all_array_storage="internal", all_array_compression="zlib")
    return asdf_path


class AsdfCheck(BaseModel):
    """What :func:`check_dataset_asdf` compared, and the largest disagreements."""

    frame_count: int
    tile_count: int = 1
    dataset_shape: list[int]  # of one tile, for a mosaic
    world_axis_physical_types: list[str]
    max_spatial_error_arcsec: float
    max_wavelength_error_nm: float
    max_data_difference: float
    corners_checked: int


def _frame_world(header: fits.Header, corner: tuple[int, ...]):
    """Helioprojective lon/lat (arcsec) and wavelength (nm) of a FITS pixel, by astropy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)  # astropy's DATE/OBSGEO notes
        w = WCS(header)
    world = w.pixel_to_world_values(*corner)
    lon = lat = wave = None
    for value, ctype, unit in zip(world, w.wcs.ctype, w.wcs.cunit):
        quantity = value * u.Unit(unit)
        if ctype.startswith("HPLN"):
            lon = quantity.to_value(u.arcsec)
        elif ctype.startswith("HPLT"):
            lat = quantity.to_value(u.arcsec)
        elif ctype.startswith(("AWAV", "WAVE")):
            wave = quantity.to_value(u.nm)
    return lon, lat, wave


def _wrap_arcsec(x: float) -> float:
    return (x + 648000.0) % 1296000.0 - 648000.0


def check_dataset_asdf(
    asdf_path: str | Path,
    *,
    spatial_tolerance_arcsec: float = 1e-3,
    wavelength_tolerance_nm: float = 1e-6,
) -> AsdfCheck:
    """Load ``asdf_path`` with ``dkist.load_dataset`` and check it against its frames.

    A mosaic loads as a ``TiledDataset``; each tile is checked as a dataset of its own.
    For every frame the dataset refers to, and every corner of that frame's
    pixel grid, the dataset's world coordinates (gwcs, via the dkist user tools)
    must equal the frame's FITS WCS (astropy) within the tolerances; the data read
    through the dataset must equal the frame's data. The default tolerances are
    far below a pixel (ViSP: 0.03"/pixel, 0.001 nm/pixel) and far above float64
    rounding; the dataset gwcs is the same TAN projection as the frame WCS.
    Raises :class:`DatasetAsdfError` on disagreement.
    """
    import dkist

    asdf_path = Path(asdf_path)
    loaded = dkist.load_dataset(asdf_path)
    # A mosaic (VBI) is a TiledDataset: one Dataset per tile, each checked the same way.
    tiles = [d for d in loaded.flat if d is not None] if hasattr(loaded, "flat") else [loaded]
    max_spatial = max_wave = max_data = 0.0
    corners_checked = frame_count = 0
    for ds in tiles:
        names = np.asarray(ds.files.filenames)
        # The leading array axes enumerate files; the trailing ones are one frame.
        n_file_axes = next(
            k for k in range(ds.data.ndim + 1) if np.prod(ds.data.shape[:k]) == names.size
        )
        filenames = names.reshape(ds.data.shape[:n_file_axes])
        frame_count += int(filenames.size)
        basepath = Path(ds.files.basepath)
        world_types = list(ds.wcs.world_axis_physical_types)
        units = dict(zip(world_types, ds.wcs.world_axis_units))
        frame_ndim = ds.data.ndim - n_file_axes
        frame_shape = ds.data.shape[filenames.ndim :]
        for file_index in np.ndindex(filenames.shape):
            path = basepath / str(filenames[file_index])
            with fits.open(path) as hdul:
                image = hdul[find_image_hdu(hdul)]
                header, data = image.header, image.data
            through_dataset = np.asarray(ds.data[file_index])
            max_data = max(
                max_data, float(np.nanmax(np.abs(through_dataset - data.reshape(frame_shape))))
            )
            for corner in itertools.product(*[(0, n - 1) for n in frame_shape]):
                # dataset array index (C order) -> world, via the gwcs
                world = ds.wcs.array_index_to_world_values(*file_index, *corner)
                if len(world_types) == 1:
                    world = (world,)
                got = dict(zip(world_types, world))
                # the frame's FITS pixel: reversed array order, padded with the dummy axis
                fits_pixel = tuple(reversed(corner)) + (0,) * (header["NAXIS"] - frame_ndim)
                lon, lat, wave = _frame_world(header, fits_pixel)
                if lon is not None:
                    got_lon = (
                        got["custom:pos.helioprojective.lon"]
                        * u.Unit(units["custom:pos.helioprojective.lon"])
                    ).to_value(u.arcsec)
                    got_lat = (
                        got["custom:pos.helioprojective.lat"]
                        * u.Unit(units["custom:pos.helioprojective.lat"])
                    ).to_value(u.arcsec)
                    err = max(abs(_wrap_arcsec(got_lon - lon)), abs(_wrap_arcsec(got_lat - lat)))
                    max_spatial = max(max_spatial, err)
                if wave is not None and "em.wl" in got:
                    got_wave = (got["em.wl"] * u.Unit(units["em.wl"])).to_value(u.nm)
                    max_wave = max(max_wave, abs(got_wave - wave))
                corners_checked += 1
    ds = tiles[0]
    check = AsdfCheck(
        frame_count=frame_count,
        tile_count=len(tiles),
        dataset_shape=list(ds.data.shape),
        world_axis_physical_types=list(ds.wcs.world_axis_physical_types),
        max_spatial_error_arcsec=max_spatial,
        max_wavelength_error_nm=max_wave,
        max_data_difference=max_data,
        corners_checked=corners_checked,
    )
    problems = []
    if max_spatial > spatial_tolerance_arcsec:
        problems.append(
            f"helioprojective coordinates differ by up to {max_spatial:.3g} arcsec (tolerance {spatial_tolerance_arcsec})"
        )
    if max_wave > wavelength_tolerance_nm:
        problems.append(
            f"wavelength differs by up to {max_wave:.3g} nm (tolerance {wavelength_tolerance_nm})"
        )
    if max_data != 0.0:
        problems.append(
            f"data read through the dataset differs from the frames by up to {max_data:.3g}"
        )
    if problems:
        raise DatasetAsdfError(f"{asdf_path}: " + "; ".join(problems))
    return check
