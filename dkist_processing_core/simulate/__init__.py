"""Simulated raw DKIST frames (SPEC-0122 headers) from a known truth.

``simulate_visp`` (slit spectropolarimeter) and ``simulate_vbi`` (imager) write an observation
(darks, gains, polcals, science) with its truth and transfer manifest; ``iter_visp_frames`` /
``iter_vbi_frames`` produce the same frames lazily, one at a time, for benchmarks at real size.
"""

from dkist_processing_core.calibration.keywords import calibration_unit_angles, frame_task_type
from dkist_processing_core.simulate.observation import (
    FrameRecord,
    SimulatedFrame,
    SimulatedObservation,
    SimulationTruth,
)
from dkist_processing_core.simulate.vbi import (
    VbiConfig,
    VbiModel,
    iter_vbi_frames,
    simulate_vbi,
    single_filter,
)
from dkist_processing_core.simulate.visp import (
    VispConfig,
    VispModel,
    iter_visp_frames,
    read_frame,
    simulate_visp,
)

__all__ = [
    "FrameRecord",
    "SimulatedFrame",
    "SimulatedObservation",
    "SimulationTruth",
    "VbiConfig",
    "VbiModel",
    "VispConfig",
    "VispModel",
    "calibration_unit_angles",
    "frame_task_type",
    "iter_vbi_frames",
    "iter_visp_frames",
    "read_frame",
    "simulate_vbi",
    "simulate_visp",
    "single_filter",
]
