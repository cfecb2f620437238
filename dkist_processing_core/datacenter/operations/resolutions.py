"""Resolving tickets: a simple retry, an adjusted plan and retry, or a manual execution.

- Simple retry: a new run (next attempt) of the same recipe instance with the
  same configuration as run.
- Adjusted plan: a new input dataset and/or configuration; a new recipe
  instance that supersedes the old one (the link is kept), and a new run.
- Manual execution: a person did the work by hand; who, what, why and which
  files are recorded for provenance and the run is marked succeeded,
  manually processed. The files are validated first
  (:func:`~dkist_processing_core.datacenter.products.manual.validate_manual_files`);
  the run's publication then ingests them like any other run's outputs.

A ``publication`` ticket (a succeeded run whose publication failed) is resolved by
a retry that makes the publication pending again: the caller (``tickets retry``)
publishes it at once, and any later pass would. A ``notification`` ticket (the mail
server refused the PI's notice) is resolved by a retry that queues the notice again.

:func:`retry_ticket` is the whole simple retry as an operator asks for it (``tickets
retry``, the ticket page's Retry button): the resolution, then for a publication ticket
the publication itself, for a notification ticket the sending.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.clock import Clock, SystemClock
from dkist_processing_core.datacenter.operations.tickets import (
    MANUAL_BY_DEFINITION,
    NOTIFICATION,
    OPEN,
    PUBLICATION,
    RESOLVED,
    TicketError,
    get_ticket,
)
from dkist_processing_core.datacenter.planning.input_datasets import assemble_input_dataset
from dkist_processing_core.datacenter.planning.recipe_runs import (
    CREATED,
    FAILED,
    MANUAL,
    SUCCEEDED,
    create_recipe_instance,
    create_recipe_run,
    deep_merge,
    transition,
)
from dkist_processing_core.datacenter.store.models import (
    ManualExecution,
    OutboxMessage,
    RecipeInstance,
    RecipeRun,
    RecipeRunPublication,
    Ticket,
)

if TYPE_CHECKING:
    from dkist_processing_core.datacenter.products.catalog.notify import Outbox
    from dkist_processing_core.datacenter.products.publication import PublicationOutcome
    from dkist_processing_core.datacenter.store import Store


def _open_ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = get_ticket(session, ticket_id)
    if ticket.status != OPEN:
        raise TicketError(f"ticket {ticket_id} is already {ticket.status} ({ticket.resolution})")
    return ticket


def _close(
    ticket: Ticket, resolution: str, operator: str, note: str, follow_up: int, clock: Clock
) -> None:
    ticket.status = RESOLVED
    ticket.resolution = resolution
    ticket.resolved_by = operator
    ticket.resolution_note = note
    ticket.resolved_at = clock.now()
    ticket.follow_up_recipe_run_id = follow_up


def _refuse_manual_of_publication(ticket: Ticket) -> None:
    if ticket.kind in (PUBLICATION, NOTIFICATION):
        raise TicketError(
            f"ticket {ticket.id}: a {ticket.kind} ticket is resolved by a retry "
            "('dkist-processing tickets retry'), not by a manual execution"
        )


def _refuse_automation_of_manual_recipe(ticket: Ticket) -> None:
    if ticket.kind in (PUBLICATION, NOTIFICATION):
        raise TicketError(
            f"ticket {ticket.id}: a {ticket.kind} ticket is resolved by a retry "
            "(publish again / send again), not by a new plan or by hand"
        )
    if ticket.kind == MANUAL_BY_DEFINITION:
        raise TicketError(
            f"ticket {ticket.id}: the recipe is manual by definition; resolve it by a manual "
            "execution (or change the recipe to automatic first)"
        )


def resolve_by_retry(
    session: Session, ticket_id: int, operator: str, note: str = "", *, clock: Clock | None = None
) -> RecipeRun:
    """Run the same plan again: a new attempt with the failed run's configuration as run.

    For a ``publication`` ticket: make the run's publication pending again and return the
    (succeeded) run; the caller publishes it (``tickets retry`` does at once). For a
    ``notification`` ticket: queue the refused notice again and return the run.
    """
    clock = clock or SystemClock()
    ticket = _open_ticket(session, ticket_id)
    if ticket.kind in (PUBLICATION, NOTIFICATION):
        return _retry_after_success(session, ticket, operator, note, clock)
    _refuse_automation_of_manual_recipe(ticket)
    failed = session.get(RecipeRun, ticket.recipe_run_id)
    if failed.status != FAILED:
        raise TicketError(f"ticket {ticket_id}: run {failed.id} is {failed.status}, not failed")
    retry = create_recipe_run(
        session,
        failed.recipe_instance_id,
        configuration=failed.configuration,
        run_configuration=failed.run_configuration,
        status=CREATED,
        retry_of_recipe_run_id=failed.id,
        priority_boost=failed.priority_boost,
        clock=clock,
    )
    _close(ticket, "retry", operator, note, retry.id, clock)
    session.flush()
    return retry


@dataclass(frozen=True)
class RetryOutcome:
    """What an operator's retry of a ticket came to.

    ``recipe_run_id`` is the new attempt (a failed run's ticket) or the succeeded run
    published or announced again (a publication or notification ticket);
    ``publication`` is the outcome of publishing again (a publication ticket only):
    ``published``, or ``failed`` with the error and the new ticket that holds it.
    """

    ticket_id: int
    kind: str
    recipe_run_id: int
    publication: PublicationOutcome | None = None


def retry_ticket(
    store: Store,
    ticket_id: int,
    operator: str,
    note: str = "",
    *,
    scratch_root: str | Path,
    archive_root: str | Path,
    outbox: Outbox | None = None,
    clock: Clock | None = None,
) -> RetryOutcome:
    """Resolve a ticket by a simple retry and do what the retry means, at once.

    A failed run's ticket: a new attempt waits for the scheduler (:func:`resolve_by_retry`).
    A publication ticket: the run is published again now
    (:func:`~dkist_processing_core.datacenter.products.publication.publish_pending`);
    if that fails again, a new publication ticket holds the new error. A notification
    ticket: the notice is queued again and ``outbox`` sends what waits.
    """
    from dkist_processing_core.datacenter.products.publication import publish_pending

    with store.session() as session:
        kind = get_ticket(session, ticket_id).kind
        run_id = resolve_by_retry(session, ticket_id, operator, note, clock=clock).id
    if kind == PUBLICATION:
        outcomes = publish_pending(
            store,
            scratch_root=scratch_root,
            archive_root=archive_root,
            outbox=outbox,
            clock=clock,
            recipe_run_ids=[run_id],
        )
        publication = outcomes[0] if outcomes else None
        return RetryOutcome(ticket_id, kind, run_id, publication)
    if kind == NOTIFICATION and outbox is not None:
        outbox.send_pending()
    return RetryOutcome(ticket_id, kind, run_id)


def _retry_after_success(
    session: Session, ticket: Ticket, operator: str, note: str, clock: Clock
) -> RecipeRun:
    run = session.get(RecipeRun, ticket.recipe_run_id)
    if ticket.kind == PUBLICATION:
        publication = session.get(RecipeRunPublication, run.id, populate_existing=True)
        if publication is not None and publication.status != "published":
            publication.status = "pending"
            publication.updated_at = clock.now()
        resolution = "publish_again"
    else:
        for message in session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.recipe_run_id == run.id,
                OutboxMessage.status.in_(("refused", "abandoned")),
            )
        ):
            message.status, message.next_attempt_at = "queued", clock.now()
        resolution = "send_again"
    _close(ticket, resolution, operator, note, run.id, clock)
    session.flush()
    return run


def resolve_by_adjusted_plan(
    session: Session,
    ticket_id: int,
    operator: str,
    note: str = "",
    *,
    run_configuration: dict[str, Any] | None = None,
    frame_ids: Iterable[str] | None = None,
    parameter_value_ids: Iterable[int] | None = None,
    reassemble_input_dataset: bool = False,
    clock: Clock | None = None,
) -> RecipeRun:
    """Retry with a changed plan: a new input dataset and/or configuration.

    The new recipe instance supersedes the old one (and a new input dataset
    supersedes the old input dataset). The new configuration as run is the old
    one deep-merged with ``run_configuration``.
    """
    clock = clock or SystemClock()
    ticket = _open_ticket(session, ticket_id)
    _refuse_automation_of_manual_recipe(ticket)
    failed = session.get(RecipeRun, ticket.recipe_run_id)
    old_instance = session.get(RecipeInstance, failed.recipe_instance_id)
    new_dataset = (
        frame_ids is not None or parameter_value_ids is not None or reassemble_input_dataset
    )
    if not new_dataset and not run_configuration:
        raise TicketError(
            f"ticket {ticket_id}: an adjusted plan needs a new input dataset or configuration; "
            "use a simple retry otherwise"
        )
    input_dataset_id = old_instance.input_dataset_id
    if new_dataset:
        input_dataset_id = assemble_input_dataset(
            session,
            old_instance.processing_candidate_id,
            frame_ids=frame_ids,
            parameter_value_ids=parameter_value_ids,
            supersedes_input_dataset_id=old_instance.input_dataset_id,
            note=f"adjusted plan for ticket {ticket_id}: {note}",
            clock=clock,
        ).id
    instance = create_recipe_instance(
        session,
        old_instance.processing_candidate_id,
        input_dataset_id,
        recipe_id=old_instance.recipe_id,
        supersedes_recipe_instance_id=old_instance.id,
        clock=clock,
    )
    run = create_recipe_run(
        session,
        instance.id,
        configuration=deep_merge(failed.configuration, run_configuration),
        run_configuration=deep_merge(failed.run_configuration or {}, run_configuration),
        status=CREATED,
        retry_of_recipe_run_id=failed.id,
        priority_boost=failed.priority_boost,
        clock=clock,
    )
    _close(ticket, "adjusted_plan", operator, note, run.id, clock)
    session.flush()
    return run


def resolve_by_manual_execution(
    session: Session,
    ticket_id: int,
    operator: str,
    actions: str,
    reason: str,
    files: Iterable[str] = (),
    *,
    clock: Clock | None = None,
) -> ManualExecution:
    """Record work done by hand (who, what, why, which files) and mark the run succeeded.

    For a manual-by-definition ticket the waiting ``manual`` run itself is
    completed; for a failed run a new attempt records the manual processing.
    The files (the hand-made run's scratch folder, FITS frames, ``KIND=PATH``
    products) are validated first; invalid files raise
    :class:`~dkist_processing_core.datacenter.products.manual.ManualFilesError`
    naming each, and nothing is recorded. The run's publication is then pending:
    it ingests these files (the caller or the next pass publishes it).
    """
    from dkist_processing_core.datacenter.products.manual import (
        absolute_files,
        validate_manual_files,
    )

    files = absolute_files(files)  # recorded as absolute paths: read later from anywhere
    clock = clock or SystemClock()
    if not operator or not actions or not reason:
        raise TicketError(
            f"ticket {ticket_id}: a manual execution needs who (operator), what (actions) "
            "and why (reason)"
        )
    ticket = _open_ticket(session, ticket_id)
    _refuse_manual_of_publication(ticket)
    run = session.get(RecipeRun, ticket.recipe_run_id)
    if files:
        validate_manual_files(session, run.id, files)
    if run.status != MANUAL:
        run = create_recipe_run(
            session,
            run.recipe_instance_id,
            configuration=run.configuration,
            run_configuration=run.run_configuration,
            status=MANUAL,
            retry_of_recipe_run_id=run.id,
            clock=clock,
        )
    execution = ManualExecution(
        ticket_id=ticket.id,
        recipe_run_id=run.id,
        operator=operator,
        actions=actions,
        reason=reason,
        files=list(files),
        performed_at=clock.now(),
    )
    session.add(execution)
    session.flush()
    transition(session, run.id, SUCCEEDED, clock=clock, manually_processed=True)
    _close(ticket, "manual_execution", operator, reason, run.id, clock)
    session.flush()
    return execution
