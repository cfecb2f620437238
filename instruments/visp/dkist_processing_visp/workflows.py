"""ViSP's workflows, composed from the shared calibration tasks and ViSP's own."""

from __future__ import annotations

from dkist_processing_core.calibration.dark.task import DarkCalibration
from dkist_processing_core.calibration.dataset_products import add_dataset_product_tasks
from dkist_processing_core.calibration.gain.task import LampGainCalibration, SolarGainCalibration
from dkist_processing_core.calibration.geometric.task import GeometricCalibration
from dkist_processing_core.calibration.polcal.task import PolarimetricCalibration
from dkist_processing_core.calibration.science.task import SpectropolarimetricScienceCalibration
from dkist_processing_core.framework import Workflow

from .tasks import VispParseInputData, VispWriteL1Frames


def l1_calibration() -> Workflow:
    from . import __version__

    wf = Workflow(
        "l1_calibration",
        __version__,
        instrument="visp",
        description="Raw ViSP frames to Level 1 Stokes I, Q, U, V spectra: darks, lamp and solar "
        "gains, geometric (spectral shift) calibration, polarimetric calibration, science "
        "calibration, L1 writing, and the dataset products (quality report, browse movie, dataset "
        "and frame inventories, dataset ASDF).",
    )
    wf.add(VispParseInputData)
    wf.add(DarkCalibration, upstreams=[VispParseInputData])
    wf.add(LampGainCalibration, upstreams=[DarkCalibration])
    wf.add(GeometricCalibration, upstreams=[LampGainCalibration])
    wf.add(SolarGainCalibration, upstreams=[GeometricCalibration])
    wf.add(PolarimetricCalibration, upstreams=[SolarGainCalibration])
    wf.add(SpectropolarimetricScienceCalibration, upstreams=[PolarimetricCalibration])
    wf.add(VispWriteL1Frames, upstreams=[SpectropolarimetricScienceCalibration])
    # The dataset products: quality report, browse movie, inventories, dataset ASDF.
    add_dataset_product_tasks(wf, after=VispWriteL1Frames)
    return wf


# The parameter values a notebook or the demo uses: the defaults the tasks declare (the data
# center keeps its own values, with ids, starting from these).
DEFAULT_PARAMETER_VALUES = l1_calibration().default_parameter_values()
