"""Science calibration: from raw observe frames to calibrated intensity and Stokes frames."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ...framework import Scratch, Task
from ...framework.parallel import map_frames
from .. import keywords as kw
from .. import tags as t
from ..input.frames import read_raw_frame
from ..polcal.algorithm import demodulation_per_pixel
from ..polcal.model import TelescopeMirrors, telescope
from ..polcal.task import read_polcal_fit
from ..products import (
    array_product_path,
    dark_for,
    dark_path_for,
    frame_shape,
    read_array_product,
    single_exposure_time,
)
from .algorithm import (
    calibrate_polarimetric_step,
    correct_telescope_polarization,
    dark_gain_correct,
    reciprocal_gain,
)

STOKES = ("I", "Q", "U", "V")


def write_calibrated(
    task: Task, data: np.ndarray, header, tags: list[str], name: str, source=None
) -> None:
    """A calibrated frame: float32, the raw header of its first raw frame (``source``)."""
    write_calibrated_to(task.scratch, data, header, tags, name, source)


def write_calibrated_to(
    scratch: Scratch, data: np.ndarray, header, tags: list[str], name: str, source=None
):
    """:func:`write_calibrated` into a given scratch (a chunk of frames opens its own)."""
    return scratch.write_fits(
        np.asarray(data, dtype=np.float32)[None], [t.CALIBRATED, *tags], name, header=header,
        source=source,
    )  # fmt: skip


def _modulated_frames(scratch, paths, shape, headers: list):
    """``(modulator state (0-based), raw frame)`` of a step, one at a time; headers collected."""
    for path in paths:
        m = t.ModulatorState.of(scratch.tags_of(path))
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

    .. math:: S'_i(y, \lambda) = \sum_{m=1}^{n_\mathrm{mod}} D_{im}(y, \lambda)\, C_m(y, \lambda),
              \quad i \in \{I, Q, U, V\}.

    :math:`S'` is the Stokes vector entering the coudé lab. The telescope's
    polarization is then removed at the step's own geometry,

    .. math:: S = T(e, a, \tau)^{-1} S',
              \quad T = R(a - \tau)\, M_{56}\, R(-e - r_{45})\, M_{34}\,
              R(-90^\circ + r_{23})\, M_{12},

    with the telescope model and mirror parameters the polarimetric calibration used
    (see its page) and :math:`e, a, \tau` the mean elevation, azimuth and coudé table
    angle (``TELEVATN``, ``TAZIMUTH``, ``TTBLANGL``) of the step's raw frames. Limits:
    the geometry changes little during one step (its mean stands for all its frames);
    the mirror parameters are those of the telescope calibration, not fitted here.

    Frames are streamed one at a time; only the four Stokes planes of the current
    step are held in memory. Every modulator state must appear once per step.

    Inputs
    ------
    Raw frames tagged ``INPUT``, ``TASK_OBSERVE``, ``STEP_<n>``, ``MODSTATE_<m>``;
    the master darks; the combined gain; the spectral shifts; the demodulation
    matrices; the polcal fit document (telescope mirror parameters).

    Outputs
    -------
    Four float32 frames per scan step, tagged ``CALIBRATED``, ``STEP_<n>``,
    ``STOKES_<I|Q|U|V>``, each with the header of the step's first raw frame.

    Parameters
    ----------
    None.

    Limitations
    -----------
    One beam only: the dual-beam combination that cancels seeing-induced
    crosstalk in DKIST's polarimeters is not modelled, so intensity-to-polarization
    crosstalk from seeing during a modulation cycle remains. The modulation is
    assumed constant within each polcal bin; the telescope's own polarization is
    corrected only as far as the polarimetric calibration models it (see that task's
    page). The cubic-spline resampling along wavelength correlates the noise of
    neighbouring wavelength pixels slightly.
    """

    reads = (
        (t.INPUT, t.task(t.OBSERVE)),
        (t.INTERMEDIATE, t.task(t.DARK)),
        (t.INTERMEDIATE, t.task(t.GAIN)),
        (t.INTERMEDIATE, t.task(t.GEOMETRIC)),
        (t.INTERMEDIATE, t.task(t.DEMODULATION)),
        (t.INTERMEDIATE, t.task(t.POLCAL)),
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
        fit = read_polcal_fit(scratch)
        mirrors = TelescopeMirrors(**fit["telescope_mirrors"]) if fit else None
        steps = t.SpatialStep.values(scratch, t.INPUT, t.task(t.OBSERVE))
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
            if mirrors is not None:
                try:
                    geometry = np.mean([kw.telescope_geometry(h) for h in headers], axis=0)
                except (KeyError, ValueError) as e:
                    raise ValueError(f"scan step {step}: {e.args[0]}") from e
                correct_telescope_polarization(stokes, telescope(mirrors, *geometry))
            for i, name in enumerate(STOKES):
                write_calibrated(
                    self, stokes[i], first_header, [t.spatial_step(step), t.stokes(name)],
                    f"step{step:04d}_{name}", source=paths[0],
                )  # fmt: skip


# Pixels per chunk of frames: ~4 M pixels is ~100 ms of reading, correcting and writing,
# the least work worth a Dask task (MEASUREMENTS.md: ~2 ms overhead per task).
MIN_PIXELS_PER_CHUNK = 1 << 22


def calibrate_imager_frames(
    frames: list[dict],
    *,
    scratch_dir: str,
    writer: str,
    shape: list[int],
    darks: dict[str, str],
    gains: dict[str, str],
) -> Iterator[str]:
    """Calibrate one chunk of imager frames, one frame in memory at a time; yield paths written.

    Each frame is ``{"path", "name", "exposure", "wavelength", "tags"}``; ``darks`` and
    ``gains`` map its exposure-time and wavelength tags to the products' paths. Only the
    dark and gain of the current frame are held (read again when they change, which the
    task's ordering of frames makes rare), so a chunk's memory is one frame, one dark and
    one gain, however many frames or filters it has. Runs in the task's process or on a
    Dask worker: it opens the scratch itself (the index is safe for several processes)
    and writes as ``writer``, so an interrupted task's partial outputs are still its own.
    """
    with Scratch(scratch_dir, writer=writer) as scratch:
        dark_key = gain_key = None
        dark = inverse_gain = None
        calibrated = np.empty(tuple(shape), dtype=np.float32)  # reused: no allocation per frame
        for frame in frames:
            if frame["exposure"] != dark_key:
                dark_key, dark = None, None  # free the old one before reading the new one
                dark, dark_key = scratch.read_fits(darks[frame["exposure"]])[0], frame["exposure"]
            if frame["wavelength"] != gain_key:
                gain_key, inverse_gain = None, None
                inverse_gain = reciprocal_gain(scratch.read_fits(gains[frame["wavelength"]])[0])
                gain_key = frame["wavelength"]
            header, raw = read_raw_frame(frame["path"], tuple(shape))
            dark_gain_correct(raw, dark, inverse_gain, out=calibrated)
            del raw
            path = write_calibrated_to(
                scratch, calibrated, header, [*frame["tags"], t.stokes("I")], frame["name"],
                source=frame["path"],
            )  # fmt: skip
            yield str(path)


class ImagerScienceCalibration(Task):
    r"""Calibrate each frame of a filter imager: dark subtraction and gain correction.

    Algorithm
    ---------
    Each raw observe frame :math:`R` of wavelength :math:`\lambda` and exposure
    time :math:`t` becomes

    .. math:: I = (R - D_t) / G_\lambda,

    in one fused pass (no temporaries). Frames are independent: they are calibrated
    in chunks (see :func:`~dkist_processing_core.framework.parallel.map_frames`), in
    order in the task's process, or in parallel on the Dask workers when the run is on
    a Dask cluster. Within a chunk, frames are streamed one at a time, so memory does
    not grow with the number of frames.

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
    None. The run's configuration may set ``frame_chunk_size`` (frames per chunk).

    Limitations
    -----------
    Dark and gain only: frames are not destretched, co-aligned or reconstructed
    (speckle), so each frame keeps the seeing it was taken with. Saturated or dead
    pixels are not flagged.
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
        # Find every product the frames need now, so a missing one fails before any work.
        gains: dict[str, str] = {}
        darks: dict[str, str] = {}
        frames = []
        for i, path in enumerate(scratch.find(t.INPUT, t.task(t.OBSERVE))):
            tags = scratch.tags_of(path)
            wl = t.Wavelength.tag_in(tags)
            exposure = t.ExposureTime.tag_in(tags)
            if wl not in gains:
                gains[wl] = str(
                    array_product_path(scratch, t.task(t.GAIN), wl, needed_by=self.name)
                )
            if exposure not in darks:
                darks[exposure] = str(
                    dark_path_for(scratch, t.ExposureTime.parse(exposure), str(path))
                )
            keep = t.of_kinds(tags, t.SpatialStep, t.Wavelength, t.Repeat)
            frames.append(
                {"path": str(path), "name": f"frame{i:06d}", "exposure": exposure,
                 "wavelength": wl, "tags": keep}
            )  # fmt: skip
        # Frames of one filter and exposure time together: a chunk rarely changes dark or gain.
        frames.sort(key=lambda f: (f["wavelength"], f["exposure"], f["name"]))
        written = map_frames(
            self,
            calibrate_imager_frames,
            frames,
            arguments={
                "scratch_dir": str(scratch.root),
                "writer": scratch.writer or self.name,
                "shape": list(shape),
                "darks": darks,
                "gains": gains,
            },
            min_chunk_size=math.ceil(MIN_PIXELS_PER_CHUNK / (shape[0] * shape[1])),
            description="observe frames",
        )
        self.logger.info("calibrated %d observe frames", len(written))
