"""NaN and inf pixels follow the stated policy, never an unnamed error.

Policy (see :mod:`dkist_processing_core.calibration.input.validation`): counted per frame at
the door; any in a calibration frame, or more than ``input_max_nonfinite_fraction`` of an
observe frame, refuse the frame (file and count named); fewer are NaN in the L1 frames and
counted in the ``INPUT_NONFINITE`` document.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.framework import Scratch, execute_task
from dkist_processing_core.framework.executors.base import load_workflow
from dkist_processing_core.simulate.faults import non_finite_pixels

PIXELS = 32 * 32  # the tiny VBI tile


@pytest.mark.parametrize(
    ("task_type", "nan", "inf"),
    [("DARK", 1, 0), ("SOLAR_GAIN", 0, 1), ("SOLAR_GAIN", 2, 2)],
    ids=["nan-in-dark", "inf-in-gain", "both-in-gain"],
)
def test_any_in_a_calibration_frame_is_refused(vbi_case, task_type, nan, inf):
    path = non_finite_pixels(vbi_case.path(task_type), nan=nan, inf=inf)
    error = vbi_case.fail()
    assert (
        f"{path}: non-finite pixels: {nan} NaN and {inf} inf of {PIXELS} pixels; expected none "
        f"in a {task_type} frame (it would mask the pixel in every L1 frame)"
    ) in error
    vbi_case.restore(path)
    vbi_case.succeed()


def test_more_than_the_threshold_in_an_observe_frame_is_refused(vbi_case):
    path = non_finite_pixels(vbi_case.path("OBSERVE", 1), nan=15, inf=5)
    error = vbi_case.fail()
    assert (
        f"{path}: non-finite pixels: 15 NaN and 5 inf of {PIXELS} pixels (1.953%); expected at "
        "most 1.000% (parameter input_max_nonfinite_fraction)"
    ) in error
    # Adjusting the plan (a larger threshold for this run) lets the frame through.
    vbi_case.parameters["input_max_nonfinite_fraction"] = 0.05
    vbi_case.succeed()


def test_fewer_are_nan_in_l1_and_counted(vbi_case):
    """Below the threshold the frame is calibrated: its bad pixels are NaN in its L1 frame."""
    path = non_finite_pixels(vbi_case.path("OBSERVE", 2), nan=3, inf=2)
    vbi_case.succeed()
    with Scratch(vbi_case.scratch_dir) as scratch:
        report = Scratch.read_json(scratch.find_one(t.INPUT_NONFINITE))
    assert report["max_fraction"] == 0.01
    assert report["frames"] == [
        {
            "path": str(path),
            "frame_id": vbi_case.entry(path)["frame_id"],
            "nan": 3,
            "inf": 2,
            "pixels": PIXELS,
            "fraction": 5 / PIXELS,
        }
    ]
    # Calibrate and write L1 (the tasks before the L1 writer, then the writer).
    spec = vbi_case.spec()
    order = load_workflow(spec).task_order
    writer = next(name for name in order if "WriteL1" in name)
    for name in order[1 : order.index(writer) + 1]:
        record = execute_task(spec, name)
        assert record.status == "succeeded", f"{name}: {record.error}"
    with Scratch(vbi_case.scratch_dir) as scratch:
        l1_files = scratch.find(t.OUTPUT, t.L1)
    nan_counts = []
    for l1 in l1_files:
        with fits.open(l1) as hdul:
            hdu = hdul[1]
            nan_counts.append(int(np.count_nonzero(np.isnan(hdu.data))))
            assert np.isfinite(hdu.header["DATAMEAN"])  # statistics ignore the masked pixels
    assert sorted(nan_counts) == [0] * (len(l1_files) - 1) + [5]
