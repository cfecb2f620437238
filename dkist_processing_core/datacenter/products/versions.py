"""Dataset versions: the provenance document of a recipe run's output and the version derived from it.

A dataset version is identified by what went into it, nothing else (not the
time, not the machine, not the recipe run id)::

    version = "v" + first 20 hex digits of sha256(canonical JSON of the provenance)

The provenance document (:func:`provenance_document`) holds the instrument and
the observe OP of the processing candidate, the input frame ids of the input
dataset (sorted), the parameter values (id, name, value; sorted by name and
id), the workflow name and version and its task order, the configuration as
run, the code versions (package -> version) and the record of manual
influence (the run was manually processed; each manual execution's who, what,
why and files). Canonical JSON: keys sorted, no whitespace, UTF-8, finite
numbers only, an integral float written as an integer (4.0 as 4). Equal provenance gives an equal version, so registering the
same output twice is idempotent; any change (another input frame, parameter
value, workflow version, configuration, code version or manual execution)
gives a new version and the older versions are kept.

80 bits of hash make an accidental collision negligible (~n^2 / 2^81 for n
versions); the form is the same as the catalog's ``dataset_version``.

Distribution: a version is distributed unless a curator discarded it
(:func:`distributed_versions`).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.planning.input_datasets import input_dataset_parameter_values
from dkist_processing_core.datacenter.store.models import (
    Dataset,
    DatasetVersion,
    InputDatasetFrame,
    Instrument,
    ManualExecution,
    ProcessingCandidate,
    Recipe,
    RecipeInstance,
    RecipeRun,
)
from dkist_processing_core.framework import code_versions as library_code_versions

AVAILABLE = "available"
SUPERSEDED_PENDING_CURATION = "superseded_pending_curation"
DISCARDED = "discarded"
PROVENANCE_SCHEMA = 1
REQUIRED_PROVENANCE_KEYS = (
    "input_frame_ids",
    "parameter_values",
    "workflow",
    "task_order",
    "code_versions",
    "manual_influence",
)


class VersionError(ValueError):
    """A dataset version that does not exist, or a provenance document that is not valid."""


def _check_finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise VersionError(
            f"{where}: {value!r} has no canonical JSON form (expected a finite number)"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_finite(item, f"{where}[{index}]")


def _integral_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_integral_floats_as_ints(item) for item in value]
    return value


def canonical_json(value: Any) -> str:
    """Canonical JSON text of a JSON-able value: keys sorted, compact separators, finite numbers.

    JSON has one number type and the backends do not keep Python's int/float
    distinction (SQLite's JSON gives 4.0 back as 4), so an integral float is
    written as an integer: 4.0 and 4 are the same value, on every backend.
    """
    _check_finite(value, "provenance")
    try:
        return json.dumps(
            _integral_floats_as_ints(value),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except TypeError as error:
        raise VersionError(f"provenance is not JSON: {error}") from None


def version_id(provenance: dict[str, Any]) -> str:
    """The version of a dataset with this provenance (see the module docstring)."""
    if not isinstance(provenance, dict):
        raise VersionError(f"provenance: expected a JSON object (dict), got {type(provenance)}")
    digest = hashlib.sha256(canonical_json(provenance).encode("utf-8")).hexdigest()
    return "v" + digest[:20]


def check_provenance(provenance: dict[str, Any]) -> None:
    """Raise VersionError naming what is missing or malformed in a provenance document."""
    if not isinstance(provenance, dict):
        raise VersionError(f"provenance: expected a JSON object (dict), got {type(provenance)}")
    missing = [key for key in REQUIRED_PROVENANCE_KEYS if key not in provenance]
    if missing:
        raise VersionError(f"provenance lacks {missing}; expected keys {REQUIRED_PROVENANCE_KEYS}")
    workflow = provenance["workflow"]
    if not (isinstance(workflow, dict) and workflow.get("name") and workflow.get("version")):
        raise VersionError(
            f"provenance 'workflow' is {workflow!r}; expected {{'name': ..., 'version': ...}}"
        )
    codes = provenance["code_versions"]
    if not isinstance(codes, dict) or not all(isinstance(v, str) for v in codes.values()):
        raise VersionError(
            f"provenance 'code_versions' is {codes!r}; expected {{package: version string}}"
        )
    for value in provenance["parameter_values"]:
        if not (isinstance(value, dict) and {"id", "name", "value"} <= set(value)):
            raise VersionError(
                f"provenance parameter value {value!r}: expected {{'id', 'name', 'value'}}"
            )
    canonical_json(provenance)


def workflow_code_versions(workflow) -> dict[str, str]:
    """Versions of the installed libraries a workflow's code uses, as a run report records them.

    The same answer an executor records in the run report
    (:func:`dkist_processing_core.framework.code_versions`); used when a run left no report.
    """
    return library_code_versions(workflow)


def _run_plan(session: Session, recipe_run_id: int):
    run = session.get(RecipeRun, recipe_run_id)
    if run is None:
        raise VersionError(f"recipe run {recipe_run_id} does not exist")
    instance = session.get(RecipeInstance, run.recipe_instance_id)
    recipe = session.get(Recipe, instance.recipe_id)
    from dkist_processing_core.datacenter.planning.recipe_runs import recorded_plan

    spec, _ = recorded_plan(session, run)  # the plan the run was created with
    return run, instance, recipe, spec


def manual_influence(session: Session, recipe_run_id: int) -> dict[str, Any]:
    """The record of manual influence on a run: the flag and each manual execution (in order)."""
    run = session.get(RecipeRun, recipe_run_id)
    executions = session.scalars(
        select(ManualExecution)
        .where(ManualExecution.recipe_run_id == recipe_run_id)
        .order_by(ManualExecution.id)
    ).all()
    return {
        "manually_processed": bool(run.manually_processed),
        "executions": [
            {
                "operator": e.operator,
                "actions": e.actions,
                "reason": e.reason,
                "files": list(e.files or []),
                "performed_at": e.performed_at.isoformat(),
            }
            for e in executions
        ],
    }


def provenance_document(
    session: Session, recipe_run_id: int, *, code_versions: dict[str, str] | None = None
) -> dict[str, Any]:
    """The canonical provenance of the dataset version a recipe run produced, from the store.

    ``code_versions`` (package -> version) default to those of the installed
    code the workflow uses (:func:`workflow_code_versions`); publication passes
    those the run's report recorded when the run finished
    (:func:`dkist_processing_core.framework.read_run_report`). The task order is the workflow's (resolved at the run's
    version); for a workflow that can no longer be resolved, the order the
    run's report recorded.
    """
    run, instance, recipe, spec = _run_plan(session, recipe_run_id)
    candidate = session.get(ProcessingCandidate, instance.processing_candidate_id)
    instrument = session.get(Instrument, recipe.instrument_id)
    workflow = None
    try:
        from dkist_processing_core.datacenter.planning.recipes import resolve_workflow_specification

        workflow = resolve_workflow_specification(spec)
        task_order = run.task_order or workflow.task_order  # the recorded order first
    except Exception as error:
        task_order = [t["name"] for t in (run.report or {}).get("tasks", [])]
        if not task_order:
            raise VersionError(
                f"recipe run {recipe_run_id}: workflow {spec.name} {spec.version} cannot be "
                f"resolved and the run recorded no task order ({error})"
            ) from error
    if code_versions is None:
        if workflow is None:
            raise VersionError(
                f"recipe run {recipe_run_id}: give code_versions; the workflow cannot be resolved"
            )
        code_versions = workflow_code_versions(workflow)
    frame_ids = session.scalars(
        select(InputDatasetFrame.frame_id)
        .where(InputDatasetFrame.input_dataset_id == instance.input_dataset_id)
        .order_by(InputDatasetFrame.frame_id)
    ).all()
    values = sorted(
        (
            {"id": v["parameter_value_id"], "name": v["name"], "value": v["value"]}
            for v in input_dataset_parameter_values(session, instance.input_dataset_id)
        ),
        key=lambda v: (v["name"], v["id"]),
    )
    document = {
        "schema": PROVENANCE_SCHEMA,
        "instrument": instrument.name,
        "observe_op_run_id": candidate.observe_op_run_id,
        "input_frame_ids": list(frame_ids),
        "parameter_values": values,
        "workflow": {"name": spec.name, "version": spec.version},
        "task_order": list(task_order),
        "configuration": run.configuration or {},
        "code_versions": {str(k): str(v) for k, v in sorted(code_versions.items())},
        "manual_influence": manual_influence(session, recipe_run_id),
    }
    check_provenance(document)
    return document


def get_version(session: Session, version: str) -> DatasetVersion:
    """A dataset version by its id or an unambiguous prefix of it (at least 4 characters).

    The prefix is matched literally: ``_`` and ``%`` are characters, not wildcards.
    """
    found = session.get(DatasetVersion, version)
    if found is not None:
        return found
    if len(version) >= 4:
        matches = session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.version_id.startswith(version, autoescape=True))
            .limit(2)
        ).all()
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise VersionError(f"dataset version prefix {version!r} is ambiguous")
    raise VersionError(f"dataset version {version!r} does not exist")


def version_summary(session: Session, version: DatasetVersion) -> dict[str, Any]:
    """A dataset version as plain data: identity, lineage, status and curator decision."""
    dataset = session.get(Dataset, version.dataset_pk)
    return {
        "version_id": version.version_id,
        "dataset_id": dataset.dataset_id,
        "sequence": version.sequence,
        "recipe_run_id": version.recipe_run_id,
        "input_dataset_id": version.input_dataset_id,
        "workflow_name": version.workflow_name,
        "workflow_version": version.workflow_version,
        "manually_processed": version.manually_processed,
        "created_at": version.created_at.isoformat(),
        "status": version.status,
        "distributed": version.status != DISCARDED,
        "supersedes_version_id": version.supersedes_version_id,
        "curation": None
        if version.curation_decision is None
        else {
            "decision": version.curation_decision,
            "by": version.curated_by,
            "at": version.curated_at.isoformat() if version.curated_at else None,
            "why": version.curation_reason,
        },
    }


def version_lineage(session: Session, version: str) -> list[dict[str, Any]]:
    """The version and every version it supersedes, newest first (following the links)."""
    chain: list[dict[str, Any]] = []
    current: DatasetVersion | None = get_version(session, version)
    seen: set[str] = set()
    while current is not None and current.version_id not in seen:
        seen.add(current.version_id)
        chain.append(version_summary(session, current))
        current = (
            session.get(DatasetVersion, current.supersedes_version_id)
            if current.supersedes_version_id
            else None
        )
    return chain


def distributed_versions(
    session: Session, *, dataset_id: str | None = None
) -> list[dict[str, Any]]:
    """The dataset versions available to the public: every version not discarded by a curator."""
    query = (
        select(DatasetVersion)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_pk)
        .where(DatasetVersion.status != DISCARDED)
        .order_by(Dataset.dataset_id, DatasetVersion.sequence)
    )
    if dataset_id is not None:
        query = query.where(Dataset.dataset_id == dataset_id)
    return [version_summary(session, v) for v in session.scalars(query)]
