"""VBI's workflows, composed from the shared calibration tasks and VBI's own."""

from __future__ import annotations

from dkist_processing_core.calibration.dark.task import DarkCalibration
from dkist_processing_core.calibration.gain.task import ImagerGainCalibration
from dkist_processing_core.calibration.movie.task import MakeBrowseMovie
from dkist_processing_core.calibration.quality.task import AssembleQualityReport
from dkist_processing_core.calibration.science.task import ImagerScienceCalibration
from dkist_processing_core.framework import Workflow

from .tasks import VbiParseInputData, VbiWriteL1Frames

# The parameter values a notebook or the demo uses; the data center keeps its own, with ids.
DEFAULT_PARAMETER_VALUES = {
    "dark_rejection_sigma": None,
    "l1_quantize_level": 16.0,
}


def l1_calibration() -> Workflow:
    from . import __version__

    wf = Workflow(
        "l1_calibration",
        __version__,
        instrument="vbi",
        description="Raw VBI frames to Level 1 images of every mosaic tile and filter: darks, "
        "gains per filter, science calibration, L1 writing, the quality report and the browse movie.",
    )
    wf.add(VbiParseInputData)
    wf.add(DarkCalibration, upstreams=[VbiParseInputData])
    wf.add(ImagerGainCalibration, upstreams=[DarkCalibration])
    wf.add(ImagerScienceCalibration, upstreams=[ImagerGainCalibration])
    wf.add(VbiWriteL1Frames, upstreams=[ImagerScienceCalibration])
    wf.add(AssembleQualityReport, upstreams=[VbiWriteL1Frames])
    wf.add(MakeBrowseMovie, upstreams=[VbiWriteL1Frames])
    return wf
