"""Input validation at the door: every raw frame checked before any calibration.

A pure checking module: it takes what the parse task read of each frame (its header, the
input dataset's entry for it, its data checksum and its count of non-finite pixels, see
:class:`FrameFacts`) and returns every problem it finds as an :class:`InputProblem`
(file, check, keyword, value found, what was expected). The parse task raises one
:class:`InputValidationError` carrying the whole list, so an operator sees all the
problems of a dataset at once, not one per run.

The checks
----------
- *unreadable*, *truncated*, *checksum*: found by the reader (:func:`.frames.inspect_frame`).
- *missing keyword*, *keyword type*: the SPEC-0122 keywords parsing reads, present and of
  the type the specification gives (``dkist-fits-specifications``' spec122 schema),
  strictly: ``1.5`` where an int is expected is an error, never truncated; an int is
  accepted for a float.
- *keyword value*: a value outside what the specification allows (``values``,
  ``values_range``) or a DATE-OBS that is not an ISO time.
- *frame kind*: an IP task type (``DKIST004``) this workflow does not process, a gain frame
  that is neither a lamp gain (``PAC__002 = 'lamp'`` and ``PAC__003 = 'on'``) nor a solar
  gain (``PAC__002 = 'clear'``), DKIST's rule, or an OP task type (``DKIST003``) other than
  the kind the input dataset lists the frame under.
- *OP run*: the frame's OP run id (``ID___008``) is not the one the input dataset lists
  it under or not among the dataset's OP runs, or observe frames come from more than one
  observe OP run.
- *duplicate frame id*, *duplicate file*, *duplicate content*, *duplicate exposure*: two
  entries with the same frame id or path, two frames with the same data (same
  ``DATASUM``, confirmed byte for byte), or two frames of the same kind with the same
  DATE-OBS and the same instrument state (modulator state, step, ...).
- *index out of range*: an index beyond the count the header declares (e.g. modulator
  state ``VISP_011`` > number of states ``VISP_010``), for the indices the instrument's
  parse task declares (:class:`KeywordRule`).
- *frame shape*: a frame whose shape (rows x columns in the algorithm layout, see
  :mod:`.layout`) differs from the dataset's (the shape most frames have).
- *axis layout*: a frame whose image axes are not those the instrument needs (for a
  spectrograph a spectral ``CTYPEn`` and a spatial one; for an imager ``HPLN`` and
  ``HPLT``), or whose order of FITS axes differs from the dataset's (the layout most
  frames have): all frames of a dataset share one layout.
- *calibration setup*: a calibration frame whose setup differs from the observe frames'
  for a keyword the instrument declares must match (:attr:`KeywordRule.match`, e.g. the
  wavelength ``WAVELNTH``), an exposure time of a frame that needs a dark with no dark
  frame of that exposure time, or an observe setup with no gain frame of that setup: for
  each keyword the instrument lists in ``gain_for`` (e.g. ``WAVELNTH``) and each kind of
  gain the workflow processes, every value the observe frames have must be found in a gain
  frame of that kind (one problem per value, naming the first observe frame of it).
- *polcal dark steps*: a polcal frame taken with the dark shutter closed (``PAC__008 =
  'DarkShutter'``) is a dark step of the polcal sequence, not a calibration-unit state: it
  needs no unit angles, telescope geometry, step or dark of its own, and is left out of
  the polcal fit (see :func:`~dkist_processing_core.calibration.keywords.dark_shutter`).
- *supplied value*: what the input dataset supplies of a frame (``supplied``) where its
  header cannot tell: a polcal frame whose header lacks the telescope geometry
  (``TELEVATN``, ``TAZIMUTH``, ``TTBLANGL``, optional in SPEC-0122) needs
  ``telescope_geometry_deg`` and ``calibration_unit_step`` (its step cannot be inferred);
  ``calibration_unit_step`` is given for every polcal frame or for none; supplied values of
  the wrong form are refused.
- *non-finite pixels*: see the policy below.
- *missing parameter*: a parameter the workflow's tasks declare has no value in the run
  (checked by the parse task before the frames; a value of the wrong type or out of range
  is refused earlier, when the run is loaded).

Non-finite pixels
-----------------
Raw DKIST frames are integers and cannot hold NaN or inf; a frame written with float
pixels can. The policy:

- the reader counts NaN and inf pixels of every float frame at the door (integer frames
  have none, and are not read a second time);
- a calibration frame (dark, gain, polcal) with any non-finite pixel is refused: it is
  averaged into a calibration product, and its bad pixel would mask that pixel in every
  L1 frame;
- an observe frame with more than the fraction ``input_max_nonfinite_fraction`` (a
  parameter of the parse task) of its pixels non-finite is refused, with the file and the
  count named;
- an observe frame below that fraction is accepted: its non-finite pixels (inf included)
  are NaN in the calibrated data and in its L1 frames, and its counts are recorded in the
  ``INPUT_NONFINITE`` JSON document the quality report can read. The L1 statistics
  (``DATAMEAN`` ...) and the instruments' L1 keys leave NaN pixels out. What a NaN pixel
  masks in L1 follows from the calibration: the pixel itself for an imager (VBI); for a
  spectropolarimeter (ViSP) the Stokes parameters of that step at the pixel, and, as the
  geometric correction resamples each spectrum, the pixel's whole spectrum (its row).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from dkist_processing_core.framework.errors import InputError

from .. import keywords as kw
from .layout import axis_layout

# The checks, as they appear in messages.
UNREADABLE = "unreadable"
TRUNCATED = "truncated"
CHECKSUM = "checksum"
MISSING_KEYWORD = "missing keyword"
KEYWORD_TYPE = "keyword type"
KEYWORD_VALUE = "keyword value"
FRAME_KIND = "frame kind"
OP_RUN = "OP run"
DUPLICATE_FRAME_ID = "duplicate frame id"
DUPLICATE_FILE = "duplicate file"
DUPLICATE_CONTENT = "duplicate content"
DUPLICATE_EXPOSURE = "duplicate exposure"
INDEX_RANGE = "index out of range"
FRAME_SHAPE = "frame shape"
AXIS_LAYOUT = "axis layout"
SETUP = "calibration setup"
SUPPLIED = "supplied value"
NON_FINITE = "non-finite pixels"
NO_FRAMES = "no frames"
MISSING_PARAMETER = "missing parameter"

CHECKS = (
    UNREADABLE,
    TRUNCATED,
    CHECKSUM,
    MISSING_KEYWORD,
    KEYWORD_TYPE,
    KEYWORD_VALUE,
    FRAME_KIND,
    OP_RUN,
    DUPLICATE_FRAME_ID,
    DUPLICATE_FILE,
    DUPLICATE_CONTENT,
    DUPLICATE_EXPOSURE,
    INDEX_RANGE,
    FRAME_SHAPE,
    AXIS_LAYOUT,
    SETUP,
    SUPPLIED,
    NON_FINITE,
    NO_FRAMES,
    MISSING_PARAMETER,
)

# How many problems an error message lists before it only counts the rest.
MESSAGE_LIMIT = 50

CALIBRATION_KINDS = ("DARK", "LAMP_GAIN", "SOLAR_GAIN", "POLCAL")
GAIN_KINDS = ("LAMP_GAIN", "SOLAR_GAIN")


@dataclass(frozen=True)
class InputProblem:
    """One problem of one raw frame: the file, the check, the keyword, what was found and expected."""

    file: str
    check: str
    keyword: str = ""
    found: str = ""
    expected: str = ""

    def __str__(self) -> str:
        if self.check == MISSING_KEYWORD:
            return (
                f"{self.file}: required keyword {self.keyword} is missing; expected {self.expected}"
            )
        if self.check == KEYWORD_TYPE:
            return (
                f"{self.file}: keyword {self.keyword} = {self.found} is not a valid {self.expected}"
            )
        what = f"{self.keyword} = {self.found}" if self.keyword else self.found
        return f"{self.file}: {self.check}: {what}; expected {self.expected}"

    def as_dict(self) -> dict[str, str]:
        return {
            "file": self.file,
            "check": self.check,
            "keyword": self.keyword,
            "found": self.found,
            "expected": self.expected,
        }


class InputFrameError(ValueError, InputError):
    """A raw frame that cannot be used: the message names the file and the problem."""


class InputValidationError(InputFrameError):
    """The raw frames of an input dataset failed validation; ``problems`` lists every problem.

    The message lists the problems one per line (the first :data:`MESSAGE_LIMIT`, then a
    count of the rest by check).
    """

    def __init__(self, problems: Sequence[InputProblem], limit: int = MESSAGE_LIMIT):
        self.problems = list(problems)
        n_files = len({p.file for p in self.problems})
        lines = [f"{len(self.problems)} problem(s) in {n_files} raw frame(s) of the input dataset:"]
        lines += [f"  {p}" for p in self.problems[:limit]]
        rest = self.problems[limit:]
        if rest:
            by_check = Counter(p.check for p in rest)
            counted = ", ".join(f"{n} {check}" for check, n in sorted(by_check.items()))
            lines.append(f"  ... and {len(rest)} more ({counted})")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class KeywordRule:
    """A keyword parsing reads: for which frame kinds, of which type, and as what index.

    ``type`` defaults to the SPEC-0122 type. An index keyword names its ``count_key``
    (the header keyword holding the count) and its ``base`` (1 for 1..count, 0 for
    0..count-1). ``state`` keywords, with the frame kind and DATE-OBS, identify an
    exposure: two frames with the same are the same exposure.
    """

    key: str
    kinds: tuple[str, ...] | None = None  # None: every kind
    type: str | None = None
    count_key: str | None = None
    base: int = 1
    state: bool = False
    # The frames of ``kinds`` must have the observe frames' value (their setup matches).
    match: bool = False

    def applies_to(self, kind: str | None) -> bool:
        return self.kinds is None or (kind is not None and kind in self.kinds)


# What the shared parsing reads of every frame (and of some kinds).
SHARED_RULES: tuple[KeywordRule, ...] = (
    KeywordRule("NAXIS1", type="int"),
    KeywordRule("NAXIS2", type="int"),
    KeywordRule("DATE-OBS"),
    KeywordRule(kw.OP_TASK),
    KeywordRule(kw.OP_RUN_ID),
    KeywordRule(kw.EXPOSURE_TIME_MS),
    KeywordRule(kw.GOS_POLARIZER, kinds=("POLCAL",)),
    KeywordRule(kw.GOS_POLARIZER_ANGLE, kinds=("POLCAL",)),
    KeywordRule(kw.GOS_RETARDER, kinds=("POLCAL",)),
    KeywordRule(kw.GOS_RETARDER_ANGLE, kinds=("POLCAL",)),
    KeywordRule(kw.GOS_APERTURE, kinds=("POLCAL",)),
)


@dataclass
class FrameFacts:
    """What the door read of one frame, and what the input dataset says of it."""

    path: str
    header: Mapping[str, Any] | None  # None: unreadable (the reader's problem is in ``problems``)
    frame_id: str | None = None
    op_run_id: str | None = None  # as the input dataset lists it
    frame_kind: str | None = None  # the OP kind the input dataset lists it under
    datasum: str | None = None
    pixels: int = 0
    nan: int = 0
    inf: int = 0
    problems: list[InputProblem] = field(default_factory=list)  # the reader's
    supplied: dict[str, Any] = field(default_factory=dict)  # the input dataset's, by name

    @property
    def nonfinite(self) -> int:
        return self.nan + self.inf


@dataclass
class ValidationResult:
    problems: list[InputProblem]
    kinds: dict[str, str]  # path -> frame kind (DARK, ...), for frames whose kind is known
    nonfinite: list[dict[str, Any]]  # accepted frames with non-finite pixels


@cache
def _spec122() -> dict[str, Mapping[str, Any]]:
    from dkist_fits_specifications import spec122

    merged: dict[str, Mapping[str, Any]] = {}
    for section in spec122.load_spec122().values():
        merged.update(section)
    return merged


def spec_type(key: str) -> str:
    """The SPEC-0122 type of ``key`` (int, float, str or bool); str if the spec does not know it."""
    return str(_spec122().get(key, {}).get("type", "str"))


def _shown(value: Any) -> str:
    if value is None or type(value).__name__ == "Undefined":
        return "no value"
    return repr(value)


def type_matches(value: Any, kind: str) -> bool:
    """Strict SPEC-0122 typing: no coercion (an int is accepted for a float, a bool for nothing else)."""
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "float":
        return isinstance(value, int | float) and math.isfinite(value)
    if kind == "str":
        return isinstance(value, str)
    return True


def _describe_type(key: str, kind: str) -> str:
    comment = _spec122().get(key, {}).get("comment")
    return f"{kind} (SPEC-0122 {comment})" if comment else f"{kind}"


def check_keyword(path: str, header: Mapping[str, Any], rule: KeywordRule) -> list[InputProblem]:
    """Presence, strict type and allowed values of one keyword."""
    kind = rule.type or spec_type(rule.key)
    if rule.key not in header:
        return [InputProblem(path, MISSING_KEYWORD, rule.key, "", _describe_type(rule.key, kind))]
    value = header[rule.key]
    if not type_matches(value, kind):
        return [InputProblem(path, KEYWORD_TYPE, rule.key, _shown(value), kind)]
    spec = _spec122().get(rule.key, {})
    allowed = spec.get("values")
    if allowed and rule.key not in (kw.IP_TASK, kw.OP_TASK) and value not in allowed:
        expected = "one of " + ", ".join(repr(v) for v in allowed)
        return [InputProblem(path, KEYWORD_VALUE, rule.key, _shown(value), expected)]
    low = (spec.get("values_range") or [None])[0]
    if low is not None and kind in ("int", "float") and value < low:
        return [InputProblem(path, KEYWORD_VALUE, rule.key, _shown(value), f">= {low}")]
    if rule.key == "DATE-OBS":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return [InputProblem(path, KEYWORD_VALUE, rule.key, _shown(value), "an ISO time")]
    return []


def frame_kind_of(path: str, header: Mapping[str, Any]) -> tuple[str | None, list[InputProblem]]:
    """The processing kind (DARK, LAMP_GAIN, SOLAR_GAIN, POLCAL, OBSERVE) from the IP task type."""
    problems = check_keyword(path, header, KeywordRule(kw.IP_TASK))
    if problems:
        return None, problems
    ip_task = header[kw.IP_TASK].strip().lower()
    if ip_task == "gain":
        lamp_problems = check_keyword(path, header, KeywordRule(kw.GOS_LAMP_LEVEL))
        lamp_problems += check_keyword(path, header, KeywordRule(kw.GOS_LAMP_STATUS))
        if lamp_problems:
            return None, lamp_problems
        try:
            return kw.gain_kind(header), []
        except ValueError:
            found = f"{header[kw.GOS_LAMP_LEVEL]!r} with {kw.GOS_LAMP_STATUS} = {header[kw.GOS_LAMP_STATUS]!r}"
            expected = (
                f"a lamp gain ({kw.GOS_LAMP_LEVEL} = 'lamp' and {kw.GOS_LAMP_STATUS} = 'on') "
                f"or a solar gain ({kw.GOS_LAMP_LEVEL} = 'clear')"
            )
            return None, [
                InputProblem(path, FRAME_KIND, kw.GOS_LAMP_LEVEL, found, expected)
            ]  # fmt: skip
    try:
        return kw.frame_task_type(header), []
    except ValueError:
        expected = "one of dark, gain, polcal, observe"
        return None, [
            InputProblem(path, FRAME_KIND, kw.IP_TASK, _shown(header[kw.IP_TASK]), expected)
        ]


def _int_value(header: Mapping[str, Any], key: str) -> int | None:
    value = header.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def validate_frames(
    frames: Sequence[FrameFacts],
    *,
    frame_kinds: Sequence[str],
    rules: Sequence[KeywordRule] = (),
    declared_op_run_ids: set[str] | None = None,
    observe_op_run_id: str | None = None,
    max_nonfinite_fraction: float = 0.0,
    same_data: Callable[[str, str], bool] | None = None,
    required_axes: tuple[str, ...] | None = None,
    dark_for: Sequence[str] = (),
    gain_for: Sequence[str] = (),
) -> ValidationResult:
    """Every problem of the frames, in the order of the frames (then of the dataset-wide checks).

    ``rules`` are the instrument's keyword rules, checked after :data:`SHARED_RULES`.
    ``same_data(a, b)`` confirms that two frames with the same data checksum hold the same
    data (byte for byte); without it the checksum alone decides. ``required_axes`` are the
    roles (:func:`.layout.axis_role`) the image axes of every frame must have, in any order
    (e.g. ``("spectral", "spatial")``, where ``spatial`` is longitude or latitude); ``None``
    accepts any. ``dark_for`` are the kinds
    whose exposure times need dark frames of the same exposure time. ``gain_for`` are the
    keywords whose observe values need a gain frame (of each gain kind in ``frame_kinds``)
    of the same value.
    """
    problems: list[InputProblem] = []
    kinds: dict[str, str] = {}
    nonfinite: list[dict[str, Any]] = []
    if not frames:
        return ValidationResult(
            [InputProblem("input dataset", NO_FRAMES, "frames", "[]", "at least one frame")],
            kinds,
            nonfinite,
        )
    all_rules = (*SHARED_RULES, *rules)
    readable: list[FrameFacts] = []
    for f in frames:
        problems += f.problems
        if f.header is None or f.problems:
            continue
        readable.append(f)
        header, path = f.header, f.path
        kind, kind_problems = frame_kind_of(path, header)
        problems += kind_problems
        if kind is not None and kind not in frame_kinds:
            problems.append(
                InputProblem(
                    path,
                    FRAME_KIND,
                    kw.IP_TASK,
                    _shown(header[kw.IP_TASK]),
                    f"a kind this workflow processes ({', '.join(frame_kinds)}); this frame is {kind}",
                )
            )
            kind = None
        if kind is not None:
            kinds[path] = kind
        bad_keys = set()
        for rule in all_rules:
            if rule.applies_to(kind):
                found = check_keyword(path, header, rule)
                if found:
                    bad_keys.add(rule.key)
                problems += found
        polcal_state = kind == "POLCAL" and not _polcal_dark(f)
        if polcal_state and not bad_keys & {r.key for r in SHARED_RULES}:
            try:
                kw.calibration_unit_angles(header)
            except ValueError:
                for key in (kw.GOS_POLARIZER_ANGLE, kw.GOS_RETARDER_ANGLE):
                    try:
                        float(header[key])
                    except ValueError:
                        problems.append(
                            InputProblem(
                                path, KEYWORD_VALUE, key, _shown(header[key]), "an angle in degrees"
                            )
                        )
        if polcal_state:
            problems += _polcal_supplied(f)
        # Indices within their declared counts.
        for rule in all_rules:
            if rule.count_key is None or not rule.applies_to(kind) or rule.key in bad_keys:
                continue
            index, count = _int_value(header, rule.key), _int_value(header, rule.count_key)
            if index is None:
                continue
            if count is None:
                problems.append(
                    InputProblem(
                        path,
                        MISSING_KEYWORD if rule.count_key not in header else KEYWORD_TYPE,
                        rule.count_key,
                        _shown(header.get(rule.count_key)),
                        "int" if rule.count_key in header else f"int (the count of {rule.key})",
                    )
                )
                continue
            low, high = rule.base, count - 1 + rule.base
            if not low <= index <= high:
                problems.append(
                    InputProblem(
                        path,
                        INDEX_RANGE,
                        rule.key,
                        _shown(index),
                        f"{low}..{high} ({rule.count_key} = {count})",
                    )
                )
        # The input dataset's word on the frame: OP run and kind.
        op_run = header.get(kw.OP_RUN_ID)
        if isinstance(op_run, str) and kw.OP_RUN_ID not in bad_keys:
            if f.op_run_id is not None and op_run != f.op_run_id:
                problems.append(
                    InputProblem(
                        path,
                        OP_RUN,
                        kw.OP_RUN_ID,
                        _shown(op_run),
                        f"{f.op_run_id!r}, the OP run the input dataset lists this frame under",
                    )
                )
            elif declared_op_run_ids is not None and op_run not in declared_op_run_ids:
                problems.append(
                    InputProblem(
                        path,
                        OP_RUN,
                        kw.OP_RUN_ID,
                        _shown(op_run),
                        "one of the input dataset's OP runs: "
                        + ", ".join(repr(o) for o in sorted(declared_op_run_ids)),
                    )
                )
            elif (
                kind == "OBSERVE" and observe_op_run_id is not None and op_run != observe_op_run_id
            ):
                problems.append(
                    InputProblem(
                        path,
                        OP_RUN,
                        kw.OP_RUN_ID,
                        _shown(op_run),
                        f"{observe_op_run_id!r}, the input dataset's observe OP run",
                    )
                )
        op_task = header.get(kw.OP_TASK)
        if (
            f.frame_kind is not None
            and isinstance(op_task, str)
            and kw.OP_TASK not in bad_keys
            and op_task.strip().lower() != f.frame_kind
        ):
            problems.append(
                InputProblem(
                    path,
                    FRAME_KIND,
                    kw.OP_TASK,
                    _shown(op_task),
                    f"{f.frame_kind!r}, the kind the input dataset lists this frame under",
                )
            )
        # Non-finite pixels (see the module documentation for the policy).
        if f.nonfinite:
            counted = f"{f.nan} NaN and {f.inf} inf of {f.pixels} pixels"
            fraction = f.nonfinite / max(f.pixels, 1)
            if kind in CALIBRATION_KINDS:
                problems.append(
                    InputProblem(
                        path,
                        NON_FINITE,
                        "",
                        counted,
                        f"none in a {kind} frame (it would mask the pixel in every L1 frame)",
                    )
                )
            elif fraction > max_nonfinite_fraction:
                problems.append(
                    InputProblem(
                        path,
                        NON_FINITE,
                        "",
                        f"{counted} ({fraction:.3%})",
                        f"at most {max_nonfinite_fraction:.3%} (parameter "
                        "input_max_nonfinite_fraction)",
                    )
                )
            else:
                nonfinite.append(
                    {
                        "path": path,
                        "frame_id": f.frame_id,
                        "nan": f.nan,
                        "inf": f.inf,
                        "pixels": f.pixels,
                        "fraction": fraction,
                    }
                )
    flagged = {p.file for p in problems if p.check == OP_RUN}
    problems += _dataset_checks(readable, kinds, all_rules, observe_op_run_id, same_data, flagged)
    problems += _layout_checks(readable, required_axes)
    problems += _polcal_steps_all_or_none(readable, kinds)
    problems += _setup_checks(readable, kinds, all_rules, dark_for)
    problems += _gain_checks(readable, kinds, gain_for, frame_kinds)
    # One frame's problems together, frames in the input dataset's order.
    order = {f.path: i for i, f in reversed(list(enumerate(frames)))}
    problems.sort(key=lambda p: order.get(p.file, -1))
    return ValidationResult(problems, kinds, nonfinite)


def _dataset_checks(
    frames: Sequence[FrameFacts],
    kinds: Mapping[str, str],
    rules: Sequence[KeywordRule],
    observe_op_run_id: str | None,
    same_data: Callable[[str, str], bool] | None,
    op_run_flagged: set[str] = frozenset(),
) -> list[InputProblem]:
    problems: list[InputProblem] = []
    # Duplicate entries: the same frame id or the same file listed twice.
    first_by_id: dict[str, str] = {}
    seen_paths: set[str] = set()
    unique: list[FrameFacts] = []
    for f in frames:
        if f.path in seen_paths:
            problems.append(
                InputProblem(
                    f.path,
                    DUPLICATE_FILE,
                    "path",
                    repr(f.path),
                    "each file listed once in the input dataset",
                )
            )
            continue
        seen_paths.add(f.path)
        unique.append(f)
        if f.frame_id is not None:
            if f.frame_id in first_by_id:
                problems.append(
                    InputProblem(
                        f.path,
                        DUPLICATE_FRAME_ID,
                        "frame_id",
                        repr(f.frame_id),
                        f"a frame id listed once (also given to {first_by_id[f.frame_id]})",
                    )
                )
            else:
                first_by_id[f.frame_id] = f.path
    # The same data twice (one exposure delivered under two names or frame ids).
    duplicated: set[str] = set()
    by_sum: dict[str, list[FrameFacts]] = defaultdict(list)
    for f in unique:
        if f.datasum is not None:
            by_sum[f.datasum].append(f)
    for datasum, group in by_sum.items():
        for i, f in enumerate(group[1:], start=1):
            twin = next(
                (g for g in group[:i] if same_data is None or same_data(g.path, f.path)), None
            )
            if twin is not None:
                duplicated.add(f.path)
                problems.append(
                    InputProblem(
                        f.path,
                        DUPLICATE_CONTENT,
                        "DATASUM",
                        repr(datasum),
                        f"data of its own; {twin.path} holds the same data",
                    )
                )
    # The same exposure twice: same kind, DATE-OBS and instrument state.
    state_keys = [r.key for r in rules if r.state]
    first_exposure: dict[tuple, str] = {}
    for f in unique:
        kind = kinds.get(f.path)
        date_obs = f.header.get("DATE-OBS") if f.header is not None else None
        if kind is None or not isinstance(date_obs, str) or f.path in duplicated:
            continue
        state = tuple((k, f.header.get(k)) for k in state_keys if k in f.header)
        key = (kind, date_obs, state)
        if key in first_exposure:
            shown = ", ".join(f"{k} = {v!r}" for k, v in state)
            problems.append(
                InputProblem(
                    f.path,
                    DUPLICATE_EXPOSURE,
                    "DATE-OBS",
                    repr(date_obs),
                    f"one {kind} frame per DATE-OBS{' and ' + shown if shown else ''}; "
                    f"{first_exposure[key]} is the same exposure",
                )
            )
        else:
            first_exposure[key] = f.path
    # One observe OP run per dataset (when the dataset does not name it, the majority's).
    if observe_op_run_id is None:
        observe_runs = Counter(
            f.header.get(kw.OP_RUN_ID)
            for f in unique
            if kinds.get(f.path) == "OBSERVE" and isinstance(f.header.get(kw.OP_RUN_ID), str)
        )
        if len(observe_runs) > 1:
            main, n_main = observe_runs.most_common(1)[0]
            for f in unique:
                run = f.header.get(kw.OP_RUN_ID)
                if (
                    kinds.get(f.path) == "OBSERVE"
                    and isinstance(run, str)
                    and run != main
                    and f.path not in op_run_flagged
                ):
                    problems.append(
                        InputProblem(
                            f.path,
                            OP_RUN,
                            kw.OP_RUN_ID,
                            repr(run),
                            f"{main!r} like the other {n_main} observe frames: an input dataset "
                            "holds one observe OP run",
                        )
                    )
    return problems


def _majority(values: Mapping[str, Any]) -> tuple[Any, int, str]:
    """The value most frames have, how many have it, and one of them."""
    main, n_main = Counter(values.values()).most_common(1)[0]
    return main, n_main, next(p for p, v in values.items() if v == main)


def _layout_checks(
    frames: Sequence[FrameFacts], required_axes: tuple[str, ...] | None
) -> list[InputProblem]:
    """Every frame's image axes are those required, in one order, of one shape."""
    problems: list[InputProblem] = []
    layouts = {}
    for f in frames:
        if not all(type_matches(f.header.get(k), "int") for k in ("NAXIS1", "NAXIS2")):
            continue
        layout = axis_layout(f.header)
        layouts[f.path] = layout
        roles = [
            "spatial" if "spatial" in (required_axes or ()) and r in ("longitude", "latitude")
            else r
            for r in layout.roles
        ]  # fmt: skip
        if required_axes is not None and sorted(roles) != sorted(required_axes):
            keys = [f"CTYPE{layout.columns}", f"CTYPE{layout.rows}"]
            found = ", ".join(f"{k} = {f.header.get(k)!r}" for k in sorted(keys))
            problems.append(
                InputProblem(
                    f.path,
                    AXIS_LAYOUT,
                    "",
                    f"image axes {found} ({layout.description})",
                    "image axes of kinds " + " and ".join(required_axes),
                )
            )
    if not layouts:
        return problems
    signatures = {p: lay.signature for p, lay in layouts.items()}
    if len(set(signatures.values())) > 1:
        main, n_main, example = _majority(signatures)
        for path, sig in signatures.items():
            if sig != main:
                problems.append(
                    InputProblem(
                        path,
                        AXIS_LAYOUT,
                        "",
                        layouts[path].description,
                        f"{layouts[example].description} like {n_main} other frame(s) "
                        f"(e.g. {example}): one axis layout per dataset",
                    )
                )
    shapes = {p: lay.shape for p, lay in layouts.items()}
    if len(set(shapes.values())) > 1:
        main, n_main, example = _majority(shapes)
        for path, shape in shapes.items():
            if shape != main:
                problems.append(
                    InputProblem(
                        path,
                        FRAME_SHAPE,
                        "NAXIS2, NAXIS1",
                        str(shape),
                        f"{main} like {n_main} other frame(s) (e.g. {example})",
                    )
                )
    return problems


def _setup_checks(
    frames: Sequence[FrameFacts],
    kinds: Mapping[str, str],
    rules: Sequence[KeywordRule],
    dark_for: Sequence[str],
) -> list[InputProblem]:
    """Calibration frames of the observe frames' setup; a dark for every exposure time."""
    problems: list[InputProblem] = []
    observe = [f for f in frames if kinds.get(f.path) == "OBSERVE"]
    for rule in rules:
        if not rule.match:
            continue
        values = {f.path: f.header.get(rule.key) for f in observe if rule.key in f.header}
        if not values:
            continue
        wanted = set(values.values())
        for f in frames:
            kind = kinds.get(f.path)
            if kind in (None, "OBSERVE") or not rule.applies_to(kind) or rule.key not in f.header:
                continue
            if f.header[rule.key] not in wanted:
                problems.append(
                    InputProblem(
                        f.path,
                        SETUP,
                        rule.key,
                        _shown(f.header[rule.key]),
                        f"{', '.join(_shown(v) for v in sorted(wanted, key=str))}, as the observe "
                        f"frames' (a {kind} frame calibrates them only in their setup)",
                    )
                )
    darks = {f.header.get(kw.EXPOSURE_TIME_MS) for f in frames if kinds.get(f.path) == "DARK"}
    if dark_for and any(kinds.get(f.path) == "DARK" for f in frames):
        for f in frames:
            kind = kinds.get(f.path)
            exposure = f.header.get(kw.EXPOSURE_TIME_MS)
            if (
                kind in dark_for
                and isinstance(exposure, (int, float))
                and exposure not in darks
                and not _polcal_dark(f)
            ):
                shown = ", ".join(f"{d:g}" for d in sorted(d for d in darks if d is not None))
                problems.append(
                    InputProblem(
                        f.path,
                        SETUP,
                        kw.EXPOSURE_TIME_MS,
                        _shown(exposure),
                        f"an exposure time of the dark frames ({shown} ms): {kind} frames "
                        "need a dark of their own exposure time",
                    )
                )
    return problems


def _gain_checks(
    frames: Sequence[FrameFacts],
    kinds: Mapping[str, str],
    gain_for: Sequence[str],
    frame_kinds: Sequence[str],
) -> list[InputProblem]:
    """Every observe setup (the ``gain_for`` keywords) has gain frames of that setup."""
    problems: list[InputProblem] = []
    observe = [f for f in frames if kinds.get(f.path) == "OBSERVE"]
    for key in gain_for:
        first: dict[Any, FrameFacts] = {}
        count: Counter = Counter()
        for f in observe:
            value = f.header.get(key)
            if key in f.header and type_matches(value, spec_type(key)):
                first.setdefault(value, f)
                count[value] += 1
        for gain in (k for k in GAIN_KINDS if k in frame_kinds):
            have = {
                f.header.get(key) for f in frames if kinds.get(f.path) == gain and key in f.header
            }
            shown = ", ".join(_shown(v) for v in sorted(have, key=str)) or "none"
            for value, f in first.items():
                if value in have:
                    continue
                problems.append(
                    InputProblem(
                        f.path,
                        SETUP,
                        key,
                        f"{_shown(value)} (this and {count[value] - 1} other observe frame(s))",
                        f"a {gain} frame of {key} = {_shown(value)}: no {gain} frame of that "
                        f"{key} is in the input dataset ({gain} frames have {shown}); observe "
                        "frames need a gain of their own setup",
                    )
                )
    return problems


def _polcal_dark(f: FrameFacts) -> bool:
    """A polcal frame of a dark step (dark shutter closed), not a calibration-unit state."""
    return f.header is not None and kw.dark_shutter(f.header)


GEOMETRY_KEYS = (kw.TELESCOPE_ELEVATION, kw.TELESCOPE_AZIMUTH, kw.COUDE_TABLE_ANGLE)


def _polcal_supplied(f: FrameFacts) -> list[InputProblem]:
    """A polcal frame's step and geometry: from its header, else supplied, else a problem."""
    problems: list[InputProblem] = []
    step = f.supplied.get("calibration_unit_step")
    if step is not None and not type_matches(step, "int"):
        problems.append(
            InputProblem(f.path, SUPPLIED, "calibration_unit_step", _shown(step), "an int")
        )
    geometry = f.supplied.get("telescope_geometry_deg")
    if geometry is not None and not (
        isinstance(geometry, (list, tuple))
        and len(geometry) == 3
        and all(type_matches(g, "float") for g in geometry)
    ):
        problems.append(
            InputProblem(
                f.path, SUPPLIED, "telescope_geometry_deg", _shown(geometry),
                "[elevation, azimuth, coude table angle] in degrees",
            )
        )  # fmt: skip
    missing = [k for k in GEOMETRY_KEYS if not type_matches(f.header.get(k), "float")]
    if missing and geometry is None:
        problems.append(
            InputProblem(
                f.path,
                SUPPLIED,
                "telescope_geometry_deg",
                f"no value, and the header has no {', '.join(missing)} (optional in SPEC-0122)",
                "the telescope geometry of this polcal frame: supplied.telescope_geometry_deg "
                "[elevation, azimuth, coude table angle] in its input dataset entry",
            )
        )
    if missing and step is None:
        problems.append(
            InputProblem(
                f.path,
                SUPPLIED,
                "calibration_unit_step",
                f"no value, and the header has no {', '.join(missing)} to infer it from",
                "the calibration-unit step of this polcal frame: the header cannot tell it; "
                "give supplied.calibration_unit_step in its input dataset entry",
            )
        )
    return problems


def _polcal_steps_all_or_none(
    frames: Sequence[FrameFacts], kinds: Mapping[str, str]
) -> list[InputProblem]:
    polcal = [f for f in frames if kinds.get(f.path) == "POLCAL" and not _polcal_dark(f)]
    given = [f for f in polcal if "calibration_unit_step" in f.supplied]
    if not given or len(given) == len(polcal):
        return []
    return [
        InputProblem(
            f.path,
            SUPPLIED,
            "calibration_unit_step",
            "no value",
            f"a step like the {len(given)} other polcal frame(s) the input dataset gives one "
            f"(e.g. {given[0].path}): steps are supplied for every polcal frame or for none",
        )
        for f in polcal
        if "calibration_unit_step" not in f.supplied and not _missing_geometry(f)
    ]


def _missing_geometry(f: FrameFacts) -> bool:
    return any(not type_matches(f.header.get(k), "float") for k in GEOMETRY_KEYS)
