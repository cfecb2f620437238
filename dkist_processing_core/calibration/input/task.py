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
    - for polcal frames, the calibration-unit state: frames with the same
      polarizer and retarder angles (``PAC__004`` to ``PAC__007``) share a state index.

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
        polcal_states: dict[tuple, int] = {}
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
                    except (KeyError, ValueError) as e:
                        raise InputFrameError(f"{path}: {e.args[0]}") from None
                    state = polcal_states.setdefault(angles, len(polcal_states))
                    frame_tags.append(t.calibration_unit_state(state))
                frame_tags += self.instrument_tags(header, path, kind)
                self.scratch.add(path, frame_tags)
                counts[kind] += 1
        summary = {
            "frame_shape": list(shape),
            "frame_counts": dict(sorted(counts.items())),
            "polcal_states": [
                {"state": k, "polarizer_angle_deg": a[0], "retarder_angle_deg": a[1]}
                for a, k in sorted(polcal_states.items(), key=lambda item: item[1])
            ],
        }
        self.scratch.write_json(summary, [t.INPUT_SUMMARY], "input_summary")
        self.logger.info("indexed %d frames: %s", sum(counts.values()), dict(counts))
