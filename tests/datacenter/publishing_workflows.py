"""A small workflow whose runs are publishable: L1 frames (from a simulated L1 dataset)
and the real dataset product tasks. The frames get this run's DSETID and MANPROCD, as
the real L1 writer sets them from the run spec's provenance."""

from __future__ import annotations

from pathlib import Path

from astropy.io import fits

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.calibration.dataset_products import add_dataset_product_tasks
from dkist_processing_core.framework import Task, Workflow
from dkist_processing_core.framework.atomic import atomic_write


class WriteL1Frames(Task):
    """Copy the frames of ``configuration['l1_folder']`` as this run's L1 frames."""

    writes = ((t.OUTPUT, t.L1),)

    def run(self) -> None:
        if self.configuration.get("fail_in") == self.name:
            raise ValueError(f"simulated failure in {self.name}")
        given = self.context.provenance
        for source in sorted(Path(self.configuration["l1_folder"]).glob("*.fits")):
            target = self.scratch.path_for(source.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            with fits.open(source) as hdul:
                hdul[1].header["DSETID"] = given.dataset_id
                hdul[1].header["MANPROCD"] = given.manual_processing
                hdul[1].header["RRUNID"] = self.context.recipe_run_id
                hdul[1].header["WKFLNAME"] = self.context.workflow_name
                hdul[1].header["WKFLVERS"] = self.context.workflow_version
                with atomic_write(target) as f:
                    hdul.writeto(f, checksum=True)
            self.scratch.add(target, [t.OUTPUT, t.L1])


PUBLISHABLE = Workflow("publishable", "1.0", description="L1 frames and the dataset products")
PUBLISHABLE.add(WriteL1Frames)
add_dataset_product_tasks(PUBLISHABLE, after=WriteL1Frames)

# The recipe's next version: the same tasks (a run records which version it was planned with).
PUBLISHABLE_1_1 = Workflow("publishable", "1.1", description="L1 frames and the dataset products")
PUBLISHABLE_1_1.add(WriteL1Frames)
add_dataset_product_tasks(PUBLISHABLE_1_1, after=WriteL1Frames)
