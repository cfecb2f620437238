"""ViSP's workflows, composed from the shared calibration tasks and ViSP's own."""

from __future__ import annotations

from dkist_processing_core.calibration.dark.task import DarkCalibration
from dkist_processing_core.calibration.gain.task import LampGainCalibration, SolarGainCalibration
from dkist_processing_core.calibration.geometric.task import GeometricCalibration
from dkist_processing_core.calibration.movie.task import MakeBrowseMovie
from dkist_processing_core.calibration.polcal.task import PolarimetricCalibration
from dkist_processing_core.calibration.quality.task import AssembleQualityReport
from dkist_processing_core.calibration.science.task import SpectropolarimetricScienceCalibration
from dkist_processing_core.framework import Workflow

from .tasks import VispParseInputData, VispWriteL1Frames

# The parameter values a notebook or the demo uses; the data center keeps its own, with ids.
DEFAULT_PARAMETER_VALUES = {
    "dark_rejection_sigma": None,
    "geometric_max_shift_px": 5.0,
    "polcal_retarder_retardance_deg": 92.0,
    "polcal_polarizer_transmission": 1.0,
    "polcal_retarder_transmission": 1.0,
    "polcal_fit_parameters": ["retardance_deg", "polarizer_transmission", "retarder_transmission"],
    # DKIST's mirror groups M1-M2, M3-M4, M5-M6 (x: s/p amplitude ratio, t: retardance, deg).
    "polcal_telescope_mirrors": {
        "x12": 1.02,
        "t12": 172.0,
        "x34": 1.03,
        "t34": 168.0,
        "x56": 1.025,
        "t56": 163.0,
    },
    "polcal_spatial_bins": [4, 1],
    "l1_quantize_level": 16.0,
}


def l1_calibration() -> Workflow:
    from . import __version__

    wf = Workflow(
        "l1_calibration",
        __version__,
        instrument="visp",
        description="Raw ViSP frames to Level 1 Stokes I, Q, U, V spectra: darks, lamp and solar "
        "gains, geometric (spectral shift) calibration, polarimetric calibration, science "
        "calibration and L1 writing.",
    )
    wf.add(VispParseInputData)
    wf.add(DarkCalibration, upstreams=[VispParseInputData])
    wf.add(LampGainCalibration, upstreams=[DarkCalibration])
    wf.add(GeometricCalibration, upstreams=[LampGainCalibration])
    wf.add(SolarGainCalibration, upstreams=[GeometricCalibration])
    wf.add(PolarimetricCalibration, upstreams=[SolarGainCalibration])
    wf.add(SpectropolarimetricScienceCalibration, upstreams=[PolarimetricCalibration])
    wf.add(VispWriteL1Frames, upstreams=[SpectropolarimetricScienceCalibration])
    wf.add(AssembleQualityReport, upstreams=[VispWriteL1Frames])
    wf.add(MakeBrowseMovie, upstreams=[VispWriteL1Frames])
    return wf
