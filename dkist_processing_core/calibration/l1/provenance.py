"""The provenance of a Level 1 frame: how it was made, in SPEC-0214 keywords and HISTORY.

:class:`L1Provenance` is the same for all frames of a recipe run. :func:`l1_provenance` makes
it from what the run was handed (the typed :class:`~dkist_processing_core.framework.RunProvenance`
and :class:`~dkist_processing_core.framework.InputDataset` of its run spec), the workflow that
runs, the installed instrument package (its documentation and source addresses, its version)
and the versions of the libraries. :func:`provenance_keys` gives the keywords SPEC-0214 names
for it (``RRUNID``, ``RECIPEID``, ``RINSTID``, ``IDSOBSID``, ``IDSCALID``, ``IDSPARID``,
``WKFLNAME``, ``WKFLVERS``, ``CALVERS``, ``MANPROCD``, ``DSETID``, ``PRODUCT``, ``INFO_URL``,
``HEAD_URL``, ``CAL_URL``); what the specification has no keyword for (parameter values, task
order, versions of the libraries) goes in FITS ``HISTORY`` cards (:func:`history_images`), which
SPEC-0214 lists for "how these headers have been updated or changed", and is read back by
:func:`read_provenance_history`.
"""

from __future__ import annotations

import functools
import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from astropy.io import fits
from pydantic import BaseModel, ConfigDict, Field

from ... import __version__ as library_version
from ...framework import Instrument, RunContext, installed_instrument

__all__ = [
    "HISTORY_PREFIX",
    "RECORDED_PACKAGES",
    "L1Provenance",
    "header_spec_url",
    "history_cards",
    "history_images",
    "l1_provenance",
    "package_version",
    "provenance_keys",
    "read_provenance_history",
]

#: Prefix of the provenance HISTORY cards this module writes and :func:`read_provenance_history`
#: reads back.
HISTORY_PREFIX = "DKPC"
_HISTORY_WIDTH = 72  # characters of text in one HISTORY card

# Packages whose versions are recorded in every L1 frame's provenance.
RECORDED_PACKAGES = (
    "numpy",
    "scipy",
    "astropy",
    "numba",
    "dkist-fits-specifications",
    "dkist-header-validator",
)


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


def history_cards(provenance: L1Provenance) -> list[str]:
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

    Returns ``{"task_order": [...], "parameter_values": {...}, "library_versions": {...}}``.
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


@functools.lru_cache(maxsize=64)
def history_images(provenance_json: str) -> tuple[str, ...]:
    """The HISTORY card images of a provenance (given as JSON, so that it can be cached)."""
    provenance = L1Provenance.model_validate_json(provenance_json)
    return tuple(fits.Card("HISTORY", text).image for text in history_cards(provenance))


def provenance_keys(provenance: L1Provenance) -> dict[str, Any]:
    """The SPEC-0214 keywords of the provenance (``IDSCALID``/``IDSPARID`` only when known)."""
    p = provenance
    keys: dict[str, Any] = {
        "DSETID": p.dataset_id,
        "POINT_ID": p.dataset_id,
        "RRUNID": p.recipe_run_id,
        "RECIPEID": p.recipe_id,
        "RINSTID": p.recipe_instance_id,
        "HEAD_URL": p.head_url,
        "INFO_URL": p.info_url,
        "CALVERS": p.calibration_version,
        "CAL_URL": p.cal_url,
        "IDSOBSID": p.input_dataset_observe_id,
    }
    if p.input_dataset_calibration_id is not None:
        keys["IDSCALID"] = p.input_dataset_calibration_id
    if p.input_dataset_parameters_id is not None:
        keys["IDSPARID"] = p.input_dataset_parameters_id
    keys["WKFLNAME"] = p.workflow_name
    keys["WKFLVERS"] = p.workflow_version
    keys["MANPROCD"] = p.manual_processing
    keys["PRODUCT"] = p.product_id
    return keys


def header_spec_url() -> str:
    """The documentation of the Level 1 header keywords (SPEC-0214) of the version in use."""
    from dkist_fits_specifications import __version__ as spec_version

    return (
        f"https://docs.dkist.nso.edu/projects/data-products/en/v{spec_version}/specs/spec-214.html"
    )


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def l1_provenance(context: RunContext) -> L1Provenance:
    """The provenance of a run's L1 frames, from the run context.

    The ids the planner assigned (recipe, recipe instance, input dataset parts, dataset,
    product) and the manual processing flag come from the run spec's typed provenance. A run
    outside the data center (a notebook) records 0 for a recipe or recipe instance it does not
    have, its input dataset's id for the input dataset parts, ``D<recipe run id>`` as dataset id
    and ``L1-<dataset id>`` as product id. The links are those its instrument package names.
    """
    given = context.provenance
    name = context.instrument or "unknown"
    # An instrument that is not installed (a workflow named by import path) names no addresses.
    instrument = installed_instrument(name) or Instrument(name=name, version="")
    package = instrument.package_name
    dataset_id = given.dataset_id or f"D{context.recipe_run_id:07d}"
    input_dataset_id = context.input_dataset.input_dataset_id
    used = {
        p.name: {"id": p.id, "value": p.value}
        for p in context.spec.parameters
        if p.name in context.declared_parameters
    }
    versions = {p: package_version(p) for p in RECORDED_PACKAGES}
    versions["dkist-processing-core"] = library_version
    versions[package] = package_version(package)
    workflow, workflow_version = context.workflow_name, context.workflow_version
    info_url = instrument.workflow_doc_url(workflow, workflow_version)
    from ..polcal.task import polcal_provenance  # values a calibration step fitted, if any

    return L1Provenance(
        recipe_run_id=context.recipe_run_id,
        recipe_id=_or(given.recipe_id, 0),
        recipe_instance_id=_or(given.recipe_instance_id, 0),
        input_dataset_observe_id=_or(given.input_dataset_observe_id, input_dataset_id),
        input_dataset_calibration_id=_or(given.input_dataset_calibration_id, input_dataset_id),
        input_dataset_parameters_id=_or(given.input_dataset_parameters_id, input_dataset_id),
        workflow_name=workflow,
        workflow_version=workflow_version,
        calibration_version=workflow_version,
        library_versions=versions,
        manual_processing=given.manual_processing,
        dataset_id=dataset_id,
        product_id=given.product_id or f"L1-{dataset_id}",
        parameter_values=used,
        task_order=list(context.task_order),
        fitted_values=polcal_provenance(context.scratch),
        info_url=info_url,
        head_url=header_spec_url(),
        cal_url=instrument.source_url_at(workflow_version) or info_url,
    )


def _or(value: int | None, default: int) -> int:
    """``value``, or ``default`` when the planner did not give one (0 is a value)."""
    return default if value is None else value
