"""A small simulated L1 dataset and its dataset products, made by the real product tasks.

Shared by the calibration tests of the product tasks and the catalog tests (which
package what the tasks made, as the data center does after a workflow).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.calibration.outputs import DATASET_PRODUCTS, L1_FRAMES
from dkist_processing_core.framework import (
    LocalExecutor,
    ParameterValue,
    RunReport,
    RunSpec,
    Scratch,
)
from dkist_processing_core.simulate.l1_dataset import (
    SimulatedL1Dataset,
    write_simulated_l1_dataset,
)

PRODUCTS_WORKFLOW = "dkist_processing_core.calibration.dataset_products:dataset_products_workflow"
PARAMETER_VALUES = [
    ParameterValue(id=1, name="dark_rejection_sigma", value=None),
    ParameterValue(id=2, name="l1_quantize_level", value=16.0),
    ParameterValue(id=3, name="browse_movie_max_size", value=2048),
]


def simulated_l1_dataset(folder: Path) -> SimulatedL1Dataset:
    """A polarimetric ViSP-like L1 dataset: 2 maps x 2 raster steps x 4 Stokes = 16 frames."""
    return write_simulated_l1_dataset(folder, detector_shape=(32, 64), noise_sigma=5.0)


@dataclass
class L1Products:
    scratch_dir: Path
    frames: list[Path]
    products: dict[str, Path]
    report: RunReport


def make_products(frame_paths: list[Path], scratch_dir: Path) -> L1Products:
    """Copy the frames into a scratch as a run's L1 output and run the product tasks on them."""
    with Scratch(scratch_dir, writer="WriteL1Frames") as scratch:
        for path in frame_paths:
            target = scratch.path_for(path.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            scratch.add(target, [t.OUTPUT, t.L1])
    spec = RunSpec(
        recipe_run_id=1,
        workflow=PRODUCTS_WORKFLOW,
        scratch_dir=scratch_dir,
        parameters=PARAMETER_VALUES,
    )
    report = LocalExecutor().run(spec)
    with Scratch(scratch_dir) as scratch:
        frames = scratch.find(*L1_FRAMES)
        products = {p.kind: scratch.find_one(*p.tags) for p in DATASET_PRODUCTS}
    return L1Products(scratch_dir, frames, products, report)
