"""The task that writes Level 1 frames: SPEC-0214 headers with provenance, compressed FITS."""

from __future__ import annotations

import multiprocessing
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from astropy.io import fits

from ...framework import Parameter, ScratchConflict, Task
from ...framework.errors import InputError
from .. import tags as t
from .header import build_l1_header, l1_filename
from .provenance import RECORDED_PACKAGES, l1_provenance, package_version
from .writer import N_RANDOM, warm_up_writer, write_l1_frame, write_l1_frame_from_fits


class L1FrameConflict(InputError):
    """Two calibrated frames would be written as one L1 file; the message names both sources."""


__all__ = [
    "RECORDED_PACKAGES",
    "L1FrameConflict",
    "WriteL1Frames",
    "l1_provenance",
    "package_version",
]


class WriteL1Frames(Task):
    r"""Write every calibrated frame as a Level 1 FITS file with a SPEC-0214 header.

    Algorithm
    ---------
    For each calibrated frame the SPEC-0214 header is built from the frame's raw
    SPEC-0122 header (translated keyword by keyword), what calibration knows of the
    frame (its place in the dataset, its Stokes parameter, its WCS), statistics of
    the data (minimum, maximum, mean, median, RMS, percentiles), and the run's
    provenance:

    - the recipe run, recipe, recipe instance and input dataset ids (``RRUNID``,
      ``RECIPEID``, ``RINSTID``, ``IDSOBSID``, ``IDSCALID``, ``IDSPARID``);
    - the workflow name and version (``WKFLNAME``, ``WKFLVERS``, ``CALVERS``), its
      task order, the parameter values (ids and values) its tasks use, and the
      versions of the libraries and instrument package (FITS ``HISTORY`` records);
    - links to the documentation page and to the source code of this exact workflow
      version (``INFO_URL``, ``CAL_URL``) and to the header specification (``HEAD_URL``);
    - the Fried parameter :math:`r_0` and the AO lock state of the raw frame
      (``ATMOS_R0``, ``AO_LOCK``), where the raw frame had them.

    The header must pass ``dkist-header-validator``'s SPEC-0214 validation. The data
    are written as float32, tile-compressed (``RICE_1``) with subtractive-dither
    quantisation to ``l1_quantize_level`` levels per noise standard deviation
    :math:`\sigma` of each tile: the stored value differs from the calibrated one by at
    most half a quantisation step :math:`\sigma/(2q)`. ``CHECKSUM`` and ``DATASUM``
    are set on every HDU. Each file is written atomically (beside, then renamed).
    No L1 file is ever written twice: two frames that get one file name (the same
    ``DATE-BEG``, Stokes parameter and wavelength, e.g. two raw frames with one
    ``DATE-OBS``, or one frame delivered twice) stop the task with an error naming
    both frames and the raw frames they were made from.

    Frames are streamed: a group of frames (e.g. the four Stokes frames of a step) is
    read, described, given its headers and written before the next group is read, so
    memory does not grow with the number of frames. With the configuration option
    ``l1_write_processes`` > 1 the compressed writing is spread over that many worker
    processes (quantisation holds the GIL, so threads would not help); each reads its
    calibrated frame from the scratch itself, and at most two frames per process wait.

    Inputs
    ------
    Frames tagged ``CALIBRATED`` (float32, with the header of their first raw frame).

    Outputs
    -------
    One L1 FITS file per calibrated frame, tagged ``OUTPUT``, ``L1`` and the calibrated
    frame's selectors (``STEP_<n>``, ``STOKES_<s>``, ``WAVELENGTH_<nm>``, ``REPEAT_<k>``).

    Parameters
    ----------
    l1_quantize_level
        Quantisation levels :math:`q` per noise standard deviation of a tile.

    Limitations
    -----------
    The compression is lossy by design: each stored value differs from the
    calibrated one by at most half a quantisation step, :math:`\sigma/(2q)`, where
    :math:`\sigma` is the noise estimated per tile. The estimate assumes white noise:
    real structure on the scale of a pixel (e.g. diffraction-limited granulation)
    raises it and so coarsens the step. Header keywords are translated from the raw
    frame as the installed ``dkist-fits-specifications`` defines them, so a dataset
    follows the specification version of the library that wrote it.
    """

    reads = ((t.CALIBRATED,),)
    writes = ((t.OUTPUT, t.L1),)
    records_all_parameters = True  # the headers' provenance lists every parameter value
    parameters = (
        Parameter(
            "l1_quantize_level",
            "float",
            default=16.0,
            minimum=1.0,
            maximum=1024.0,
            unit="levels per noise standard deviation",
            description="RICE_1 quantisation of the L1 data (finer: larger files)",
        ),
    )

    def describe_frames(self, frames: list[tuple[Path, fits.Header, np.ndarray, set[str]]]):
        """The instrument's description of each calibrated frame (``L1FrameDescription``).

        ``frames`` are ``(path, header, data, tags)`` of one group (see :meth:`groups`).
        """
        raise NotImplementedError(f"{type(self).__name__} must describe its frames")

    def groups(self) -> list[list[Path]]:
        """Calibrated frames described together (e.g. the four Stokes frames of a step)."""
        return [[p] for p in self.scratch.find(t.CALIBRATED)]

    def run(self) -> None:
        provenance = l1_provenance(self.context)
        quantize = float(self.parameter("l1_quantize_level"))
        processes = int(self.configuration.get("l1_write_processes", 1))
        if multiprocessing.current_process().daemon:
            processes = 1  # an engine's worker process may not start processes of its own
        # Frames are streamed: a group's frames are read, described, given their headers and
        # written (or handed to a writer process) before the next group is read, so memory does
        # not grow with the number of frames.
        pool = None
        if processes > 1:
            pool = ProcessPoolExecutor(
                max_workers=processes,
                mp_context=get_context("forkserver"),
                initializer=warm_up_writer,
            )
        pending: deque = deque()  # (future, target, tags) handed to the writer processes
        written = 0
        try:
            for group in self.progress(self.groups(), description="L1 frames"):
                frames = []
                for path in group:
                    data, header = self.scratch.read_fits(path)
                    frames.append((path, header, data, self.scratch.tags_of(path)))
                descriptions = self.describe_frames(frames)
                for (path, header, data, tags), description in zip(frames, descriptions):
                    l1_header = build_l1_header(
                        header, data, provenance, description, source=str(path)
                    )
                    name = l1_filename(l1_header, description.stokes, provenance.dataset_id)
                    target = self.reserve(name, path, l1_header)
                    keep = t.of_kinds(tags, t.SpatialStep, t.Stokes, t.Wavelength, t.Repeat)
                    seed = 1 + written % N_RANDOM
                    written += 1
                    if pool is None:
                        write_l1_frame(
                            target, data, l1_header, quantize_level=quantize, dither_seed=seed
                        )
                        self.scratch.add(target, [t.OUTPUT, t.L1, *keep])
                        continue
                    job = (str(path), l1_header.tostring(), str(target), quantize, seed)
                    pending.append((pool.submit(write_l1_frame_from_fits, job), target, keep))
                    # A few frames queued per process keep them busy without holding many.
                    while len(pending) > 2 * processes:
                        self._finish(*pending.popleft())
                del frames, descriptions
            while pending:
                self._finish(*pending.popleft())
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self.logger.info("wrote %d L1 frames of dataset %s", written, provenance.dataset_id)

    def reserve(self, name: str, source: Path, l1_header: fits.Header) -> Path:
        """The scratch path of L1 file ``name``, reserved for the calibrated frame ``source``."""
        try:
            return self.scratch.reserve(self.scratch.path_for(name), source=str(source))
        except ScratchConflict as e:
            raise L1FrameConflict(
                f"two calibrated frames would be written as one L1 file {name} "
                f"(DATE-BEG {l1_header.get('DATE-BEG')}): {e}. Each frame needs its own "
                "observation time (DATE-OBS): check the input dataset for a frame given twice "
                "or two frames with one DATE-OBS"
            ) from None

    def _finish(self, future, target: Path, keep: list[str]) -> None:
        future.result()  # re-raises a writer process's error
        self.scratch.add(target, [t.OUTPUT, t.L1, *keep])
