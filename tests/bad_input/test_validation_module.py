"""The pure checking module on its own: the error's list and cap, strict typing, checksum twins.

These cases need no files: :func:`validate_frames` takes what the door read of each frame.
"""

from __future__ import annotations

import pytest
from astropy.io import fits

from dkist_processing_core.calibration import keywords as kw
from dkist_processing_core.calibration.input.frames import InputFrameError, keyword
from dkist_processing_core.calibration.input.validation import (
    DUPLICATE_CONTENT,
    MESSAGE_LIMIT,
    FrameFacts,
    InputProblem,
    InputValidationError,
    validate_frames,
)


def header(**extra) -> dict:
    values = {
        "NAXIS1": 4,
        "NAXIS2": 4,
        "DATE-OBS": "2024-05-02T17:00:00.000",
        kw.IP_TASK: "dark",
        kw.OP_TASK: "dark",
        kw.OP_RUN_ID: "op_dark",
        kw.EXPOSURE_TIME_MS: 2.0,
    }
    values.update(extra)
    return values


def test_the_message_lists_every_problem_up_to_a_cap_then_counts_the_rest():
    problems = [
        InputProblem(f"/raw/f{i:03d}.fits", "missing keyword", "CAM__004", "", "float")
        for i in range(MESSAGE_LIMIT + 7)
    ] + [InputProblem("/raw/x.fits", "keyword type", "VBI__004", "1.5", "int")]
    error = InputValidationError(problems)
    lines = str(error).splitlines()
    assert (
        lines[0]
        == f"{MESSAGE_LIMIT + 8} problem(s) in {MESSAGE_LIMIT + 8} raw frame(s) of the input dataset:"
    )
    assert lines[1] == "  /raw/f000.fits: required keyword CAM__004 is missing; expected float"
    assert len(lines) == 1 + MESSAGE_LIMIT + 1
    assert lines[-1] == "  ... and 8 more (1 keyword type, 7 missing keyword)"
    assert error.problems == problems  # the whole list travels with the error


def test_a_datasum_shared_by_different_data_is_not_a_duplicate():
    # DATASUM is a 32-bit sum: in a large dataset two frames can share one by chance.
    frames = [
        FrameFacts(f"/raw/{i}.fits", header(**{"DATE-OBS": f"2024-05-02T17:00:0{i}"}), datasum="42")
        for i in range(2)
    ]
    different = validate_frames(frames, frame_kinds=("DARK",), same_data=lambda a, b: False)
    assert different.problems == []
    same = validate_frames(frames, frame_kinds=("DARK",), same_data=lambda a, b: True)
    assert [(p.file, p.check, p.found) for p in same.problems] == [
        ("/raw/1.fits", DUPLICATE_CONTENT, "'42'")
    ]


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        (1.5, int, "keyword K = 1.5 is not a valid int"),
        (True, int, "keyword K = True is not a valid int"),
        ("5", float, "keyword K = '5' is not a valid float"),
        (5, str, "keyword K = 5 is not a valid str"),
    ],
)
def test_keyword_never_coerces(value, kind, message):
    with pytest.raises(InputFrameError) as info:
        keyword(fits.Header({"K": value}), "K", "/raw/f.fits", kind)
    assert str(info.value) == f"/raw/f.fits: {message}"


def test_keyword_accepts_an_int_for_a_float():
    assert keyword(fits.Header({"K": 5}), "K", "/raw/f.fits", float) == 5.0
