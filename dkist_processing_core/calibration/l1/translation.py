"""SPEC-0122 -> SPEC-0214 translation of a raw header, and the caches that make it fast.

``dkist_header_validator.translator`` translates a raw (SPEC-0122) summit header to SPEC-0214
keywords (renames such as ``AO___001`` -> ``ATMOS_R0``, ``DATE-OBS`` -> ``DATE-BEG``) and removes
the keys that only exist at Level 0 (:func:`translate_raw`). The libraries rebuild their schemas
for every header, so :func:`translate_raw_fast` derives from the specification, once per
*schema signature* (the set of raw keys and the few values that shape the schema), a
*translation plan*: for each SPEC-0214 key, which raw key (or constant) it is made from. The first
header of a signature is also translated by the library and the plan is kept only if both agree.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import re
from collections.abc import Mapping
from typing import Any

from astropy.io import fits

from . import spec_cache
from .errors import L1HeaderError

__all__ = [
    "COMMENTARY_KEYS",
    "STRUCTURAL_KEYS",
    "schema_signature",
    "translate_raw",
    "translate_raw_fast",
]

#: The keys of the raw header that describe the raw file's structure, not the observation.
#: They are rewritten for the L1 file by the writer, so the raw values are dropped.
STRUCTURAL_KEYS = (
    "SIMPLE", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT", "BZERO", "BSCALE", "BLANK",
    "CHECKSUM", "DATASUM", "COMMENT", "HISTORY", "",
)  # fmt: skip


#: Values of the header that the specification libraries use to shape a schema: the instrument
#: and polarimetric mode (conditional requiredness) and the counts that expand indexed keys
#: (``NAXISn``, ``DNAXISd``, ``DINDEXk``, ``PROPIDrr`` ...). Headers that agree on these (and on
#: their set of keys) get the same key order, translation and validation schema, so the
#: schema-derived work is done once per such group and cached (see ``schema_signature``).
_SCHEMA_SHAPING_KEYS = (
    "INSTRUME", "NAXIS", "DAAXES", "DEAXES", "DNAXIS", "NPROPOS", "NEXPERS", "NSPECLNS",
    "ZIMAGE", "TFIELDS", "EXTNAME", "VSPPOLMD", "CNMODNST", "CNSPINMD", "DLPOLMD",
)  # fmt: skip
COMMENTARY_KEYS = frozenset(("", "COMMENT", "HISTORY"))
_TRANSLATION_DEFAULTS = {"str": "default", "int": -999, "float": -999.9, "bool": False}
_logger = logging.getLogger(__name__)


def quiet(function):
    """Run ``function`` with stdout captured into the debug log.

    ``dkist-fits-specifications`` prints notes about its schemas (``print``) while it loads
    them; a library in someone else's process (a notebook, a service) must not write on
    their stdout, so those notes go to this module's debug log instead.
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                return function(*args, **kwargs)
        finally:
            for line in captured.getvalue().splitlines():
                _logger.debug("dkist-fits-specifications: %s", line)

    return wrapper


def schema_signature(values: Mapping[str, Any]) -> tuple:
    """The values of ``values`` that shape the SPEC-0214 schema (see ``_SCHEMA_SHAPING_KEYS``)."""
    shaping = tuple((k, type(values[k]), values[k]) for k in _SCHEMA_SHAPING_KEYS if k in values)
    return shaping + tuple(k for k in values if k.startswith("ZVAL"))


@quiet
def translate_raw(raw_header: fits.Header, source: str) -> fits.Header:
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
    for key in STRUCTURAL_KEYS:
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
    ``dkist_header_validator.translator._translate_key``. Expanding the schema takes seconds,
    so it is done once per instrument and specifications version, and kept on disk
    (:mod:`.spec_cache`); a process reads it once.
    """
    name = "spec214-l0-rules-" + re.sub(r"[^A-Za-z0-9._-]", "_", instrument)
    rules = spec_cache.cached(name, lambda: _build_translation_rules(instrument))
    return tuple(tuple(rule) for rule in rules)


@quiet
def _build_translation_rules(instrument: str) -> list[list]:
    from dkist_fits_specifications.spec214 import level0

    sections = level0.load_level0_spec214(INSTRUME=instrument).values()
    flat = {key: schema for section in sections for key, schema in section.items()}
    return [
        [key, bool(s.get("copy")), s.get("copy") == "schema", s.get("rename"),
         bool(s.get("required")), s.get("type")]
        for key, s in flat.items()
    ]  # fmt: skip


@functools.lru_cache(maxsize=1)
def _level0_only_and_spec122_keys() -> tuple[frozenset[str], frozenset[str]]:
    level0_only, spec122 = spec_cache.cached("spec214-l0-only-and-spec122-keys", _build_key_sets)
    return frozenset(level0_only), frozenset(spec122)


@quiet
def _build_key_sets() -> list[list[str]]:
    from dkist_fits_specifications.spec122 import load_spec122
    from dkist_fits_specifications.spec214 import get_214_l0_only_keys

    spec122 = [k for section in load_spec122().values() for k in section]
    return [sorted(get_214_l0_only_keys()), sorted(set(spec122))]


#: (instrument, raw keys, schema signature) -> translation plan (see ``_translation_plan``)
_TRANSLATION_PLANS: dict[tuple, tuple[tuple[str, bool, Any], ...] | None] = {}


@quiet
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
        and key not in STRUCTURAL_KEYS
        and key != "DATE"  # the translator stamps the time; the L1 header sets its own DATE
    )


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, fits.card.Undefined) and isinstance(b, fits.card.Undefined):
        return True
    return type(a) is type(b) and (a == b or (isinstance(a, float) and a != a and b != b))


def translate_raw_fast(raw_header: fits.Header, source: str) -> dict[str, Any] | None:
    """``translate_raw`` as a plain dict, from a plan cached per set of raw keys.

    The first header of each set of keys is also translated by ``dkist_header_validator``; if the
    two differ (a newer library with new rules), that set of keys stays on the library's path
    (returns None).
    """
    cards = raw_header.cards
    keys = tuple(c.keyword for c in cards)
    raw = {c.keyword: c.value for c in cards if c.keyword not in COMMENTARY_KEYS}
    if len(raw) != sum(1 for k in keys if k not in COMMENTARY_KEYS):
        return None  # repeated keywords: leave the ambiguity to the library
    for key in ("INSTRUME", "DATE-OBS"):
        if key not in raw:
            raise L1HeaderError(f"{source}: required SPEC-0122 keyword {key!r} is missing")
    instrument = raw["INSTRUME"]
    cache_key = (instrument, keys, schema_signature(raw))
    plan = _TRANSLATION_PLANS.get(cache_key, False)
    if plan is False:
        reference = translate_raw(raw_header, source)  # raises L1HeaderError if keys are missing
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
