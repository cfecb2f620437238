"""What the headers cannot tell, supplied through the input dataset; its absence named.

SPEC-0122 lists the telescope geometry (TELEVATN, TAZIMUTH, TTBLANGL) as optional. Without
it, a polcal frame's calibration-unit step cannot be inferred from its header: the run
stops with a message naming the frame and the input dataset fields that would supply it,
and succeeds once the input dataset supplies them.
"""

from __future__ import annotations

from dkist_processing_core.calibration import keywords as kw
from dkist_processing_core.calibration import tags as t
from dkist_processing_core.framework import Scratch
from dkist_processing_core.simulate.faults import remove_keyword

from .conftest import Case


def _summary(c: Case) -> dict:
    with Scratch(c.scratch_dir) as scratch:
        return scratch.read_json(scratch.find_one(t.INPUT_SUMMARY))


def test_polcal_steps_and_geometry_supplied_through_the_input_dataset(visp_case: Case):
    c = visp_case
    c.succeed()
    inferred = _summary(c)["polcal_states"]
    polcal = c.observation.select("POLCAL")
    for record in polcal:
        remove_keyword(c.observation.path_of(record), kw.TELESCOPE_ELEVATION)
    error = c.fail()
    first = c.observation.path_of(polcal[0])
    assert (
        f"{first}: supplied value: calibration_unit_step = no value, and the header has no "
        "TELEVATN to infer it from; expected the calibration-unit step of this polcal frame: the "
        "header cannot tell it; give supplied.calibration_unit_step in its input dataset entry"
    ) in error
    assert f"{first}: supplied value: telescope_geometry_deg = no value" in error
    # Supplied: each frame's step (the simulator's calibration-unit state, numbered its own
    # way: 10 * state) and geometry.
    truth = c.observation.truth
    for record in polcal:
        entry = c.entry(c.observation.path_of(record))
        state = truth.polcal_sequence[record.cal_unit_state]
        geometry = [state["elevation_deg"], state["azimuth_deg"], state["table_angle_deg"]]
        entry["supplied"] = {
            "calibration_unit_step": 10 * record.cal_unit_state,
            "telescope_geometry_deg": geometry,
        }
    c.scratch_dir = c.scratch_dir.with_name("scratch-supplied")
    c.succeed()
    supplied = _summary(c)["polcal_states"]
    assert len(supplied) == len(inferred)
    for a, b in zip(supplied, inferred):
        assert a["polarizer_angle_deg"] == b["polarizer_angle_deg"]
        assert a["retarder_angle_deg"] == b["retarder_angle_deg"]
        for key in ("elevation_deg", "azimuth_deg", "table_angle_deg"):
            assert abs(a[key] - b[key]) < 1e-9, key


def test_steps_are_supplied_for_every_polcal_frame_or_none(visp_case: Case):
    c = visp_case
    polcal = c.observation.select("POLCAL")
    entry = c.entry(c.observation.path_of(polcal[0]))
    entry["supplied"] = {"calibration_unit_step": 0}
    error = c.fail()
    second = c.observation.path_of(polcal[1])
    assert (
        f"{second}: supplied value: calibration_unit_step = no value; expected a step like" in error
    )
    assert "steps are supplied for every polcal frame or for none" in error


def test_a_supplied_value_of_the_wrong_form_is_refused(visp_case: Case):
    c = visp_case
    path = c.observation.path_of(c.observation.select("POLCAL")[0])
    c.entry(path)["supplied"] = {"telescope_geometry_deg": [45.0, "north"]}
    error = c.fail()
    assert (
        f"{path}: supplied value: telescope_geometry_deg = [45.0, 'north']; expected "
        "[elevation, azimuth, coude table angle] in degrees"
    ) in error
