"""Reprocessing and curation: find outdated dataset versions, run them again, let a curator decide.

1. Discover (:func:`find_reprocessing_candidates`): distributed dataset versions
   not yet superseded that were made by a workflow version older than a given
   one, with a given parameter value, from a given input frame, or by a given
   code version; each listed with why.
2. Reprocess (:func:`reprocess`): harvest each version's plan (recipe, input
   dataset, configuration as run; :func:`harvest_plan`), copy it, update it
   (a new workflow version: a recipe pointing at it; new parameter values or
   input frames: a new input dataset that supersedes the old; changed
   configuration values), and create a new recipe instance (superseding the
   old instance) and recipe run. The run waits in its resource pool like any
   other and the normal :class:`~.scheduling.Scheduler` runs it by priority;
   a :class:`~.models.Reprocessing` row links the new run to the old run and
   to the version it would supersede, and groups a bulk reprocessing in a
   batch (:func:`reprocessing_status`).
3. Registering the new run's output (:func:`~.products.register.register_dataset_version`)
   makes a new version that supersedes the old; the old one becomes
   ``superseded_pending_curation`` and both stay distributed and findable
   until a curator decides (:func:`curate`): keep both, or discard one.
   Discarding records who, when and why, removes that version from
   distribution and keeps its provenance and inventories. Nothing is deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from dkist_processing_core.datacenter.clock import Clock, SystemClock
from dkist_processing_core.datacenter.operations.tickets import (
    MANUAL_BY_DEFINITION,
    StoreTicketSink,
    TicketRequest,
    TicketSink,
)
from dkist_processing_core.datacenter.planning.input_datasets import (
    assemble_input_dataset,
    missing_parameters,
)
from dkist_processing_core.datacenter.planning.recipe_runs import (
    CREATED,
    MANUAL,
    RUNNING,
    create_recipe_instance,
    create_recipe_run,
    deep_merge,
)
from dkist_processing_core.datacenter.planning.recipes import (
    RecipeError,
    create_recipe,
    get_workflow_specification,
)
from dkist_processing_core.datacenter.products.discovery import Criteria, find_versions
from dkist_processing_core.datacenter.products.versions import (
    AVAILABLE,
    DISCARDED,
    SUPERSEDED_PENDING_CURATION,
    VersionError,
    get_version,
    version_summary,
)
from dkist_processing_core.datacenter.store.models import (
    CurationDecision,
    Dataset,
    DatasetVersion,
    InputDatasetFrame,
    InputDatasetParameterValue,
    ParameterValue,
    Recipe,
    RecipeInstance,
    RecipeRun,
    Reprocessing,
)

KEEP_BOTH = "keep_both"
DISCARD = "discard"
UNFINISHED = (CREATED, RUNNING, MANUAL)


class ReprocessingError(ValueError):
    """A reprocessing or curation request that cannot be carried out as asked."""


# --- 1. discover -------------------------------------------------------------------------------


def find_reprocessing_candidates(
    session: Session,
    *,
    older_than_workflow: str | None = None,
    parameter_value_id: int | None = None,
    parameter: tuple[str, Any] | None = None,
    input_frame_id: str | None = None,
    code_version: str | None = None,
    dataset_id: str | None = None,
) -> list[dict[str, Any]]:
    """Distributed, not yet superseded dataset versions matching any criterion, with why.

    Each result is the version's summary with ``reasons`` and
    ``unfinished_reprocessing_run_ids`` (runs already reprocessing it).
    """
    criteria = Criteria(
        older_than_workflow=older_than_workflow,
        parameter_value_id=parameter_value_id,
        parameter=parameter,
        input_frame_id=input_frame_id,
        code_version=code_version,
    )
    if not criteria.conditions(session):
        raise ReprocessingError(
            "say what is outdated: a workflow version (older than), a parameter value, "
            "an input frame or a code version"
        )
    criteria.dataset_id = dataset_id
    found = find_versions(session, criteria, match="any", only_current=True)
    unfinished: dict[str, list[int]] = {}
    for version_id, run_id in session.execute(
        select(Reprocessing.supersedes_version_id, Reprocessing.recipe_run_id)
        .join(RecipeRun, RecipeRun.id == Reprocessing.recipe_run_id)
        .where(
            RecipeRun.status.in_(UNFINISHED),
            Reprocessing.supersedes_version_id.in_([v["version_id"] for v in found]),
        )
    ):
        unfinished.setdefault(version_id, []).append(run_id)
    for version in found:
        version["unfinished_reprocessing_run_ids"] = sorted(
            unfinished.get(version["version_id"], [])
        )
    return found


# --- 2. harvest, update, run -------------------------------------------------------------------


def harvest_plan(session: Session, version: str) -> dict[str, Any]:
    """The plan a dataset version was made with: recipe, workflow, input dataset, configuration."""
    row = _version(session, version)
    run = session.get(RecipeRun, row.recipe_run_id)
    instance = session.get(RecipeInstance, run.recipe_instance_id)
    recipe = session.get(Recipe, instance.recipe_id)
    return {
        "version_id": row.version_id,
        "recipe_run_id": run.id,
        "recipe_instance_id": instance.id,
        "processing_candidate_id": instance.processing_candidate_id,
        "recipe": recipe.name,
        "recipe_id": recipe.id,
        "instrument": row.provenance.get("instrument"),
        "workflow_name": row.workflow_name,
        "workflow_version": row.workflow_version,
        "input_dataset_id": instance.input_dataset_id,
        "frame_ids": list(
            session.scalars(
                select(InputDatasetFrame.frame_id)
                .where(InputDatasetFrame.input_dataset_id == instance.input_dataset_id)
                .order_by(InputDatasetFrame.frame_id)
            )
        ),
        "parameter_value_ids": list(
            session.scalars(
                select(InputDatasetParameterValue.parameter_value_id)
                .where(InputDatasetParameterValue.input_dataset_id == instance.input_dataset_id)
                .order_by(InputDatasetParameterValue.parameter_value_id)
            )
        ),
        "configuration": run.configuration,
        "run_configuration": run.run_configuration,
        "priority_boost": run.priority_boost,
    }


def _version(session: Session, version: str) -> DatasetVersion:
    try:
        return get_version(session, version)
    except VersionError as error:
        raise ReprocessingError(str(error)) from None


def _same_recipe_settings(a: Recipe, b: Recipe) -> bool:
    return (
        a.instrument_id == b.instrument_id
        and a.default_configuration == b.default_configuration
        and a.is_manual == b.is_manual
        and a.resource_pool == b.resource_pool
        and {p.id for p in a.parameters} == {p.id for p in b.parameters}
    )


def recipe_for_workflow_version(
    session: Session, recipe: Recipe, workflow_name: str, workflow_version: str, clock: Clock
) -> Recipe:
    """The recipe to run ``recipe``'s plan at another workflow version.

    The recipe itself if it already points there; else an active recipe with
    the same settings that does; else a copy named ``<recipe>@<version>``.
    The workflow version must be registered (a workflow specification).
    """
    instrument = recipe.instrument.name
    spec = get_workflow_specification(session, instrument, workflow_name, workflow_version)
    if recipe.workflow_specification_id == spec.id:
        return recipe
    for other in session.scalars(
        select(Recipe)
        .where(Recipe.workflow_specification_id == spec.id, Recipe.retired_at.is_(None))
        .order_by(Recipe.id)
    ):
        if _same_recipe_settings(recipe, other):
            return other
    name = f"{recipe.name}@{workflow_version}"
    taken = set(
        session.scalars(select(Recipe.name).where(Recipe.name.startswith(name, autoescape=True)))
    )
    suffix = 2
    while name in taken:
        name = f"{recipe.name}@{workflow_version}-{suffix}"
        suffix += 1
    return create_recipe(
        session,
        name,
        instrument,
        workflow_name,
        workflow_version,
        default_configuration=recipe.default_configuration,
        parameters=[p.name for p in recipe.parameters],
        is_manual=recipe.is_manual,
        resource_pool=recipe.resource_pool,
        description=f"copy of recipe {recipe.name!r} at workflow version {workflow_version}",
        clock=clock,
    )


def _replace(items: list, replacements: Mapping, what: str, version_id: str) -> list:
    unknown = sorted(set(map(str, replacements)) - set(map(str, items)))
    if unknown:
        raise ReprocessingError(
            f"version {version_id}: cannot replace {what} {unknown}; its input dataset does not "
            f"use them"
        )
    by_text = {str(k): v for k, v in replacements.items()}
    return [by_text.get(str(item), item) for item in items]


def reprocess(
    session: Session,
    versions: Iterable[str],
    *,
    requested_by: str,
    reason: str,
    workflow_version: str | None = None,
    replace_parameter_values: Mapping[int, int] | None = None,
    replace_frames: Mapping[str, str] | None = None,
    frame_ids: Iterable[str] | None = None,
    reassemble_input_dataset: bool = False,
    run_configuration: dict[str, Any] | None = None,
    priority_boost: int | None = None,
    batch: str | None = None,
    allow_duplicate: bool = False,
    ticket_sink: TicketSink | None = None,
    clock: Clock | None = None,
) -> list[dict[str, Any]]:
    """Copy each version's plan, update it, and create a recipe run that the scheduler will run.

    Updates (any combination): ``workflow_version`` (same workflow, another
    registered version); ``replace_parameter_values`` (old parameter value id
    -> new id of the same parameter); ``replace_frames`` (old frame id -> new
    frame id) or exact ``frame_ids``; ``reassemble_input_dataset`` (the
    candidate's frames and the parameter values valid now); and
    ``run_configuration`` values deep-merged over the configuration as run.
    With no update the same plan runs again (for new code). ``priority_boost``
    defaults to the old run's. Returns, per version, the new run and what
    changed; all runs share one ``batch``.
    """
    clock = clock or SystemClock()
    if not requested_by or not reason:
        raise ReprocessingError("a reprocessing needs who asks (requested_by) and why (reason)")
    versions = list(dict.fromkeys(versions))
    if not versions:
        raise ReprocessingError("no dataset version to reprocess")
    batch = batch or f"reprocess-{clock.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    sink = ticket_sink or StoreTicketSink(clock)
    planned = []
    for text in versions:
        planned.append(
            _reprocess_one(
                session,
                _version(session, text),
                requested_by=requested_by,
                reason=reason,
                workflow_version=workflow_version,
                replace_parameter_values=replace_parameter_values,
                replace_frames=replace_frames,
                frame_ids=frame_ids,
                reassemble_input_dataset=reassemble_input_dataset,
                run_configuration=run_configuration,
                priority_boost=priority_boost,
                batch=batch,
                allow_duplicate=allow_duplicate,
                clock=clock,
            )
        )
    manual = [p["recipe_run_id"] for p in planned if p["status"] == MANUAL]
    sink.open_tickets(
        session, [TicketRequest(recipe_run_id=r, kind=MANUAL_BY_DEFINITION) for r in manual]
    )
    session.flush()
    return planned


def _reprocess_one(
    session: Session,
    version: DatasetVersion,
    *,
    requested_by: str,
    reason: str,
    workflow_version: str | None,
    replace_parameter_values: Mapping[int, int] | None,
    replace_frames: Mapping[str, str] | None,
    frame_ids: Iterable[str] | None,
    reassemble_input_dataset: bool,
    run_configuration: dict[str, Any] | None,
    priority_boost: int | None,
    batch: str,
    allow_duplicate: bool,
    clock: Clock,
) -> dict[str, Any]:
    vid = version.version_id
    if version.status == DISCARDED:
        raise ReprocessingError(f"version {vid} is discarded; reprocess a distributed version")
    if not allow_duplicate:
        running = session.scalars(
            select(Reprocessing.recipe_run_id)
            .join(RecipeRun, RecipeRun.id == Reprocessing.recipe_run_id)
            .where(Reprocessing.supersedes_version_id == vid, RecipeRun.status.in_(UNFINISHED))
        ).all()
        if running:
            raise ReprocessingError(
                f"version {vid} is already being reprocessed by recipe runs {sorted(running)}"
            )
    plan = harvest_plan(session, vid)
    old_run = session.get(RecipeRun, plan["recipe_run_id"])
    old_instance = session.get(RecipeInstance, plan["recipe_instance_id"])
    old_recipe = session.get(Recipe, plan["recipe_id"])
    changes: dict[str, Any] = {}
    target_version = workflow_version or plan["workflow_version"]
    if target_version != plan["workflow_version"]:
        changes["workflow_version"] = {"from": plan["workflow_version"], "to": target_version}
    try:
        recipe = recipe_for_workflow_version(
            session, old_recipe, plan["workflow_name"], target_version, clock
        )
    except RecipeError as error:
        raise ReprocessingError(f"version {vid}: {error}") from None
    if recipe.id != old_recipe.id:
        changes["recipe"] = {"from": old_recipe.name, "to": recipe.name}
    new_frames = plan["frame_ids"]
    if frame_ids is not None:
        new_frames = sorted(set(map(str, frame_ids)))
    if replace_frames:
        new_frames = _replace(new_frames, replace_frames, "input frames", vid)
    new_values = plan["parameter_value_ids"]
    if replace_parameter_values:
        new_values = _replace(new_values, replace_parameter_values, "parameter values", vid)
        _check_same_parameters(session, replace_parameter_values, vid)
    input_dataset_id = plan["input_dataset_id"]
    if reassemble_input_dataset:
        # Fresh from the store, except what the request names exactly.
        frames_arg = new_frames if (frame_ids is not None or replace_frames) else None
        values_arg = new_values if replace_parameter_values else None
    else:
        frames_arg, values_arg = new_frames, new_values
    if reassemble_input_dataset or (frames_arg, values_arg) != (
        plan["frame_ids"],
        plan["parameter_value_ids"],
    ):
        dataset = assemble_input_dataset(
            session,
            plan["processing_candidate_id"],
            frame_ids=frames_arg,
            parameter_value_ids=values_arg,
            supersedes_input_dataset_id=plan["input_dataset_id"],
            note=f"reprocessing of version {vid}: {reason}",
            clock=clock,
        )
        input_dataset_id = dataset.id
        frames_now = set(
            session.scalars(
                select(InputDatasetFrame.frame_id).where(
                    InputDatasetFrame.input_dataset_id == input_dataset_id
                )
            )
        )
        values_now = set(
            session.scalars(
                select(InputDatasetParameterValue.parameter_value_id).where(
                    InputDatasetParameterValue.input_dataset_id == input_dataset_id
                )
            )
        )
        changes["input_dataset"] = {"from": plan["input_dataset_id"], "to": input_dataset_id}
        if frames_now != set(plan["frame_ids"]):
            changes["input_frames"] = {
                "removed": sorted(set(plan["frame_ids"]) - frames_now),
                "added": sorted(frames_now - set(plan["frame_ids"])),
            }
        if values_now != set(plan["parameter_value_ids"]):
            changes["parameter_values"] = {
                "removed": sorted(set(plan["parameter_value_ids"]) - values_now),
                "added": sorted(values_now - set(plan["parameter_value_ids"])),
            }
    missing = missing_parameters(session, input_dataset_id, recipe.id)
    if missing:
        raise ReprocessingError(
            f"version {vid}: recipe {recipe.name!r} needs parameters {missing} that the updated "
            "input dataset has no value for"
        )
    if run_configuration:
        changes["configuration"] = run_configuration
    instance = create_recipe_instance(
        session,
        plan["processing_candidate_id"],
        input_dataset_id,
        recipe_id=recipe.id,
        supersedes_recipe_instance_id=old_instance.id,
        clock=clock,
    )
    merged_run_values = deep_merge(old_run.run_configuration or {}, run_configuration)
    run = create_recipe_run(
        session,
        instance.id,
        configuration=deep_merge(old_run.configuration or {}, run_configuration),
        run_configuration=merged_run_values or None,
        priority_boost=old_run.priority_boost if priority_boost is None else int(priority_boost),
        clock=clock,
    )
    session.add(
        Reprocessing(
            recipe_run_id=run.id,
            reprocesses_recipe_run_id=old_run.id,
            supersedes_version_id=vid,
            batch=batch,
            reason=reason,
            changes=changes,
            requested_by=requested_by,
            requested_at=clock.now(),
        )
    )
    session.flush()
    return {
        "version_id": vid,
        "dataset_id": session.get(Dataset, version.dataset_pk).dataset_id,
        "batch": batch,
        "recipe_run_id": run.id,
        "status": run.status,
        "recipe_instance_id": instance.id,
        "recipe": recipe.name,
        "input_dataset_id": input_dataset_id,
        "reprocesses_recipe_run_id": old_run.id,
        "changes": changes,
    }


def _check_same_parameters(session: Session, replacements: Mapping[int, int], vid: str) -> None:
    ids = {int(k) for k in replacements} | {int(v) for v in replacements.values()}
    owners = dict(
        session.execute(
            select(ParameterValue.id, ParameterValue.parameter_id).where(ParameterValue.id.in_(ids))
        ).all()
    )
    for old, new in replacements.items():
        if int(new) not in owners:
            raise ReprocessingError(f"version {vid}: parameter value {new} does not exist")
        if owners.get(int(old)) != owners[int(new)]:
            raise ReprocessingError(
                f"version {vid}: parameter value {new} is not a value of the same parameter as "
                f"{old}"
            )


# --- 3. curation -------------------------------------------------------------------------------


def _pending_superseder(session: Session, old: DatasetVersion) -> DatasetVersion | None:
    return session.scalar(
        select(DatasetVersion)
        .where(
            DatasetVersion.supersedes_version_id == old.version_id,
            DatasetVersion.status != DISCARDED,
        )
        .order_by(DatasetVersion.sequence.desc())
        .limit(1)
    )


def curate(
    session: Session,
    version: str,
    decision: str,
    *,
    by: str,
    why: str,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """A curator's decision on a version that supersedes another (or is superseded).

    ``keep_both``: the superseded version becomes ``available`` again; both
    stay distributed. ``discard``: this version is removed from distribution
    (status ``discarded``; provenance and inventories kept); if it was the
    newer of a pending pair, the older one is ``available`` again. Who, when
    and why are recorded on the version(s) and in the decision history.
    """
    clock = clock or SystemClock()
    decision = decision.strip().lower()
    if decision not in (KEEP_BOTH, DISCARD):
        raise ReprocessingError(f"curation decision {decision!r}: expected keep_both or discard")
    if not by or not why:
        raise ReprocessingError("a curation decision needs who decides (by) and why")
    row = _version(session, version)
    if row.status == DISCARDED:
        raise ReprocessingError(
            f"version {row.version_id} was already discarded by {row.curated_by} "
            f"({row.curation_reason})"
        )
    now = clock.now()
    older = (
        session.get(DatasetVersion, row.supersedes_version_id)
        if row.supersedes_version_id
        else None
    )
    if older is not None and older.status != SUPERSEDED_PENDING_CURATION:
        older = None
    newer = _pending_superseder(session, row) if row.status == SUPERSEDED_PENDING_CURATION else None

    def record(target: DatasetVersion, other: DatasetVersion | None) -> None:
        target.curation_decision = decision
        target.curated_by = by
        target.curated_at = now
        target.curation_reason = why
        session.add(
            CurationDecision(
                version_id=target.version_id,
                other_version_id=other.version_id if other else None,
                decision=decision,
                decided_by=by,
                decided_at=now,
                reason=why,
            )
        )

    if decision == KEEP_BOTH:
        old, new = (row, newer) if newer is not None else (older, row)
        if old is None or new is None:
            raise ReprocessingError(
                f"version {row.version_id} awaits no curation (it neither supersedes a version "
                "pending curation nor is one); keep_both has nothing to decide"
            )
        old.status = AVAILABLE
        record(new, old)
        record(old, new)
    else:
        if older is not None:
            older.status = AVAILABLE  # the newer one is discarded: the older stays the one
        row.status = DISCARDED
        record(row, older or newer)
    session.flush()
    return version_summary(session, row)


def pending_curation(session: Session) -> list[dict[str, Any]]:
    """Pairs awaiting a curator: a distributed version and the version it supersedes."""
    old = aliased(DatasetVersion)
    rows = session.execute(
        select(DatasetVersion, old)
        .join(old, old.version_id == DatasetVersion.supersedes_version_id)
        .where(old.status == SUPERSEDED_PENDING_CURATION, DatasetVersion.status != DISCARDED)
        .order_by(DatasetVersion.created_at, DatasetVersion.version_id)
    ).all()
    return [
        {"version": version_summary(session, new), "supersedes": version_summary(session, was)}
        for new, was in rows
    ]


# --- 4. watching a bulk reprocessing -----------------------------------------------------------


def reprocessing_status(session: Session, *, batch: str | None = None) -> list[dict[str, Any]]:
    """Per batch: who asked and why, its runs by status, versions registered, awaiting curation."""
    query = select(
        Reprocessing.batch,
        func.min(Reprocessing.reason),
        func.min(Reprocessing.requested_by),
        func.min(Reprocessing.requested_at),
        func.count(),
    ).group_by(Reprocessing.batch)
    if batch is not None:
        query = query.where(Reprocessing.batch == batch)
    batches = {
        b: {
            "batch": b,
            "reason": reason,
            "requested_by": by,
            "requested_at": at.isoformat() if at else None,
            "runs": n,
            "runs_by_status": {},
            "versions_registered": 0,
            "awaiting_curation": 0,
        }
        for b, reason, by, at, n in session.execute(query.order_by(func.min(Reprocessing.id)))
    }
    in_batches = Reprocessing.batch.in_(list(batches))
    for b, status, n in session.execute(
        select(Reprocessing.batch, RecipeRun.status, func.count())
        .join(RecipeRun, RecipeRun.id == Reprocessing.recipe_run_id)
        .where(in_batches)
        .group_by(Reprocessing.batch, RecipeRun.status)
    ):
        batches[b]["runs_by_status"][status] = n
    old = aliased(DatasetVersion)
    for b, n, pending in session.execute(
        select(
            Reprocessing.batch,
            func.count(DatasetVersion.version_id),
            func.sum(case((old.status == SUPERSEDED_PENDING_CURATION, 1), else_=0)),
        )
        .join(DatasetVersion, DatasetVersion.recipe_run_id == Reprocessing.recipe_run_id)
        .outerjoin(old, old.version_id == DatasetVersion.supersedes_version_id)
        .where(in_batches)
        .group_by(Reprocessing.batch)
    ):
        batches[b]["versions_registered"] = n
        batches[b]["awaiting_curation"] = int(pending or 0)
    return list(batches.values())


def reprocessing_runs(session: Session, recipe_run_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """For the given runs that are reprocessings: the version they would supersede and the batch."""
    ids = list(recipe_run_ids)
    if not ids:
        return {}
    return {
        r.recipe_run_id: {
            "reprocessing_of_version": r.supersedes_version_id,
            "reprocesses_recipe_run_id": r.reprocesses_recipe_run_id,
            "batch": r.batch,
        }
        for r in session.scalars(select(Reprocessing).where(Reprocessing.recipe_run_id.in_(ids)))
    }


__all__ = [
    "DISCARD",
    "KEEP_BOTH",
    "ReprocessingError",
    "curate",
    "find_reprocessing_candidates",
    "harvest_plan",
    "pending_curation",
    "recipe_for_workflow_version",
    "reprocess",
    "reprocessing_runs",
    "reprocessing_status",
]
