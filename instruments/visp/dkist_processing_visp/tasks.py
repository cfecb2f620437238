"""ViSP's own tasks: what its headers say about a frame, and how its L1 frames are described."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from astropy.io import fits

from dkist_processing_core.calibration import keywords as kw
from dkist_processing_core.calibration import tags as t
from dkist_processing_core.calibration.input.frames import keyword
from dkist_processing_core.calibration.input.task import ParseInputData
from dkist_processing_core.calibration.input.validation import KeywordRule
from dkist_processing_core.calibration.l1.header import DatasetAxis, L1FrameDescription
from dkist_processing_core.calibration.l1.task import WriteL1Frames
from dkist_processing_core.calibration.quality.metrics import estimate_noise

STOKES = ("I", "Q", "U", "V")

# FITS WCS cards (primary and alternate "A" description) of a header.
_WCS_CARD = re.compile(
    r"^(WCSAXES|WCSNAME|CRPIX\d|CRVAL\d|CDELT\d|CUNIT\d|CTYPE\d|CNAME\d|PC\d_\d|PV\d_\d"
    r"|LONPOLE|LATPOLE)A?$"
)


def raster_step_wcs(header: fits.Header, step: int) -> dict:
    """The frame's WCS with its raster position in CRPIX, as the summit writes ViSP headers.

    The frame's own WCS puts its one raster pixel at longitude ``CRVALn`` (``CRPIXn = 1``),
    different for every step. The DKIST tools (dkist-inventory's slit model) read the
    raster axis as a pixel axis whose index is the step, so they take a varying ``CRVALn``
    for pointing drift *on top of* the step offset and would count each step twice. Here
    the same world coordinates are written with the step in the reference pixel:
    ``CRVALn' = CRVALn - step * CDELTn`` and ``CRPIXn' = CRPIXn - step``, so
    ``CRVALn' + (p - CRPIXn') CDELTn = CRVALn + (p - CRPIXn) CDELTn`` for every pixel ``p``,
    and ``CRVALn'`` is the same for all steps of a regular raster (it changes only if the
    pointing drifts, which is what the tools expect a varying ``CRVAL`` to mean).
    """
    cards = {key: header[key] for key in header if _WCS_CARD.match(key)}
    for n in range(1, int(header.get("WCSAXES", header["NAXIS"])) + 1):
        if str(header.get(f"CTYPE{n}", "")).startswith("HPLN") and header.get(f"NAXIS{n}") == 1:
            cards[f"CRVAL{n}"] = float(header[f"CRVAL{n}"]) - step * float(header[f"CDELT{n}"])
            cards[f"CRPIX{n}"] = float(header[f"CRPIX{n}"]) - step
    return cards


class VispParseInputData(ParseInputData):
    """Index ViSP raw frames: the shared parsing plus modulator state and scan step.

    Algorithm
    ---------
    The shared input parsing (see :class:`~dkist_processing_core.calibration.input.task.ParseInputData`),
    plus ViSP's selectors: the modulator state ``VISP_011`` (1-based) of gain, polcal
    and observe frames, and the scan step ``VISP_020`` (0-based) of observe frames.

    The pixel axes are read from each frame's ``CTYPEn``: one image axis must be spectral
    (``AWAV``/``WAVE``), the other spatial (the slit, ``HPLT``/``HPLN``), on either FITS axis
    (DKIST's ViSP writes the slit along FITS axis 1); frames are read with wavelength along
    the columns (see :mod:`~dkist_processing_core.calibration.input.layout`). Gain and polcal
    frames must have the observe frames' wavelength ``WAVELNTH`` and number of modulator
    states ``VISP_010``, every exposure time a dark, and the observe wavelength lamp and
    solar gain frames (``gain_for``). Polcal frames with the dark shutter closed
    (``PAC__008 = 'DarkShutter'``) are dark steps of the sequence, tagged ``POLCAL_DARK`` and
    left out of the polcal fit (see the shared parsing).

    Keywords read (besides the shared parsing's: ``DKIST004``, ``DKIST003``, ``ID___008``,
    ``CAM__004``, ``DATE-OBS``, ``PAC__002`` to ``PAC__008``, ``TELEVATN``, ``TAZIMUTH``,
    ``TTBLANGL``, ``NAXISn``, all required by SPEC-0122 except the three telescope angles,
    which it lists as optional; ``DATE-BEG`` is read first where present, it is SPEC-0214's
    name):

    ==========  ==========================================  ==================================
    keyword     use                                         SPEC-0122
    ==========  ==========================================  ==================================
    CTYPEn      which FITS axis is spectral, which spatial  required
    CUNITn,     carried with the axis into L1 (renumbered   required
    CDELTn,     with it)
    CRPIXn,
    CRVALn,
    PCi_j
    WAVELNTH    setup match of calibration frames; lamp     required
                and solar gains of the observe wavelength
    VISP_010    number of modulator states; setup match     required for ViSP
                                                            (``instrument_required``)
    VISP_011    modulator state, 1..``VISP_010``            required for ViSP
    VISP_019    number of scan steps                        required for ViSP
    VISP_020    scan step, 0..``VISP_019`` - 1              required for ViSP
    ==========  ==========================================  ==================================

    Assumptions that remain: one beam; the polcal sequence's calibration-unit step is
    inferred from the unit's angles and the telescope geometry in time order unless the
    input dataset gives it (see the shared parsing); the scan step's longitude is the
    frame's WCS.

    Inputs
    ------
    The input dataset's raw ViSP frames.

    Outputs
    -------
    The frames indexed as by the shared parsing, plus ``MODSTATE_<m>`` and ``STEP_<n>``.
    A modulator state beyond ``VISP_010`` (number of states) or a step beyond ``VISP_019``
    (number of steps) is refused at the door.

    Parameters
    ----------
    input_max_nonfinite_fraction
        As for the shared parsing.
    """

    required_axes = ("spectral", "spatial")
    dark_for = (t.LAMP_GAIN, t.SOLAR_GAIN, t.POLCAL, t.OBSERVE)
    gain_for = (kw.WAVELENGTH_NM,)  # lamp and solar gains of the observe wavelength
    keyword_rules = (
        # The calibration frames are of the observe frames' setup: wavelength, modulation.
        KeywordRule(
            kw.WAVELENGTH_NM, kinds=(t.LAMP_GAIN, t.SOLAR_GAIN, t.POLCAL, t.OBSERVE), match=True
        ),
        KeywordRule(
            kw.VISP_NUMBER_OF_STATES,
            kinds=(t.POLCAL, t.OBSERVE, t.LAMP_GAIN, t.SOLAR_GAIN),
            match=True,
        ),
        KeywordRule(
            kw.VISP_CURRENT_STATE,
            kinds=(t.POLCAL, t.OBSERVE, t.LAMP_GAIN, t.SOLAR_GAIN),
            count_key=kw.VISP_NUMBER_OF_STATES,
            base=1,
            state=True,
        ),
        KeywordRule(
            kw.VISP_CURRENT_STEP,
            kinds=(t.OBSERVE,),
            count_key=kw.VISP_NUMBER_OF_STEPS,
            base=0,
            state=True,
        ),
    )

    def instrument_tags(self, header: fits.Header, path: Path, kind: str) -> list[str]:
        tags = []
        if kind in (t.POLCAL, t.OBSERVE, t.LAMP_GAIN, t.SOLAR_GAIN):
            tags.append(t.modulator_state(keyword(header, kw.VISP_CURRENT_STATE, path, int)))
        if kind == t.OBSERVE:
            tags.append(t.spatial_step(keyword(header, kw.VISP_CURRENT_STEP, path, int)))
        return tags


class VispWriteL1Frames(WriteL1Frames):
    r"""Write ViSP Level 1 frames: one per scan step and Stokes parameter.

    Algorithm
    ---------
    The shared L1 writing (see :class:`~dkist_processing_core.calibration.l1.task.WriteL1Frames`).
    A ViSP dataset has four axes: wavelength and position along the slit (the
    array), scan step (helioprojective longitude) and Stokes parameter. The scan step's
    longitude is written as the summit writes it, in the reference pixel of the raster
    axis (see :func:`raster_step_wcs`), so that the DKIST tools place every step once. Each step's
    polarimetric noise is the largest robust noise of :math:`Q/I`, :math:`U/I` and
    :math:`V/I` relative to the mean intensity (``POL_NOIS``), and its sensitivity
    the same noise relative to the largest intensity (``POL_SENS``).

    The calibration-unit parameters the polarimetric calibration fitted (value,
    uncertainty, fitted or held) and the telescope mirror parameters used are recorded
    in the provenance (``HISTORY`` records ``DKPC FIT``).

    Inputs
    ------
    Frames tagged ``CALIBRATED``, ``STEP_<n>``, ``STOKES_<s>``; the polcal fit
    (``INTERMEDIATE``, ``TASK_POLCAL``).

    Outputs
    -------
    L1 frames as by the shared L1 writing.

    Parameters
    ----------
    l1_quantize_level
        As for the shared L1 writing.
    """

    reads = (*WriteL1Frames.reads, (t.INTERMEDIATE, t.task(t.POLCAL)))

    def groups(self) -> list[list[Path]]:
        steps = t.SpatialStep.values(self.scratch, t.CALIBRATED)
        return [
            [self.scratch.find_one(t.CALIBRATED, t.spatial_step(step), t.stokes(s)) for s in STOKES]
            for step in steps
        ]

    def describe_frames(self, frames):
        n_steps = len(t.SpatialStep.values(self.scratch, t.CALIBRATED))
        data = {t.Stokes.of(tags): d for _, _, d, tags in frames}
        intensity = data["I"][0].astype(np.float64)
        noise = max(estimate_noise(data[s][0] / intensity) for s in "QUV")
        # NaN pixels (non-finite raw pixels kept as NaN) are left out.
        sensitivity = noise * float(np.nanmean(intensity)) / float(np.nanmax(intensity))
        ny, nx = intensity.shape
        axes = [
            DatasetAxis(physical_type="SPECTRAL", pixel_name="dispersion axis",
                        world_name="wavelength", unit="nm", length=nx),
            DatasetAxis(physical_type="SPATIAL", pixel_name="spatial along slit",
                        world_name="helioprojective latitude", unit="arcsec", length=ny),
            DatasetAxis(physical_type="SPATIAL", pixel_name="raster scan step number",
                        world_name="helioprojective longitude", unit="arcsec", length=n_steps),
            DatasetAxis(physical_type="STOKES", pixel_name="polarization state",
                        world_name="stokes", unit="", length=4),
        ]  # fmt: skip
        out = []
        for _, header, _, tags in frames:
            step = t.SpatialStep.of(tags)
            stokes = t.Stokes.of(tags)
            out.append(
                L1FrameDescription(
                    dataset_axes=axes,
                    dataset_index=[step, STOKES.index(stokes)],
                    stokes=stokes,
                    wcs=raster_step_wcs(header, step),
                    polarimetric_noise=noise,
                    polarimetric_sensitivity=sensitivity,
                )
            )
        return out
