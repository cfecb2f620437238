"""Assembling a SPEC-0214 Level 1 header from its parts.

The header of a Level 1 (L1) frame is made of four parts:

1. the raw (SPEC-0122) summit header translated to SPEC-0214 keywords (:mod:`.translation`);
2. the provenance of the recipe run (:class:`~.provenance.L1Provenance`, :mod:`.provenance`);
3. the description of the calibrated array and of the dataset it belongs to
   (:class:`L1FrameDescription`): dataset axes (``DNAXIS``, ``DTYPEd`` ...), the WCS of the
   calibrated array, the Stokes parameter, the wavelength range, timing; and where the telescope
   was (:mod:`.observer`);
4. statistics of the array (``DATAMIN`` ... ``DATASKEW``, ``DATAPpp``, :mod:`.statistics`).

:func:`build_l1_header` puts them together, in the order and with the section comments of the
specification (:mod:`.layout`), and validates the result with
``dkist_header_validator.spec214_validator`` (no extra keys allowed), so a header it returns is a
valid SPEC-0214 Level 1 header.
"""

from __future__ import annotations

import datetime
import functools
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.time import Time
from pydantic import BaseModel, ConfigDict, Field

from .errors import L1HeaderError
from .layout import card, card_values, layout, validate_cached, validate_l1_header
from .observer import observer_keys
from .provenance import L1Provenance, history_cards, history_images, provenance_keys
from .statistics import array_statistics
from .translation import schema_signature, translate_raw, translate_raw_fast

__all__ = ["DatasetAxis", "L1FrameDescription", "build_l1_header", "l1_filename"]


class DatasetAxis(BaseModel):
    """One axis of the dataset (``DTYPEd``, ``DPNAMEd``, ``DWNAMEd``, ``DUNITd``, ``DNAXISd``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    physical_type: Literal["SPATIAL", "SPECTRAL", "TEMPORAL", "STOKES"]
    pixel_name: str
    world_name: str
    unit: str
    length: int = Field(gt=0)


class L1FrameDescription(BaseModel):
    """What calibration knows about one calibrated frame and the dataset it belongs to.

    ``dataset_axes`` are in FITS order: first the ``DAAXES`` axes held in the array (FITS axis 1
    first), then the axes along which frames are striped. ``dataset_index`` gives this frame's
    0-based position along each of the striped axes (``DINDEXk``).

    ``wcs`` is the FITS WCS of the calibrated array as header cards (``WCSAXES``, ``CTYPEn``,
    ``CRPIXn``, ``CRVALn``, ``CDELTn``, ``CUNITn``, ``PCi_j``, ...). ``None`` keeps the raw
    frame's WCS, which is only right when calibration did not resample the array.

    ``wavelength_range_nm`` is ``(WAVEMIN, WAVEMAX)``; ``None`` derives it from the spectral
    axis of the WCS (spectrographs). Imagers give their filter's range.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset_axes: list[DatasetAxis]
    dataset_index: list[int] = Field(default_factory=list)
    stokes: Literal["I", "Q", "U", "V"] = "I"
    wcs: dict[str, Any] | None = None
    wavelength_range_nm: tuple[float, float] | None = None
    bunit: str = "ct"
    btype: str = "phot.count"
    date_end: str | None = Field(None, description="DATE-END; None: DATE-BEG + XPOSURE")
    filename: str | None = Field(None, description="FILENAME; None: derived, see l1_filename")
    polarimetric_noise: float | None = Field(None, description="POL_NOIS")
    polarimetric_sensitivity: float | None = Field(None, description="POL_SENS")
    cadence_s: tuple[float, float, float, float] | None = Field(
        None, description="(CADENCE, CADMIN, CADMAX, CADVAR) of the dataset"
    )
    instrument_keys: dict[str, Any] = Field(
        default_factory=dict,
        description="SPEC-0214 keys of the instrument's table that only its calibration can "
        "compute (e.g. VBI's VBINMOSC, VBICRI); they must be keys of the specification",
    )


_WCS_KEY = re.compile(
    r"^(WCSAXES|WCSNAME|CRPIX\d|CRVAL\d|CDELT\d|CUNIT\d|CTYPE\d|CNAME\d|CRDATE\d|PC\d_\d|PV\d_\d"
    r"|LONPOLE|LATPOLE)(A?)$"
)
_WCS_AXIS_KEY = re.compile(r"^(?:CRPIX|CRVAL|CDELT|CUNIT|CTYPE|CNAME|CRDATE|NBIN)(\d)A?$")
_WCS_MATRIX_KEY = re.compile(r"^P[CV](\d)_(\d)A?$")


def _wavelength_range_from_wcs(
    header: Mapping[str, Any], naxes: Sequence[int]
) -> tuple[float, float]:
    for n in range(1, len(naxes) + 1):
        ctype = str(header.get(f"CTYPE{n}", ""))
        if ctype.startswith(("WAVE", "AWAV")):
            unit = u.Unit(str(header.get(f"CUNIT{n}", "nm")))
            crpix, crval, cdelt = (float(header[f"{k}{n}"]) for k in ("CRPIX", "CRVAL", "CDELT"))
            ends = [crval + (p - crpix) * cdelt for p in (1, naxes[n - 1])]
            lo, hi = (float((e * unit).to_value(u.nm)) for e in (min(ends), max(ends)))
            return lo, hi
    raise L1HeaderError(
        "wavelength_range_nm was not given and the WCS has no spectral (WAVE/AWAV) axis to derive "
        "WAVEMIN/WAVEMAX from"
    )


def l1_filename(header: Mapping[str, Any], stokes: str, dataset_id: str) -> str:
    """The DKIST L1 file name: ``<INSTRUME>_<DATE-BEG>_<LINEWAV pm>_<STOKES>_<DSETID>_L1.fits``."""
    date = re.sub(r"[-:.]", "_", str(header["DATE-BEG"]))
    wavelength = str(round(float(header["LINEWAV"]) * 1000)).zfill(8)
    return f"{header['INSTRUME']}_{date}_{wavelength}_{stokes}_{dataset_id}_L1.fits"


def build_l1_header(
    raw_header: fits.Header | Mapping[str, Any],
    data: np.ndarray,
    provenance: L1Provenance,
    frame: L1FrameDescription,
    *,
    source: str = "raw header",
    validate: bool = True,
    cache: bool = True,
) -> fits.Header:
    """Build the SPEC-0214 Level 1 header of one calibrated float32 frame.

    Parameters
    ----------
    raw_header
        The SPEC-0122 header of the raw frame the calibrated frame comes from (for a frame made
        of several raw frames, the first one).
    data
        The calibrated array as it will be written (float32); ``NAXISn``, the statistics and
        ``DAAXES`` come from it.
    provenance
        How the frame was made (recipe run, input dataset, workflow, versions, links).
    frame
        What calibration knows of this frame (dataset axes, WCS, Stokes parameter, ...).
    source
        A name for the raw header in error messages (e.g. its file path).
    validate
        Check the result with ``spec214_validator`` (no extra keys allowed).
    cache
        Reuse what depends only on the specification and the header's set of keys (translation
        rules, key order and section comments, validation schema, formatted cards) from earlier
        frames: the frames of a dataset share almost every keyword, so after the first frame a
        header costs milliseconds instead of a tenth of a second. The result is the same header
        as with ``cache=False``, which calls ``dkist_header_validator`` and
        ``dkist_fits_specifications`` for every frame.

    Returns
    -------
    The header, ordered and commented as the specification lays it out, with provenance HISTORY
    cards at the end. ``FRAMEVOL`` is a placeholder the writer replaces with the file's size.

    Raises
    ------
    L1HeaderError
        Naming the missing or invalid keyword(s).
    """
    raw_header = raw_header if isinstance(raw_header, fits.Header) else fits.Header(raw_header)
    hdr = translate_raw_fast(raw_header, source) if cache else None
    if hdr is None:
        hdr = card_values(translate_raw(raw_header, source))
    comments: dict[str, str] = {}
    _assemble_l1_keys(hdr, comments, raw_header, data, provenance, frame, source)
    if cache:
        return _formatted_cached(hdr, comments, provenance, source=source, validate=validate)
    return _formatted_full(hdr, comments, provenance, source=source, validate=validate)


def _formatted_full(
    hdr: dict[str, Any],
    comments: dict[str, str],
    provenance: L1Provenance,
    *,
    source: str,
    validate: bool,
) -> fits.Header:
    """The header laid out and validated by the specification libraries themselves."""
    from dkist_fits_specifications.utils.formatter import reformat_spec214_header

    try:
        out = reformat_spec214_header(
            fits.Header([(k, v, comments.get(k, "")) for k, v in hdr.items()])
        )
    except ValueError as err:
        raise L1HeaderError(f"{source}: {err}") from err
    for text in history_cards(provenance):
        out.add_history(text)
    if validate:
        validate_l1_header(out, source=source)
    return out


def _formatted_cached(
    hdr: dict[str, Any],
    comments: dict[str, str],
    provenance: L1Provenance,
    *,
    source: str,
    validate: bool,
) -> fits.Header:
    """The same header as :func:`_formatted_full`, from the layout and checks of its kind."""
    # What a Header holds and the validator reads: values, trailing blanks of strings stripped.
    values = {k: v.rstrip() if isinstance(v, str) else v for k, v in hdr.items()}
    signature = schema_signature(values)
    try:
        cards_layout = layout(values, signature)
    except ValueError as err:
        raise L1HeaderError(f"{source}: {err}") from err
    cards = [
        fits.Card.fromstring(image)
        if image is not None
        else card(key, values[key], comments.get(key) or spec_comment)
        for key, image, spec_comment in cards_layout
    ]
    cards += [fits.Card.fromstring(i) for i in history_images(provenance.model_dump_json())]
    out = fits.Header(cards)
    if validate:
        validate_cached(out, values, signature, source=source)
    return out


@functools.lru_cache(maxsize=64)
def _frame_times(
    date_beg: str, exposure_ms: float | None, date_end: str | None
) -> tuple[str, str, str, float]:
    """(DATE-BEG, DATE-END, DATE-AVG, TELAPSE) of a frame; the Stokes frames of a step share it.

    DATE-END is ``date_end`` if given, else DATE-BEG + the exposure time; DATE-AVG the middle.
    """
    beg = Time(date_beg, format="isot", scale="utc")
    if date_end is not None:
        end = Time(date_end, format="isot", scale="utc")
    else:
        end = beg + exposure_ms * u.ms
    if end < beg:
        raise L1HeaderError(f"DATE-END {end.isot} is before DATE-BEG {beg.isot}")
    avg = beg + (end - beg) / 2
    return beg.isot, end.isot, avg.isot, float((end - beg).to_value(u.s))


def _set(hdr: dict[str, Any], comments: dict[str, str], key: str, value: Any) -> None:
    """``header[key] = value`` of astropy: a ``(value, comment)`` tuple also sets the comment."""
    key = key.upper()
    if isinstance(value, tuple):
        if len(value) > 1:
            comments[key] = value[1]
        value = value[0]
    hdr[key] = value


def _set(hdr: dict[str, Any], comments: dict[str, str], key: str, value: Any) -> None:
    """``header[key] = value`` of astropy: a ``(value, comment)`` tuple also sets the comment."""
    key = key.upper()
    if isinstance(value, tuple):
        if len(value) > 1:
            comments[key] = value[1]
        value = value[0]
    hdr[key] = value


def _assemble_l1_keys(
    hdr: dict[str, Any],
    comments: dict[str, str],
    raw_header: fits.Header,
    data: np.ndarray,
    provenance: L1Provenance,
    frame: L1FrameDescription,
    source: str,
) -> None:
    """Add to the translated raw keys ``hdr`` everything else an L1 header has (in place)."""
    naxes = data.shape[::-1]  # FITS order
    _array_keys(hdr, comments, data, frame)
    avg = _time_keys(hdr, frame, source)
    hdr.update(observer_keys(avg))
    _data_center_keys(hdr, raw_header, provenance, frame)
    _dataset_keys(hdr, naxes, frame)
    _binning_keys(hdr, data.ndim)
    # Adaptive optics: the translator copies ATMOS_R0 (AO___001) and AO_LOCK (AO___002) when
    # present; a frame without r0 simply has no ATMOS_R0 (SPEC-0214 marks it "expected", not
    # required).
    for key in ("ATMOS_R0", "AO_LOCK"):
        if key in hdr and (hdr[key] is None or isinstance(hdr[key], fits.card.Undefined)):
            del hdr[key]
    hdr.update(array_statistics(data))
    for key, value in frame.instrument_keys.items():
        _set(hdr, comments, key, value)
    hdr["FILENAME"] = frame.filename or l1_filename(hdr, frame.stokes, provenance.dataset_id)


def _array_keys(
    hdr: dict[str, Any], comments: dict[str, str], data: np.ndarray, frame: L1FrameDescription
) -> None:
    """The calibrated array: its shape, unit and type, and its WCS."""
    naxes = data.shape[::-1]  # FITS order
    for key in [k for k in hdr if re.fullmatch(r"NAXIS\d+", k)]:
        del hdr[key]
    hdr["BITPIX"] = -32
    hdr["NAXIS"] = data.ndim
    for n, length in enumerate(naxes, start=1):
        hdr[f"NAXIS{n}"] = int(length)
    hdr["BUNIT"] = frame.bunit
    hdr["BTYPE"] = frame.btype

    if frame.wcs is not None:
        for key in [k for k in hdr if _WCS_KEY.match(k)]:
            del hdr[key]
        for key, value in frame.wcs.items():
            _set(hdr, comments, key, value)
        if "WCSNAME" not in hdr:
            hdr["WCSNAME"] = "Helioprojective-cartesian"
    # Drop WCS keys for axes the array does not have (the raw frame may have had more).
    for key in list(hdr):
        m = _WCS_AXIS_KEY.match(key)
        m2 = _WCS_MATRIX_KEY.match(key)
        if (m and int(m.group(1)) > data.ndim) or (
            m2 and max(int(m2.group(1)), int(m2.group(2))) > data.ndim
        ):
            del hdr[key]
    for key in ("WCSAXES", "WCSAXESA"):
        if key in hdr:
            hdr[key] = data.ndim


def _time_keys(hdr: dict[str, Any], frame: L1FrameDescription, source: str) -> str:
    """DATE (when the header is made), DATE-BEG/-END/-AVG, TELAPSE; returns DATE-AVG."""
    if frame.date_end is None and "XPOSURE" not in hdr:
        raise L1HeaderError(f"{source}: XPOSURE (CAM__004) is needed to compute DATE-END")
    beg, end, avg, telapse = _frame_times(
        hdr["DATE-BEG"], None if frame.date_end is not None else float(hdr["XPOSURE"]),
        frame.date_end,
    )  # fmt: skip
    # When the header was written (per frame by design; astropy's Time.now().isot format).
    now = datetime.datetime.now(datetime.UTC)
    hdr["DATE"] = f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}"
    hdr["DATE-BEG"] = beg
    hdr["DATE-END"] = end
    hdr["DATE-AVG"] = avg
    hdr["TELAPSE"] = telapse
    hdr["TIMESYS"] = "UTC"
    hdr["DATEREF"] = beg
    return avg


def _data_center_keys(
    hdr: dict[str, Any],
    raw_header: fits.Header,
    provenance: L1Provenance,
    frame: L1FrameDescription,
) -> None:
    """The file, its level and specification version, its provenance, and the contributing
    proposals and experiments (this frame's own)."""
    from dkist_fits_specifications import __version__ as spec_version

    hdr["FILE_ID"] = uuid.uuid4().hex
    hdr["FRAMEVOL"] = -1.0  # replaced by the writer with the size of the file
    hdr["PROCTYPE"] = "L1"
    hdr["EXTNAME"] = "OBSERVATION"
    hdr["SOLARNET"] = 1.0
    hdr["OBS_HDU"] = 1
    hdr["LEVEL"] = 1
    hdr["HEADVERS"] = spec_version
    hdr.update(provenance_keys(provenance))
    if frame.cadence_s is not None:
        for key, value in zip(("CADENCE", "CADMIN", "CADMAX", "CADVAR"), frame.cadence_s):
            hdr[key] = float(value)
    if "PROP_ID" in hdr:
        hdr["NPROPOS"] = 1
        hdr["PROPID01"] = hdr["PROP_ID"]
    if "EXPER_ID" in hdr:
        hdr["NEXPERS"] = 1
        hdr["EXPRID01"] = hdr["EXPER_ID"]
    if "ID___014" in raw_header and "HLSVERS" not in hdr:
        hdr["HLSVERS"] = raw_header["ID___014"]


def _dataset_keys(hdr: dict[str, Any], naxes: Sequence[int], frame: L1FrameDescription) -> None:
    """The dataset: its axes and this frame's place in it, wavelength range, Stokes, noise."""
    daaxes = sum(1 for n in naxes if n != 1)
    axes = frame.dataset_axes
    deaxes = len(axes) - daaxes
    if deaxes < 0:
        raise L1HeaderError(
            f"dataset_axes has {len(axes)} axes but the array has {daaxes} non-unity axes"
        )
    if len(frame.dataset_index) != deaxes:
        raise L1HeaderError(
            f"dataset_index has {len(frame.dataset_index)} values; expected DEAXES={deaxes}"
        )
    hdr["DNAXIS"] = len(axes)
    hdr["DAAXES"] = daaxes
    hdr["DEAXES"] = deaxes
    for d, axis in enumerate(axes, start=1):
        hdr[f"DNAXIS{d}"] = axis.length
        hdr[f"DTYPE{d}"] = axis.physical_type
        hdr[f"DPNAME{d}"] = axis.pixel_name
        hdr[f"DWNAME{d}"] = axis.world_name
        hdr[f"DUNIT{d}"] = axis.unit
    for k, index in enumerate(frame.dataset_index, start=daaxes + 1):
        if not 0 <= index < axes[k - 1].length:
            raise L1HeaderError(
                f"DINDEX{k}={index} is outside dataset axis of length {axes[k - 1].length}"
            )
        hdr[f"DINDEX{k}"] = int(index)
    hdr["WAVEUNIT"] = -9
    hdr["WAVEREF"] = "Air"
    lo, hi = frame.wavelength_range_nm or _wavelength_range_from_wcs(hdr, naxes)
    hdr["WAVEMIN"] = float(lo)
    hdr["WAVEMAX"] = float(hi)
    hdr["STOKES"] = frame.stokes
    if frame.polarimetric_noise is not None:
        hdr["POL_NOIS"] = float(frame.polarimetric_noise)
    if frame.polarimetric_sensitivity is not None:
        hdr["POL_SENS"] = float(frame.polarimetric_sensitivity)


def _binning_keys(hdr: dict[str, Any], ndim: int) -> None:
    """Camera binning: NBINn = hardware x software binning of each array axis, and NBIN."""
    nbin = 1
    for n in range(1, ndim + 1):
        b = int(hdr.get(f"HWBIN{n}", 1)) * int(hdr.get(f"SWBIN{n}", 1)) if n <= 2 else 1
        hdr[f"NBIN{n}"] = b
        nbin *= b
    hdr["NBIN"] = nbin
