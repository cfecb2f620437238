"""Recipe instances and recipe runs: creation, configuration as run, and status.

A recipe run's configuration is the recipe's default configuration deep-merged
with the run's own values (run values win), copied into the run when it is
created; later edits of the defaults never change it. A run has an explicit
status, changed only along the allowed transitions::

    created ──► running ──► succeeded
       │           ├──────► failed   (a task failed, or its lease expired: interrupted)
       │           └──────► canceled (by an operator; the lease is taken away)
       ├──► failed   (could not start, e.g. a parameter has no valid value)
       └──► canceled (by an operator)
    failed  ──► created  (requeued by an operator: the same run, the same plan)
    manual  ──► succeeded (a recorded manual execution) | canceled

A run records its plan when it is created (:func:`record_plans`): the workflow
specification, the workflow's name and version and its task order. Execution,
retries and provenance use the recorded plan (:func:`recorded_plan`); changing a
recipe affects only the runs created afterwards.

A recipe instance's status and a processing candidate's status are implicit:
derived from their runs (see :func:`recipe_instance_status`,
:func:`processing_candidate_status`).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, literal, select, update
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.clock import Clock, SystemClock
from dkist_processing_core.datacenter.operations.tickets import (
    MANUAL_BY_DEFINITION,
    MANUAL_BY_EXCEPTION,
    TicketRequest,
    TicketSink,
)
from dkist_processing_core.datacenter.planning.input_datasets import (
    freeze_input_dataset,
    missing_parameters,
)
from dkist_processing_core.datacenter.store.models import (
    InputDataset,
    ProcessingCandidate,
    Recipe,
    RecipeInstance,
    RecipeRun,
    Ticket,
    WorkflowSpecification,
)

CREATED = "created"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
MANUAL = "manual"
CANCELED = "canceled"
WAITING_FOR_FRAMES = "waiting for frames"
WAITING_FOR_READINESS_PASS = "all frames arrived, waiting for the readiness pass"

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    CREATED: frozenset({RUNNING, FAILED, CANCELED}),
    RUNNING: frozenset({SUCCEEDED, FAILED, CANCELED}),
    MANUAL: frozenset({SUCCEEDED, CANCELED}),
    SUCCEEDED: frozenset(),
    FAILED: frozenset({CREATED}),
    CANCELED: frozenset(),
}


class RecipeRunError(ValueError):
    """A recipe run operation that is not allowed (for example a forbidden status change)."""


def deep_merge(defaults: dict[str, Any], run_values: dict[str, Any] | None) -> dict[str, Any]:
    """``defaults`` with ``run_values`` merged in: nested objects merge, other run values win."""
    merged = copy.deepcopy(defaults)
    for key, value in (run_values or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def transition(
    session: Session,
    recipe_run_id: int,
    to_status: str,
    *,
    clock: Clock | None = None,
    error: str | None = None,
    failed_task: str | None = None,
    report: dict[str, Any] | None = None,
    manually_processed: bool | None = None,
) -> RecipeRun:
    """Move a run to ``to_status`` if that transition is allowed (checked again in the UPDATE).

    The UPDATE names the status it expects, so two processes racing to move
    the same run cannot both succeed.
    """
    run = session.get(RecipeRun, recipe_run_id, populate_existing=True)
    if run is None:
        raise RecipeRunError(f"recipe run {recipe_run_id} does not exist")
    from_status = run.status
    if to_status not in ALLOWED_TRANSITIONS.get(from_status, frozenset()):
        raise RecipeRunError(
            f"recipe run {recipe_run_id}: status {from_status!r} cannot become {to_status!r}; "
            f"allowed: {sorted(ALLOWED_TRANSITIONS.get(from_status, ())) or 'none (final)'}"
        )
    now = (clock or SystemClock()).now()
    values: dict[str, Any] = {"status": to_status}
    if to_status == RUNNING:
        values["started_at"] = now
    else:  # only a running run holds a lease
        values["lease_owner"] = None
        values["lease_expires_at"] = None
    if to_status == CREATED:  # requeued: waits again, as new
        values.update(started_at=None, finished_at=None, error=None, failed_task=None, report=None)
    if to_status in (SUCCEEDED, FAILED, CANCELED):
        values["finished_at"] = now
    if error is not None:
        values["error"] = error
    if failed_task is not None:
        values["failed_task"] = failed_task
    if report is not None:
        values["report"] = report
    if manually_processed is not None:
        values["manually_processed"] = manually_processed
    result = session.execute(
        update(RecipeRun)
        .where(RecipeRun.id == recipe_run_id, RecipeRun.status == from_status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise RecipeRunError(f"recipe run {recipe_run_id} changed status while being moved")
    session.refresh(run)
    return run


def create_recipe_instance(
    session: Session,
    processing_candidate_id: int,
    input_dataset_id: int,
    *,
    recipe_id: int | None = None,
    supersedes_recipe_instance_id: int | None = None,
    clock: Clock | None = None,
) -> RecipeInstance:
    candidate = session.get(ProcessingCandidate, processing_candidate_id)
    if candidate is None:
        raise RecipeRunError(f"processing candidate {processing_candidate_id} does not exist")
    instance = RecipeInstance(
        processing_candidate_id=candidate.id,
        recipe_id=recipe_id or candidate.recipe_id,
        input_dataset_id=input_dataset_id,
        supersedes_recipe_instance_id=supersedes_recipe_instance_id,
        created_at=(clock or SystemClock()).now(),
    )
    session.add(instance)
    session.flush()
    return instance


def create_recipe_run(
    session: Session,
    recipe_instance_id: int,
    *,
    run_configuration: dict[str, Any] | None = None,
    configuration: dict[str, Any] | None = None,
    status: str | None = None,
    retry_of_recipe_run_id: int | None = None,
    priority_boost: int = 0,
    clock: Clock | None = None,
) -> RecipeRun:
    """A new run (the next attempt) of a recipe instance; its input dataset becomes frozen.

    The configuration as run is the recipe's defaults deep-merged with
    ``run_configuration``, unless ``configuration`` gives it whole (a retry
    reuses the failed run's configuration as run).
    """
    instance = session.get(RecipeInstance, recipe_instance_id)
    if instance is None:
        raise RecipeRunError(f"recipe instance {recipe_instance_id} does not exist")
    recipe = session.get(Recipe, instance.recipe_id)
    now = (clock or SystemClock()).now()
    attempt = 1 + (
        session.scalar(
            select(func.max(RecipeRun.attempt)).where(RecipeRun.recipe_instance_id == instance.id)
        )
        or 0
    )
    if configuration is None:
        configuration = deep_merge(recipe.default_configuration, run_configuration)
    # The plan: a retry repeats the plan of the run it retries; a new run takes the recipe's.
    retried = session.get(RecipeRun, retry_of_recipe_run_id) if retry_of_recipe_run_id else None
    if retried is not None and retried.workflow_specification_id is not None:
        spec_id, task_order = retried.workflow_specification_id, retried.task_order
    else:
        spec_id, task_order = recipe.workflow_specification_id, None
    spec = session.get(WorkflowSpecification, spec_id)
    if task_order is None:
        task_order = planned_task_order(spec)
    run = RecipeRun(
        recipe_instance_id=instance.id,
        attempt=attempt,
        status=status or (MANUAL if recipe.is_manual else CREATED),
        configuration=configuration,
        run_configuration=run_configuration,
        resource_pool=recipe.resource_pool,
        priority_boost=priority_boost,
        created_at=now,
        retry_of_recipe_run_id=retry_of_recipe_run_id,
        workflow_specification_id=spec.id,
        workflow_name=spec.name,
        workflow_version=spec.version,
        task_order=task_order,
    )
    freeze_input_dataset(session, instance.input_dataset_id, now)
    session.add(run)
    session.flush()
    return run


def create_first_runs(
    session: Session, readiness_pass_id: str, now: datetime, ticket_sink: TicketSink
) -> int:
    """Plan the first run of every candidate a readiness pass made ready; return how many.

    Set-based: one statement makes the recipe instances, one the recipe runs
    (configuration = the recipe's defaults). Only candidates with run-specific
    values are merged in Python. Manual-by-definition runs get tickets; a run
    whose input dataset lacks a parameter value fails at once with a ticket.
    The unique ``automatic_for_candidate_id`` guards against a second instance.
    """
    candidate = ProcessingCandidate
    session.execute(
        insert(RecipeInstance.__table__).from_select(
            [
                "processing_candidate_id",
                "recipe_id",
                "input_dataset_id",
                "automatic_for_candidate_id",
                "created_at",
            ],
            select(
                candidate.id,
                candidate.recipe_id,
                InputDataset.id,
                candidate.id,
                literal(now, RecipeInstance.created_at.type),
            )
            .join(InputDataset, InputDataset.automatic_for_candidate_id == candidate.id)
            .where(candidate.readiness_pass_id == readiness_pass_id),
        )
    )
    created = session.execute(
        insert(RecipeRun.__table__).from_select(
            [
                "recipe_instance_id",
                "attempt",
                "status",
                "configuration",
                "run_configuration",
                "resource_pool",
                "priority_boost",
                "created_at",
                "manually_processed",
                "workflow_specification_id",
                "workflow_name",
                "workflow_version",
            ],
            select(
                RecipeInstance.id,
                literal(1),
                case((Recipe.is_manual, literal(MANUAL)), else_=literal(CREATED)),
                Recipe.default_configuration,
                candidate.run_configuration,
                Recipe.resource_pool,
                literal(0),
                literal(now, RecipeRun.created_at.type),
                literal(False),
                WorkflowSpecification.id,
                WorkflowSpecification.name,
                WorkflowSpecification.version,
            )
            .select_from(candidate)
            .join(RecipeInstance, RecipeInstance.automatic_for_candidate_id == candidate.id)
            .join(Recipe, Recipe.id == candidate.recipe_id)
            .join(
                WorkflowSpecification, WorkflowSpecification.id == Recipe.workflow_specification_id
            )
            .where(candidate.readiness_pass_id == readiness_pass_id),
        ),
        execution_options={"preserve_rowcount": True},
    ).rowcount
    first_runs = (
        select(
            RecipeRun.id,
            RecipeRun.status,
            RecipeRun.configuration,
            RecipeRun.run_configuration,
            RecipeInstance.input_dataset_id,
            RecipeInstance.recipe_id,
        )
        .join(RecipeInstance, RecipeInstance.id == RecipeRun.recipe_instance_id)
        .join(candidate, candidate.id == RecipeInstance.automatic_for_candidate_id)
        .where(candidate.readiness_pass_id == readiness_pass_id)
    )
    with_run_values = session.execute(
        first_runs.where(candidate.run_configuration.is_not(None))
    ).all()
    merged = [
        {"id": r.id, "configuration": deep_merge(r.configuration, r.run_configuration)}
        for r in with_run_values
        if r.run_configuration
    ]
    if merged:
        session.execute(update(RecipeRun), merged)
    record_task_orders(session, first_runs.with_only_columns(RecipeRun.id))
    tickets = [
        TicketRequest(recipe_run_id=r.id, kind=MANUAL_BY_DEFINITION)
        for r in session.execute(first_runs.where(RecipeRun.status == MANUAL))
    ]
    # A recipe parameter without a value valid at the observation date would break the run.
    incomplete = session.execute(
        select(RecipeRun.id, RecipeInstance.input_dataset_id, RecipeInstance.recipe_id)
        .join(RecipeInstance, RecipeInstance.id == RecipeRun.recipe_instance_id)
        .join(candidate, candidate.id == RecipeInstance.automatic_for_candidate_id)
        .where(candidate.readiness_pass_id == readiness_pass_id, RecipeRun.status == CREATED)
        .where(_lacks_parameter_values())
    ).all()
    for r in incomplete:
        missing = missing_parameters(session, r.input_dataset_id, r.recipe_id)
        error = f"no value valid at the observation date for parameters {missing}"
        session.execute(
            update(RecipeRun)
            .where(RecipeRun.id == r.id)
            .values(status=FAILED, finished_at=now, error=error)
            .execution_options(synchronize_session=False)
        )
        tickets.append(TicketRequest(recipe_run_id=r.id, kind=MANUAL_BY_EXCEPTION, error=error))
    ticket_sink.open_tickets(session, tickets)
    return created


def _lacks_parameter_values():
    """SQL: the run's input dataset has fewer parameter values than its recipe has parameters."""
    from dkist_processing_core.datacenter.store.models import (
        InputDatasetParameterValue,
        RecipeParameter,
    )

    wanted = (
        select(func.count())
        .select_from(RecipeParameter)
        .where(RecipeParameter.recipe_id == RecipeInstance.recipe_id)
        .scalar_subquery()
    )
    have = (
        select(func.count())
        .select_from(InputDatasetParameterValue)
        .where(InputDatasetParameterValue.input_dataset_id == RecipeInstance.input_dataset_id)
        .scalar_subquery()
    )
    return wanted > have


def latest_run(session: Session, recipe_instance_id: int) -> RecipeRun | None:
    return session.scalar(
        select(RecipeRun)
        .where(RecipeRun.recipe_instance_id == recipe_instance_id)
        .order_by(RecipeRun.attempt.desc())
        .limit(1)
    )


def recipe_instance_status(session: Session, recipe_instance_id: int) -> str:
    """The implicit status of a recipe instance: that of its latest run, or ``planned``."""
    run = latest_run(session, recipe_instance_id)
    return run.status if run else "planned"


def processing_candidate_status(session: Session, processing_candidate_id: int) -> str:
    """The implicit status of a processing candidate.

    ``waiting for frames`` until every OP has the frames its transfer manifest
    announced, then ``all frames arrived, waiting for the readiness pass`` until
    a readiness pass marks it ready; then ``ready`` until a recipe instance
    exists; then the status of its newest recipe instance (a superseding
    instance from an adjusted plan replaces the old one).
    """
    candidate = session.get(ProcessingCandidate, processing_candidate_id)
    if candidate is None:
        raise RecipeRunError(f"processing candidate {processing_candidate_id} does not exist")
    if candidate.ready_at is None:
        return (
            WAITING_FOR_READINESS_PASS
            if _all_frames_arrived(session, candidate.id)
            else (WAITING_FOR_FRAMES)
        )
    newest = session.scalar(
        select(RecipeInstance.id)
        .where(RecipeInstance.processing_candidate_id == candidate.id)
        .order_by(RecipeInstance.id.desc())
        .limit(1)
    )
    return "ready" if newest is None else recipe_instance_status(session, newest)


def _all_frames_arrived(session: Session, processing_candidate_id: int) -> bool:
    """Whether every OP of the candidate has a transfer manifest and at least its frames."""
    from dkist_processing_core.datacenter.store.models import (
        FrameCount,
        ProcessingCandidateOp,
        TransferManifest,
    )

    op = ProcessingCandidateOp
    received = (
        select(func.count())
        .select_from(FrameCount)
        .where(FrameCount.op_run_id == op.op_run_id)
        .scalar_subquery()
    )
    incomplete = session.scalar(
        select(func.count())
        .select_from(op)
        .outerjoin(TransferManifest, TransferManifest.op_run_id == op.op_run_id)
        .where(op.processing_candidate_id == processing_candidate_id)
        .where(
            (TransferManifest.op_run_id.is_(None))
            | (received < TransferManifest.expected_frame_count)
        )
    )
    return not incomplete


def boost_priority(session: Session, recipe_run_id: int, boost: int) -> RecipeRun:
    """Set the operator's priority boost of a waiting run (added to the proposal's priority)."""
    run = session.get(RecipeRun, recipe_run_id)
    if run is None:
        raise RecipeRunError(f"recipe run {recipe_run_id} does not exist")
    run.priority_boost = int(boost)
    session.flush()
    return run


def list_recipe_runs(
    session: Session, *, status: str | None = None, limit: int | None = None
) -> list[RecipeRun]:
    query = select(RecipeRun).order_by(RecipeRun.id)
    if status:
        query = query.where(RecipeRun.status == status)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def planned_task_order(spec: WorkflowSpecification) -> list[str] | None:
    """The task order of a workflow specification's workflow; None if it cannot be resolved now
    (the run then fails when it starts, naming the workflow)."""
    from dkist_processing_core.datacenter.planning.recipes import resolve_workflow_specification

    try:
        return list(resolve_workflow_specification(spec).task_order)
    except Exception:
        return None


def record_task_orders(session: Session, run_ids) -> None:
    """Record the task order of the runs ``run_ids`` (ids or a SQL column of ids) that lack one.

    One workflow resolution and one UPDATE per workflow specification involved.
    """
    specs = session.scalars(
        select(WorkflowSpecification).where(
            WorkflowSpecification.id.in_(
                select(RecipeRun.workflow_specification_id).where(
                    RecipeRun.id.in_(run_ids), RecipeRun.task_order.is_(None)
                )
            )
        )
    ).all()
    for spec in specs:
        order = planned_task_order(spec)
        if order is None:
            continue
        session.execute(
            update(RecipeRun)
            .where(
                RecipeRun.id.in_(run_ids),
                RecipeRun.workflow_specification_id == spec.id,
                RecipeRun.task_order.is_(None),
            )
            .values(task_order=order)
            .execution_options(synchronize_session=False)
        )


def recorded_plan(session: Session, run: RecipeRun) -> tuple[WorkflowSpecification, list | None]:
    """The workflow specification and task order ``run`` was planned with.

    A run created before plans were recorded (no specification) falls back to
    its recipe's specification.
    """
    spec_id = run.workflow_specification_id
    if spec_id is None:
        instance = session.get(RecipeInstance, run.recipe_instance_id)
        spec_id = session.get(Recipe, instance.recipe_id).workflow_specification_id
    return session.get(WorkflowSpecification, spec_id), run.task_order


def get_recipe_run(session: Session, recipe_run_id: int) -> RecipeRun:
    run = session.get(RecipeRun, recipe_run_id)
    if run is None:
        raise RecipeRunError(f"recipe run {recipe_run_id} does not exist")
    return run


def cancel_recipe_run(
    session: Session, recipe_run_id: int, operator: str, reason: str = "", *, clock=None
) -> RecipeRun:
    """Cancel a waiting (``created``) or ``running`` run; a running run loses its lease.

    The process executing a canceled run stops it at its next lease renewal
    (a run in a worker process is terminated; one in the scheduler's own
    process finishes its current task) and records nothing more.
    """
    run = get_recipe_run(session, recipe_run_id)
    if run.status not in (CREATED, RUNNING, MANUAL):
        raise RecipeRunError(
            f"recipe run {recipe_run_id} is {run.status!r}: only a waiting (created), running "
            "or manual run can be canceled"
        )
    note = f"canceled by {operator}" + (f": {reason}" if reason else "")
    return transition(session, recipe_run_id, CANCELED, clock=clock, error=note)


REQUEUE = "requeue"


def requeue_recipe_run(
    session: Session, recipe_run_id: int, operator: str, note: str = "", *, clock=None
) -> RecipeRun:
    """Put a failed run back to wait (``created``) with its recorded plan; resolve its ticket.

    Refused when the run's ticket was resolved otherwise (a retry or a manual
    execution already followed up on it).
    """
    run = get_recipe_run(session, recipe_run_id)
    if run.status != FAILED:
        raise RecipeRunError(
            f"recipe run {recipe_run_id} is {run.status!r}: only a failed run can be requeued"
        )
    ticket = session.scalar(select(Ticket).where(Ticket.recipe_run_id == recipe_run_id))
    if ticket is not None and ticket.status != "open" and ticket.resolution != REQUEUE:
        raise RecipeRunError(
            f"recipe run {recipe_run_id}: its ticket {ticket.id} was resolved by "
            f"{ticket.resolution} (follow-up run {ticket.follow_up_recipe_run_id}); "
            "requeue that run instead"
        )
    now = (clock or SystemClock()).now()
    run = transition(session, recipe_run_id, CREATED, clock=clock)
    if ticket is not None and ticket.status == "open":
        ticket.status = "resolved"
        ticket.resolution = REQUEUE
        ticket.resolved_by = operator
        ticket.resolved_at = now
        ticket.resolution_note = note
        session.flush()
    return run
