"""The task that brings an input dataset's raw frames into a run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import ClassVar

from astropy.io import fits

from ...framework import Task
from .. import keywords as kw
from .. import tags as t
from .frames import InputFrameError, keyword, read_header

ALL_KINDS = (t.DARK, t.LAMP_GAIN, t.SOLAR_GAIN, t.POLCAL, t.OBSERVE)
# A polcal step ends where the telescope moves by more than this between consecutive frames.
GEOMETRY_TOLERANCE_DEG = 0.5


def _wrapped(difference_deg: float) -> float:
    """An angle difference brought into [-180, 180) degrees."""
    return (difference_deg + 180.0) % 360.0 - 180.0


class ParseInputData(Task):
    """Index the input dataset's raw frames in the run's scratch, by what each frame is.

    Algorithm
    ---------
    For every frame listed in the input dataset document, the SPEC-0122 header is
    read and checked, and the frame is tagged with what calibration selects it by:

    - its kind, from the IP task type ``DKIST004`` (``dark``, ``gain``, ``polcal``,
      ``observe``); a gain frame is a *lamp gain* when the GOS lamp is in the beam
      (``PAC__002 = 'lamp'``) and a *solar gain* otherwise;
    - its exposure time ``CAM__004`` (ms);
    - the instrument's own selectors (modulator state, scan step, mosaic tile,
      wavelength), added by the instrument's subclass;
    - for polcal frames, the calibration-unit state (the step of the polcal sequence):
      in time order (``DATE-OBS``), consecutive frames with the same polarizer and
      retarder angles (``PAC__004`` to ``PAC__007``) and a telescope geometry
      (``TELEVATN``, ``TAZIMUTH``, ``TTBLANGL``) within 0.5 degree of the previous
      frame's share a state index; the state's geometry is the mean of its frames'.

    Frames are not copied: the scratch index points at them where they are. A
    truncated file, a missing or mistyped keyword, a frame kind the workflow does
    not process, or a frame whose shape differs from the others stops the run
    with an error that names the file and the problem.

    Inputs
    ------
    The input dataset of the run (its ``frames``, each with its ``path``, ``frame_id``,
    ``op_run_id`` and ``frame_kind``), and the raw FITS frames it lists.

    Outputs
    -------
    Each raw frame indexed with ``INPUT``, ``FRAME``, ``TASK_<kind>``,
    ``EXP_TIME_<ms>`` and the instrument's tags; an ``INPUT_SUMMARY`` JSON document
    with the frame shape and the number of frames of each kind.

    Parameters
    ----------
    None.
    """

    frame_kinds: ClassVar[tuple[str, ...]] = ALL_KINDS
    writes = (
        *((t.INPUT, t.FRAME, t.task(kind)) for kind in ALL_KINDS),
        (t.INPUT_SUMMARY,),
    )

    def instrument_tags(self, header: fits.Header, path: Path, kind: str) -> list[str]:
        """Tags the instrument adds (modulator state, scan step, ...); none by default."""
        return []

    def run(self) -> None:
        frames = self.context.input_dataset.frames
        if not frames:
            raise InputFrameError("the input dataset lists no frames")
        shape: tuple[int, int] | None = None
        first_path: Path | None = None
        counts: Counter[str] = Counter()
        polcal: list[tuple[str, tuple, tuple, Path, list[str]]] = []
        with self.scratch.batch():
            for frame in self.progress(frames, description="parsing input frames"):
                if frame.path is None:
                    raise InputFrameError(
                        f"frame {frame.frame_id} of OP run {frame.op_run_id}: the input dataset "
                        "gives no path to read it from"
                    )
                path = Path(frame.path)
                header = read_header(path)
                try:
                    kind = kw.frame_task_type(header)
                except (KeyError, ValueError) as e:
                    raise InputFrameError(f"{path}: {e.args[0]}") from None
                if kind not in self.frame_kinds:
                    raise InputFrameError(
                        f"{path}: a {kind} frame, which this workflow does not process "
                        f"(it takes {', '.join(self.frame_kinds)})"
                    )
                this_shape = (
                    keyword(header, "NAXIS2", path, int),
                    keyword(header, "NAXIS1", path, int),
                )
                if shape is None:
                    shape, first_path = this_shape, path
                elif this_shape != shape:
                    raise InputFrameError(
                        f"{path}: frame shape {this_shape} differs from {shape} of {first_path}"
                    )
                exposure = keyword(header, kw.EXPOSURE_TIME_MS, path, float)
                frame_tags = [t.INPUT, t.FRAME, t.task(kind), t.exposure_time(exposure)]
                if kind == t.POLCAL:
                    try:
                        angles = kw.calibration_unit_angles(header)
                        geometry = kw.telescope_geometry(header)
                        date = str(header["DATE-OBS"])
                    except (KeyError, ValueError) as e:
                        raise InputFrameError(f"{path}: {e.args[0]}") from None
                    frame_tags += self.instrument_tags(header, path, kind)
                    polcal.append((date, angles, geometry, path, frame_tags))
                    counts[kind] += 1
                    continue
                frame_tags += self.instrument_tags(header, path, kind)
                self.scratch.add(path, frame_tags)
                counts[kind] += 1
            polcal_states = self._polcal_states(polcal)
        summary = {
            "frame_shape": list(shape),
            "frame_counts": dict(sorted(counts.items())),
            "polcal_states": polcal_states,
        }
        self.scratch.write_json(summary, [t.INPUT_SUMMARY], "input_summary")
        self.logger.info("indexed %d frames: %s", sum(counts.values()), dict(counts))

    def _polcal_states(self, polcal: list) -> list[dict]:
        """Tag polcal frames with their sequence step; the steps' angles and mean geometry."""
        steps, states = polcal_steps(
            [(date, angles, geometry) for date, angles, geometry, *_ in polcal]
        )
        for (_, _, _, path, frame_tags), k in zip(polcal, steps):
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
