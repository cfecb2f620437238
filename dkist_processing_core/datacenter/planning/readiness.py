"""When to start processing: processing candidates, transfer manifests, frame counts, readiness.

The summit announces processing candidates (an observe OP run id and the
calibration OP run ids that calibrate it) and, per OP run id, a transfer
manifest (how many frames to expect). Each ingested frame adds one frame count
row, keyed by its frame id, so a frame delivered twice counts once.

The readiness pass (:func:`run_readiness_pass`) is a plain function, run from
cron through the CLI or from an engine's schedule. It is set-based: one
statement counts frames per OP run id (GROUP BY), compares with the manifests
and marks ready every candidate whose every OP has all its frames, or whose
last frame arrived more than the back stop ago (13 days by default; flagged
``ready_by_back_stop``). Then a handful of INSERT ... SELECT statements
assemble the input datasets and plan the first recipe runs of exactly the
candidates this pass made ready.

Two passes at once: the UPDATE only takes candidates that are still not ready
(on PostgreSQL a concurrent pass waits on the row locks and then re-checks
that condition; on SQLite transactions take the write lock at BEGIN), and a
unique key on the automatic recipe instance per candidate makes a duplicate
impossible rather than unlikely.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.clock import Clock, SystemClock, as_utc
from dkist_processing_core.datacenter.operations.tickets import StoreTicketSink, TicketSink
from dkist_processing_core.datacenter.planning.input_datasets import assemble_for_readiness_pass
from dkist_processing_core.datacenter.planning.recipe_runs import create_first_runs
from dkist_processing_core.datacenter.planning.recipes import get_recipe
from dkist_processing_core.datacenter.store import Store
from dkist_processing_core.datacenter.store.models import (
    FrameCount,
    ProcessingCandidate,
    ProcessingCandidateOp,
    Proposal,
    ReadinessPass,
    TransferManifest,
)

DEFAULT_BACK_STOP = timedelta(days=13)


class ReadinessError(ValueError):
    """A processing candidate, manifest or frame that cannot be recorded as given."""


@dataclass(frozen=True)
class FrameArrival:
    """One frame ingested at the data center."""

    frame_id: str
    op_run_id: str
    frame_kind: str
    path: str | None = None
    received_at: datetime | None = None


@dataclass(frozen=True)
class ReadinessReport:
    """What one readiness pass did."""

    readiness_pass_id: str
    ready: int
    ready_by_back_stop: int
    recipe_runs_created: int


def _insert(session: Session):
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def register_processing_candidate(
    session: Session,
    observe_op_run_id: str,
    calibration_op_run_ids: Iterable[str],
    *,
    proposal_id: str,
    principal_investigator: str,
    recipe: str,
    observation_date: datetime,
    principal_investigator_email: str | None = None,
    proposal_priority: int | None = None,
    run_configuration: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> ProcessingCandidate:
    """Record a processing candidate (and its proposal, if new) to be processed with ``recipe``."""
    if not observe_op_run_id:
        raise ReadinessError("processing candidate: expected an observe OP run id")
    calibration = list(dict.fromkeys(calibration_op_run_ids))
    if observe_op_run_id in calibration:
        raise ReadinessError(
            f"processing candidate {observe_op_run_id!r}: the observe OP run id is also listed "
            "as a calibration OP run id"
        )
    if session.scalar(
        select(ProcessingCandidate.id).where(
            ProcessingCandidate.observe_op_run_id == observe_op_run_id
        )
    ):
        raise ReadinessError(f"processing candidate {observe_op_run_id!r} already exists")
    if run_configuration is not None and not isinstance(run_configuration, dict):
        raise ReadinessError(
            f"processing candidate {observe_op_run_id!r}: run configuration must be a JSON object"
        )
    recipe_row = get_recipe(session, recipe)
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        proposal = Proposal(
            id=proposal_id,
            principal_investigator=principal_investigator,
            principal_investigator_email=principal_investigator_email,
            priority=proposal_priority or 0,
        )
        session.add(proposal)
    else:
        if proposal_priority is not None:
            proposal.priority = proposal_priority
        if principal_investigator_email is not None:  # a corrected or first-given address
            proposal.principal_investigator_email = principal_investigator_email
    candidate = ProcessingCandidate(
        observe_op_run_id=observe_op_run_id,
        proposal_id=proposal_id,
        recipe_id=recipe_row.id,
        observation_date=as_utc(observation_date),
        run_configuration=run_configuration,
        created_at=(clock or SystemClock()).now(),
        ops=[ProcessingCandidateOp(op_run_id=observe_op_run_id, op_kind="observe")]
        + [ProcessingCandidateOp(op_run_id=op, op_kind="calibration") for op in calibration],
    )
    session.add(candidate)
    session.flush()
    return candidate


def record_transfer_manifests(
    session: Session, expected: dict[str, int], *, clock: Clock | None = None
) -> None:
    """Record (or replace) how many frames to expect per OP run id."""
    for op_run_id, count in expected.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ReadinessError(
                f"transfer manifest for OP {op_run_id!r}: expected frame count {count!r}, "
                "expected an integer >= 0"
            )
    if not expected:
        return
    insert = _insert(session)
    now = (clock or SystemClock()).now()
    statement = insert(TransferManifest)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["op_run_id"],
            set_={
                "expected_frame_count": statement.excluded.expected_frame_count,
                "received_at": statement.excluded.received_at,
            },
        ),
        [
            {"op_run_id": op, "expected_frame_count": n, "received_at": now}
            for op, n in expected.items()
        ],
    )


def record_transfer_manifest(
    session: Session, op_run_id: str, expected_frame_count: int, *, clock: Clock | None = None
) -> None:
    record_transfer_manifests(session, {op_run_id: expected_frame_count}, clock=clock)


SUMMIT_ROOT_ENV = "DKIST_PROCESSING_SUMMIT_ROOT"


def frame_path(path: str | None, summit_root: str | Path | None = None) -> str | None:
    """A frame's path as stored: absolute, so that a later pass started in any folder finds it.

    A relative path is taken relative to ``summit_root``, else the folder named by
    ``DKIST_PROCESSING_SUMMIT_ROOT``, else the current folder (at registration).
    """
    if not path:
        return path
    root = summit_root or os.environ.get(SUMMIT_ROOT_ENV) or os.getcwd()
    return os.path.normpath(os.path.join(os.path.abspath(root), path))


def record_frames(
    session: Session,
    arrivals: Iterable[FrameArrival],
    *,
    clock: Clock | None = None,
    summit_root: str | Path | None = None,
) -> int:
    """Count ingested frames, each frame id once; return how many were new.

    One multi-row INSERT ... ON CONFLICT DO NOTHING: a frame delivered again
    (or twice in the same batch) is not counted again. Paths are stored
    absolute (:func:`frame_path`; relative ones are relative to ``summit_root``).
    """
    now = (clock or SystemClock()).now()
    rows: dict[str, dict[str, Any]] = {}
    for a in arrivals:
        if not a.frame_id or not a.op_run_id:
            raise ReadinessError(f"frame arrival {a!r}: expected a frame id and an OP run id")
        rows.setdefault(
            a.frame_id,
            {
                "frame_id": a.frame_id,
                "op_run_id": a.op_run_id,
                "frame_kind": a.frame_kind,
                "path": frame_path(a.path, summit_root),
                "received_at": as_utc(a.received_at) if a.received_at else now,
            },
        )
    if not rows:
        return 0
    insert = _insert(session)
    result = session.execute(
        insert(FrameCount)
        .on_conflict_do_nothing(index_elements=["frame_id"])
        .returning(FrameCount.frame_id),
        list(rows.values()),
    )
    return len(result.all())


def read_frame_arrivals(path: str | Path) -> list[FrameArrival]:
    """The frame arrivals in a JSON file: a list of ``{frame_id, op_run_id, frame_kind}`` objects.

    ``path`` and ``received_at`` (ISO 8601) are optional. A file that is not
    JSON, or an entry that is not such an object, raises :class:`ReadinessError`
    naming the file, the entry (counting from 1) and the field.
    """
    path = Path(path)
    try:
        entries = json.loads(path.read_text())
    except UnicodeDecodeError as error:
        raise ReadinessError(
            f"frame arrivals {path}: not UTF-8 text (byte {error.start}); expected a JSON list"
        ) from None
    except json.JSONDecodeError as error:
        raise ReadinessError(
            f"frame arrivals {path}: not JSON ({error.msg} at line {error.lineno} "
            f"column {error.colno}); expected a list of {{frame_id, op_run_id, frame_kind}}"
        ) from None
    if not isinstance(entries, list):
        raise ReadinessError(
            f"frame arrivals {path}: expected a JSON list of {{frame_id, op_run_id, frame_kind}}"
            f" objects, found a {type(entries).__name__}"
        )
    known = {f.name for f in fields(FrameArrival)}
    required = [f.name for f in fields(FrameArrival) if f.default is MISSING]
    arrivals = []
    for number, entry in enumerate(entries, 1):
        where = f"frame arrivals {path}: entry {number} of {len(entries)}"
        if not isinstance(entry, dict):
            raise ReadinessError(f"{where}: expected an object, found {entry!r}")
        missing = [name for name in required if name not in entry]
        if missing:
            raise ReadinessError(f"{where}: missing field {', '.join(map(repr, missing))}")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ReadinessError(
                f"{where}: unknown field {', '.join(map(repr, unknown))}; "
                f"expected {', '.join(f.name for f in fields(FrameArrival))}"
            )
        for name in required:
            if not isinstance(entry[name], str) or not entry[name]:
                raise ReadinessError(
                    f"{where}: field {name!r} is {entry[name]!r}; expected a non-empty text"
                )
        received_at = entry.get("received_at")
        if received_at is not None:
            try:
                received_at = datetime.fromisoformat(received_at)
            except (TypeError, ValueError):
                raise ReadinessError(
                    f"{where}: field 'received_at' is {received_at!r}; expected an ISO 8601 time"
                ) from None
        arrivals.append(FrameArrival(**{**entry, "received_at": received_at}))
    return arrivals


def candidate_frame_statistics(unready_only: bool = True, *, aggregate_first: bool = False):
    """SQL: per processing candidate, its OPs, how many are complete, and its last frame's time.

    An OP is complete when it has a transfer manifest and at least as many
    frame counts as the manifest expects.

    ``aggregate_first`` (the plan for PostgreSQL) counts the frames of every
    OP run id in one GROUP BY and joins the OPs of unready candidates to that
    result. Otherwise (the plan for SQLite, which walks the
    ``(op_run_id, received_at)`` index) the frame counts are first restricted
    to the OP run ids of unready candidates. PostgreSQL made that restriction a
    hash semi-join over every frame count followed by a second hash
    aggregation: the same rows read, twice the hashing.
    """
    candidate, op, manifest = ProcessingCandidate, ProcessingCandidateOp, TransferManifest
    received = select(
        FrameCount.op_run_id,
        func.count().label("frames"),
        func.max(FrameCount.received_at).label("last_frame_at"),
    )
    if unready_only and not aggregate_first:
        ops_of_interest = (
            select(op.op_run_id)
            .join(candidate, candidate.id == op.processing_candidate_id)
            .where(candidate.ready_at.is_(None))
        )
        received = received.where(FrameCount.op_run_id.in_(ops_of_interest))
    received = received.group_by(FrameCount.op_run_id).subquery("received")
    complete = and_(
        manifest.expected_frame_count.is_not(None),
        func.coalesce(received.c.frames, 0) >= manifest.expected_frame_count,
    )
    statistics = (
        select(
            op.processing_candidate_id.label("candidate_id"),
            func.count().label("ops"),
            func.sum(case((complete, 1), else_=0)).label("complete_ops"),
            func.max(received.c.last_frame_at).label("last_frame_at"),
        )
        .select_from(op)
        .join(candidate, candidate.id == op.processing_candidate_id)
        .outerjoin(manifest, manifest.op_run_id == op.op_run_id)
        .outerjoin(received, received.c.op_run_id == op.op_run_id)
        .group_by(op.processing_candidate_id)
    )
    if unready_only:
        statistics = statistics.where(candidate.ready_at.is_(None))
    return statistics.subquery("statistics")


def mark_ready(
    session: Session, readiness_pass_id: str, now: datetime, back_stop: timedelta
) -> int:
    """One UPDATE: mark ready the candidates that are complete or past the back stop."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    statistics = candidate_frame_statistics(aggregate_first=postgresql)
    complete = statistics.c.complete_ops == statistics.c.ops
    result = session.execute(
        update(ProcessingCandidate)
        .where(
            ProcessingCandidate.id == statistics.c.candidate_id,
            ProcessingCandidate.ready_at.is_(None),
            or_(complete, statistics.c.last_frame_at <= now - back_stop),
        )
        .values(
            ready_at=now,
            ready_by_back_stop=~complete,
            last_frame_at=statistics.c.last_frame_at,
            readiness_pass_id=readiness_pass_id,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def _is_retryable(error: DBAPIError) -> bool:
    """A deadlock or serialization failure on PostgreSQL: the pass can simply run again."""
    code = getattr(error.orig, "sqlstate", None)
    return code in ("40P01", "40001")


def run_readiness_pass(
    store: Store,
    *,
    clock: Clock | None = None,
    back_stop: timedelta = DEFAULT_BACK_STOP,
    ticket_sink: TicketSink | None = None,
    attempts: int = 5,
) -> ReadinessReport:
    """Mark ready candidates, assemble their input datasets and plan their first recipe runs.

    Everything happens in one transaction: either a candidate is ready and
    has its input dataset and first run (or ticket), or nothing changed.
    """
    clock = clock or SystemClock()
    sink = ticket_sink or StoreTicketSink(clock)
    for attempt in range(1, attempts + 1):
        try:
            return _readiness_pass_once(store, clock.now(), back_stop, sink)
        except DBAPIError as error:
            if attempt == attempts or not _is_retryable(error):
                raise
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


PASS_WORK_MEM = "64MB"


def _tune_postgresql_transaction(session: Session) -> None:
    """Settings for this transaction only (``SET LOCAL``), suited to one large set-based pass.

    - ``work_mem``: the per-candidate and per-OP hash aggregations of 100,000
      candidates need ~25 MB; with the 4 MB default they spill to disk in
      batches.
    - ``jit = off``: the statements are large enough in estimated cost to be
      compiled, which cost ~0.15 s per pass and ran once.
    """
    session.execute(text(f"SET LOCAL work_mem = '{PASS_WORK_MEM}'"))
    session.execute(text("SET LOCAL jit = off"))


def _readiness_pass_once(
    store: Store, now: datetime, back_stop: timedelta, sink: TicketSink
) -> ReadinessReport:
    pass_id = str(uuid.uuid4())
    start = time.perf_counter()
    with store.session() as session:
        if store.dialect == "postgresql":
            _tune_postgresql_transaction(session)
        record = ReadinessPass(id=pass_id, started_at=now)
        session.add(record)
        session.flush()
        ready = mark_ready(session, pass_id, now, back_stop)
        by_back_stop = runs = 0
        if ready:
            by_back_stop = session.scalar(
                select(func.count())
                .select_from(ProcessingCandidate)
                .where(
                    ProcessingCandidate.readiness_pass_id == pass_id,
                    ProcessingCandidate.ready_by_back_stop,
                )
            )
            assemble_for_readiness_pass(session, pass_id, now)
            runs = create_first_runs(session, pass_id, now, sink)
        record.ready_count, record.back_stop_count, record.recipe_runs_created = (
            ready,
            by_back_stop,
            runs,
        )
        record.duration_s = time.perf_counter() - start  # recorded in the same transaction
    return ReadinessReport(pass_id, ready, by_back_stop, runs)
