"""VBI's workflows, composed from the shared calibration tasks and VBI's own."""

from __future__ import annotations

from dkist_processing_core.calibration.dark.task import DarkCalibration
from dkist_processing_core.calibration.dataset_products import add_dataset_product_tasks
from dkist_processing_core.calibration.gain.task import ImagerGainCalibration
from dkist_processing_core.calibration.science.task import ImagerScienceCalibration
from dkist_processing_core.framework import Workflow

from .tasks import VbiParseInputData, VbiWriteL1Frames


def l1_calibration() -> Workflow:
    from . import __version__

    wf = Workflow(
        "l1_calibration",
        __version__,
        instrument="vbi",
        description="Raw VBI frames of one filter to Level 1 images of every mosaic tile: darks, "
        "the filter's gain, science calibration, L1 writing, and the dataset products (quality "
        "report, browse movie, dataset and frame inventories, dataset ASDF).",
    )
    wf.add(VbiParseInputData)
    wf.add(DarkCalibration, upstreams=[VbiParseInputData])
    wf.add(ImagerGainCalibration, upstreams=[DarkCalibration])
    wf.add(ImagerScienceCalibration, upstreams=[ImagerGainCalibration])
    wf.add(VbiWriteL1Frames, upstreams=[ImagerScienceCalibration])
    # The dataset products: quality report, browse movie, inventories, dataset ASDF.
    add_dataset_product_tasks(wf, after=VbiWriteL1Frames)
    return wf


# The parameter values a notebook or the demo uses: the defaults the tasks declare (the data
# center keeps its own values, with ids, starting from these).
DEFAULT_PARAMETER_VALUES = l1_calibration().default_parameter_values()
