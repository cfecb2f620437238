"""Dataset products: what a workflow leaves in its scratch for the data center, typed.

Every dataset product is the tagged output of a task in the workflow (DESIGN.md):

* the L1 frames: ``OUTPUT``, ``L1``, by the instrument's L1 task;
* ``asdf``, the dataset ASDF: ``OUTPUT``, ``ASDF``, by ``WriteDatasetAsdf``;
* ``dataset_inventory`` and ``frame_inventory``: ``OUTPUT``, ``INVENTORY`` and
  ``DATASET_INVENTORY`` or ``FRAME_INVENTORY``, by ``MakeDatasetInventory``;
* ``quality_data``, ``quality_report_data`` and ``quality_report``: ``OUTPUT``,
  ``QUALITY`` and ``QUALITY_DATA``, ``QUALITY_REPORT_DATA`` or ``QUALITY_REPORT``,
  by ``AssembleQualityReport``;
* ``movie`` and ``preview``: ``OUTPUT``, ``MOVIE`` and ``BROWSE_MOVIE`` or
  ``PREVIEW``, by ``MakeBrowseMovie``.

This module is the contract between calibration and the data center: the data
center reads the product kinds and their tags (:data:`DATASET_PRODUCTS`) and the
records of the two inventories (:class:`DatasetInventory`, :class:`FrameRecord`,
read back with :func:`read_dataset_inventory` and :func:`read_frame_inventory`),
and imports nothing else of calibration. It holds no algorithm; the records are
made by :mod:`dkist_processing_core.calibration.inventory`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, TypeAdapter, ValidationError

from . import tags as t

__all__ = [
    "DATASET_PRODUCTS",
    "L1_FRAMES",
    "PROVENANCE_KEYS",
    "DatasetInventory",
    "DatasetProduct",
    "FrameRecord",
    "ProductRecordError",
    "read_dataset_inventory",
    "read_frame_inventory",
]

#: The tags of a run's Level 1 frames.
L1_FRAMES: tuple[str, ...] = (t.OUTPUT, t.L1)


class DatasetProduct(NamedTuple):
    """One kind of dataset product: its kind name, the tags that find it and who makes it."""

    kind: str
    tags: tuple[str, ...]
    made_by: str
    description: str


#: Every dataset product a workflow must leave in its scratch (besides the L1 frames), one file each.
DATASET_PRODUCTS: tuple[DatasetProduct, ...] = (
    DatasetProduct("asdf", (t.OUTPUT, t.ASDF), "WriteDatasetAsdf", "the dataset ASDF"),
    DatasetProduct(
        "dataset_inventory",
        (t.OUTPUT, t.INVENTORY, t.DATASET_INVENTORY),
        "MakeDatasetInventory",
        "the dataset inventory record (JSON)",
    ),
    DatasetProduct(
        "frame_inventory",
        (t.OUTPUT, t.INVENTORY, t.FRAME_INVENTORY),
        "MakeDatasetInventory",
        "the frame inventory (JSON)",
    ),
    DatasetProduct(
        "quality_data",
        (t.OUTPUT, t.QUALITY, t.QUALITY_DATA),
        "AssembleQualityReport",
        "the quality data (JSON)",
    ),
    DatasetProduct(
        "quality_report_data",
        (t.OUTPUT, t.QUALITY, t.QUALITY_REPORT_DATA),
        "AssembleQualityReport",
        "the quality report data (JSON)",
    ),
    DatasetProduct(
        "quality_report",
        (t.OUTPUT, t.QUALITY, t.QUALITY_REPORT),
        "AssembleQualityReport",
        "the quality report (PDF)",
    ),
    DatasetProduct(
        "movie", (t.OUTPUT, t.MOVIE, t.BROWSE_MOVIE), "MakeBrowseMovie", "the browse movie (MP4)"
    ),
    DatasetProduct(
        "preview", (t.OUTPUT, t.MOVIE, t.PREVIEW), "MakeBrowseMovie", "the movie's preview (PNG)"
    ),
)

#: SPEC-0214 keywords that say where a frame came from (dkist-fits-specifications).
PROVENANCE_KEYS = (
    "DSETID",
    "PRODUCT",
    "PROCTYPE",
    "RRUNID",
    "RECIPEID",
    "RINSTID",
    "IDSOBSID",
    "IDSCALID",
    "IDSPARID",
    "WKFLNAME",
    "WKFLVERS",
    "CALVERS",
    "HLSVERS",
    "MANPROCD",
    "INFO_URL",
    "HEAD_URL",
    "CAL_URL",
)


class ProductRecordError(ValueError):
    """A product record file that is not what its kind promises; the message names the file."""


class FrameRecord(BaseModel):
    """One L1 frame of the frame inventory.

    ``object_key`` is the frame's file name: the frames, the ASDF and the inventories lie
    side by side (in the scratch folder of the L1 task and in the distribution package).
    """

    object_key: str
    dataset_id: str
    instrument: str
    date_beg: str
    stokes: str
    size_bytes: int
    datasum: str | None
    provenance: dict[str, Any]
    header: dict[str, Any]


class DatasetInventory(BaseModel):
    """The dataset inventory record (key fields plus dkist-inventory's full record)."""

    dataset_id: str
    product_id: str | None
    instrument: str
    proposal_id: str
    experiment_id: str
    start_time: str
    end_time: str
    wavelength_min_nm: float
    wavelength_max_nm: float
    bounding_box_arcsec: list[list[float]]
    stokes_parameters: list[str]
    frame_count: int
    dataset_size_bytes: int
    quality: dict[str, Any] | None = None
    record: dict[str, Any]


_FRAME_RECORDS = TypeAdapter(list[FrameRecord])


def read_dataset_inventory(path: str | Path) -> DatasetInventory:
    """The :class:`DatasetInventory` in a JSON file written by the inventory task."""
    try:
        return DatasetInventory.model_validate_json(Path(path).read_text())
    except (OSError, ValidationError) as error:
        raise ProductRecordError(
            f"{path}: expected a dataset inventory record (JSON), got: {error}"
        ) from None


def read_frame_inventory(path: str | Path) -> list[FrameRecord]:
    """The frame inventory (a list of :class:`FrameRecord`) in a JSON file."""
    try:
        return _FRAME_RECORDS.validate_json(Path(path).read_text())
    except (OSError, ValidationError) as error:
        raise ProductRecordError(
            f"{path}: expected a frame inventory (a JSON list of frame records), got: {error}"
        ) from None
