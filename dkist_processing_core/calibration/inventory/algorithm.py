"""The header-derived inventories of a Level 1 dataset: dataset inventory and frame inventory.

* The **frame inventory** has one record per L1 frame: its file name, size,
  FITS DATASUM, the SPEC-0214 provenance keys (recipe run, recipe, recipe
  instance, input dataset parts, workflow name and version, calibration code
  version, manual processing flag, dataset and product ids, documentation
  links) and the full header as JSON.
* The **dataset inventory** record is built by ``dkist-inventory``'s
  ``extract_inventory`` (the same function the DKIST data center uses): the
  dataset's extent in time, wavelength and helioprojective space (computed from
  the dataset's gwcs at every edge pixel), instrument, proposal, experiment,
  sampling, AO and light-level distributions and the documentation URLs. We add
  the frame count and a quality summary.

The records are the typed products of :mod:`dkist_processing_core.calibration.outputs`;
:class:`~dkist_processing_core.calibration.inventory.task.MakeDatasetInventory`
writes them as JSON beside the frames for the data center to register.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from dkist_processing_core.calibration.asdf.spectral import correct_spectral_reference
from dkist_processing_core.calibration.outputs import (
    PROVENANCE_KEYS,
    DatasetInventory,
    FrameRecord,
)

__all__ = [
    "dataset_inventory",
    "find_image_hdu",
    "find_image_hdu_on_disk",
    "frame_inventory",
    "header_to_json",
    "jsonable",
    "read_frame_header",
]

_SKIP_CARDS = {"COMMENT", "HISTORY", ""}


def jsonable(value: Any) -> Any:
    """Turn numpy scalars/arrays, tuples and non-finite floats into plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, fits.card.Undefined):
        return None
    return value


def find_image_hdu(hdul: fits.HDUList) -> int:
    """Index of the first HDU holding an image (1 for tile-compressed L1 frames)."""
    for index, hdu in enumerate(hdul):
        if isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)) and hdu.header.get(
            "NAXIS", 0
        ):
            return index
    raise ValueError(f"{hdul.filename()}: no HDU holds an image (expected an L1 frame)")


def read_frame_header(path: str | Path) -> tuple[int, fits.Header]:
    """The image HDU index and its header (for a compressed frame: the image header)."""
    with fits.open(path) as hdul:
        index = find_image_hdu(hdul)
        return index, hdul[index].header.copy()


def header_to_json(header: fits.Header) -> dict[str, Any]:
    """A FITS header as a JSON-able dict (commentary cards dropped)."""
    return {k: jsonable(v) for k, v in header.items() if k not in _SKIP_CARDS}


def _object_key(path: Path, root: Path | None) -> str:
    return path.relative_to(root).as_posix() if root else path.name


def frame_inventory(
    paths: Sequence[str | Path],
    *,
    root: str | Path | None = None,
    headers: Sequence[fits.Header] | None = None,
) -> list[FrameRecord]:
    """One :class:`FrameRecord` per frame, in the order given.

    ``root``: object keys are paths relative to it (default: file names).
    ``headers``: the frames' image headers if already read.
    """
    root = Path(root) if root else None
    records = []
    for i, path in enumerate(map(Path, paths)):
        header = headers[i] if headers is not None else read_frame_header(path)[1]
        with fits.open(path, disable_image_compression=True) as hdul:
            datasum = hdul[find_image_hdu_on_disk(hdul)].header.get("DATASUM")
        missing = [k for k in ("DSETID", "INSTRUME", "DATE-BEG") if k not in header]
        if missing:
            raise ValueError(
                f"{path}: L1 header lacks {', '.join(missing)} (SPEC-0214 requires them)"
            )
        records.append(
            FrameRecord(
                object_key=_object_key(path, root),
                dataset_id=str(header["DSETID"]),
                instrument=str(header["INSTRUME"]),
                date_beg=str(header["DATE-BEG"]),
                stokes=str(header.get("STOKES", "I")),
                size_bytes=path.stat().st_size,
                datasum=None if datasum is None else str(datasum),
                provenance={k: jsonable(header[k]) for k in PROVENANCE_KEYS if k in header},
                header=header_to_json(header),
            )
        )
    return records


def find_image_hdu_on_disk(hdul: fits.HDUList) -> int:
    """Like :func:`find_image_hdu` for a file opened with compression disabled."""
    for index, hdu in enumerate(hdul):
        if hdu.header.get("ZIMAGE") or (index and hdu.header.get("XTENSION") == "IMAGE"):
            return index
    return 0


def dataset_inventory(
    paths: Sequence[str | Path],
    *,
    headers: Sequence[fits.Header] | None = None,
    quality_summary: Mapping[str, Any] | None = None,
    extra_inventory: Mapping[str, Any] | None = None,
) -> DatasetInventory:
    """The dataset inventory record of a folder's worth of L1 frames.

    Uses ``dkist_inventory.inventory.extract_inventory`` over a
    ``dkist_inventory.header_parsing.HeaderParser`` of the headers; the extents in
    time, wavelength and space come from the dataset's gwcs evaluated at all edge
    pixels. All frames must belong to one dataset (one DSETID).
    """
    from dkist_inventory.header_parsing import HeaderParser
    from dkist_inventory.inventory import extract_inventory
    from dkist_inventory.transforms import TransformBuilder

    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("dataset_inventory: no frames given (expected the L1 frames of a dataset)")
    if headers is None:
        headers = [read_frame_header(p)[1] for p in paths]
    dataset_ids = sorted({str(h.get("DSETID")) for h in headers})
    if len(dataset_ids) != 1:
        raise ValueError(
            f"frames belong to several datasets (DSETID values {dataset_ids}); expected one"
        )
    parser = HeaderParser.from_headers(
        [dict(h) for h in headers], filenames=[str(p) for p in paths]
    )
    builder = None
    if len(parser.group_mosaic_tiles()) == 1:
        # One tile: give extract_inventory a builder whose wavelength axis is corrected.
        builder = TransformBuilder(parser)
        correct_spectral_reference(builder.transform, headers[0])
    record = jsonable(
        dict(extract_inventory(parser, transform_builder=builder, **dict(extra_inventory or {})))
    )
    if not record.get("hasSpectralAxis"):
        # An imager's dataset (VBI) has no wavelength axis: its pass band is WAVEMIN..WAVEMAX.
        # dkist-inventory 1.11 means to do this for VBI, but compares the list
        # _get_unique(INSTRUME) with "VBI", never equal, and falls back to int(LINEWAV)
        # (430.52 nm -> 430). Taken from the headers here, as dkist-inventory intends.
        lows = [float(h["WAVEMIN"]) for h in headers if "WAVEMIN" in h]
        highs = [float(h["WAVEMAX"]) for h in headers if "WAVEMAX" in h]
        if lows and highs:
            record["wavelengthMin"], record["wavelengthMax"] = min(lows), max(highs)
    record["frameCount"] = len(paths)
    size = sum(p.stat().st_size for p in paths)
    return DatasetInventory(
        dataset_id=record["datasetId"],
        product_id=record.get("productId"),
        instrument=record["instrumentName"],
        proposal_id=record["primaryProposalId"],
        experiment_id=record["primaryExperimentId"],
        start_time=record["startTime"],
        end_time=record["endTime"],
        wavelength_min_nm=record["wavelengthMin"],
        wavelength_max_nm=record["wavelengthMax"],
        bounding_box_arcsec=record["boundingBox"],
        stokes_parameters=record["stokesParameters"],
        frame_count=len(paths),
        dataset_size_bytes=size,
        quality=jsonable(dict(quality_summary)) if quality_summary else None,
        record=record,
    )
