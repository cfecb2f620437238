"""Build SPEC-0214 Level 1 headers from a raw SPEC-0122 header and what calibration knows.

This is the public entry of the L1 header; the work is done in its parts:

- :mod:`.translation`: the raw (SPEC-0122) summit header translated to SPEC-0214 keywords with
  ``dkist_header_validator.translator``, and the translation plan cached per schema signature;
- :mod:`.provenance`: the provenance of the recipe run (:class:`L1Provenance`, made from the run
  spec's typed provenance by :func:`l1_provenance`) as SPEC-0214 keywords and HISTORY cards;
- :mod:`.statistics`: statistics of the array (``DATAMIN`` ... ``DATASKEW``, ``DATAPpp``);
- :mod:`.observer`: where the telescope was (``OBSGEO-*``, ``OBS_VR``, ``SOLARRAD``);
- :mod:`.layout`: the key order and section comments of the specification, and validation,
  cached per schema signature;
- :mod:`.assembly`: :func:`build_l1_header`, which puts them together with the description of
  the calibrated array and its dataset (:class:`L1FrameDescription`).

The result is validated with ``dkist_header_validator.spec214_validator`` (no extra keys
allowed), so a header :func:`build_l1_header` returns is a valid SPEC-0214 Level 1 header.

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

from .assembly import DatasetAxis, L1FrameDescription, build_l1_header, l1_filename
from .errors import L1HeaderError
from .layout import validate_l1_header
from .observer import (  # noqa: F401 - the observer cache, as tests reach it
    _OBSERVER,
    DKIST_LOCATION,
    OBSERVER_BLOCK_SECONDS,
    _observer_velocity_and_solar_radius,
    _observer_velocity_and_solar_radius_at,
)
from .provenance import (
    HISTORY_PREFIX,
    L1Provenance,
    header_spec_url,
    l1_provenance,
    read_provenance_history,
)
from .statistics import STATISTICS_SAMPLE_SIZE, array_statistics

__all__ = [
    "DKIST_LOCATION",
    "HISTORY_PREFIX",
    "OBSERVER_BLOCK_SECONDS",
    "STATISTICS_SAMPLE_SIZE",
    "DatasetAxis",
    "L1FrameDescription",
    "L1HeaderError",
    "L1Provenance",
    "array_statistics",
    "build_l1_header",
    "header_spec_url",
    "l1_filename",
    "l1_provenance",
    "read_provenance_history",
    "validate_l1_header",
]
