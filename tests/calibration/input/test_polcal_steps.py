"""Polcal frames grouped into the steps of the sequence: by time, unit angles and geometry."""

import pytest

from dkist_processing_core.calibration.input.task import polcal_steps


def _frame(second: int, angles, geometry):
    return (f"2024-05-01T18:00:{second:02d}.000000", angles, geometry)


def test_same_angles_at_a_new_geometry_are_a_new_step():
    clear, polarizer = (None, None), (0.0, None)
    frames = [
        _frame(0, clear, (30.0, 100.0, 20.0)),
        _frame(1, clear, (30.0, 100.05, 20.0)),  # tracking: same step
        _frame(2, polarizer, (30.0, 100.1, 20.0)),
        _frame(3, polarizer, (30.0, 100.1, 20.0)),
        _frame(4, clear, (30.0, 100.1, 20.0)),  # the clear again, later: a step of its own
        _frame(5, clear, (50.0, 140.0, 60.0)),  # same angles, telescope moved: new step
    ]
    steps, states = polcal_steps(frames[::-1])  # any input order: time decides
    assert steps == [3, 2, 1, 1, 0, 0]
    assert [(s["polarizer_angle_deg"], s["retarder_angle_deg"]) for s in states] == [
        clear,
        polarizer,
        clear,
        clear,
    ]
    assert states[0]["azimuth_deg"] == pytest.approx(100.025)
    assert states[3]["elevation_deg"] == 50.0


def test_mean_azimuth_across_north():
    frames = [_frame(0, (0.0, 0.0), (45.0, 359.9, 10.0)), _frame(1, (0.0, 0.0), (45.0, 0.1, 10.0))]
    steps, states = polcal_steps(frames)
    assert steps == [0, 0]
    assert states[0]["azimuth_deg"] == pytest.approx(0.0, abs=1e-9) or states[0][
        "azimuth_deg"
    ] == pytest.approx(360.0)
