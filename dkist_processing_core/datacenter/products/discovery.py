"""Provenance discovery: which dataset versions (and frames) were made from what.

Find dataset versions by an input frame id, a parameter value (its id, or its
parameter name and value), a workflow name and version (or a workflow version
older than a given one, compared as :class:`packaging.version.Version`), a code
version (package and version), a recipe run id, or manual influence (any, or
by whom). Every criterion is a condition on proper columns or link tables (no
JSON queries), all evaluated in one SQL statement whatever the number of
versions; each result says which criteria it matched (``reasons``).

``match="all"`` (the default) narrows: a version must match every criterion
given; ``match="any"`` widens: a version matching one criterion is listed, with
the reasons it matched (used to find what needs reprocessing).

Discarded versions are listed only when asked (``include_discarded``), with
the curator's decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version
from sqlalchemy import and_, case, exists, false, or_, select
from sqlalchemy.orm import Session, aliased

from dkist_processing_core.datacenter.products.versions import (
    DISCARDED,
    VersionError,
    canonical_json,
    get_version,
    version_summary,
)
from dkist_processing_core.datacenter.store.models import (
    Dataset,
    DatasetInventory,
    DatasetVersion,
    DatasetVersionCodeVersion,
    DatasetVersionInputFrame,
    DatasetVersionParameterValue,
    FrameInventory,
    ManualExecution,
    ObjectInventory,
)


class DiscoveryError(ValueError):
    """A discovery query that cannot be understood (a malformed version, an unknown dataset)."""


def parse_pinned(text: str, what: str, *, version_required: bool = False) -> tuple[str, str | None]:
    """``"name==version"`` (or just ``"name"``) as ``(name, version)``."""
    name, sep, version = str(text).partition("==")
    name, version = name.strip(), version.strip()
    if not name or (sep and not version) or (version_required and not version):
        form = "NAME==VERSION" if version_required else "NAME or NAME==VERSION"
        raise DiscoveryError(f"{what} {text!r}: expected {form}")
    return name, version or None


def _version(text: str, what: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise DiscoveryError(f"{what}: {text!r} is not a version (PEP 440, e.g. 2.0.1)") from None


@dataclass
class Criteria:
    """What to look for; every field left None is not a criterion.

    ``parameter`` is ``(name, value)`` with a JSON value; ``workflow`` is
    ``"name"`` or ``"name==version"``; ``older_than_workflow`` is
    ``"name==version"``; ``code_version`` is ``"package==version"`` or
    ``"package"``; ``manual`` is True (any manual influence) or an operator.
    """

    input_frame_id: str | None = None
    parameter_value_id: int | None = None
    parameter: tuple[str, Any] | None = None
    workflow: str | None = None
    older_than_workflow: str | None = None
    code_version: str | None = None
    recipe_run_id: int | None = None
    manual: bool | str | None = None
    dataset_id: str | None = None

    def conditions(self, session: Session) -> list[tuple[str, Any, Any]]:
        """``(criterion, SQL condition, reason(row) -> str)`` for each criterion given."""
        v = DatasetVersion
        found: list[tuple[str, Any, Any]] = []
        if self.input_frame_id is not None:
            frame = str(self.input_frame_id)
            found.append(
                (
                    "input_frame",
                    v.version_id.in_(
                        select(DatasetVersionInputFrame.version_id).where(
                            DatasetVersionInputFrame.frame_id == frame
                        )
                    ),
                    lambda _row, frame=frame: f"made from input frame {frame}",
                )
            )
        if self.parameter_value_id is not None:
            pid = int(self.parameter_value_id)
            found.append(
                (
                    "parameter_value",
                    v.version_id.in_(
                        select(DatasetVersionParameterValue.version_id).where(
                            DatasetVersionParameterValue.parameter_value_id == pid
                        )
                    ),
                    lambda _row, pid=pid: f"used parameter value id {pid}",
                )
            )
        if self.parameter is not None:
            name, value = self.parameter
            text = canonical_json(value)
            found.append(
                (
                    "parameter",
                    v.version_id.in_(
                        select(DatasetVersionParameterValue.version_id).where(
                            DatasetVersionParameterValue.parameter_name == name,
                            DatasetVersionParameterValue.value_json == text,
                        )
                    ),
                    lambda _row, name=name, text=text: f"used parameter {name} = {text}",
                )
            )
        if self.workflow is not None:
            name, version = parse_pinned(self.workflow, "workflow")
            condition = v.workflow_name == name
            if version is not None:
                condition = and_(condition, v.workflow_version == version)
            found.append(
                (
                    "workflow",
                    condition,
                    lambda row: f"made by workflow {row.workflow_name} {row.workflow_version}",
                )
            )
        if self.older_than_workflow is not None:
            name, version = parse_pinned(
                self.older_than_workflow, "older than workflow", version_required=True
            )
            found.append(
                (
                    "older_than_workflow",
                    _older_than(session, name, _version(version, "older than workflow")),
                    lambda row, version=version: (
                        f"workflow {row.workflow_name} {row.workflow_version} is older than "
                        f"{version}"
                    ),
                )
            )
        if self.code_version is not None:
            package, version = parse_pinned(self.code_version, "code version")
            conditions = [DatasetVersionCodeVersion.package == package]
            if version is not None:
                conditions.append(DatasetVersionCodeVersion.version == version)
            pinned = f"{package}=={version}" if version else package
            found.append(
                (
                    "code_version",
                    v.version_id.in_(
                        select(DatasetVersionCodeVersion.version_id).where(*conditions)
                    ),
                    lambda _row, pinned=pinned: f"made by code {pinned}",
                )
            )
        if self.recipe_run_id is not None:
            run_id = int(self.recipe_run_id)
            found.append(
                (
                    "recipe_run",
                    v.recipe_run_id == run_id,
                    lambda _row, run_id=run_id: f"made by recipe run {run_id}",
                )
            )
        if self.manual is True:
            found.append(
                ("manual", v.manually_processed.is_(True), lambda _row: "manually processed")
            )
        elif isinstance(self.manual, str) and self.manual:
            who = self.manual
            found.append(
                (
                    "manual",
                    exists().where(
                        ManualExecution.recipe_run_id == v.recipe_run_id,
                        ManualExecution.operator == who,
                    ),
                    lambda _row, who=who: f"manual execution by {who}",
                )
            )
        return found


def _older_than(session: Session, name: str, than: Version):
    """SQL: workflow ``name`` at a version older than ``than``.

    Version order is not text order (1.10 > 1.9), so the few distinct workflow
    versions in the store are compared in Python and the older ones named in
    the query. A stored version that is not PEP 440 cannot be ordered and
    never matches.
    """
    versions = session.scalars(
        select(DatasetVersion.workflow_version)
        .where(DatasetVersion.workflow_name == name)
        .distinct()
    ).all()
    older = []
    for text in versions:
        try:
            if Version(text) < than:
                older.append(text)
        except InvalidVersion:
            continue
    if not older:
        return false()
    return and_(DatasetVersion.workflow_name == name, DatasetVersion.workflow_version.in_(older))


def _superseded_by_distributed():
    """SQL: a distributed (not discarded) version supersedes this one."""
    newer = aliased(DatasetVersion)
    return exists().where(
        newer.supersedes_version_id == DatasetVersion.version_id, newer.status != DISCARDED
    )


def find_versions(
    session: Session,
    criteria: Criteria | None = None,
    *,
    match: str = "all",
    include_discarded: bool = False,
    only_current: bool = False,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Dataset versions matching the criteria (a :class:`Criteria` or its fields as keywords).

    Each result is the version's summary (see :func:`~.versions.version_summary`)
    with ``reasons``: what it matched. ``only_current`` leaves out versions
    that a distributed newer version already supersedes. With no criterion,
    every version is listed.
    """
    if match not in ("all", "any"):
        raise DiscoveryError(f"match {match!r}: expected 'all' or 'any'")
    criteria = criteria or Criteria(**kwargs)
    given = criteria.conditions(session)
    v = DatasetVersion
    columns = [
        case((condition, 1), else_=0).label(f"c{i}") for i, (_, condition, _) in enumerate(given)
    ]
    query = (
        select(v, Dataset.dataset_id, *columns)
        .join(Dataset, Dataset.id == v.dataset_pk)
        .order_by(Dataset.dataset_id, v.sequence)
    )
    if given:
        combine = and_ if match == "all" else or_
        query = query.where(combine(*(condition for _, condition, _ in given)))
    if criteria.dataset_id is not None:
        query = query.where(Dataset.dataset_id == criteria.dataset_id)
    if not include_discarded:
        query = query.where(v.status != DISCARDED)
    if only_current:
        query = query.where(~_superseded_by_distributed())
    results = []
    for row in session.execute(query):
        version = row[0]
        summary = version_summary(session, version)
        summary["reasons"] = [
            reason(version) for i, (_, _, reason) in enumerate(given) if row._mapping[f"c{i}"]
        ]
        results.append(summary)
    return results


def find_frames(
    session: Session,
    criteria: Criteria | None = None,
    *,
    include_discarded: bool = False,
    limit: int | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """L1 frames (frame inventory rows) of the dataset versions matching every criterion."""
    criteria = criteria or Criteria(**kwargs)
    given = criteria.conditions(session)
    versions = (
        select(DatasetVersion.version_id)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_pk)
        .where(*(condition for _, condition, _ in given))
    )
    if criteria.dataset_id is not None:
        versions = versions.where(Dataset.dataset_id == criteria.dataset_id)
    if not include_discarded:
        versions = versions.where(DatasetVersion.status != DISCARDED)
    f = FrameInventory
    query = (
        select(f, Dataset.dataset_id, DatasetVersion.status)
        .join(DatasetVersion, DatasetVersion.version_id == f.version_id)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_pk)
        .where(f.version_id.in_(versions))
        .order_by(Dataset.dataset_id, DatasetVersion.sequence, f.date_beg, f.object_key)
    )
    if limit:
        query = query.limit(limit)
    return [
        {
            "dataset_id": dataset_id,
            "version_id": frame.version_id,
            "version_status": status,
            "frame_file_name": frame.frame_file_name,
            "object_key": frame.object_key,
            "date_beg": frame.date_beg.isoformat() if frame.date_beg else None,
            "stokes": frame.stokes,
            "wavelength_nm": frame.wavelength_nm,
            "recipe_run_id": frame.recipe_run_id,
            "workflow_name": frame.workflow_name,
            "workflow_version": frame.workflow_version,
            "input_frame_ids": frame.input_frame_ids,
            "parameter_value_ids": frame.parameter_value_ids,
            "code_versions": frame.code_versions,
            "manually_processed": frame.manually_processed,
        }
        for frame, dataset_id, status in session.execute(query)
    ]


def list_datasets(session: Session, *, include_discarded: bool = False) -> list[dict[str, Any]]:
    """Every dataset with its versions (newest last); discarded versions only when asked."""
    datasets: dict[str, dict[str, Any]] = {}
    for version in find_versions(session, include_discarded=include_discarded):
        entry = datasets.setdefault(
            version["dataset_id"], {"dataset_id": version["dataset_id"], "versions": []}
        )
        entry["versions"].append(version)
    return list(datasets.values())


def show_version(session: Session, version: str) -> dict[str, Any]:
    """One dataset version in full: summary, provenance, dataset inventory, objects, frame count."""
    try:
        row = get_version(session, version)
    except VersionError as error:
        raise DiscoveryError(str(error)) from None
    summary = version_summary(session, row)
    inventory = session.get(DatasetInventory, row.version_id)
    summary["provenance"] = row.provenance
    summary["dataset_inventory"] = (
        None
        if inventory is None
        else {
            "start_time": inventory.start_time.isoformat(),
            "end_time": inventory.end_time.isoformat(),
            "wavelength_min_nm": inventory.wavelength_min_nm,
            "wavelength_max_nm": inventory.wavelength_max_nm,
            "bounding_box_arcsec": inventory.bounding_box_arcsec,
            "stokes_parameters": inventory.stokes_parameters,
            "frame_count": inventory.frame_count,
            "object_count": inventory.object_count,
            "dataset_size_bytes": inventory.dataset_size_bytes,
            "quality_summary": inventory.quality_summary,
        }
    )
    summary["objects"] = [
        {"object_key": o.object_key, "kind": o.kind, "size_bytes": o.size_bytes, "sha256": o.sha256}
        for o in session.scalars(
            select(ObjectInventory)
            .where(ObjectInventory.version_id == row.version_id)
            .order_by(ObjectInventory.kind, ObjectInventory.object_key)
        )
    ]
    return summary


def show_dataset(session: Session, dataset_id: str) -> dict[str, Any]:
    """A dataset and all its versions, discarded ones included (with the curator's decision)."""
    if session.scalar(select(Dataset.id).where(Dataset.dataset_id == dataset_id)) is None:
        raise DiscoveryError(f"dataset {dataset_id!r} does not exist")
    return {
        "dataset_id": dataset_id,
        "versions": find_versions(session, dataset_id=dataset_id, include_discarded=True),
    }


def show_dataset_or_version(session: Session, name: str) -> dict[str, Any]:
    """:func:`show_dataset` when ``name`` is a dataset id, else :func:`show_version`."""
    try:
        return show_dataset(session, name)
    except DiscoveryError:
        pass
    try:
        return show_version(session, name)
    except DiscoveryError as error:
        raise DiscoveryError(f"{name!r} is no dataset id; as a version: {error}") from None
