"""Tickets: recipe runs that need a person.

A recipe that is manual by definition gets a ticket instead of an automated
run; an automated run that fails gets a ticket holding the error and the
failed task (manual by exception). Tickets go through a :class:`TicketSink`;
the default, :class:`StoreTicketSink`, keeps them in the metadata store where
the CLI shows them. Resolving a ticket is in :mod:`.resolutions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.clock import Clock, SystemClock
from dkist_processing_core.datacenter.store.models import Ticket

MANUAL_BY_DEFINITION = "manual_by_definition"
MANUAL_BY_EXCEPTION = "manual_by_exception"
#: A succeeded run whose publication failed; resolved by publishing again.
PUBLICATION = "publication"
#: A PI notice the mail server refused for good; resolved by retrying or abandoning it.
NOTIFICATION = "notification"
TICKET_KINDS = (MANUAL_BY_DEFINITION, MANUAL_BY_EXCEPTION, PUBLICATION, NOTIFICATION)
OPEN = "open"
RESOLVED = "resolved"


class TicketError(ValueError):
    """A ticket operation that is not possible (unknown ticket, already resolved, ...)."""


@dataclass(frozen=True)
class TicketRequest:
    """What a ticket is about: a recipe run, why it needs a person, and what went wrong."""

    recipe_run_id: int
    kind: str
    error: str | None = None
    failed_task: str | None = None


class TicketSink(Protocol):
    """Where tickets go. An adapter to an external tracker also records them in the store."""

    def open_tickets(self, session: Session, requests: list[TicketRequest]) -> None: ...


class StoreTicketSink:
    """Keep tickets in the metadata store's ``ticket`` table (one statement for many)."""

    def __init__(self, clock: Clock | None = None):
        self.clock = clock or SystemClock()

    def open_tickets(self, session: Session, requests: list[TicketRequest]) -> None:
        if not requests:
            return
        for request in requests:
            if request.kind not in TICKET_KINDS:
                raise TicketError(
                    f"ticket kind {request.kind!r}: expected one of {', '.join(TICKET_KINDS)}"
                )
        now = self.clock.now()
        # A requeued run that fails again reopens its ticket (one ticket per run).
        existing = dict(
            session.execute(
                select(Ticket.recipe_run_id, Ticket.id).where(
                    Ticket.recipe_run_id.in_([r.recipe_run_id for r in requests])
                )
            ).all()
        )
        reopened = [r for r in requests if r.recipe_run_id in existing]
        if reopened:
            session.execute(
                update(Ticket),
                [
                    {
                        "id": existing[r.recipe_run_id],
                        "kind": r.kind,
                        "status": OPEN,
                        "error": r.error,
                        "failed_task": r.failed_task,
                        "created_at": now,
                        "resolved_at": None,
                        "resolution": None,
                        "resolved_by": None,
                        "resolution_note": None,
                        "follow_up_recipe_run_id": None,
                    }
                    for r in reopened
                ],
            )
        new = [r for r in requests if r.recipe_run_id not in existing]
        if not new:
            return
        session.execute(
            insert(Ticket),
            [
                {
                    "recipe_run_id": r.recipe_run_id,
                    "kind": r.kind,
                    "status": OPEN,
                    "error": r.error,
                    "failed_task": r.failed_task,
                    "created_at": now,
                }
                for r in new
            ],
        )


def list_tickets(session: Session, *, status: str | None = OPEN) -> list[Ticket]:
    """Tickets, oldest first; ``status=None`` lists all."""
    query = select(Ticket).order_by(Ticket.id)
    if status is not None:
        query = query.where(Ticket.status == status)
    return list(session.scalars(query))


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise TicketError(f"ticket {ticket_id} does not exist")
    return ticket


def ticket_for_run(session: Session, recipe_run_id: int, kind: str | None = None) -> Ticket | None:
    """The run's newest ticket (of ``kind`` if given)."""
    query = select(Ticket).where(Ticket.recipe_run_id == recipe_run_id)
    if kind is not None:
        query = query.where(Ticket.kind == kind)
    return session.scalars(query.order_by(Ticket.id.desc())).first()


def open_ticket_for_run(session: Session, recipe_run_id: int, kind: str) -> Ticket | None:
    """The run's open ticket of ``kind``, if any."""
    return session.scalars(
        select(Ticket).where(
            Ticket.recipe_run_id == recipe_run_id, Ticket.kind == kind, Ticket.status == OPEN
        )
    ).first()
