"""The PI's outbox in the metadata store: queued always, sent when a mail server is set.

Every published dataset version queues its notice here (table ``outbox_message``),
whether or not an SMTP server is configured; any later pass with a server sends
what waits. :class:`StoreOutbox` is the :class:`~.catalog.notify.OutboxStore` of
:class:`~.catalog.notify.Outbox` over the store:

- a sender *claims* a message before sending it: ``UPDATE ... SET status='sending'
  WHERE key=? AND status='queued' AND next_attempt_at <= now`` (compare-and-set; the
  same statement on SQLite and PostgreSQL), so two senders never both send it;
- a claim older than ``stale_claim_s`` (the sender died mid-send) may be taken again;
  the Message-ID is stable, so that one possible repeat is recognisable;
- a permanent refusal (5xx) makes the message ``refused`` and opens a ``notification``
  ticket on its recipe run; the operator retries or abandons it
  (:func:`retry_message`, :func:`abandon_message`, ``dkist-processing outbox``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.clock import Clock, SystemClock
from dkist_processing_core.datacenter.operations.tickets import (
    NOTIFICATION,
    OPEN,
    RESOLVED,
    StoreTicketSink,
    TicketRequest,
)
from dkist_processing_core.datacenter.products.catalog.notify import Outbox, OutboxMessage
from dkist_processing_core.datacenter.store import Store
from dkist_processing_core.datacenter.store.models import OutboxMessage as OutboxRow
from dkist_processing_core.datacenter.store.models import Ticket
from dkist_processing_core.framework.crashpoints import crash_point

__all__ = [
    "OutboxError",
    "StoreOutbox",
    "abandon_message",
    "list_messages",
    "retry_message",
    "store_outbox",
]

QUEUED, SENDING, SENT, REFUSED, ABANDONED = "queued", "sending", "sent", "refused", "abandoned"


class OutboxError(ValueError):
    """An outbox operation that is not possible (unknown message, already sent, ...)."""


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _seconds(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


def _message(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        key=row.key,
        recipient=row.recipient,
        subject=row.subject,
        body=row.body,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at.timestamp(),
        last_error=row.last_error,
        sent_at=_seconds(row.sent_at),
    )


class StoreOutbox:
    """The outbox as rows of the metadata store's ``outbox_message`` table."""

    def __init__(self, store: Store, *, stale_claim_s: float = 900.0, sender_name: str = ""):
        self.store = store
        self.stale_claim_s = stale_claim_s
        self.sender_name = sender_name or "outbox"

    def add(self, key, recipient, subject, body, now, *, recipe_run_id=None) -> bool:
        values = {
            "key": key,
            "recipient": recipient,
            "subject": subject,
            "body": body,
            "status": QUEUED,
            "attempts": 0,
            "next_attempt_at": _when(now).replace(tzinfo=None),
            "created_at": _when(now).replace(tzinfo=None),
            "recipe_run_id": recipe_run_id,
        }
        with self.store.session() as session:
            dialect = session.bind.dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement = (
                insert(OutboxRow).values(**values).on_conflict_do_nothing().returning(OutboxRow.key)
            )
            added = session.execute(statement).scalar() is not None
            crash_point("outbox-before-commit", key)
            return added

    def _stale(self, now: float) -> datetime:
        return _when(now) - timedelta(seconds=self.stale_claim_s)

    def _claimable(self, now: float):
        return or_(
            and_(OutboxRow.status == QUEUED, OutboxRow.next_attempt_at <= _when(now)),
            and_(OutboxRow.status == SENDING, OutboxRow.claimed_at <= self._stale(now)),
        )

    def due(self, now) -> list[OutboxMessage]:
        with self.store.session() as session:
            rows = session.scalars(
                select(OutboxRow)
                .where(self._claimable(now))
                .order_by(OutboxRow.created_at, OutboxRow.key)
            ).all()
            return [_message(r) for r in rows]

    def claim(self, key, now) -> bool:
        with self.store.session() as session:
            moved = session.execute(
                update(OutboxRow)
                .where(OutboxRow.key == key, self._claimable(now))
                .values(status=SENDING, claimed_at=_when(now), claimed_by=self.sender_name)
                .execution_options(synchronize_session=False)
            ).rowcount
        return moved == 1

    def _finish(self, key: str, **values) -> None:
        with self.store.session() as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.key == key, OutboxRow.status == SENDING)
                .values(attempts=OutboxRow.attempts + 1, **values)
                .execution_options(synchronize_session=False)
            )

    def mark_sent(self, key, now) -> None:
        self._finish(key, status=SENT, sent_at=_when(now), last_error=None)

    def mark_failed(self, key, error, next_attempt_at) -> None:
        self._finish(key, status=QUEUED, last_error=error, next_attempt_at=_when(next_attempt_at))

    def mark_refused(self, key, error, now) -> None:
        self._finish(key, status=REFUSED, last_error=error)
        with self.store.session() as session:
            row = session.get(OutboxRow, key)
            if row is not None and row.recipe_run_id is not None:
                StoreTicketSink().open_tickets(
                    session,
                    [
                        TicketRequest(
                            recipe_run_id=row.recipe_run_id,
                            kind=NOTIFICATION,
                            error=f"mail to {row.recipient} refused ({key}): {error}",
                            failed_task="notify",
                        )
                    ],
                )

    def get(self, key) -> OutboxMessage | None:
        with self.store.session() as session:
            row = session.get(OutboxRow, key)
            return None if row is None else _message(row)

    def all(self) -> list[OutboxMessage]:
        with self.store.session() as session:
            rows = session.scalars(select(OutboxRow).order_by(OutboxRow.created_at, OutboxRow.key))
            return [_message(r) for r in rows]


def store_outbox(store: Store, smtp: tuple[str, int] | None = None, **settings) -> Outbox:
    """The data center's outbox over ``store``; sends through ``smtp`` (host, port) if given."""
    host, port = smtp if smtp is not None else (None, 25)
    return Outbox(StoreOutbox(store), smtp_host=host, smtp_port=port, **settings)


def list_messages(session: Session, *, status: str | None = None) -> list[OutboxRow]:
    """The outbox's messages, oldest first (``status`` filters)."""
    query = select(OutboxRow).order_by(OutboxRow.created_at, OutboxRow.key)
    if status is not None:
        query = query.where(OutboxRow.status == status)
    return list(session.scalars(query))


def _get(session: Session, key: str) -> OutboxRow:
    row = session.get(OutboxRow, key, populate_existing=True)
    if row is None:
        raise OutboxError(
            f"outbox message {key!r} does not exist (see 'dkist-processing outbox list')"
        )
    return row


def _resolve_notification_tickets(
    session: Session, row: OutboxRow, resolution: str, operator: str, clock: Clock
) -> None:
    if row.recipe_run_id is None:
        return
    for ticket in session.scalars(
        select(Ticket).where(
            Ticket.recipe_run_id == row.recipe_run_id,
            Ticket.kind == NOTIFICATION,
            Ticket.status == OPEN,
        )
    ):
        ticket.status = RESOLVED
        ticket.resolution = resolution
        ticket.resolved_by = operator
        ticket.resolved_at = clock.now()


def retry_message(
    session: Session, key: str, operator: str = "operator", *, clock: Clock | None = None
) -> OutboxRow:
    """Queue a refused, abandoned or waiting message to be sent at the next send."""
    clock = clock or SystemClock()
    row = _get(session, key)
    if row.status in (SENT, SENDING):
        raise OutboxError(
            f"outbox message {key!r} is {row.status}; only an unsent message is retried"
        )
    row.status, row.next_attempt_at = QUEUED, clock.now()
    _resolve_notification_tickets(session, row, "retry", operator, clock)
    session.flush()
    return row


def abandon_message(
    session: Session, key: str, operator: str = "operator", *, clock: Clock | None = None
) -> OutboxRow:
    """Never send this message (an operator's decision, e.g. the address is wrong)."""
    clock = clock or SystemClock()
    row = _get(session, key)
    if row.status in (SENT, SENDING):
        raise OutboxError(f"outbox message {key!r} is {row.status}; it cannot be abandoned")
    row.status = ABANDONED
    _resolve_notification_tickets(session, row, "abandoned", operator, clock)
    session.flush()
    return row
