"""Simulated observations (with known truth) shared by the calibration tests, built once."""

from dataclasses import dataclass

import numpy as np
import pytest

from dkist_processing_core.calibration.dark.algorithm import average_darks_by_exposure_time
from dkist_processing_core.calibration.gain.algorithm import (
    combine_gains,
    lamp_corrected_solar,
    lamp_gain,
    solar_gain_from_corrected,
)
from dkist_processing_core.calibration.geometric.algorithm import measure_spectral_shifts
from dkist_processing_core.simulate import read_frame, simulate_vbi, simulate_visp


@pytest.fixture(scope="session")
def visp(tmp_path_factory):
    return simulate_visp(tmp_path_factory.mktemp("visp"), seed=3)


@pytest.fixture(scope="session")
def vbi(tmp_path_factory):
    return simulate_vbi(tmp_path_factory.mktemp("vbi"), seed=4)


def frames_of(observation, task_type, **filters):
    """Callable giving a fresh stream of (rows, columns) float frames: re-iterable input."""
    records = observation.select(task_type, **filters)
    assert records, f"no {task_type} frames with {filters}"
    return lambda: (read_frame(observation.path_of(r))[1] for r in records)


@pytest.fixture(scope="session", name="frames_of")
def frames_of_fixture():
    return frames_of


@dataclass
class VispCalibration:
    darks: dict
    lamp_gain: np.ndarray
    lamp_corrected_solar: np.ndarray
    spectral_shifts: np.ndarray
    solar_gain: np.ndarray
    gain: np.ndarray


@pytest.fixture(scope="session")
def visp_calibration(visp):
    truth = visp.truth
    darks = average_darks_by_exposure_time(
        (r.exposure_time_ms, read_frame(visp.path_of(r))[1]) for r in visp.select("DARK")
    )
    lamp = lamp_gain(frames_of(visp, "LAMP_GAIN"), darks[truth.lamp_exposure_ms])
    corrected = lamp_corrected_solar(
        frames_of(visp, "SOLAR_GAIN"), darks[truth.solar_exposure_ms], lamp
    )
    shifts = measure_spectral_shifts(corrected)
    solar = solar_gain_from_corrected(corrected, shifts).gain
    return VispCalibration(
        darks=darks,
        lamp_gain=lamp,
        lamp_corrected_solar=corrected,
        spectral_shifts=shifts,
        solar_gain=solar,
        gain=combine_gains(lamp, solar),
    )
