"""SPEC-0214 layout (key order, section comments) and validation, cached per schema signature.

``dkist_fits_specifications``' formatter orders the keys of a header as the specification lays
them out, with section comments, and ``dkist_header_validator`` validates it; both rebuild their
schemas for every header. Here what depends only on the header's set of keys and its schema
signature (see :func:`.translation.schema_signature`) is computed once: the card sequence
(:func:`layout`), the formatted card images (:func:`card`) and the per-key validation
(:class:`ValidationSchema`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from astropy.io import fits

from .errors import L1HeaderError
from .translation import COMMENTARY_KEYS, quiet

__all__ = [
    "ValidationSchema",
    "card",
    "card_values",
    "layout",
    "validate_cached",
    "validate_l1_header",
]

#: Bound on the number of cached card images; entries of per-frame values (statistics, dates)
#: would otherwise grow with the number of frames.
_CARD_CACHE_LIMIT = 20000
#: (keys, schema signature) -> [(keyword, None | literal card image, spec comment)]
_LAYOUTS: dict[tuple, list[tuple[str, str | None, str]]] = {}
_CARD_IMAGES: dict[tuple, str] = {}


@quiet
def layout(values: Mapping[str, Any], signature: tuple) -> list[tuple[str, str | None, str]]:
    """The card sequence ``reformat_spec214_header`` makes for headers with these keys."""
    from dkist_fits_specifications.utils.formatter import reformat_spec214_header

    cache_key = (tuple(values), signature)
    cards = _LAYOUTS.get(cache_key)
    if cards is None:
        # Without comments in the input, the output comments are the specification's.
        out = reformat_spec214_header(fits.Header(list(values.items())))
        cards = [
            (c.keyword, c.image if c.keyword in COMMENTARY_KEYS else None, c.comment)
            for c in out.cards
        ]
        _LAYOUTS[cache_key] = cards
    return cards


def card(key: str, value: Any, comment: str) -> fits.Card:
    """A card; its image is reused when the same key, value and comment were formatted before."""
    image_key = (key, type(value), repr(value), comment)
    image = _CARD_IMAGES.get(image_key)
    if image is None:
        made = fits.Card(key, value, comment)
        if len(_CARD_IMAGES) >= _CARD_CACHE_LIMIT:
            _CARD_IMAGES.clear()
        _CARD_IMAGES[image_key] = made.image
        return made
    return fits.Card.fromstring(image)


class ValidationSchema:
    """The SPEC-0214 validation of ``spec214_validator`` for one schema signature, per key.

    ``spec214_validator`` rebuilds its (voluptuous) schema from the specification for every
    header. Here it is built once: the allowed keys, the required keys and each key's check
    (type, allowed values or range, format, finite float), exactly as the validator generates
    them; a check is a pure function of the value, so a (key, value) that passed once passes
    again and is remembered.
    """

    @quiet
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


_VALIDATION_SCHEMAS: dict[tuple, ValidationSchema] = {}


def validate_cached(
    header: fits.Header, values: Mapping[str, Any], signature: tuple, *, source: str
) -> None:
    """:func:`validate_l1_header`, in full only for the first header of a schema signature.

    Later headers of the signature are checked key by key with the cached
    :class:`ValidationSchema`; one that fails is validated in full, so the error names the
    keyword(s) exactly as the validator does.
    """
    schema = _VALIDATION_SCHEMAS.get(signature)
    if schema is None:
        validate_l1_header(header, source=source)  # the first header of a kind: in full
        _VALIDATION_SCHEMAS[signature] = ValidationSchema(header, values)
    elif not schema.is_valid(values):
        validate_l1_header(header, source=source)  # names the keyword(s)


def card_values(header: fits.Header) -> dict[str, Any]:
    """The values the validator sees (commentary cards left out)."""
    return {c.keyword: c.value for c in header.cards if c.keyword not in COMMENTARY_KEYS}


@quiet
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
