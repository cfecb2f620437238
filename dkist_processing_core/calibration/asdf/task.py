"""The dataset ASDF task."""

from __future__ import annotations

from pathlib import Path

from ...framework import Task
from .. import tags as t
from ..outputs import read_dataset_inventory
from .algorithm import write_dataset_asdf


class WriteDatasetAsdf(Task):
    r"""Write the dataset ASDF: one file that describes the whole Level 1 dataset.

    Algorithm
    ---------
    The file is made by ``dkist-inventory`` (``asdf_tree_from_filenames``, the DKIST data
    center's own generator): a ``dkist.Dataset`` whose world coordinates (a gwcs) are
    assembled from the frames' SPEC-0214 WCS and dataset-axis keywords, whose array
    refers to the L1 FITS frames by file name, and whose ``meta`` carries the dataset
    inventory record, every frame header and the run's parameter values (id, name,
    value). A slit spectrograph's linear wavelength axis is corrected for
    ``dkist-inventory``'s one-pixel offset: the wavelength at 0-based pixel 0 is
    :math:`\mathrm{CRVAL} - (\mathrm{CRPIX} - 1)\,\mathrm{CDELT}`. A mosaic (an imager's
    tiles) is a ``TiledDataset``. The tree is validated against the ``dkist`` level-1
    schema before it is written.

    The ASDF is written beside the frames (in the L1 task's folder of the scratch), so
    it loads with ``dkist.load_dataset`` where it is made, and again wherever the frames
    and the ASDF travel together (the distribution package).

    Inputs
    ------
    L1 frames tagged ``OUTPUT``, ``L1``; the dataset inventory record tagged ``OUTPUT``,
    ``INVENTORY``, ``DATASET_INVENTORY``.

    Outputs
    -------
    The dataset ASDF tagged ``OUTPUT``, ``ASDF``.

    Parameters
    ----------
    None (the parameter values of the run are recorded in the file, not used).

    Limitations
    -----------
    The ASDF refers to the frames by file name, so it must travel with them (it loads
    where the frames are beside it). The world coordinates are those the frames' SPEC-0214
    WCS keywords describe, assembled by ``dkist-inventory``; a frame whose WCS is wrong is
    described wrongly, not corrected. A VBI-like dataset is one filter: frames of several
    filters in one run are refused, not split into several datasets.
    """

    reads = ((t.OUTPUT, t.L1), (t.OUTPUT, t.INVENTORY, t.DATASET_INVENTORY))
    writes = ((t.OUTPUT, t.ASDF),)
    records_all_parameters = True  # meta lists every parameter value of the run
    libraries = ("asdf", "gwcs", "dkist-inventory")

    def run(self) -> None:
        frames = self.scratch.find(t.OUTPUT, t.L1)
        folders = sorted({str(p.parent) for p in frames})
        if len(folders) != 1:
            raise ValueError(
                f"the L1 frames lie in {len(folders)} folders {folders}; the dataset ASDF "
                "refers to its frames by file name, so expected them in one folder"
            )
        inventory = read_dataset_inventory(
            self.scratch.find_one(t.OUTPUT, t.INVENTORY, t.DATASET_INVENTORY)
        )
        record = inventory.record
        name = (
            Path(record["asdfObjectKey"]).name
            if record.get("asdfObjectKey")
            else f"{inventory.dataset_id}_metadata.asdf"
        )
        parameter_values = sorted(
            ({"id": p.id, "name": p.name, "value": p.value} for p in self.context.spec.parameters),
            key=lambda v: (v["name"], v["id"]),
        )
        path = write_dataset_asdf(
            frames,
            Path(folders[0]) / name,
            inventory=record,
            parameter_values=parameter_values,
        )
        self.scratch.add(path, [t.OUTPUT, t.ASDF])
        self.logger.info("dataset ASDF %s describes %d frames", path.name, len(frames))
