"""Publication, a step of a recipe run's life: every succeeded run ends published or ticketed.

A succeeded run's publication (table ``recipe_run_publication``) is ``pending``
(a succeeded run without a row is pending too), ``publishing`` (one publisher
claimed it), ``published`` (its version is registered and its notice queued) or
``failed`` (the error is kept and a ``publication`` ticket is open).

- :func:`publish_pending` publishes every pending run; whatever succeeded a run
  (``runs schedule``, ``cron``, the Airflow schedule DAG's ``start_ready_runs``, a
  manual resolution, a run succeeded elsewhere) a pass finds it;
- :func:`publish_run` publishes one run: it claims the publication with a
  compare-and-set on its status (two publishers never both publish a run), removes
  what an interrupted earlier attempt left in ``<archive>/.staging/<run>-*``, stages
  this attempt's package in ``<archive>/.staging/<run>-<attempt>`` and renames it
  into place. A failure records the error, marks the publication ``failed`` and
  opens a ``publication`` ticket; ``tickets retry`` (or ``dkist-processing publish
  RUN``) publishes again. A ``publishing`` claim older than ``stale_after_s`` is
  one whose publisher died; it may be taken again.
- Every published version queues its PI notice in the store's outbox
  (:mod:`.outbox`), with or without a mail server; with one, the notice is sent.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.clock import Clock, SystemClock
from dkist_processing_core.datacenter.operations.tickets import (
    OPEN,
    PUBLICATION,
    RESOLVED,
    StoreTicketSink,
    TicketRequest,
    open_ticket_for_run,
)
from dkist_processing_core.datacenter.products.catalog.notify import Outbox
from dkist_processing_core.datacenter.products.catalog.package import DIR_MODE, FILE_MODE
from dkist_processing_core.datacenter.store import Store
from dkist_processing_core.datacenter.store.models import RecipeRun, RecipeRunPublication

__all__ = [
    "FAILED",
    "PENDING",
    "PUBLISHED",
    "PUBLISHING",
    "PublicationError",
    "PublicationOutcome",
    "pending_publications",
    "publish_pending",
    "publish_run",
    "staging_root",
]

PENDING, PUBLISHING, PUBLISHED, FAILED = "pending", "publishing", "published", "failed"
SUCCEEDED = "succeeded"
DEFAULT_STALE_AFTER_S = 3600.0


class PublicationError(ValueError):
    """A publication that cannot be attempted (unknown run, a run that did not succeed...)."""


@dataclass(frozen=True)
class PublicationOutcome:
    recipe_run_id: int
    status: str  # published | failed | skipped (another publisher has it)
    version: str | None = None
    dataset_id: str | None = None
    package_path: Path | None = None
    error: str | None = None
    ticket_id: int | None = None
    attempt: int | None = None


def staging_root(archive_root: str | Path) -> Path:
    """Where publication attempts stage their packages: ``<archive>/.staging``."""
    return Path(archive_root) / ".staging"


def _claimable(now, stale_after_s: float, *, again: bool):
    statuses = [RecipeRunPublication.status == PENDING]
    statuses.append(
        and_(
            RecipeRunPublication.status == PUBLISHING,
            RecipeRunPublication.updated_at <= now - timedelta(seconds=stale_after_s),
        )
    )
    if again:
        statuses.append(RecipeRunPublication.status == FAILED)
    return or_(*statuses)


def pending_publications(
    session: Session,
    *,
    clock: Clock | None = None,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
) -> list[int]:
    """Succeeded runs whose publication is pending (or whose publisher died), oldest first."""
    now = (clock or SystemClock()).now()
    query = (
        select(RecipeRun.id)
        .outerjoin(RecipeRunPublication, RecipeRunPublication.recipe_run_id == RecipeRun.id)
        .where(
            RecipeRun.status == SUCCEEDED,
            or_(
                RecipeRunPublication.recipe_run_id.is_(None),
                _claimable(now, stale_after_s, again=False),
            ),
        )
        .order_by(RecipeRun.id)
    )
    return list(session.scalars(query))


def _ensure_row(session: Session, recipe_run_id: int, now) -> None:
    dialect = session.bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(RecipeRunPublication)
        .values(recipe_run_id=recipe_run_id, status=PENDING, attempts=0, updated_at=now)
        .on_conflict_do_nothing()
    )


def _claim(
    store: Store, recipe_run_id: int, clock: Clock, stale_after_s: float, again: bool
) -> int | None:
    """Move the run's publication to ``publishing``; the attempt number, or None if taken."""
    with store.session() as session:
        run = session.get(RecipeRun, recipe_run_id)
        if run is None:
            raise PublicationError(f"recipe run {recipe_run_id} does not exist")
        if run.status != SUCCEEDED:
            raise PublicationError(
                f"recipe run {recipe_run_id} is {run.status}; only a succeeded run is published"
            )
        now = clock.now()
        _ensure_row(session, recipe_run_id, now)
        moved = session.execute(
            update(RecipeRunPublication)
            .where(
                RecipeRunPublication.recipe_run_id == recipe_run_id,
                _claimable(now, stale_after_s, again=again),
            )
            .values(status=PUBLISHING, attempts=RecipeRunPublication.attempts + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not moved:
            return None
        return session.scalar(
            select(RecipeRunPublication.attempts).where(
                RecipeRunPublication.recipe_run_id == recipe_run_id
            )
        )


def _why_not_claimed(store: Store, recipe_run_id: int, stale_after_s: float) -> str:
    with store.session() as session:
        row = session.get(RecipeRunPublication, recipe_run_id)
        status, since = (row.status, row.updated_at) if row is not None else (None, None)
    if status == PUBLISHING:
        return (
            f"another publisher claimed it at {since:%Y-%m-%d %H:%M:%S} UTC; a claim older than "
            f"{stale_after_s:g} s is a dead publisher's and is taken again then"
        )
    if status == FAILED:
        return "its publication failed: publish it again (dkist-processing publish RUN)"
    return f"its publication is {status}"


def _remove_leftovers(archive_root: Path, recipe_run_id: int) -> None:
    root = staging_root(archive_root)
    if root.is_dir():
        for leftover in root.glob(f"{recipe_run_id}-*"):
            shutil.rmtree(leftover, ignore_errors=True)


def _resolve_publication_tickets(
    session: Session, recipe_run_id: int, clock: Clock, operator: str, note: str
) -> None:
    ticket = open_ticket_for_run(session, recipe_run_id, PUBLICATION)
    if ticket is not None:
        ticket.status = RESOLVED
        ticket.resolution = "publish_again"
        ticket.resolved_by = operator
        ticket.resolution_note = note
        ticket.resolved_at = clock.now()
        ticket.follow_up_recipe_run_id = recipe_run_id


def publish_run(
    store: Store,
    recipe_run_id: int,
    *,
    scratch_root: str | Path,
    archive_root: str | Path,
    outbox: Outbox | None = None,
    clock: Clock | None = None,
    again: bool = False,
    operator: str = "data center",
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
    dir_mode: int = DIR_MODE,
    file_mode: int = FILE_MODE,
) -> PublicationOutcome:
    """Publish one succeeded run (see the module docstring).

    ``again``: also publish a run whose publication failed (the operator's retry).
    A run already published returns its version without publishing anything.
    Raises :class:`PublicationError` for a run that does not exist or did not succeed.
    """
    from dkist_processing_core.datacenter.products.publish import publish_recipe_run

    clock = clock or SystemClock()
    archive_root = Path(archive_root)
    if outbox is None:
        from dkist_processing_core.datacenter.products.outbox import store_outbox

        outbox = store_outbox(store)  # the notice waits in the store for a mail server
    with store.session() as session:
        row = session.get(RecipeRunPublication, recipe_run_id)
        if row is not None and row.status == PUBLISHED:
            _resolve_publication_tickets(session, recipe_run_id, clock, operator, "published")
            return PublicationOutcome(recipe_run_id, PUBLISHED, version=row.version_id)
        scratch_dir = row.scratch_dir if row is not None else None
    attempt = _claim(store, recipe_run_id, clock, stale_after_s, again)
    if attempt is None:
        return PublicationOutcome(
            recipe_run_id, "skipped", error=_why_not_claimed(store, recipe_run_id, stale_after_s)
        )
    _remove_leftovers(archive_root, recipe_run_id)
    staging = staging_root(archive_root) / f"{recipe_run_id}-{attempt}"
    try:
        staging.parent.mkdir(parents=True, exist_ok=True)
        published = publish_recipe_run(
            store,
            recipe_run_id,
            scratch_root=scratch_root,
            archive_root=archive_root,
            outbox=outbox,
            scratch_dir=scratch_dir,
            staging_dir=staging,
            dir_mode=dir_mode,
            file_mode=file_mode,
        )
    except Exception as failure:
        error = f"{type(failure).__name__}: {failure}"
        shutil.rmtree(staging, ignore_errors=True)
        with store.session() as session:
            session.execute(
                update(RecipeRunPublication)
                .where(RecipeRunPublication.recipe_run_id == recipe_run_id)
                .values(status=FAILED, last_error=error, updated_at=clock.now())
                .execution_options(synchronize_session=False)
            )
            ticket = open_ticket_for_run(session, recipe_run_id, PUBLICATION)
            if ticket is None:
                StoreTicketSink(clock).open_tickets(
                    session,
                    [
                        TicketRequest(
                            recipe_run_id=recipe_run_id,
                            kind=PUBLICATION,
                            error=error,
                            failed_task="publish",
                        )
                    ],
                )
                ticket = open_ticket_for_run(session, recipe_run_id, PUBLICATION)
            else:
                ticket.error = error
            ticket_id = ticket.id
        return PublicationOutcome(
            recipe_run_id, FAILED, error=error, ticket_id=ticket_id, attempt=attempt
        )
    with store.session() as session:
        session.execute(
            update(RecipeRunPublication)
            .where(RecipeRunPublication.recipe_run_id == recipe_run_id)
            .values(
                status=PUBLISHED,
                last_error=None,
                version_id=published.version,
                updated_at=clock.now(),
                published_at=clock.now(),
            )
            .execution_options(synchronize_session=False)
        )
        _resolve_publication_tickets(session, recipe_run_id, clock, operator, "published")
    return PublicationOutcome(
        recipe_run_id,
        PUBLISHED,
        version=published.version,
        dataset_id=published.dataset_id,
        package_path=published.package_path,
        attempt=attempt,
    )


def publish_pending(
    store: Store,
    *,
    scratch_root: str | Path,
    archive_root: str | Path,
    outbox: Outbox | None = None,
    clock: Clock | None = None,
    recipe_run_ids: list[int] | None = None,
    **options: Any,
) -> list[PublicationOutcome]:
    """Publish every pending run (or those of ``recipe_run_ids`` that are pending).

    Then send what waits in the outbox (when it has a mail server).
    """
    clock = clock or SystemClock()
    with store.session() as session:
        pending = pending_publications(
            session, clock=clock, stale_after_s=options.get("stale_after_s", DEFAULT_STALE_AFTER_S)
        )
    if recipe_run_ids is not None:
        wanted = set(recipe_run_ids)
        pending = [r for r in pending if r in wanted]
    outcomes = [
        publish_run(
            store,
            run_id,
            scratch_root=scratch_root,
            archive_root=archive_root,
            outbox=outbox,
            clock=clock,
            **options,
        )
        for run_id in pending
    ]
    if outbox is not None:
        outbox.send_pending()
    return outcomes


def publication_status(session: Session, recipe_run_id: int) -> RecipeRunPublication | None:
    return session.get(RecipeRunPublication, recipe_run_id, populate_existing=True)


def open_publication_tickets(session: Session) -> list[int]:
    from dkist_processing_core.datacenter.store.models import Ticket

    return list(
        session.scalars(select(Ticket.id).where(Ticket.kind == PUBLICATION, Ticket.status == OPEN))
    )
