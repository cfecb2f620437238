"""DKIST's frame-kind rules, time order and indices within their counts, on the checking module.

These cases need no files: :func:`validate_frames` takes what the door read of each frame.
"""

from __future__ import annotations

import pytest

from dkist_processing_core.calibration import keywords as kw
from dkist_processing_core.calibration.input.validation import (
    FRAME_KIND,
    INDEX_RANGE,
    FrameFacts,
    KeywordRule,
    validate_frames,
)

ALL = ("DARK", "LAMP_GAIN", "SOLAR_GAIN", "POLCAL", "OBSERVE")


def header(**extra) -> dict:
    values = {
        "NAXIS1": 4,
        "NAXIS2": 4,
        "DATE-OBS": "2024-05-02T17:00:00.000",
        kw.IP_TASK: "gain",
        kw.OP_TASK: "gain",
        kw.OP_RUN_ID: "op_gain",
        kw.EXPOSURE_TIME_MS: 2.0,
    }
    values.update(extra)
    return values


@pytest.mark.parametrize(
    ("level3", "lamp", "kind"),
    [
        ("lamp", "on", "LAMP_GAIN"),
        ("clear", "off", "SOLAR_GAIN"),
        ("clear", "none", "SOLAR_GAIN"),
        ("clear", "undefined", "SOLAR_GAIN"),
    ],
)
def test_gain_kind_follows_dkists_rule(level3, lamp, kind):
    h = header(**{kw.GOS_LAMP_LEVEL: level3, kw.GOS_LAMP_STATUS: lamp})
    assert kw.frame_task_type(h) == kind
    result = validate_frames([FrameFacts("/raw/g.fits", h)], frame_kinds=ALL)
    assert result.problems == []
    assert result.kinds == {"/raw/g.fits": kind}


@pytest.mark.parametrize(
    ("level3", "lamp"), [("undefined", "on"), ("lamp", "off"), ("lamp", "none")]
)
def test_a_gain_neither_lamp_nor_solar_is_refused_naming_both_keywords(level3, lamp):
    h = header(**{kw.GOS_LAMP_LEVEL: level3, kw.GOS_LAMP_STATUS: lamp})
    with pytest.raises(ValueError, match="neither a lamp gain"):
        kw.frame_task_type(h)
    result = validate_frames([FrameFacts("/raw/g.fits", h)], frame_kinds=ALL)
    [problem] = result.problems
    assert problem.check == FRAME_KIND
    assert problem.keyword == "PAC__002"
    assert problem.found == f"{level3!r} with PAC__003 = {lamp!r}"
    assert "PAC__003 = 'on'" in problem.expected
    assert result.kinds == {}


def test_a_gain_without_the_lamp_status_is_refused():
    h = header(**{kw.GOS_LAMP_LEVEL: "lamp"})
    [problem] = validate_frames([FrameFacts("/raw/g.fits", h)], frame_kinds=ALL).problems
    assert (problem.check, problem.keyword) == ("missing keyword", kw.GOS_LAMP_STATUS)


def test_observation_time_prefers_date_beg():
    assert kw.observation_time({"DATE-OBS": "a", "DATE-BEG": "b"}) == "b"
    assert kw.observation_time({"DATE-OBS": "a"}) == "a"
    with pytest.raises(KeyError, match="neither DATE-BEG nor DATE-OBS"):
        kw.observation_time({})


@pytest.mark.parametrize(
    ("step", "ok"), [(1, True), (3, True), (0, False), (4, False), (412345, False)]
)
def test_a_vbi_step_beyond_its_count_is_refused(step, ok):
    rule = KeywordRule(kw.VBI_CURRENT_STEP, kinds=("OBSERVE",), count_key=kw.VBI_NUMBER_OF_STEPS)
    h = header(
        **{kw.IP_TASK: "observe", kw.OP_TASK: "observe", kw.VBI_CURRENT_STEP: step,
           kw.VBI_NUMBER_OF_STEPS: 3}
    )  # fmt: skip
    problems = validate_frames(
        [FrameFacts("/raw/o.fits", h)], frame_kinds=ALL, rules=[rule]
    ).problems
    if ok:
        assert problems == []
    else:
        [problem] = problems
        assert (problem.check, problem.keyword, problem.found) == (
            INDEX_RANGE,
            "VBI__004",
            str(step),
        )
        assert problem.expected == "1..3 (VBI__003 = 3)"


def test_a_modulator_state_beyond_its_count_is_refused():
    rule = KeywordRule(kw.VISP_CURRENT_STATE, count_key=kw.VISP_NUMBER_OF_STATES)
    h = header(**{kw.GOS_LAMP_LEVEL: "clear", kw.GOS_LAMP_STATUS: "off",
                  kw.VISP_CURRENT_STATE: 11, kw.VISP_NUMBER_OF_STATES: 10})  # fmt: skip
    [problem] = validate_frames(
        [FrameFacts("/raw/o.fits", h)], frame_kinds=ALL, rules=[rule]
    ).problems
    assert (problem.check, problem.keyword, problem.expected) == (
        INDEX_RANGE, "VISP_011", "1..10 (VISP_010 = 10)"
    )  # fmt: skip
