"""Build SPEC-0214 Level 1 headers from a raw SPEC-0122 header and what calibration knows.

The header of a Level 1 (L1) frame is made of four parts:

1. the raw (SPEC-0122) summit header translated to SPEC-0214 keywords with
   ``dkist_header_validator.translator`` (renames such as ``AO___001`` -> ``ATMOS_R0``,
   ``DATE-OBS`` -> ``DATE-BEG``), with the keys that only exist at Level 0 removed;
2. the provenance of the recipe run (:class:`L1Provenance`), in the keywords SPEC-0214 names
   for it (``RRUNID``, ``RECIPEID``, ``RINSTID``, ``IDSOBSID``, ``IDSCALID``, ``IDSPARID``,
   ``WKFLNAME``, ``WKFLVERS``, ``CALVERS``, ``MANPROCD``, ``DSETID``, ``PRODUCT``,
   ``INFO_URL``, ``HEAD_URL``, ``CAL_URL``); what the specification has no keyword for
   (parameter values, task order, versions of the libraries) goes in FITS ``HISTORY`` cards,
   which SPEC-0214 lists for "how these headers have been updated or changed";
3. the description of the calibrated array and of the dataset it belongs to
   (:class:`L1FrameDescription`): dataset axes (``DNAXIS``, ``DTYPEd`` ...), the WCS of the
   calibrated array, the Stokes parameter, the wavelength range, timing;
4. statistics of the array (``DATAMIN`` ... ``DATASKEW``, ``DATAPpp``).

The result is validated with ``dkist_header_validator.spec214_validator`` (no extra keys
allowed), so a header this module returns is a valid SPEC-0214 Level 1 header.

Speed: the libraries rebuild their schemas for every header (~0.1-0.2 s a frame). The frames of
a dataset share almost every keyword, so what depends only on the specification and on the
header's *schema signature* (its set of keys and the few values that shape the schema:
instrument, polarimetric mode, axis and proposal counts) is computed once and cached: the
SPEC-0122 -> SPEC-0214 translation plan, the key order and section comments of the formatter,
the validation schema (with each key's check), and the formatted cards. The first header of each
kind goes through the libraries in full; later ones cost a few milliseconds plus the statistics
of the array, and are byte-identical to those of ``build_l1_header(..., cache=False)``.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numba
import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation
from astropy.io import fits
from astropy.time import Time
from pydantic import BaseModel, ConfigDict, Field

from dkist_processing_core.framework.errors import ExpectedError

__all__ = [
    "DatasetAxis",
    "L1FrameDescription",
    "L1HeaderError",
    "L1Provenance",
    "array_statistics",
    "build_l1_header",
    "read_provenance_history",
    "validate_l1_header",
]

#: Geodetic position of DKIST on Haleakala (astropy-data sites.json entry "DKIST").
DKIST_LOCATION = EarthLocation.from_geodetic(203.7436 * u.deg, 20.7067 * u.deg, 3067 * u.m)

#: The keys of the raw header that describe the raw file's structure, not the observation.
#: They are rewritten for the L1 file by the writer, so the raw values are dropped.
_STRUCTURAL_KEYS = (
    "SIMPLE", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT", "BZERO", "BSCALE", "BLANK",
    "CHECKSUM", "DATASUM", "COMMENT", "HISTORY", "",
)  # fmt: skip

#: Prefix of the provenance HISTORY cards this module writes and :func:`read_provenance_history`
#: reads back.
HISTORY_PREFIX = "DKPC"
_HISTORY_WIDTH = 72  # characters of text in one HISTORY card


class L1HeaderError(ValueError, ExpectedError):
    """A raw header or calibration input cannot give a valid SPEC-0214 L1 header."""


class L1Provenance(BaseModel):
    """Everything about *how* a Level 1 frame was made; the same for all frames of a recipe run.

    It is a plain JSON-serialisable record (``model_dump_json`` / ``model_validate_json``), so it
    can cross process boundaries and be stored with the recipe run.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    recipe_run_id: int = Field(description="RRUNID: the recipe run that produced the frame")
    recipe_id: int = Field(description="RECIPEID: the recipe the run was made from")
    recipe_instance_id: int = Field(description="RINSTID: the recipe instance of the run")
    input_dataset_observe_id: int = Field(description="IDSOBSID: input dataset observe part")
    input_dataset_calibration_id: int | None = Field(
        None, description="IDSCALID: input dataset calibration part"
    )
    input_dataset_parameters_id: int | None = Field(
        None, description="IDSPARID: input dataset parameters part"
    )
    workflow_name: str = Field(description="WKFLNAME")
    workflow_version: str = Field(description="WKFLVERS")
    calibration_version: str = Field(
        description="CALVERS: version of the calibration code (this library or the instrument's)"
    )
    library_versions: dict[str, str] = Field(
        default_factory=dict, description="Versions of other packages used (HISTORY)"
    )
    manual_processing: bool = Field(
        False,
        description="MANPROCD: a person influenced the processing (manual by definition "
        "or by exception)",
    )
    dataset_id: str = Field(description="DSETID (and POINT_ID)")
    product_id: str = Field(
        description="PRODUCT: stays the same when the observation is reprocessed"
    )
    parameter_values: dict[str, Any] = Field(
        default_factory=dict, description="Parameter values used, name -> JSON value (HISTORY)"
    )
    task_order: list[str] = Field(default_factory=list, description="Tasks in run order (HISTORY)")
    fitted_values: dict[str, Any] = Field(
        default_factory=dict,
        description="Values fitted during the run and used for these frames (e.g. the polcal "
        "calibration unit), name -> JSON value (HISTORY)",
    )
    info_url: str = Field(description="INFO_URL: documentation page of this workflow version")
    head_url: str = Field(description="HEAD_URL: documentation of the headers of this frame")
    cal_url: str = Field(description="CAL_URL: calibration documentation / code of this version")


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


# ---------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------
_PERCENTILES = (1, 2, 5, 10, 25, 75, 90, 95, 98, 99)
#: Percentiles and the median are estimated on a regular subsample of at most this many pixels;
#: the rank error of a quantile from n samples is ~ sqrt(p(1-p)/n) < 0.1 % of the pixels here.
STATISTICS_SAMPLE_SIZE = 1 << 18


@numba.njit(cache=True, nogil=True)
def _moments(flat):  # pragma: no cover - compiled
    n = 0
    lo = np.inf
    hi = -np.inf
    s1 = 0.0
    for v in flat:
        if v == v:  # not NaN
            n += 1
            x = float(v)
            s1 += x
            lo = min(lo, x)
            hi = max(hi, x)
    if n == 0:
        return 0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan
    mean = s1 / n
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    for v in flat:
        if v == v:
            d = float(v) - mean
            d2 = d * d
            m2 += d2
            m3 += d2 * d
            m4 += d2 * d2
    m2 /= n
    m3 /= n
    m4 /= n
    skew = m3 / m2**1.5 if m2 > 0 else 0.0
    kurt = m4 / (m2 * m2) - 3.0 if m2 > 0 else 0.0
    return n, lo, hi, mean, math.sqrt(m2), skew, kurt


def array_statistics(data: np.ndarray) -> dict[str, float]:
    """Statistics of a calibrated array for the SPEC-0214 "Statistics" table (NaNs ignored).

    Exact over all finite pixels: ``DATAMIN``, ``DATAMAX``, ``DATAMEAN``, ``DATARMS`` (the RMS
    deviation from the mean, i.e. the standard deviation, as the specification defines it),
    ``DATASKEW`` (third standardised moment) and ``DATAKURT`` (excess kurtosis, fourth standardised
    moment minus 3), in float64 in two passes.

    Estimated on a regular subsample of at most :data:`STATISTICS_SAMPLE_SIZE` pixels (every k-th
    pixel of the flattened array): ``DATAMEDN`` and ``DATAPpp`` for pp in 01, 02, 05, 10, 25, 75,
    90, 95, 98, 99. SPEC-0214 does not ask for exact order statistics and a full sort of a
    4096x4096 frame would cost more than writing it.
    """
    flat = np.ascontiguousarray(data, dtype=np.dtype(data.dtype).newbyteorder("=")).reshape(-1)
    n, lo, hi, mean, rms, skew, kurt = _moments(flat)
    if n == 0:
        raise L1HeaderError("the calibrated array has no finite pixel; statistics are undefined")
    step = max(1, flat.size // STATISTICS_SAMPLE_SIZE)
    sample = flat[::step].astype(np.float64)
    sample = sample[np.isfinite(sample)]
    q = np.percentile(sample, (50, *_PERCENTILES)) if sample.size else np.full(11, mean)
    stats = {
        "DATAMIN": lo,
        "DATAMAX": hi,
        "DATAMEAN": mean,
        "DATAMEDN": float(q[0]),
        "DATARMS": rms,
        "DATAKURT": kurt,
        "DATASKEW": skew,
    }
    stats.update({f"DATAP{p:02d}": float(v) for p, v in zip(_PERCENTILES, q[1:])})
    return {k: float(v) for k, v in stats.items()}


# ---------------------------------------------------------------------------------------------
# provenance in HISTORY
# ---------------------------------------------------------------------------------------------
def _history_cards(provenance: L1Provenance) -> list[str]:
    """Logical provenance records, one per item, each ``DKPC <KIND> <text>``.

    Records longer than a HISTORY card are split; continuation cards start with ``DKPC+``.
    """
    records = [f"TASKS {len(provenance.task_order)}"]
    records += [f"TASK {i} {name}" for i, name in enumerate(provenance.task_order, start=1)]
    for name in sorted(provenance.parameter_values):
        value = json.dumps(provenance.parameter_values[name], separators=(",", ":"))
        records.append(f"PARAM {name}={value}")
    for name in sorted(provenance.library_versions):
        records.append(f"VERSION {name}={provenance.library_versions[name]}")
    for name in sorted(provenance.fitted_values):
        value = json.dumps(provenance.fitted_values[name], separators=(",", ":"))
        records.append(f"FIT {name}={value}")
    cards = []
    for record in records:
        text = f"{HISTORY_PREFIX} {record}"
        first = True
        while text:
            prefix = "" if first else f"{HISTORY_PREFIX}+ "
            room = _HISTORY_WIDTH - len(prefix)
            cards.append(prefix + text[:room])
            text = text[room:]
            first = False
    return cards


def read_provenance_history(header: fits.Header) -> dict[str, Any]:
    """Read back the provenance written in HISTORY by :func:`build_l1_header`.

    Returns ``{"task_order": [...], "parameter_values": {...}, "library_versions": {...},
    "fitted_values": {...}}``.
    """
    records: list[str] = []
    for value in header.get("HISTORY", []):
        text = str(value)
        if text.startswith(f"{HISTORY_PREFIX}+ ") and records:
            records[-1] += text[len(HISTORY_PREFIX) + 2 :]
        elif text.startswith(f"{HISTORY_PREFIX} "):
            records.append(text[len(HISTORY_PREFIX) + 1 :])
    out: dict[str, Any] = {
        "task_order": [],
        "parameter_values": {},
        "library_versions": {},
        "fitted_values": {},
    }
    for record in records:
        kind, _, rest = record.partition(" ")
        if kind == "TASK":
            out["task_order"].append(rest.partition(" ")[2])
        elif kind == "PARAM":
            name, _, value = rest.partition("=")
            out["parameter_values"][name] = json.loads(value)
        elif kind == "VERSION":
            name, _, value = rest.partition("=")
            out["library_versions"][name] = value
        elif kind == "FIT":
            name, _, value = rest.partition("=")
            out["fitted_values"][name] = json.loads(value)
    return out


# ---------------------------------------------------------------------------------------------
# header assembly
# ---------------------------------------------------------------------------------------------
_WCS_KEY = re.compile(
    r"^(WCSAXES|WCSNAME|CRPIX\d|CRVAL\d|CDELT\d|CUNIT\d|CTYPE\d|CNAME\d|CRDATE\d|PC\d_\d|PV\d_\d"
    r"|LONPOLE|LATPOLE)(A?)$"
)
_WCS_AXIS_KEY = re.compile(r"^(?:CRPIX|CRVAL|CDELT|CUNIT|CTYPE|CNAME|CRDATE|NBIN)(\d)A?$")
_WCS_MATRIX_KEY = re.compile(r"^P[CV](\d)_(\d)A?$")
_DKIST_GEOCENTRIC_M = tuple(float(c.to_value(u.m)) for c in DKIST_LOCATION.geocentric)


#: Seconds of observation time computed together: the coordinate transformation of an array of
#: times costs about as much as that of one time (~70 ms), and gives the same numbers.
OBSERVER_BLOCK_SECONDS = 64
_OBSERVER: dict[str, tuple[float, float]] = {}


def _observer_velocity_and_solar_radius(date_avg: str) -> tuple[float, float]:
    """OBS_VR (m/s, outward velocity of DKIST w.r.t. the Sun) and SOLARRAD (arcsec).

    ``date_avg`` is an isot time to the second. The values of the following
    :data:`OBSERVER_BLOCK_SECONDS` seconds are computed in the same (vectorised) transformation
    and cached, so a dataset pays for one transformation per minute of observation.
    """
    cached = _OBSERVER.get(date_avg)
    if cached is None:
        start = Time(date_avg, format="isot", scale="utc")
        seconds = [date_avg] + [
            t[:19] for t in (start + np.arange(1, OBSERVER_BLOCK_SECONDS) * u.s).isot
        ]
        values = _observer_velocity_and_solar_radius_at(seconds)
        if len(_OBSERVER) > 1 << 17:
            _OBSERVER.clear()
        _OBSERVER.update(zip(seconds, values))
        cached = _OBSERVER[date_avg]
    return cached


def _observer_velocity_and_solar_radius_at(dates: list[str]) -> list[tuple[float, float]]:
    from sunpy.coordinates import HeliocentricInertial, sun

    obstime = Time(dates, format="isot", scale="utc")
    gcrs = DKIST_LOCATION.get_gcrs(obstime=obstime)
    hci = gcrs.transform_to(HeliocentricInertial(obstime=obstime))
    obs_vr = np.atleast_1d(hci.d_distance.to_value(u.m / u.s))
    radius = np.atleast_1d(
        np.arcsin((sun.constants.radius / hci.distance).decompose()).to_value(u.arcsec)
    )
    return [(float(v), float(r)) for v, r in zip(obs_vr, radius)]


# ---------------------------------------------------------------------------------------------
# SPEC-0122 -> SPEC-0214 translation
# ---------------------------------------------------------------------------------------------
#: Values of the header that the specification libraries use to shape a schema: the instrument
#: and polarimetric mode (conditional requiredness) and the counts that expand indexed keys
#: (``NAXISn``, ``DNAXISd``, ``DINDEXk``, ``PROPIDrr`` ...). Headers that agree on these (and on
#: their set of keys) get the same key order, translation and validation schema, so the
#: schema-derived work is done once per such group and cached (see ``_schema_signature``).
_SCHEMA_SHAPING_KEYS = (
    "INSTRUME", "NAXIS", "DAAXES", "DEAXES", "DNAXIS", "NPROPOS", "NEXPERS", "NSPECLNS",
    "ZIMAGE", "TFIELDS", "EXTNAME", "VSPPOLMD", "CNMODNST", "CNSPINMD", "DLPOLMD",
)  # fmt: skip
_COMMENTARY_KEYS = frozenset(("", "COMMENT", "HISTORY"))
_TRANSLATION_DEFAULTS = {"str": "default", "int": -999, "float": -999.9, "bool": False}
#: Bound on the number of cached card images; entries of per-frame values (statistics, dates)
#: would otherwise grow with the number of frames.
_CARD_CACHE_LIMIT = 20000


def _schema_signature(values: Mapping[str, Any]) -> tuple:
    shaping = tuple((k, type(values[k]), values[k]) for k in _SCHEMA_SHAPING_KEYS if k in values)
    return shaping + tuple(k for k in values if k.startswith("ZVAL"))


def _translate_raw(raw_header: fits.Header, source: str) -> fits.Header:
    """The raw header translated by ``dkist_header_validator`` and stripped of level-0 keys."""
    from dkist_header_validator.translator import (
        remove_spec_122_keys_and_spec_214_l0_keys,
        translate_spec122_to_spec214_l0,
    )

    for key in ("INSTRUME", "DATE-OBS"):
        if key not in raw_header:
            raise L1HeaderError(f"{source}: required SPEC-0122 keyword {key!r} is missing")
    try:
        translated = translate_spec122_to_spec214_l0(fits.Header(raw_header))
    except KeyError as err:
        raise _missing_keyword_error(err, source) from err
    header = remove_spec_122_keys_and_spec_214_l0_keys(translated)
    for key in _STRUCTURAL_KEYS:
        header.remove(key, ignore_missing=True, remove_all=True)
    return header


def _missing_keyword_error(err: KeyError, source: str) -> L1HeaderError:
    match = re.search(r"'([^']+)'", str(err))
    keyword = match.group(1) if match else str(err)
    return L1HeaderError(
        f"{source}: required keyword {keyword!r} (or its SPEC-0122 source) is missing"
    )


@functools.lru_cache(maxsize=16)
def _translation_rules(instrument: str) -> tuple[tuple[str, bool, bool, Any, bool, Any], ...]:
    """The level-0 SPEC-0214 schema of an instrument as translation rules, in schema order.

    Each rule is ``(key, copied, schema_only, rename, required, type)`` as read by
    ``dkist_header_validator.translator._translate_key``. Loading the schema takes seconds, so
    it is done once per instrument and process.
    """
    from dkist_fits_specifications.spec214 import level0

    sections = level0.load_level0_spec214(INSTRUME=instrument).values()
    flat = {key: schema for section in sections for key, schema in section.items()}
    return tuple(
        (key, bool(s.get("copy")), s.get("copy") == "schema", s.get("rename"),
         bool(s.get("required")), s.get("type"))
        for key, s in flat.items()
    )  # fmt: skip


@functools.lru_cache(maxsize=1)
def _level0_only_and_spec122_keys() -> tuple[frozenset[str], frozenset[str]]:
    from dkist_fits_specifications.spec122 import load_spec122
    from dkist_fits_specifications.spec214 import get_214_l0_only_keys

    spec122 = frozenset(k for section in load_spec122().values() for k in section)
    return frozenset(get_214_l0_only_keys()), spec122


#: (instrument, raw keys, schema signature) -> translation plan (see ``_translation_plan``)
_TRANSLATION_PLANS: dict[tuple, tuple[tuple[str, bool, Any], ...] | None] = {}


def _translation_plan(
    instrument: str, raw_keys: tuple[str, ...], translated_values: Mapping[str, Any] | None = None
) -> tuple[tuple[str, bool, Any], ...]:
    """How each SPEC-0214 key of the translated header is made from a raw header with these keys.

    ``(key, from_raw, source)``: ``from_raw`` the value of raw key ``source``, else the constant
    ``source``. It follows ``translate_spec122_to_spec214_l0`` (schema keys that are copied,
    renamed or required, then the other raw keys) and ``remove_spec_122_keys_and_spec_214_l0_keys``
    (drop level-0 only keys and SPEC-0122 keys that SPEC-0214 does not have), and drops the raw
    file's structural keys. Raises ``KeyError`` like the translator for a missing required key.
    """
    from dkist_fits_specifications.spec214 import load_processed_spec214

    present = set(raw_keys)
    result: dict[str, tuple[bool, Any]] = {}
    for key, copied, schema_only, rename, required, type_ in _translation_rules(instrument):
        in_header = key in present
        renamed_in_header = bool(rename) and rename in present
        if schema_only and in_header:
            result[key] = (False, _TRANSLATION_DEFAULTS[type_])
        elif copied and in_header:
            result[key] = (True, key)
        elif copied and renamed_in_header:
            result[key] = (True, rename)
        elif copied and required:
            raise KeyError(f" Required keyword {key!r} not found.")
        elif not copied and required:
            result[key] = (True, key) if in_header else (False, _TRANSLATION_DEFAULTS[type_])
    for key in raw_keys:
        if key not in result:
            result[key] = (True, key)
    level0_only, spec122_keys = _level0_only_and_spec122_keys()
    # The SPEC-0214 key set depends on the header only through its schema signature.
    values = translated_values or {}
    spec214_keys = {k for s in load_processed_spec214(**values).values() for k in s}
    return tuple(
        (key, from_raw, source)
        for key, (from_raw, source) in result.items()
        if key not in level0_only
        and not (key in spec122_keys and key not in spec214_keys)
        and key not in _STRUCTURAL_KEYS
        and key != "DATE"  # the translator stamps the time; the L1 header sets its own DATE
    )


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, fits.card.Undefined) and isinstance(b, fits.card.Undefined):
        return True
    return type(a) is type(b) and (a == b or (isinstance(a, float) and a != a and b != b))


def _translate_raw_fast(raw_header: fits.Header, source: str) -> dict[str, Any] | None:
    """``_translate_raw`` as a plain dict, from a plan cached per set of raw keys.

    The first header of each set of keys is also translated by ``dkist_header_validator``; if the
    two differ (a newer library with new rules), that set of keys stays on the library's path
    (returns None).
    """
    cards = raw_header.cards
    keys = tuple(c.keyword for c in cards)
    raw = {c.keyword: c.value for c in cards if c.keyword not in _COMMENTARY_KEYS}
    if len(raw) != sum(1 for k in keys if k not in _COMMENTARY_KEYS):
        return None  # repeated keywords: leave the ambiguity to the library
    for key in ("INSTRUME", "DATE-OBS"):
        if key not in raw:
            raise L1HeaderError(f"{source}: required SPEC-0122 keyword {key!r} is missing")
    instrument = raw["INSTRUME"]
    cache_key = (instrument, keys, _schema_signature(raw))
    plan = _TRANSLATION_PLANS.get(cache_key, False)
    if plan is False:
        reference = _translate_raw(raw_header, source)  # raises L1HeaderError if keys are missing
        expected = {c.keyword: c.value for c in reference.cards if c.keyword != "DATE"}
        try:
            plan = _translation_plan(str(instrument), keys, {**expected, "DATE": ""})
        except KeyError:
            plan = None
        if plan is not None:
            made = {k: raw[s] if from_raw else s for k, from_raw, s in plan}
            if made.keys() != expected.keys() or not all(
                _same_value(made[k], expected[k]) for k in made
            ):
                plan = None
        _TRANSLATION_PLANS[cache_key] = plan
    if plan is None:
        return None
    return {k: raw[s] if from_raw else s for k, from_raw, s in plan}


# ---------------------------------------------------------------------------------------------
# SPEC-0214 layout (key order, section comments) and validation, cached per schema signature
# ---------------------------------------------------------------------------------------------
#: (keys, schema signature) -> [(keyword, None | literal card image, spec comment)]
_LAYOUTS: dict[tuple, list[tuple[str, str | None, str]]] = {}
_CARD_IMAGES: dict[tuple, str] = {}


def _layout(values: Mapping[str, Any], signature: tuple) -> list[tuple[str, str | None, str]]:
    """The card sequence ``reformat_spec214_header`` makes for headers with these keys."""
    from dkist_fits_specifications.utils.formatter import reformat_spec214_header

    cache_key = (tuple(values), signature)
    layout = _LAYOUTS.get(cache_key)
    if layout is None:
        # Without comments in the input, the output comments are the specification's.
        out = reformat_spec214_header(fits.Header(list(values.items())))
        layout = [
            (c.keyword, c.image if c.keyword in _COMMENTARY_KEYS else None, c.comment)
            for c in out.cards
        ]
        _LAYOUTS[cache_key] = layout
    return layout


def _card(key: str, value: Any, comment: str) -> fits.Card:
    """A card; its image is reused when the same key, value and comment were formatted before."""
    image_key = (key, type(value), repr(value), comment)
    image = _CARD_IMAGES.get(image_key)
    if image is None:
        card = fits.Card(key, value, comment)
        if len(_CARD_IMAGES) >= _CARD_CACHE_LIMIT:
            _CARD_IMAGES.clear()
        _CARD_IMAGES[image_key] = card.image
        return card
    return fits.Card.fromstring(image)


@functools.lru_cache(maxsize=64)
def _history_images(provenance_json: str) -> tuple[str, ...]:
    provenance = L1Provenance.model_validate_json(provenance_json)
    return tuple(fits.Card("HISTORY", text).image for text in _history_cards(provenance))


class _ValidationSchema:
    """The SPEC-0214 validation of ``spec214_validator`` for one schema signature, per key.

    ``spec214_validator`` rebuilds its (voluptuous) schema from the specification for every
    header. Here it is built once: the allowed keys, the required keys and each key's check
    (type, allowed values or range, format, finite float), exactly as the validator generates
    them; a check is a pure function of the value, so a (key, value) that passed once passes
    again and is remembered.
    """

    def __init__(self, header: fits.Header, values: Mapping[str, Any]):
        from dkist_header_validator import spec214_validator
        from dkist_header_validator.base_validator import SpecSchema

        schema = spec214_validator.spec_schema(header)._check_for_expansion(dict(values))
        self.checks = {k: SpecSchema.generate_schema_for_key(v) for k, v in schema.items()}
        self.required = frozenset(k for k, v in schema.items() if v.get("required"))
        self.passed: set[tuple] = set()

    def is_valid(self, values: Mapping[str, Any]) -> bool:
        import voluptuous as vol

        if not self.required.issubset(values.keys()) or not self.checks.keys() >= values.keys():
            return False
        for key, value in values.items():
            memo = (key, type(value), repr(value))
            if memo in self.passed:
                continue
            try:
                self.checks[key](value)
            except vol.Invalid:
                return False
            if len(self.passed) >= _CARD_CACHE_LIMIT:
                self.passed.clear()
            self.passed.add(memo)
        return True


_VALIDATION_SCHEMAS: dict[tuple, _ValidationSchema] = {}


def _card_values(header: fits.Header) -> dict[str, Any]:
    """The values the validator sees (commentary cards left out)."""
    return {c.keyword: c.value for c in header.cards if c.keyword not in _COMMENTARY_KEYS}


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
    hdr = _translate_raw_fast(raw_header, source) if cache else None
    if hdr is None:
        hdr = _card_values(_translate_raw(raw_header, source))
    comments: dict[str, str] = {}
    _assemble_l1_keys(hdr, comments, raw_header, data, provenance, frame, source)

    if not cache:
        from dkist_fits_specifications.utils.formatter import reformat_spec214_header

        try:
            out = reformat_spec214_header(
                fits.Header([(k, v, comments.get(k, "")) for k, v in hdr.items()])
            )
        except ValueError as err:
            raise L1HeaderError(f"{source}: {err}") from err
        for text in _history_cards(provenance):
            out.add_history(text)
        if validate:
            validate_l1_header(out, source=source)
        return out

    # What a Header holds and the validator reads: values, trailing blanks of strings stripped.
    values = {k: v.rstrip() if isinstance(v, str) else v for k, v in hdr.items()}
    signature = _schema_signature(values)
    try:
        layout = _layout(values, signature)
    except ValueError as err:
        raise L1HeaderError(f"{source}: {err}") from err
    cards = [
        fits.Card.fromstring(image)
        if image is not None
        else _card(key, values[key], comments.get(key) or spec_comment)
        for key, image, spec_comment in layout
    ]
    cards += [fits.Card.fromstring(i) for i in _history_images(provenance.model_dump_json())]
    out = fits.Header(cards)
    if validate:
        schema = _VALIDATION_SCHEMAS.get(signature)
        if schema is None:
            validate_l1_header(out, source=source)  # the first header of a kind: in full
            _VALIDATION_SCHEMAS[signature] = _ValidationSchema(out, values)
        elif not schema.is_valid(values):
            validate_l1_header(out, source=source)  # names the keyword(s)
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
    from dkist_fits_specifications import __version__ as spec_version

    # --- the array -----------------------------------------------------------------------
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

    # --- time -----------------------------------------------------------------------------
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

    # --- observer (SOLARNET) ---------------------------------------------------------------
    hdr["OBSGEO-X"] = _DKIST_GEOCENTRIC_M[0]
    hdr["OBSGEO-Y"] = _DKIST_GEOCENTRIC_M[1]
    hdr["OBSGEO-Z"] = _DKIST_GEOCENTRIC_M[2]
    # Rounded to the second: the velocity changes by < 1 mm/s in a second; keeps the cache hot.
    obs_vr, solar_radius = _observer_velocity_and_solar_radius(avg[:19])
    hdr["OBS_VR"] = obs_vr
    hdr["SOLARRAD"] = solar_radius
    hdr["SPECSYS"] = "TOPOCENT"  # no Doppler correction of wavelengths is made
    hdr["VELOSYS"] = 0.0

    # --- datacenter / provenance ------------------------------------------------------------
    p = provenance
    hdr["FILE_ID"] = uuid.uuid4().hex
    hdr["DSETID"] = p.dataset_id
    hdr["POINT_ID"] = p.dataset_id
    hdr["FRAMEVOL"] = -1.0  # replaced by the writer with the size of the file
    hdr["PROCTYPE"] = "L1"
    hdr["RRUNID"] = p.recipe_run_id
    hdr["RECIPEID"] = p.recipe_id
    hdr["RINSTID"] = p.recipe_instance_id
    hdr["EXTNAME"] = "OBSERVATION"
    hdr["SOLARNET"] = 1.0
    hdr["OBS_HDU"] = 1
    hdr["LEVEL"] = 1
    hdr["HEADVERS"] = spec_version
    hdr["HEAD_URL"] = p.head_url
    hdr["INFO_URL"] = p.info_url
    hdr["CALVERS"] = p.calibration_version
    hdr["CAL_URL"] = p.cal_url
    hdr["IDSOBSID"] = p.input_dataset_observe_id
    if p.input_dataset_calibration_id is not None:
        hdr["IDSCALID"] = p.input_dataset_calibration_id
    if p.input_dataset_parameters_id is not None:
        hdr["IDSPARID"] = p.input_dataset_parameters_id
    hdr["WKFLNAME"] = p.workflow_name
    hdr["WKFLVERS"] = p.workflow_version
    hdr["MANPROCD"] = p.manual_processing
    hdr["PRODUCT"] = p.product_id
    if frame.cadence_s is not None:
        for key, value in zip(("CADENCE", "CADMIN", "CADMAX", "CADVAR"), frame.cadence_s):
            hdr[key] = float(value)
    # Contributing proposals and experiments: this frame's own.
    if "PROP_ID" in hdr:
        hdr["NPROPOS"] = 1
        hdr["PROPID01"] = hdr["PROP_ID"]
    if "EXPER_ID" in hdr:
        hdr["NEXPERS"] = 1
        hdr["EXPRID01"] = hdr["EXPER_ID"]
    if "ID___014" in raw_header and "HLSVERS" not in hdr:
        hdr["HLSVERS"] = raw_header["ID___014"]

    # --- dataset ----------------------------------------------------------------------------
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

    # --- camera binning (NBINn = hardware x software binning) --------------------------------
    nbin = 1
    for n in range(1, data.ndim + 1):
        b = int(hdr.get(f"HWBIN{n}", 1)) * int(hdr.get(f"SWBIN{n}", 1)) if n <= 2 else 1
        hdr[f"NBIN{n}"] = b
        nbin *= b
    hdr["NBIN"] = nbin

    # --- adaptive optics: r0 only where the raw frame had one ---------------------------------
    # The translator copies ATMOS_R0 (AO___001) and AO_LOCK (AO___002) when present; a frame
    # without r0 simply has no ATMOS_R0 (SPEC-0214 marks it "expected", not required).
    for key in ("ATMOS_R0", "AO_LOCK"):
        if key in hdr and (hdr[key] is None or isinstance(hdr[key], fits.card.Undefined)):
            del hdr[key]

    # --- statistics -------------------------------------------------------------------------
    for key, value in array_statistics(data).items():
        hdr[key] = value

    for key, value in frame.instrument_keys.items():
        _set(hdr, comments, key, value)

    hdr["FILENAME"] = frame.filename or l1_filename(hdr, frame.stokes, p.dataset_id)


def validate_l1_header(header: fits.Header, *, source: str = "L1 header") -> None:
    """Validate against SPEC-0214 (no extra keys); raise :class:`L1HeaderError` naming the keys."""
    from dkist_header_validator import spec214_validator
    from dkist_header_validator.exceptions import SpecValidationException

    try:
        spec214_validator.validate(header, extra=False)
    except SpecValidationException as err:
        errors = getattr(err, "errors", None) or {}
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or str(err)
        raise L1HeaderError(f"{source}: not a valid SPEC-0214 L1 header: {detail}") from err
