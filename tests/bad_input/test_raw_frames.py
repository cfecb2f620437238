"""Bad raw frames are refused at the door, each problem named; a retry succeeds once fixed.

Each case damages a private copy of a tiny simulated observation (or its input dataset
document), runs the workflow's parse task and asserts the exact parts of the message
(file, check, keyword, value found, what was expected), that no frame was indexed, and
that the parse task succeeds once the cause is removed (the frame restored, or the
input dataset adjusted).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from astropy.io import fits

from dkist_processing_core.calibration import keywords as kw
from dkist_processing_core.calibration import tags as t
from dkist_processing_core.framework import Scratch
from dkist_processing_core.simulate.faults import (
    copy_frame,
    corrupt_data,
    not_fits,
    remove_keyword,
    set_keyword,
    truncate_file,
    wrong_shape,
)

from .conftest import Case


@dataclass
class Fault:
    """What a case damages (returning the message parts it expects) and how it is fixed."""

    damage: Callable[[Case], list[str]]
    fix: Callable[[Case], None] | None = None  # default: restore every damaged frame


VBI: dict[str, Fault] = {}
VISP: dict[str, Fault] = {}


def case(registry: dict[str, Fault], fix: Callable[[Case], None] | None = None):
    def register(damage):
        registry[damage.__name__] = Fault(damage, fix)
        return damage

    return register


def keyword_fault(task_type: str, key: str, value, *parts: str, index: int = 0, **filters):
    """A case that sets ``key = value`` in one frame; ``parts`` may use {path}."""

    def damage(c: Case) -> list[str]:
        path = set_keyword(c.path(task_type, index, **filters), key, value)
        c.damaged = [path]
        return [p.format(path=path) for p in parts]

    return Fault(damage)


def restore_damaged(c: Case) -> None:
    for path in c.damaged:
        c.restore(path)


def restore_document(c: Case) -> None:
    c.input_dataset = c.observation.input_dataset_document()


# -- reading ------------------------------------------------------------------------------


@case(VBI)
def truncated_in_the_data(c: Case) -> list[str]:
    path = c.path("OBSERVE")
    size = path.stat().st_size
    c.damaged = [truncate_file(path, keep_fraction=0.97)]
    return [
        f"{path}: truncated: {int(size * 0.97)} bytes; expected {size} bytes, as the header announces"
    ]


@case(VBI)
def truncated_in_the_header(c: Case) -> list[str]:
    path = c.path("DARK")
    c.damaged = [truncate_file(path, keep_fraction=0.5)]
    size = path.stat().st_size
    return [
        f"{path}: truncated: {size} bytes, the header has no END card; expected a complete FITS header"
    ]


@case(VBI)
def not_a_fits_file(c: Case) -> list[str]:
    c.damaged = [not_fits(c.path("DARK"))]
    return [f"{c.damaged[0]}: unreadable: ", "expected a readable FITS file"]


@case(VBI)
def file_missing(c: Case) -> list[str]:
    path = c.path("DARK", 1)
    path.unlink()
    c.damaged = [path]
    return [f"{path}: unreadable: FileNotFoundError", "expected a readable FITS file"]


@case(VBI)
def data_checksum_mismatch(c: Case) -> list[str]:
    path = c.path("SOLAR_GAIN", 1)
    c.damaged = [corrupt_data(path)]
    return [f"{path}: checksum: DATASUM = '", "; expected '", "', the sum of the data as read"]


# -- keywords: present, of the SPEC-0122 type, no coercion -----------------------------------


def missing(task_type: str, key: str) -> Fault:
    def damage(c: Case) -> list[str]:
        path = remove_keyword(c.path(task_type), key)
        c.damaged = [path]
        return [f"{path}: required keyword {key} is missing; expected "]

    return Fault(damage)


VBI["missing_exposure_time"] = missing("SOLAR_GAIN", kw.EXPOSURE_TIME_MS)
VBI["missing_date_obs"] = missing("DARK", "DATE-OBS")
VBI["missing_op_run_id"] = missing("OBSERVE", kw.OP_RUN_ID)
VBI["missing_ip_task"] = missing("OBSERVE", kw.IP_TASK)
VBI["missing_tile_index"] = missing("OBSERVE", kw.VBI_CURRENT_STEP)


@case(VBI)
def missing_tile_count(c: Case) -> list[str]:
    c.damaged = [remove_keyword(c.path("OBSERVE"), kw.VBI_NUMBER_OF_STEPS)]
    return [
        f"{c.damaged[0]}: required keyword {kw.VBI_NUMBER_OF_STEPS} is missing; expected int "
        f"(the count of {kw.VBI_CURRENT_STEP})"
    ]


VBI["tile_index_1.5_not_truncated"] = keyword_fault(
    "OBSERVE",
    kw.VBI_CURRENT_STEP,
    1.5,
    f"{{path}}: keyword {kw.VBI_CURRENT_STEP} = 1.5 is not a valid int",
)
VBI["tile_index_as_string"] = keyword_fault(
    "OBSERVE",
    kw.VBI_CURRENT_STEP,
    "2",
    f"{{path}}: keyword {kw.VBI_CURRENT_STEP} = '2' is not a valid int",
)
VBI["frame_number_as_bool"] = keyword_fault(
    "OBSERVE",
    kw.VBI_CURRENT_FRAME,
    True,
    f"{{path}}: keyword {kw.VBI_CURRENT_FRAME} = True is not a valid int",
)
VBI["exposure_time_as_string"] = keyword_fault(
    "DARK",
    kw.EXPOSURE_TIME_MS,
    "2.0",
    f"{{path}}: keyword {kw.EXPOSURE_TIME_MS} = '2.0' is not a valid float",
)
VBI["wavelength_as_string"] = keyword_fault(
    "OBSERVE",
    kw.WAVELENGTH_NM,
    "430.52",
    f"{{path}}: keyword {kw.WAVELENGTH_NM} = '430.52' is not a valid float",
)
VBI["op_run_id_as_number"] = keyword_fault(
    "DARK", kw.OP_RUN_ID, 17, f"{{path}}: keyword {kw.OP_RUN_ID} = 17 is not a valid str"
)
VBI["date_obs_not_a_time"] = keyword_fault(
    "OBSERVE",
    "DATE-OBS",
    "yesterday",
    "{path}: keyword value: DATE-OBS = 'yesterday'; expected an ISO time",
)
VBI["lamp_level_not_in_spec"] = keyword_fault(
    "SOLAR_GAIN", kw.GOS_LAMP_LEVEL, "bright",
    f"{{path}}: keyword value: {kw.GOS_LAMP_LEVEL} = 'bright'; expected one of 'clear', 'lamp', 'undefined'",
)  # fmt: skip

# -- frame kind and OP run: the frame belongs to the input dataset ----------------------------

VISP["lamp_gain_with_the_lamp_off"] = keyword_fault(
    "LAMP_GAIN", kw.GOS_LAMP_STATUS, "off",
    f"{{path}}: frame kind: {kw.GOS_LAMP_LEVEL} = 'lamp' with {kw.GOS_LAMP_STATUS} = 'off'; "
    f"expected a lamp gain ({kw.GOS_LAMP_LEVEL} = 'lamp' and {kw.GOS_LAMP_STATUS} = 'on') or a "
    f"solar gain ({kw.GOS_LAMP_LEVEL} = 'clear')",
)  # fmt: skip
VBI["gain_with_the_lamp_stage_undefined"] = keyword_fault(
    "SOLAR_GAIN", kw.GOS_LAMP_LEVEL, "undefined",
    f"{{path}}: frame kind: {kw.GOS_LAMP_LEVEL} = 'undefined' with {kw.GOS_LAMP_STATUS} = 'off'",
)  # fmt: skip
VBI["tile_far_beyond_its_count"] = keyword_fault(
    "OBSERVE", kw.VBI_CURRENT_STEP, 412345,
    f"{{path}}: index out of range: {kw.VBI_CURRENT_STEP} = 412345; expected 1..2 "
    f"({kw.VBI_NUMBER_OF_STEPS} = 2)",
)  # fmt: skip
VISP["modulator_state_beyond_its_count"] = keyword_fault(
    "OBSERVE", kw.VISP_CURRENT_STATE, 3,
    f"{{path}}: index out of range: {kw.VISP_CURRENT_STATE} = 3; expected 1..2 "
    f"({kw.VISP_NUMBER_OF_STATES} = 2)",
)  # fmt: skip

VBI["unknown_ip_task"] = keyword_fault(
    "OBSERVE", kw.IP_TASK, "focus",
    f"{{path}}: frame kind: {kw.IP_TASK} = 'focus'; expected one of dark, gain, polcal, observe",
)  # fmt: skip
VBI["kind_the_workflow_does_not_process"] = keyword_fault(
    "DARK", kw.IP_TASK, "polcal",
    f"{{path}}: frame kind: {kw.IP_TASK} = 'polcal'; expected a kind this workflow processes "
    "(DARK, SOLAR_GAIN, OBSERVE); this frame is POLCAL",
)  # fmt: skip
VBI["op_task_not_the_listed_kind"] = keyword_fault(
    "DARK", kw.OP_TASK, "observe",
    f"{{path}}: frame kind: {kw.OP_TASK} = 'observe'; expected 'dark', the kind the input dataset "
    "lists this frame under",
)  # fmt: skip


@case(VBI)
def op_run_not_the_listed_one(c: Case) -> list[str]:
    path = c.path("OBSERVE", 2)
    listed = c.entry(path)["op_run_id"]
    c.damaged = [set_keyword(path, kw.OP_RUN_ID, "eid_other_observe_op")]
    return [
        f"{path}: OP run: {kw.OP_RUN_ID} = 'eid_other_observe_op'; expected {listed!r}, "
        "the OP run the input dataset lists this frame under"
    ]


@case(VBI)
def frame_of_another_observe_op_run(c: Case) -> list[str]:
    # The frame and its entry both say another OP run: the dataset's declaration decides.
    path = c.path("OBSERVE", 1)
    ops = sorted(c.observation.op_runs)
    observe = next(o for o, kind in c.observation.op_runs.items() if kind == "observe")
    c.input_dataset["observe_op_run_id"] = observe
    c.input_dataset["calibration_op_run_ids"] = [o for o in ops if o != observe]
    c.entry(path)["op_run_id"] = "eid_other_observe_op"
    c.damaged = [set_keyword(path, kw.OP_RUN_ID, "eid_other_observe_op")]
    declared = ", ".join(repr(o) for o in ops)
    return [
        f"{path}: OP run: {kw.OP_RUN_ID} = 'eid_other_observe_op'; expected one of the input "
        f"dataset's OP runs: {declared}"
    ]


def _fix_other_observe_op(c: Case) -> None:
    restore_damaged(c)
    restore_document(c)


VBI["frame_of_another_observe_op_run"].fix = _fix_other_observe_op


@case(VBI, fix=_fix_other_observe_op)
def observe_frames_of_two_op_runs(c: Case) -> list[str]:
    # Without a declaration, the observe OP run of most observe frames is the dataset's.
    path = c.path("OBSERVE", 3)
    main = c.entry(path)["op_run_id"]
    c.entry(path)["op_run_id"] = "eid_other_observe_op"
    c.damaged = [set_keyword(path, kw.OP_RUN_ID, "eid_other_observe_op")]
    return [
        f"{path}: OP run: {kw.OP_RUN_ID} = 'eid_other_observe_op'; expected {main!r} like the "
        "other 3 observe frames: an input dataset holds one observe OP run"
    ]


# -- duplicates: no two frames are the same exposure --------------------------------------------


@case(VBI, fix=restore_document)
def duplicate_frame_id(c: Case) -> list[str]:
    first, second = c.path("DARK", 0), c.path("DARK", 1)
    frame_id = c.entry(first)["frame_id"]
    c.entry(second)["frame_id"] = frame_id
    return [
        f"{second}: duplicate frame id: frame_id = {frame_id!r}; expected a frame id listed once "
        f"(also given to {first})"
    ]


@case(VBI, fix=restore_document)
def file_listed_twice(c: Case) -> list[str]:
    path = c.path("SOLAR_GAIN", 0)
    c.input_dataset["frames"].append(dict(c.entry(path), frame_id="another_id"))
    return [f"{path}: duplicate file: path = '{path}'; expected each file listed once"]


def _remove_copy(c: Case) -> None:
    c.input_dataset["frames"] = [f for f in c.input_dataset["frames"] if "COPY" not in f["path"]]


@case(VBI, fix=_remove_copy)
def one_exposure_under_two_frame_ids(c: Case) -> list[str]:
    original = c.path("OBSERVE", 0)
    twin = copy_frame(original, original.with_name("COPY_" + original.name))
    c.input_dataset["frames"].append(
        dict(c.entry(original), path=str(twin), frame_id=c.entry(original)["frame_id"] + "_again")
    )
    return [
        f"{twin}: duplicate content: DATASUM = '",
        f"; expected data of its own; {original} holds the same data",
    ]


@case(VBI, fix=_remove_copy)
def same_date_obs_and_state(c: Case) -> list[str]:
    original = c.path("OBSERVE", 1)
    twin = copy_frame(original, original.with_name("COPY_" + original.name), add=1)
    c.input_dataset["frames"].append(
        dict(c.entry(original), path=str(twin), frame_id=c.entry(original)["frame_id"] + "_again")
    )
    record = c.observation.select("OBSERVE")[1]
    return [
        f"{twin}: duplicate exposure: DATE-OBS = {record.date_obs!r}; expected one OBSERVE frame "
        f"per DATE-OBS and {kw.WAVELENGTH_NM} = {record.wavelength_nm!r}, "
        f"{kw.VBI_CURRENT_STEP} = {record.spatial_step}, {kw.VBI_CURRENT_FRAME} = "
        f"{record.repeat + 1}; {original} is the same exposure"
    ]


# -- indices within their counts; one shape; a dataset with frames ------------------------------

VBI["tile_index_beyond_count"] = keyword_fault(
    "OBSERVE", kw.VBI_CURRENT_STEP, 5,
    f"{{path}}: index out of range: {kw.VBI_CURRENT_STEP} = 5; expected 1..2 ({kw.VBI_NUMBER_OF_STEPS} = 2)",
)  # fmt: skip
VBI["frame_number_zero"] = keyword_fault(
    "OBSERVE", kw.VBI_CURRENT_FRAME, 0,
    f"{{path}}: index out of range: {kw.VBI_CURRENT_FRAME} = 0; expected 1..2 ({kw.VBI_NUMBER_OF_FRAMES} = 2)",
)  # fmt: skip


@case(VBI)
def frame_of_another_shape(c: Case) -> list[str]:
    path = c.path("OBSERVE", 1)
    c.damaged = [wrong_shape(path)]
    return [
        f"{path}: frame shape: NAXIS2, NAXIS1 = (31, 31); expected (32, 32) like 7 other frame(s)"
    ]


@case(VBI, fix=restore_document)
def no_frames(c: Case) -> list[str]:
    c.input_dataset["frames"] = []
    return ["input dataset: no frames: frames = []; expected at least one frame"]


@case(VBI, fix=restore_document)
def entry_without_a_path(c: Case) -> list[str]:
    entry = c.input_dataset["frames"][1]
    del entry["path"]
    return [
        f"input dataset: unreadable: path = entry 1 ({entry['frame_id']}) has no path; "
        "expected a path"
    ]


@case(VBI)
def every_problem_reported_together(c: Case) -> list[str]:
    a = truncate_file(c.path("DARK", 0))
    b = remove_keyword(c.path("SOLAR_GAIN", 0), kw.EXPOSURE_TIME_MS)
    d = set_keyword(c.path("OBSERVE", 0), kw.VBI_CURRENT_STEP, 1.5)
    c.damaged = [a, b, d]
    return [
        "3 problem(s) in 3 raw frame(s) of the input dataset:\n",
        f"\n  {a}: truncated: ",
        f"\n  {b}: required keyword {kw.EXPOSURE_TIME_MS} is missing",
        f"\n  {d}: keyword {kw.VBI_CURRENT_STEP} = 1.5 is not a valid int",
    ]


# -- calibration setup: every observe setup has its gains ---------------------------------------


def _first_observe(c: Case) -> tuple[str, float, int]:
    """The input dataset's first observe frame, its WAVELNTH and the number of observe frames."""
    observe = [e["path"] for e in c.input_dataset["frames"] if e["frame_kind"] == "observe"]
    return observe[0], fits.getval(observe[0], kw.WAVELENGTH_NM), len(observe)


def _gains_moved_to(c: Case, kind: str, wavelength: float) -> list[Path]:
    return [
        set_keyword(c.observation.path_of(r), kw.WAVELENGTH_NM, wavelength)
        for r in c.observation.select(kind)
    ]


@case(VBI)
def observe_filter_without_solar_gains(c: Case) -> list[str]:
    # Every solar gain of another filter: the gain task would find none for the observe filter.
    c.damaged = _gains_moved_to(c, "SOLAR_GAIN", 656.28)
    path, wavelength, n = _first_observe(c)
    return [
        f"{path}: calibration setup: {kw.WAVELENGTH_NM} = {wavelength!r} (this and {n - 1} "
        f"other observe frame(s)); expected a SOLAR_GAIN frame of {kw.WAVELENGTH_NM} = "
        f"{wavelength!r}: no SOLAR_GAIN frame of that {kw.WAVELENGTH_NM} is in the input "
        "dataset (SOLAR_GAIN frames have 656.28); observe frames need a gain of their own setup"
    ]


@case(VISP)
def observe_wavelength_without_lamp_gains(c: Case) -> list[str]:
    c.damaged = _gains_moved_to(c, "LAMP_GAIN", 854.2)
    path, wavelength, _ = _first_observe(c)
    return [
        f"{path}: calibration setup: {kw.WAVELENGTH_NM} = {wavelength!r} (this and ",
        f"expected a LAMP_GAIN frame of {kw.WAVELENGTH_NM} = {wavelength!r}: no LAMP_GAIN "
        f"frame of that {kw.WAVELENGTH_NM} is in the input dataset (LAMP_GAIN frames have 854.2)",
    ]


# -- ViSP: modulator state and scan step, polcal keywords ------------------------------------

VISP["modulator_state_beyond_count"] = keyword_fault(
    "OBSERVE", kw.VISP_CURRENT_STATE, 3,
    f"{{path}}: index out of range: {kw.VISP_CURRENT_STATE} = 3; expected 1..2 "
    f"({kw.VISP_NUMBER_OF_STATES} = 2)",
)  # fmt: skip
VISP["modulator_state_1.5_not_truncated"] = keyword_fault(
    "POLCAL", kw.VISP_CURRENT_STATE, 1.5,
    f"{{path}}: keyword {kw.VISP_CURRENT_STATE} = 1.5 is not a valid int",
)  # fmt: skip
VISP["modulator_state_below_spec_range"] = keyword_fault(
    "SOLAR_GAIN", kw.VISP_CURRENT_STATE, 0,
    f"{{path}}: keyword value: {kw.VISP_CURRENT_STATE} = 0; expected >= 1",
)  # fmt: skip
VISP["scan_step_beyond_count"] = keyword_fault(
    "OBSERVE", kw.VISP_CURRENT_STEP, 2,
    f"{{path}}: index out of range: {kw.VISP_CURRENT_STEP} = 2; expected 0..1 "
    f"({kw.VISP_NUMBER_OF_STEPS} = 2)",
)  # fmt: skip
VISP["polarizer_angle_not_a_number"] = Fault(
    lambda c: keyword_fault(
        "POLCAL", kw.GOS_POLARIZER_ANGLE, "north",
        f"{{path}}: keyword value: {kw.GOS_POLARIZER_ANGLE} = 'north'; expected an angle in degrees",
        index=next(i for i, r in enumerate(c.observation.select("POLCAL")) if r.polarizer_angle_deg is not None),
    ).damage(c)
)  # fmt: skip
VISP["missing_retarder"] = missing("POLCAL", kw.GOS_RETARDER)
VISP["lamp_level_as_number"] = keyword_fault(
    "LAMP_GAIN",
    kw.GOS_LAMP_LEVEL,
    3,
    f"{{path}}: keyword {kw.GOS_LAMP_LEVEL} = 3 is not a valid str",
)


def _run(c: Case, fault: Fault) -> None:
    c.damaged = []
    parts = fault.damage(c)
    error = c.fail()
    assert error.startswith("InputValidationError: ")
    for part in filter(None, parts):
        assert part in error, f"{part!r} not in:\n{error}"
    (fault.fix or restore_damaged)(c)
    c.succeed()


@pytest.mark.parametrize("name", sorted(VBI))
def test_vbi_raw_frame(vbi_case, name):
    _run(vbi_case, VBI[name])


@pytest.mark.parametrize("name", sorted(VISP))
def test_visp_raw_frame(visp_case, name):
    _run(visp_case, VISP[name])


# -- polcal dark steps: indexed, not calibration-unit states ----------------------------------


def _polcal_states(c: Case) -> list[dict]:
    with Scratch(c.scratch_dir) as scratch:
        return scratch.read_json(scratch.find_one(t.INPUT_SUMMARY))["polcal_states"]


def test_visp_polcal_dark_steps_left_out_of_the_fit(visp_case):
    """Polcal frames with PAC__008 = 'DarkShutter' are POLCAL_DARK, not a cal-unit state."""
    c = visp_case
    c.succeed()
    states = _polcal_states(c)
    # The first step of the sequence becomes a dark step (both modulator states), one frame
    # of it without its telescope geometry: a dark step needs none.
    dark = [c.observation.path_of(r) for r in c.observation.select("POLCAL", cal_unit_state=0)]
    assert len(dark) >= 2
    for path in dark:
        set_keyword(path, kw.GOS_APERTURE, kw.DARK_SHUTTER)
    remove_keyword(dark[0], kw.TELESCOPE_ELEVATION)
    shutil.rmtree(c.scratch_dir)
    c.succeed()  # every frame indexed
    with Scratch(c.scratch_dir) as scratch:
        tagged_dark = {Path(p) for p in scratch.find(t.INPUT, t.task(t.POLCAL_DARK))}
        polcal = {Path(p) for p in scratch.find(t.INPUT, t.task(t.POLCAL))}
        stepped = {
            Path(p)
            for p in scratch.find(t.INPUT)
            if any(t.CalibrationUnitState.matches(tag) for tag in scratch.tags_of(p))
        }
    assert tagged_dark == set(dark)
    assert not tagged_dark & polcal and not tagged_dark & stepped
    assert len(polcal) == len(c.observation.select("POLCAL")) - len(dark)
    # The remaining states are the sequence's others, numbered from 0.
    expected = [{**s, "state": k} for k, s in enumerate(states[1:])]
    assert _polcal_states(c) == expected
