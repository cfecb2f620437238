"""Science calibration: from raw observe frames to calibrated intensity and Stokes frames."""

from __future__ import annotations

import numpy as np

from ...framework import Task
from .. import tags as t
from ..input.frames import read_raw_frame
from ..polcal.algorithm import demodulation_per_pixel
from ..products import dark_for, frame_shape, read_array_product, single_exposure_time
from .algorithm import calibrate_polarimetric_step, dark_gain_correct, reciprocal_gain

STOKES = ("I", "Q", "U", "V")


def write_calibrated(task: Task, data: np.ndarray, header, tags: list[str], name: str) -> None:
    """A calibrated frame: float32, the raw header of its first raw frame, 1 x ny x nx."""
    task.scratch.write_fits(
        np.asarray(data, dtype=np.float32)[None], [t.CALIBRATED, *tags], name, header=header
    )


def _modulated_frames(scratch, paths, shape, headers: list):
    """``(modulator state (0-based), raw frame)`` of a step, one at a time; headers collected."""
    for path in paths:
        m = int(next(x for x in scratch.tags_of(path) if x.startswith("MODSTATE_"))[9:])
        header, raw = read_raw_frame(path, shape)
        headers.append(header)
        yield m - 1, raw


class SpectropolarimetricScienceCalibration(Task):
    r"""Calibrate each scan step of a slit spectropolarimeter into Stokes I, Q, U, V.

    Algorithm
    ---------
    For each scan step, the raw frame :math:`R_m` of each modulator state
    :math:`m` is corrected for dark and gain,

    .. math:: C_m = (R_m - D_t) / G,

    resampled along wavelength by the spectral shift :math:`s_y` of its slit row
    (so all rows share one wavelength scale), and demodulated pixel by pixel with
    the demodulation matrix :math:`D` of the pixel's polcal bin:

    .. math:: S_i(y, \lambda) = \sum_{m=1}^{n_\mathrm{mod}} D_{im}(y, \lambda)\, C_m(y, \lambda),
              \quad i \in \{I, Q, U, V\}.

    Frames are streamed one at a time; only the four Stokes planes of the current
    step are held in memory. Every modulator state must appear once per step.

    Inputs
    ------
    Raw frames tagged ``INPUT``, ``TASK_OBSERVE``, ``STEP_<n>``, ``MODSTATE_<m>``;
    the master darks; the combined gain; the spectral shifts; the demodulation
    matrices.

    Outputs
    -------
    Four float32 frames per scan step, tagged ``CALIBRATED``, ``STEP_<n>``,
    ``STOKES_<I|Q|U|V>``, each with the header of the step's first raw frame.

    Parameters
    ----------
    None.
    """

    reads = (
        (t.INPUT, t.task(t.OBSERVE)),
        (t.INTERMEDIATE, t.task(t.DARK)),
        (t.INTERMEDIATE, t.task(t.GAIN)),
        (t.INTERMEDIATE, t.task(t.GEOMETRIC)),
        (t.INTERMEDIATE, t.task(t.DEMODULATION)),
    )
    writes = ((t.CALIBRATED,),)

    def run(self) -> None:
        scratch = self.scratch
        shape = frame_shape(scratch)
        dark = dark_for(scratch, single_exposure_time(scratch, t.OBSERVE), "the observe frames")
        inverse_gain = reciprocal_gain(
            read_array_product(scratch, t.task(t.GAIN), needed_by=self.name)
        )
        shifts = read_array_product(scratch, t.task(t.GEOMETRIC), needed_by=self.name)
        binned = read_array_product(scratch, t.task(t.DEMODULATION), needed_by=self.name)
        n_mod = binned.shape[-1]
        demodulation = demodulation_per_pixel(binned, shape)
        steps = sorted(int(s) for s in scratch.values_of("STEP_", t.INPUT, t.task(t.OBSERVE)))
        for step in self.progress(steps, description="scan steps"):
            paths = scratch.find(t.INPUT, t.task(t.OBSERVE), t.spatial_step(step))
            headers: list = []
            try:
                stokes = calibrate_polarimetric_step(
                    _modulated_frames(scratch, paths, shape, headers),
                    dark,
                    inverse_gain,
                    demodulation,
                    n_mod,
                    spectral_shifts=shifts,
                )
            except ValueError as e:
                raise ValueError(f"scan step {step}: {e}") from e
            first_header = headers[0]
            for i, name in enumerate(STOKES):
                write_calibrated(
                    self, stokes[i], first_header, [t.spatial_step(step), t.stokes(name)],
                    f"step{step:04d}_{name}",
                )  # fmt: skip


class ImagerScienceCalibration(Task):
    r"""Calibrate each frame of a filter imager: dark subtraction and gain correction.

    Algorithm
    ---------
    Each raw observe frame :math:`R` of wavelength :math:`\lambda` and exposure
    time :math:`t` becomes

    .. math:: I = (R - D_t) / G_\lambda,

    in one fused pass (no temporaries). Frames are streamed one at a time.

    Inputs
    ------
    Raw frames tagged ``INPUT``, ``TASK_OBSERVE``, ``STEP_<tile>``, ``WAVELENGTH_<nm>``,
    ``REPEAT_<k>``; the master darks; the gains per wavelength.

    Outputs
    -------
    One float32 frame per raw frame, tagged ``CALIBRATED``, ``STOKES_I``, ``STEP_<tile>``,
    ``WAVELENGTH_<nm>``, ``REPEAT_<k>``, with its raw header.

    Parameters
    ----------
    None.
    """

    reads = (
        (t.INPUT, t.task(t.OBSERVE)),
        (t.INTERMEDIATE, t.task(t.DARK)),
        (t.INTERMEDIATE, t.task(t.GAIN)),
    )
    writes = ((t.CALIBRATED, t.stokes("I")),)

    def run(self) -> None:
        scratch = self.scratch
        shape = frame_shape(scratch)
        inverse_gains: dict[str, np.ndarray] = {}
        darks: dict[str, np.ndarray] = {}
        paths = scratch.find(t.INPUT, t.task(t.OBSERVE))
        for i, path in enumerate(self.progress(paths, description="observe frames")):
            tags = scratch.tags_of(path)
            wl = next(x for x in tags if x.startswith("WAVELENGTH_"))
            exposure = next(x for x in tags if x.startswith("EXP_TIME_"))
            if wl not in inverse_gains:
                inverse_gains[wl] = reciprocal_gain(
                    read_array_product(scratch, t.task(t.GAIN), wl, needed_by=self.name)
                )
            if exposure not in darks:
                darks[exposure] = dark_for(scratch, float(exposure[9:]), str(path))
            header, raw = read_raw_frame(path, shape)
            calibrated = dark_gain_correct(raw, darks[exposure], inverse_gains[wl])
            keep = [x for x in tags if x.startswith(("STEP_", "WAVELENGTH_", "REPEAT_"))]
            write_calibrated(self, calibrated, header, [*keep, t.stokes("I")], f"frame{i:06d}")
