"""VBI's own tasks: what its headers say about a frame, and how its L1 frames are described."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from dkist_processing_core.calibration import keywords as kw
from dkist_processing_core.calibration import tags as t
from dkist_processing_core.calibration.input.frames import keyword
from dkist_processing_core.calibration.input.task import ParseInputData
from dkist_processing_core.calibration.l1.header import DatasetAxis, L1FrameDescription
from dkist_processing_core.calibration.l1.task import WriteL1Frames


class VbiParseInputData(ParseInputData):
    """Index VBI raw frames: the shared parsing plus mosaic tile and wavelength.

    Algorithm
    ---------
    The shared input parsing (see :class:`~dkist_processing_core.calibration.input.task.ParseInputData`),
    plus VBI's selectors: the mosaic tile ``VBI__004`` (1-based) and the frame number
    within the tile's burst ``VBI__008`` (1-based) of observe frames, and the wavelength
    ``WAVELNTH`` (nm, one filter each) of gain and observe frames.

    Inputs
    ------
    The input dataset's raw VBI frames.

    Outputs
    -------
    The frames indexed as by the shared parsing, plus ``STEP_<tile>``, ``REPEAT_<k>`` and
    ``WAVELENGTH_<nm>``.

    Parameters
    ----------
    None.
    """

    frame_kinds = (t.DARK, t.SOLAR_GAIN, t.OBSERVE)

    def instrument_tags(self, header: fits.Header, path: Path, kind: str) -> list[str]:
        tags = []
        if kind in (t.SOLAR_GAIN, t.OBSERVE):
            tags.append(t.wavelength(keyword(header, kw.WAVELENGTH_NM, path, float)))
        if kind == t.OBSERVE:
            tags.append(t.spatial_step(keyword(header, kw.VBI_CURRENT_STEP, path, int)))
            tags.append(t.repeat(keyword(header, kw.VBI_CURRENT_FRAME, path, int)))
        return tags


class VbiWriteL1Frames(WriteL1Frames):
    r"""Write VBI Level 1 frames: one per mosaic tile and filter.

    Algorithm
    ---------
    The shared L1 writing (see :class:`~dkist_processing_core.calibration.l1.task.WriteL1Frames`).
    A VBI dataset has five axes: the two spatial axes of the array, the frame number
    within a tile's burst (time), the mosaic tile and the filter (wavelength). VBI's own keys describe the central region of the
    frame (the central half in each axis): its mean intensity ``VBICRI``, its RMS
    contrast ``VBICRMSC`` :math:`= \sigma_I / \langle I \rangle` and its size
    ``VBICRLEN``; ``VBINMOSC`` and ``VBICMOSC`` count the mosaic repeats (one here).

    Inputs
    ------
    Frames tagged ``CALIBRATED``, ``STEP_<tile>``, ``WAVELENGTH_<nm>``.

    Outputs
    -------
    L1 frames as by the shared L1 writing.

    Parameters
    ----------
    l1_quantize_level
        As for the shared L1 writing.
    """

    def describe_frames(self, frames):
        tiles = sorted(int(s) for s in self.scratch.values_of("STEP_", t.CALIBRATED))
        wavelengths = sorted(float(w) for w in self.scratch.values_of("WAVELENGTH_", t.CALIBRATED))
        repeats = sorted(int(k) for k in self.scratch.values_of("REPEAT_", t.CALIBRATED))
        out = []
        for _, _, data, tags in frames:
            image = data[0].astype(np.float64)
            ny, nx = image.shape
            central = image[ny // 4 : ny - ny // 4, nx // 4 : nx - nx // 4]
            tile = int(next(x[5:] for x in tags if x.startswith("STEP_")))
            wavelength = float(next(x[11:] for x in tags if x.startswith("WAVELENGTH_")))
            repeat = int(next(x[7:] for x in tags if x.startswith("REPEAT_")))
            axes = [
                DatasetAxis(physical_type="SPATIAL", pixel_name="spatial x",
                            world_name="helioprojective longitude", unit="arcsec", length=nx),
                DatasetAxis(physical_type="SPATIAL", pixel_name="spatial y",
                            world_name="helioprojective latitude", unit="arcsec", length=ny),
                DatasetAxis(physical_type="TEMPORAL", pixel_name="frame number",
                            world_name="time", unit="s", length=len(repeats)),
                DatasetAxis(physical_type="SPATIAL", pixel_name="mosaic tile",
                            world_name="helioprojective position", unit="arcsec",
                            length=len(tiles)),
                DatasetAxis(physical_type="SPECTRAL", pixel_name="filter",
                            world_name="wavelength", unit="nm", length=len(wavelengths)),
            ]  # fmt: skip
            out.append(
                L1FrameDescription(
                    dataset_axes=axes,
                    dataset_index=[
                        repeats.index(repeat),
                        tiles.index(tile),
                        wavelengths.index(wavelength),
                    ],
                    instrument_keys={
                        "VBINMOSC": 1,
                        "VBICMOSC": 1,
                        "VBICRI": float(central.mean()),
                        "VBICRMSC": float(central.std() / central.mean()),
                        "VBICRLEN": int(min(central.shape)),
                    },
                )
            )
        return out
