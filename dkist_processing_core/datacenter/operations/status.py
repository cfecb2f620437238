"""The status view: what is happening to data that has arrived from the summit.

Per proposal and per processing candidate: frames received of expected,
readiness (and whether by the back stop), recipe runs and their statuses, and
open tickets. :func:`processing_status` returns plain data (lists and dicts of
strings and numbers) for any front end; :func:`status_rows` flattens it to one
row of text per candidate (:data:`STATUS_COLUMNS`), which the CLI and the demo
draw as a table. A fixed
handful of GROUP BY queries, whatever the number of candidates.
"""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select

from dkist_processing_core.datacenter.clock import as_utc
from dkist_processing_core.datacenter.operations.tickets import OPEN
from dkist_processing_core.datacenter.planning.readiness import DEFAULT_BACK_STOP
from dkist_processing_core.datacenter.planning.recipe_runs import (
    WAITING_FOR_FRAMES,
    WAITING_FOR_READINESS_PASS,
)
from dkist_processing_core.datacenter.store.models import (
    Dataset,
    DatasetVersion,
    FrameCount,
    ProcessingCandidate,
    ProcessingCandidateOp,
    Proposal,
    RecipeInstance,
    RecipeRun,
    Reprocessing,
    Ticket,
    TransferManifest,
)


def processing_status(
    session,
    *,
    proposal_id: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    back_stop: timedelta = DEFAULT_BACK_STOP,
) -> list[dict[str, Any]]:
    """Per proposal, its PI and its processing candidates with their progress.

    Each candidate: ``frames_received`` (frame counts, each frame once) and
    ``frames_expected`` (sum of its transfer manifests; None while one is
    missing), ``all_frames_arrived`` (every OP has its manifest's frames:
    the status then says ``all frames arrived, waiting for the readiness pass``
    until a pass marks it ready, rather than ``waiting for frames``), ``ready``, ``ready_at``, ``ready_by_back_stop``, ``status`` (the
    implicit status), ``runs`` (id, attempt, status, recipe instance, and for a
    reprocessing run ``reprocessing_of_version`` and ``reprocessing_batch``),
    ``open_tickets`` (ids) and ``dataset_versions`` (id, status, lineage).
    """
    candidates_query = select(ProcessingCandidate).order_by(ProcessingCandidate.id)
    if proposal_id:
        candidates_query = candidates_query.where(ProcessingCandidate.proposal_id == proposal_id)
    if limit:
        candidates_query = candidates_query.limit(limit)
    if offset:
        candidates_query = candidates_query.offset(offset)
    chosen = candidates_query.subquery()
    candidates = session.execute(select(chosen)).all()
    op = ProcessingCandidateOp
    received = (
        select(
            FrameCount.op_run_id,
            func.count().label("frames"),
            func.max(FrameCount.received_at).label("last_frame_at"),
        )
        .where(
            FrameCount.op_run_id.in_(
                select(op.op_run_id).where(op.processing_candidate_id.in_(select(chosen.c.id)))
            )
        )
        .group_by(FrameCount.op_run_id)
        .subquery()
    )
    frames = {
        r.candidate_id: r
        for r in session.execute(
            select(
                op.processing_candidate_id.label("candidate_id"),
                func.coalesce(func.sum(received.c.frames), 0).label("received"),
                func.sum(TransferManifest.expected_frame_count).label("expected"),
                func.count(TransferManifest.op_run_id).label("manifests"),
                func.count().label("ops"),
                func.max(received.c.last_frame_at).label("last_frame_at"),
                func.sum(
                    case(
                        (
                            func.coalesce(received.c.frames, 0)
                            >= TransferManifest.expected_frame_count,
                            1,
                        ),
                        else_=0,
                    )
                ).label("complete_ops"),
            )
            .outerjoin(received, received.c.op_run_id == op.op_run_id)
            .outerjoin(TransferManifest, TransferManifest.op_run_id == op.op_run_id)
            .where(op.processing_candidate_id.in_(select(chosen.c.id)))
            .group_by(op.processing_candidate_id)
        )
    }
    runs: dict[int, list[dict[str, Any]]] = {}
    # A reprocessing run is marked with the version it would supersede (one row per run at most).
    for r in session.execute(
        select(
            RecipeInstance.processing_candidate_id,
            RecipeRun.id,
            RecipeRun.attempt,
            RecipeRun.status,
            RecipeRun.recipe_instance_id,
            RecipeRun.manually_processed,
            Reprocessing.supersedes_version_id,
            Reprocessing.batch,
        )
        .join(RecipeInstance, RecipeInstance.id == RecipeRun.recipe_instance_id)
        .outerjoin(Reprocessing, Reprocessing.recipe_run_id == RecipeRun.id)
        .where(RecipeInstance.processing_candidate_id.in_(select(chosen.c.id)))
        .order_by(RecipeInstance.id, RecipeRun.attempt)
    ):
        runs.setdefault(r.processing_candidate_id, []).append(
            {
                "recipe_run_id": r.id,
                "recipe_instance_id": r.recipe_instance_id,
                "attempt": r.attempt,
                "status": r.status,
                "manually_processed": r.manually_processed,
                "reprocessing_of_version": r.supersedes_version_id,
                "reprocessing_batch": r.batch,
            }
        )
    versions: dict[int, list[dict[str, Any]]] = {}
    for v in session.execute(
        select(
            Dataset.processing_candidate_id,
            Dataset.dataset_id,
            DatasetVersion.version_id,
            DatasetVersion.status,
            DatasetVersion.supersedes_version_id,
            DatasetVersion.recipe_run_id,
        )
        .join(DatasetVersion, DatasetVersion.dataset_pk == Dataset.id)
        .where(Dataset.processing_candidate_id.in_(select(chosen.c.id)))
        .order_by(Dataset.id, DatasetVersion.sequence)
    ):
        versions.setdefault(v.processing_candidate_id, []).append(
            {
                "dataset_id": v.dataset_id,
                "version_id": v.version_id,
                "status": v.status,
                "supersedes_version_id": v.supersedes_version_id,
                "recipe_run_id": v.recipe_run_id,
            }
        )
    tickets: dict[int, list[int]] = {}
    for t in session.execute(
        select(RecipeInstance.processing_candidate_id, Ticket.id)
        .join(RecipeRun, RecipeRun.id == Ticket.recipe_run_id)
        .join(RecipeInstance, RecipeInstance.id == RecipeRun.recipe_instance_id)
        .where(
            Ticket.status == OPEN, RecipeInstance.processing_candidate_id.in_(select(chosen.c.id))
        )
        .order_by(Ticket.id)
    ):
        tickets.setdefault(t.processing_candidate_id, []).append(t.id)
    proposals = {
        p.id: p
        for p in session.scalars(
            select(Proposal).where(Proposal.id.in_(select(chosen.c.proposal_id)))
        )
    }
    by_proposal: dict[str, dict[str, Any]] = {}
    for c in candidates:
        proposal = proposals[c.proposal_id]
        entry = by_proposal.setdefault(
            c.proposal_id,
            {
                "proposal_id": c.proposal_id,
                "principal_investigator": proposal.principal_investigator,
                "priority": proposal.priority,
                "candidates": [],
            },
        )
        f = frames.get(c.id)
        last_frame = as_utc(f.last_frame_at) if f and f.last_frame_at else None
        candidate_runs = runs.get(c.id, [])
        all_arrived = bool(f) and f.manifests == f.ops and int(f.complete_ops or 0) == f.ops
        entry["candidates"].append(
            {
                "processing_candidate_id": c.id,
                "observe_op_run_id": c.observe_op_run_id,
                "frames_received": int(f.received) if f else 0,
                "frames_expected": int(f.expected) if f and f.manifests == f.ops else None,
                "ready": c.ready_at is not None,
                "ready_at": c.ready_at.isoformat() if c.ready_at else None,
                "ready_by_back_stop": bool(c.ready_by_back_stop),
                "last_frame_at": _iso(last_frame),
                "back_stop_at": _iso(last_frame + back_stop)
                if last_frame is not None and c.ready_at is None
                else None,
                "all_frames_arrived": all_arrived,
                "status": _implicit_status(c.ready_at, candidate_runs, all_arrived),
                "runs": candidate_runs,
                "open_tickets": tickets.get(c.id, []),
                "dataset_versions": versions.get(c.id, []),
            }
        )
    return list(by_proposal.values())


def _iso(when) -> str | None:
    return when.isoformat() if when is not None else None


def _implicit_status(ready_at, runs: list[dict[str, Any]], all_arrived: bool = False) -> str:
    """As :func:`~.recipe_runs.processing_candidate_status`, from already fetched runs."""
    if ready_at is None:
        return WAITING_FOR_READINESS_PASS if all_arrived else WAITING_FOR_FRAMES
    if not runs:
        return "ready"
    newest_instance = max(r["recipe_instance_id"] for r in runs)
    latest = max(
        (r for r in runs if r["recipe_instance_id"] == newest_instance), key=lambda r: r["attempt"]
    )
    return latest["status"]


STATUS_COLUMNS = (
    "proposal",
    "PI",
    "observe OP",
    "frames",
    "ready",
    "status",
    "runs",
    "open tickets",
)


def status_rows(data: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """The status view (:func:`processing_status`) as text rows, one per processing candidate.

    Columns as :data:`STATUS_COLUMNS`: frames as ``received/expected`` (``?``
    while a manifest is missing), ready as ``yes``, ``back stop`` or ``no``, runs
    as ``id:status`` (with ``[reprocessing VERSION]`` for a reprocessing run).
    """
    rows = []
    for p in data:
        for c in p["candidates"]:
            expected = c["frames_expected"] if c["frames_expected"] is not None else "?"
            ready = ("back stop" if c["ready_by_back_stop"] else "yes") if c["ready"] else "no"
            runs = " ".join(
                f"{r['recipe_run_id']}:{r['status']}"
                + (
                    f"[reprocessing {r['reprocessing_of_version']}]"
                    if r.get("reprocessing_of_version")
                    else ""
                )
                for r in c["runs"]
            )
            rows.append(
                (
                    p["proposal_id"],
                    p["principal_investigator"],
                    c["observe_op_run_id"],
                    f"{c['frames_received']}/{expected}",
                    ready,
                    c["status"],
                    runs,
                    " ".join(map(str, c["open_tickets"])),
                )
            )
    return rows


def run_details(
    session, recipe_run_id: int, scratch_root: str | Path | None = None
) -> dict[str, Any]:
    """Deprecated: use :func:`~dkist_processing_core.datacenter.operations.views.recipe_run_detail`
    (the one source of ``runs show --json`` and the run page; the plan is under ``plan``)."""
    from dkist_processing_core.datacenter.operations.views import recipe_run_detail

    warnings.warn(
        "status.run_details is deprecated: use operations.views.recipe_run_detail",
        DeprecationWarning,
        stacklevel=2,
    )
    return recipe_run_detail(session, recipe_run_id, scratch_root=scratch_root)


def ticket_details(ticket: Ticket) -> dict[str, Any]:
    """Deprecated: use :func:`~dkist_processing_core.datacenter.operations.views.ticket_row`."""
    from dkist_processing_core.datacenter.operations.views import ticket_row

    warnings.warn(
        "status.ticket_details is deprecated: use operations.views.ticket_row",
        DeprecationWarning,
        stacklevel=2,
    )
    return ticket_row(ticket)
