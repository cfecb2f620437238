"""The task that brings an input dataset's raw frames into a run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import ClassVar

from astropy.io import fits

from ...framework import Parameter, Task
from .. import keywords as kw
from .. import tags as t
from . import dataset as ds
from .frames import InputFrameError, data_digest, inspect_frame, keyword
from .layout import axis_layout
from .validation import (
    MISSING_PARAMETER,
    UNREADABLE,
    FrameFacts,
    InputProblem,
    InputValidationError,
    KeywordRule,
    ValidationResult,
    validate_frames,
)

ALL_KINDS = (t.DARK, t.LAMP_GAIN, t.SOLAR_GAIN, t.POLCAL, t.OBSERVE)
# A polcal step ends where the telescope moves by more than this between consecutive frames.
GEOMETRY_TOLERANCE_DEG = 0.5


def _wrapped(difference_deg: float) -> float:
    """An angle difference brought into [-180, 180) degrees."""
    return (difference_deg + 180.0) % 360.0 - 180.0


class ParseInputData(Task):
    """Check the input dataset's raw frames at the door, then index them by what each frame is.

    Algorithm
    ---------
    Every frame listed in the input dataset document is checked before any calibration
    (see :mod:`~dkist_processing_core.calibration.input.validation` for each check):
    readable and complete, CHECKSUM/DATASUM as computed, the SPEC-0122 keywords parsing
    reads present and of the specification's type (strictly: ``1.5`` is not an int), its
    OP run id ``ID___008`` and OP task ``DKIST003`` those the input dataset lists it
    under, no two frames the same exposure (same frame id, same data, or same DATE-OBS
    and instrument state), indices within their declared counts, one frame shape. All
    problems of the dataset are collected and the run stops with one
    :class:`~dkist_processing_core.calibration.input.validation.InputValidationError`
    listing them, one per line, each naming the file, the check, the keyword, the value
    found and what was expected.

    Non-finite pixels follow a stated policy: counted per frame; any in a calibration
    frame, or more than the fraction ``input_max_nonfinite_fraction`` of an observe
    frame, refuse the frame; fewer are NaN in the L1 frames and counted in the
    ``INPUT_NONFINITE`` document.

    A frame that passes is tagged with what calibration selects it by:

    - its kind, from the IP task type ``DKIST004`` (``dark``, ``gain``, ``polcal``,
      ``observe``); a gain frame is a *lamp gain* when the GOS lamp is in the beam and lit
      (``PAC__002 = 'lamp'`` and ``PAC__003 = 'on'``) and a *solar gain* when the lamp stage
      is clear (``PAC__002 = 'clear'``), DKIST's rule; any other gain frame (``'undefined'``,
      a lamp in the beam but off) is refused;
    - its exposure time ``CAM__004`` (ms);
    - the instrument's own selectors (modulator state, scan step, mosaic tile,
      wavelength), added by the instrument's subclass, which declares the keywords it
      reads as ``keyword_rules``;
    - for polcal frames, the calibration-unit state (the step of the polcal sequence):
      in time order (``DATE-OBS``), consecutive frames with the same polarizer and
      retarder angles (``PAC__004`` to ``PAC__007``) and a telescope geometry
      (``TELEVATN``, ``TAZIMUTH``, ``TTBLANGL``) within 0.5 degree of the previous
      frame's share a state index; the state's geometry is the mean of its frames'.
      A *clear* step (polarizer and retarder ``'clear'``) is a state like any other, with
      no angles;
    - a polcal frame taken with the dark shutter closed (``PAC__008 = 'DarkShutter'``, the
      dark steps of DKIST's polcal sequences) is not a calibration-unit state: it is tagged
      ``TASK_POLCAL_DARK`` instead of ``TASK_POLCAL``, so it is left out of the polcal fit
      (the polcal frames are dark-corrected with the dark OP's frames of their exposure
      time), and needs no unit angles, geometry or step.

    Each frame's pixel axes are read from its own header (``NAXISn``, ``CTYPEn``), never
    assumed: a frame with a spectral axis (``AWAV``, ``WAVE``, ...) is read with wavelength
    along the columns and the slit along the rows, an image with longitude (``HPLN``) along
    the columns and latitude (``HPLT``) along the rows, whichever FITS axis the file puts
    them on (see :mod:`~dkist_processing_core.calibration.input.layout`); the header's WCS
    cards are renumbered with the data, so every later header describes the data it goes
    with. The frames of a dataset share one axis layout and one shape; an instrument names
    the axes its frames must declare (``required_axes``), and calibration frames must match
    the observe frames' setup (the instrument's ``match`` keywords, a dark for every
    exposure time of the kinds in ``dark_for``, and for each keyword in ``gain_for``, e.g.
    ``WAVELNTH``, a gain frame of each gain kind the workflow processes with every value
    the observe frames have).

    Frames are not copied: the scratch index points at them where they are. The check
    reads headers only, plus the data bytes astropy reads to verify the checksums (and the
    pixels of frames stored as floats, to count NaN and inf).

    Inputs
    ------
    The input dataset of the run (its ``frames``, each with its ``path``, ``frame_id``,
    ``op_run_id`` and ``frame_kind``; ``observe_op_run_id`` and ``calibration_op_run_ids``
    where the data center gives them), and the raw FITS frames it lists.

    Outputs
    -------
    Each raw frame indexed with ``INPUT``, ``FRAME``, ``TASK_<kind>``,
    ``EXP_TIME_<ms>`` and the instrument's tags; an ``INPUT_SUMMARY`` JSON document
    with the frame shape and the number of frames of each kind; an ``INPUT_NONFINITE``
    JSON document with the accepted frames that hold NaN or inf pixels and their counts.

    Parameters
    ----------
    input_max_nonfinite_fraction
        The largest fraction of an observe frame's pixels that may be NaN or inf.

    Keywords the shared parsing reads (each instrument's page lists its own):

    ====================  ==============================================  =====================
    keyword               use                                             SPEC-0122
    ====================  ==============================================  =====================
    NAXIS, NAXISn         frame shape; which axes are the image           required
    BITPIX, BLANK         whether pixels are decoded to count NaN/inf     BITPIX required,
                                                                          BLANK optional
    CHECKSUM, DATASUM     verified as the file is read; duplicate data    optional
    CTYPEn                pixel axes (spectral, longitude, latitude)      required
    DKIST004              frame kind (IP task type)                       required
    DKIST003              frame kind as the input dataset lists it        required
    ID___008              OP run the frame belongs to                     required
    CAM__004              exposure time (selects the dark)                required
    DATE-OBS              time order (polcal steps, VBI frames); one      required
                          exposure per DATE-OBS
    DATE-BEG              time order, read before DATE-OBS if present     not in SPEC-0122
                                                                          (SPEC-0214's name)
    PAC__002, PAC__003    lamp gain or solar gain (DKIST's rule)          required
    PAC__004 - PAC__007   polcal: polarizer and retarder in/out, angles   required
    PAC__008              polcal: 'DarkShutter' marks a dark step, not    required
                          a calibration-unit state (``POLCAL_DARK``)
    TELEVATN, TAZIMUTH,   polcal: telescope geometry of each step         optional (or supplied
    TTBLANGL                                                              by the input dataset)
    ====================  ==============================================  =====================

    What the headers cannot tell, the input dataset can supply per frame (an entry's
    ``supplied``, by name): ``calibration_unit_step`` (the polcal sequence step; given for
    every polcal frame or none, it replaces the inference above) and
    ``telescope_geometry_deg`` (``[elevation, azimuth, coude table angle]``). A polcal frame
    whose header lacks the telescope geometry (optional in SPEC-0122) and has neither is
    refused with a message naming both fields.

    Limitations
    -----------
    The checks read headers, plus the data of float frames (non-finite pixels) and what the
    reader already verifies (checksums); they cannot see a frame whose header is consistent but
    whose pixels are wrong (a saturated or mis-exposed frame). What SPEC-0122 does not record
    is not checked: a polcal sequence's calibration-unit step is inferred from the unit's angles
    and the telescope geometry in time order, unless the input dataset supplies it. Two
    consecutive steps with the same angles at the same geometry are one step to the inference.
    """

    frame_kinds: ClassVar[tuple[str, ...]] = ALL_KINDS
    # The instrument's keywords: which kinds need them, their type, indices and counts.
    keyword_rules: ClassVar[tuple[KeywordRule, ...]] = ()
    # The roles of the two image axes every frame must declare in its CTYPEn (any order);
    # None: any (see calibration.input.layout).
    required_axes: ClassVar[tuple[str, ...] | None] = None
    # The kinds whose exposure times need dark frames of the same exposure time.
    dark_for: ClassVar[tuple[str, ...]] = ()
    # The keywords whose observe values need gain frames of the same value (each gain kind).
    gain_for: ClassVar[tuple[str, ...]] = ()
    writes = (
        *((t.INPUT, t.FRAME, t.task(kind)) for kind in (*ALL_KINDS, t.POLCAL_DARK)),
        (t.INPUT_SUMMARY,),
        (t.INPUT_NONFINITE,),
    )
    parameters = (
        Parameter(
            "input_max_nonfinite_fraction",
            "float",
            default=0.01,
            minimum=0.0,
            maximum=1.0,
            unit="fraction of a frame's pixels",
            description="an observe frame with more NaN or inf pixels is refused; fewer are NaN in L1",
        ),
    )

    def instrument_tags(self, header: fits.Header, path: Path, kind: str) -> list[str]:
        """Tags the instrument adds (modulator state, scan step, ...); none by default."""
        return []

    def validate(self) -> tuple[list[FrameFacts], ValidationResult]:
        """Every frame read at the door and checked; raises if any frame has a problem."""
        given = set(self.context.parameters)
        missing = [
            InputProblem(
                "run parameters",
                MISSING_PARAMETER,
                name,
                "no value",
                "a value: the workflow's tasks declare it (the recipe's default, or the run's own)",
            )
            for name in self.context.declared_parameters
            if name not in given
        ]
        if missing:
            raise InputValidationError(missing)
        document = self.context.input_dataset
        entries = ds.dataset_frames(document)
        facts = []
        for i, entry in enumerate(self.progress(entries, description="checking input frames")):
            try:
                path = ds.frame_path(entry)
            except ValueError:
                found = f"entry {i} ({ds.frame_id(entry) or 'no frame id'}) has no path"
                problem = InputProblem("input dataset", UNREADABLE, "path", found, "a path")
                facts.append(FrameFacts(f"input dataset entry {i}", None, problems=[problem]))
                continue
            f = inspect_frame(path)
            f.frame_id = ds.frame_id(entry)
            f.op_run_id = ds.frame_op_run_id(entry)
            f.frame_kind = ds.frame_kind(entry)
            f.supplied = ds.frame_supplied(entry)
            facts.append(f)
        result = validate_frames(
            facts,
            frame_kinds=self.frame_kinds,
            rules=self.keyword_rules,
            declared_op_run_ids=ds.declared_op_run_ids(document),
            observe_op_run_id=ds.observe_op_run_id(document),
            max_nonfinite_fraction=self.parameter("input_max_nonfinite_fraction"),
            same_data=lambda a, b: data_digest(a) == data_digest(b),
            required_axes=self.required_axes,
            dark_for=self.dark_for,
            gain_for=self.gain_for,
        )
        if result.problems:
            raise InputValidationError(result.problems)
        return facts, result

    def run(self) -> None:
        facts, result = self.validate()  # every frame checked; all problems reported at once
        shape: tuple[int, int] | None = None
        counts: Counter[str] = Counter()
        polcal: list[tuple[str, tuple, tuple, Path, list[str]]] = []
        with self.scratch.batch():
            for f in self.progress(facts, description="indexing input frames"):
                path, header, kind = Path(f.path), f.header, result.kinds[f.path]
                if kind == t.POLCAL and kw.dark_shutter(header):
                    kind = t.POLCAL_DARK  # a dark step of the sequence: not in the fit
                shape = axis_layout(header).shape  # (rows, columns) in the algorithm layout
                exposure = keyword(header, kw.EXPOSURE_TIME_MS, path, float)
                frame_tags = [t.INPUT, t.FRAME, t.task(kind), t.exposure_time(exposure)]
                frame_tags += self.instrument_tags(header, path, kind)
                counts[kind] += 1
                if kind == t.POLCAL:
                    supplied_geometry = f.supplied.get("telescope_geometry_deg")
                    try:
                        angles = kw.calibration_unit_angles(header)
                        geometry = (
                            tuple(float(g) for g in supplied_geometry)
                            if supplied_geometry is not None
                            else kw.telescope_geometry(header)
                        )
                        date = kw.observation_time(header)
                    except (KeyError, ValueError) as e:
                        raise InputFrameError(f"{path}: {e.args[0]}") from None
                    step = f.supplied.get("calibration_unit_step")
                    polcal.append((date, angles, geometry, path, frame_tags, step))
                    continue
                self.scratch.add(path, frame_tags)
            polcal_states = self._polcal_states(polcal)
        summary = {
            "frame_shape": list(shape),
            "frame_counts": dict(sorted(counts.items())),
            "polcal_states": polcal_states,
        }
        self.scratch.write_json(summary, [t.INPUT_SUMMARY], "input_summary")
        nonfinite = {
            "policy": "observe frames with at most max_fraction of NaN/inf pixels are kept, "
            "those pixels NaN in L1; more, or any in a calibration frame, refuse the frame",
            "max_fraction": self.parameter("input_max_nonfinite_fraction"),
            "frames": result.nonfinite,
        }
        self.scratch.write_json(nonfinite, [t.INPUT_NONFINITE], "input_nonfinite")
        if result.nonfinite:
            self.logger.warning(
                "%d observe frame(s) hold NaN or inf pixels, kept as NaN: %s",
                len(result.nonfinite),
                ", ".join(f"{r['path']} ({r['nan'] + r['inf']})" for r in result.nonfinite[:5]),
            )
        self.logger.info("indexed %d frames: %s", sum(counts.values()), dict(counts))

    def _polcal_states(self, polcal: list) -> list[dict]:
        """Tag polcal frames with their sequence step; the steps' angles and mean geometry.

        The steps the input dataset supplies (``calibration_unit_step``) where it gives them
        (for every polcal frame: the checks refuse a partial list), else inferred from the
        headers (:func:`polcal_steps`).
        """
        frames = [(date, angles, geometry) for date, angles, geometry, *_ in polcal]
        given = [p[5] for p in polcal]
        if polcal and all(g is not None for g in given):
            steps, states = supplied_polcal_steps(frames, given, [str(p[3]) for p in polcal])
        else:
            steps, states = polcal_steps(frames)
        for (_, _, _, path, frame_tags, _), k in zip(polcal, steps):
            self.scratch.add(path, [*frame_tags, t.calibration_unit_state(k)])
        return states


def polcal_steps(frames: list[tuple[str, tuple, tuple]]) -> tuple[list[int], list[dict]]:
    """The polcal sequence's steps from its frames' ``(DATE-OBS, unit angles, geometry)``.

    In time order, a new step starts where the unit's angles change or the telescope moves by
    more than :data:`GEOMETRY_TOLERANCE_DEG` from the previous frame. Returns each frame's step
    (in the given order) and each step's angles and mean geometry (azimuths may cross 0/360).
    """
    order = sorted(range(len(frames)), key=lambda i: frames[i][0])
    step_of = [0] * len(frames)
    states: list[dict] = []
    firsts: list[tuple] = []  # each state's first geometry; the mean is taken around it
    sums: list[list[float]] = []
    previous, last = None, None
    for i in order:
        _, angles, geometry = frames[i]
        moved = last is not None and any(
            abs(_wrapped(a - b)) > GEOMETRY_TOLERANCE_DEG for a, b in zip(geometry, last)
        )
        last = geometry
        if angles != previous or moved:
            states.append(
                {"state": len(states), "polarizer_angle_deg": angles[0],
                 "retarder_angle_deg": angles[1]}
            )  # fmt: skip
            firsts.append(geometry)
            sums.append([0.0, 0.0, 0.0, 0.0])
            previous = angles
        total = sums[-1]
        for j, value in enumerate(geometry):
            total[j] += _wrapped(value - firsts[-1][j])
        total[3] += 1
        step_of[i] = len(states) - 1
    for state, first, (el, az, ta, n) in zip(states, firsts, sums):
        state.update(
            elevation_deg=first[0] + el / n,
            azimuth_deg=(first[1] + az / n) % 360.0,
            table_angle_deg=(first[2] + ta / n) % 360.0,
        )
    return step_of, states


def supplied_polcal_steps(
    frames: list[tuple[str, tuple, tuple]], given: list[int], paths: list[str]
) -> tuple[list[int], list[dict]]:
    """The polcal sequence's steps as the input dataset gives them (``calibration_unit_step``).

    Steps are numbered 0.. in increasing order of the given values; each step's angles must be
    the same for all its frames (the header's ``PAC__004`` to ``PAC__007``), its geometry is
    the mean of its frames' (azimuths may cross 0/360).
    """
    order = sorted(set(given))
    step_of = [order.index(g) for g in given]
    states: list[dict] = []
    for k, value in enumerate(order):
        members = [i for i, s in enumerate(step_of) if s == k]
        angles = {frames[i][1] for i in members}
        if len(angles) > 1:
            shown = ", ".join(f"{paths[i]}: {frames[i][1]}" for i in members[:4])
            raise InputFrameError(
                f"the input dataset gives calibration_unit_step {value} to polcal frames of "
                f"different calibration-unit angles ({shown}); expected one step per "
                "polarizer and retarder setting"
            )
        first = frames[members[0]][2]
        means = [
            (first[j] + sum(_wrapped(frames[i][2][j] - first[j]) for i in members) / len(members))
            for j in range(3)
        ]
        polarizer, retarder = frames[members[0]][1]
        states.append(
            {"state": k, "polarizer_angle_deg": polarizer, "retarder_angle_deg": retarder,
             "elevation_deg": means[0], "azimuth_deg": means[1] % 360.0,
             "table_angle_deg": means[2] % 360.0}
        )  # fmt: skip
    return step_of, states
