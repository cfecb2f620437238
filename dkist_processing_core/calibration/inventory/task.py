"""The inventory task: the dataset inventory record and the frame inventory, as JSON."""

from __future__ import annotations

import json

from ...framework import Task
from .. import tags as t
from ..quality.metrics import QualityMetrics
from .algorithm import dataset_inventory, frame_inventory, read_frame_header


class MakeDatasetInventory(Task):
    r"""Describe the Level 1 dataset and each of its frames from their headers.

    Algorithm
    ---------
    Every L1 frame's header is read once. The **frame inventory** holds one record per
    frame: its file name, size and FITS ``DATASUM``, the SPEC-0214 provenance keywords
    (``DSETID``, ``RRUNID``, ``RECIPEID``, ``WKFLNAME``, ``WKFLVERS``, ``CALVERS``,
    ``INFO_URL``, ...) and the whole header.

    The **dataset inventory** record is made by ``dkist-inventory``'s
    ``extract_inventory`` (the function the DKIST data center uses) from all headers:
    the dataset's extent in time, in wavelength and in helioprojective longitude and
    latitude (the dataset's world coordinates evaluated at every edge pixel), the
    instrument, proposal and experiment, the Stokes parameters present, and the
    documentation links. A slit spectrograph's wavelength axis is corrected for
    ``dkist-inventory``'s one-pixel offset (the wavelength at 0-based pixel 0 is
    :math:`\mathrm{CRVAL} - (\mathrm{CRPIX} - 1)\,\mathrm{CDELT}`); an imager's pass
    band is ``WAVEMIN`` to ``WAVEMAX``. The frame count, the dataset's size in bytes and
    a summary of the quality metrics (AO-locked frame count, median Fried parameter,
    median noise, polarimetric sensitivity, warning count) are added.

    All frames must belong to one dataset (one ``DSETID``).

    Inputs
    ------
    L1 frames tagged ``OUTPUT``, ``L1``; the quality data tagged ``OUTPUT``, ``QUALITY``,
    ``QUALITY_DATA``.

    Outputs
    -------
    The dataset inventory record (JSON) tagged ``OUTPUT``, ``INVENTORY``,
    ``DATASET_INVENTORY``, and the frame inventory (JSON) tagged ``OUTPUT``,
    ``INVENTORY``, ``FRAME_INVENTORY``.

    Parameters
    ----------
    None.

    Limitations
    -----------
    Everything is read from the headers: the inventory describes what the headers say,
    and checks the data only through each frame's ``DATASUM``. An imager's wavelength extent
    is its filter's pass band (``WAVEMIN`` to ``WAVEMAX``), not a measured value.
    """

    reads = ((t.OUTPUT, t.L1), (t.OUTPUT, t.QUALITY, t.QUALITY_DATA))
    writes = (
        (t.OUTPUT, t.INVENTORY, t.DATASET_INVENTORY),
        (t.OUTPUT, t.INVENTORY, t.FRAME_INVENTORY),
    )
    libraries = ("dkist-inventory",)

    def run(self) -> None:
        frames = self.scratch.find(t.OUTPUT, t.L1)
        quality = QualityMetrics.model_validate_json(
            self.scratch.find_one(t.OUTPUT, t.QUALITY, t.QUALITY_DATA).read_text()
        )
        headers = [read_frame_header(p)[1] for p in frames]
        records = frame_inventory(frames, headers=headers)
        inventory = dataset_inventory(frames, headers=headers, quality_summary=quality.summary())
        self.scratch.write_bytes(
            inventory.model_dump_json(indent=1).encode(),
            [t.OUTPUT, t.INVENTORY, t.DATASET_INVENTORY],
            "dataset_inventory.json",
        )
        self.scratch.write_bytes(
            json.dumps([r.model_dump(mode="json") for r in records], indent=1).encode(),
            [t.OUTPUT, t.INVENTORY, t.FRAME_INVENTORY],
            "frame_inventory.json",
        )
        self.logger.info(
            "inventory of dataset %s: %d frames, %s to %s",
            inventory.dataset_id,
            inventory.frame_count,
            inventory.start_time,
            inventory.end_time,
        )
