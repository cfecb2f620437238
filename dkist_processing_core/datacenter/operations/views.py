"""Read-only views of the store for any front end: the overview, a recipe run in full,
tickets with their history, curation history, operational metrics, archived files.

Each function returns plain data (dicts and lists of strings and numbers, times
as ISO 8601 UTC), so the web pages, their JSON twins, the CLI and a notebook
show the same thing. Counts over all candidates are GROUP BY queries whose
number does not grow with the number of candidates; lists are limited.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.operations.tickets import OPEN
from dkist_processing_core.datacenter.planning.input_datasets import (
    input_dataset_parameter_values,
)
from dkist_processing_core.datacenter.planning.readiness import DEFAULT_BACK_STOP
from dkist_processing_core.datacenter.planning.recipe_runs import CREATED, FAILED, RUNNING
from dkist_processing_core.datacenter.store.models import (
    CurationDecision,
    Dataset,
    DatasetVersion,
    InputDataset,
    InputDatasetFrame,
    ManualExecution,
    ObjectInventory,
    ProcessingCandidate,
    Proposal,
    ReadinessPass,
    Recipe,
    RecipeInstance,
    RecipeRun,
    RecipeRunPublication,
    Reprocessing,
    ResourcePool,
    Ticket,
)

#: Kinds of archived object the pages show or play (the others are listed, not served).
SERVED_KINDS = ("movie", "preview", "quality_report", "asdf", "quality_data", "manifest")
LOG_FOLDER = "logs"
_LOG_TAIL_BYTES = 256 * 1024


class ViewError(LookupError):
    """What a page asked for does not exist (unknown run, ticket, file ...)."""


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


# --- the overview --------------------------------------------------------------------------------


def candidates_by_state(session: Session) -> dict[str, int]:
    """How many processing candidates are in each implicit state.

    ``waiting for frames``, ``ready`` (no run yet), then the status of the
    latest attempt of each candidate's newest recipe instance. Two queries.
    """
    waiting, ready_total = session.execute(
        select(
            func.count().filter(ProcessingCandidate.ready_at.is_(None)),
            func.count().filter(ProcessingCandidate.ready_at.is_not(None)),
        )
    ).one()
    # The latest attempt of each candidate's newest instance: one window over the runs (a
    # sort, not a join of two grouped subqueries, which SQLite would nest-loop).
    ranked = (
        select(
            RecipeRun.status.label("status"),
            func.row_number()
            .over(
                partition_by=RecipeInstance.processing_candidate_id,
                order_by=(RecipeInstance.id.desc(), RecipeRun.attempt.desc()),
            )
            .label("rank"),
        )
        .join(RecipeInstance, RecipeInstance.id == RecipeRun.recipe_instance_id)
        .subquery()
    )
    by_status = dict(
        session.execute(
            select(ranked.c.status, func.count())
            .where(ranked.c.rank == 1)
            .group_by(ranked.c.status)
        ).all()
    )
    states = {"waiting for frames": int(waiting), "ready": 0}
    states["ready"] = max(int(ready_total) - sum(by_status.values()), 0)
    states.update({status: int(n) for status, n in sorted(by_status.items())})
    return states


def runs_by_status(session: Session) -> dict[str, int]:
    return {
        status: int(n)
        for status, n in session.execute(
            select(RecipeRun.status, func.count())
            .group_by(RecipeRun.status)
            .order_by(RecipeRun.status)
        )
    }


def pool_usage(session: Session) -> list[dict[str, Any]]:
    """Per resource pool: slots, runs running in it (slots in use) and runs waiting for it."""
    counts: dict[tuple[str, str], int] = {
        (pool, status): int(n)
        for pool, status, n in session.execute(
            select(RecipeRun.resource_pool, RecipeRun.status, func.count())
            .where(RecipeRun.status.in_((RUNNING, CREATED)))
            .group_by(RecipeRun.resource_pool, RecipeRun.status)
        )
    }
    return [
        {
            "pool": p.name,
            "slots": p.slots,
            "in_use": counts.get((p.name, RUNNING), 0),
            "waiting": counts.get((p.name, CREATED), 0),
        }
        for p in session.scalars(select(ResourcePool).order_by(ResourcePool.name))
    ]


def ticket_row(t: Ticket) -> dict[str, Any]:
    """A ticket as plain data, with its whole error (one row of ``tickets``, the head of a ticket's page)."""
    return {
        "ticket_id": t.id,
        "recipe_run_id": t.recipe_run_id,
        "kind": t.kind,
        "status": t.status,
        "failed_task": t.failed_task,
        "error": t.error,
        "created_at": _iso(t.created_at),
        "resolved_at": _iso(t.resolved_at),
        "resolution": t.resolution,
        "resolved_by": t.resolved_by,
        "resolution_note": t.resolution_note,
        "follow_up_recipe_run_id": t.follow_up_recipe_run_id,
    }


def ticket_rows(
    session: Session, *, status: str | None = OPEN, limit: int | None = None
) -> list[dict[str, Any]]:
    """Tickets as plain data, newest first; ``status=None`` lists all."""
    query = select(Ticket).order_by(Ticket.id.desc())
    if status is not None:
        query = query.where(Ticket.status == status)
    if limit:
        query = query.limit(limit)
    return [ticket_row(t) for t in session.scalars(query)]


def recent_failures(session: Session, *, limit: int = 10) -> list[dict[str, Any]]:
    """The latest failed runs: when, which task, the error's first line, and their ticket."""
    rows = session.execute(
        select(RecipeRun, Ticket.id)
        .outerjoin(Ticket, Ticket.recipe_run_id == RecipeRun.id)
        .where(RecipeRun.status == FAILED)
        .order_by(RecipeRun.finished_at.desc().nulls_last(), RecipeRun.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "recipe_run_id": run.id,
            "finished_at": _iso(run.finished_at),
            "failed_task": run.failed_task,
            "error": (run.error or "").splitlines()[0] if run.error else None,
            "ticket_id": ticket_id,
        }
        for run, ticket_id in rows
    ]


def versions_published_since(
    session: Session, since: datetime, *, limit: int = 50
) -> list[dict[str, Any]]:
    """Dataset versions registered at or after ``since``, newest first."""
    rows = session.execute(
        select(Dataset.dataset_id, DatasetVersion)
        .join(DatasetVersion, DatasetVersion.dataset_pk == Dataset.id)
        .where(DatasetVersion.created_at >= since)
        .order_by(DatasetVersion.created_at.desc())
        .limit(limit)
    ).all()
    return [
        {
            "dataset_id": dataset_id,
            "version_id": v.version_id,
            "sequence": v.sequence,
            "status": v.status,
            "created_at": _iso(v.created_at),
            "recipe_run_id": v.recipe_run_id,
        }
        for dataset_id, v in rows
    ]


def overview(session: Session, now: datetime, *, recent: int = 10) -> dict[str, Any]:
    """Everything the overview page shows: states, runs, pools, tickets, failures, today's data."""
    today = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
    open_count = session.scalar(select(func.count()).where(Ticket.status == OPEN))
    return {
        "now": now.isoformat(),
        "candidates_by_state": candidates_by_state(session),
        "runs_by_status": runs_by_status(session),
        "pools": pool_usage(session),
        "open_tickets": {
            "count": int(open_count or 0),
            "newest": ticket_rows(session, limit=recent),
        },
        "recent_failures": recent_failures(session, limit=recent),
        "published_today": versions_published_since(session, today),
    }


# --- runs ----------------------------------------------------------------------------------------


def run_rows(
    session: Session,
    *,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Recipe runs, newest first, with their candidate and recipe."""
    query = (
        select(RecipeRun, RecipeInstance.processing_candidate_id, Recipe.name)
        .join(RecipeInstance, RecipeInstance.id == RecipeRun.recipe_instance_id)
        .join(Recipe, Recipe.id == RecipeInstance.recipe_id)
        .order_by(RecipeRun.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if status:
        query = query.where(RecipeRun.status == status)
    return [
        {
            "recipe_run_id": run.id,
            "processing_candidate_id": candidate_id,
            "recipe": recipe,
            "attempt": run.attempt,
            "status": run.status,
            "resource_pool": run.resource_pool,
            "priority_boost": run.priority_boost,
            "created_at": _iso(run.created_at),
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "failed_task": run.failed_task,
            "manually_processed": run.manually_processed,
        }
        for run, candidate_id, recipe in session.execute(query)
    ]


def _task_order(reference: str, version: str) -> list[str] | None:
    from dkist_processing_core.framework import resolve_workflow

    try:
        return list(resolve_workflow(reference, version).task_order)
    except Exception:  # an uninstalled or retired workflow: the page says the order is unknown
        return None


def task_log_path(scratch_root: str | Path, recipe_run_id: int, task: str) -> Path:
    """Where the executor writes a task's log (``<scratch>/logs/<task>.log``)."""
    from dkist_processing_core.datacenter.operations.scheduling import scratch_dir_for

    if "/" in task or task.startswith("."):
        raise ViewError(f"task name {task!r} cannot name a log file")
    return scratch_dir_for(scratch_root, recipe_run_id) / LOG_FOLDER / f"{task}.log"


def task_log(scratch_root: str | Path, recipe_run_id: int, task: str) -> str | None:
    """The end of a task's log (at most 256 KiB), or None when the run left no log for it."""
    path = task_log_path(scratch_root, recipe_run_id, task)
    if not path.is_file():
        return None
    with path.open("rb") as f:
        f.seek(max(path.stat().st_size - _LOG_TAIL_BYTES, 0))
        return f.read().decode("utf-8", errors="replace")


def _task_row(t: dict[str, Any]) -> dict[str, Any]:
    """One task of a run's timeline, from its report or its journal (the same fields)."""
    return {
        "name": t.get("name"),
        "status": t.get("status"),
        "attempts": t.get("attempts"),
        "started_at": _epoch_iso(t.get("started")),
        "ended_at": _epoch_iso(t.get("ended")),
        "duration_s": t.get("duration_s"),
        "error": t.get("error"),
        "reason": t.get("reason"),
        "resumed": bool(t.get("resumed", False)),
    }


def _task_timeline(run: RecipeRun, task_order, scratch: Path | None) -> list[dict[str, Any]]:
    """The run's tasks: from its report, else from the run journal in its scratch (a run
    still running or interrupted), else its planned tasks as pending."""
    if run.report and run.report.get("tasks"):
        return [_task_row(t) for t in run.report["tasks"]]
    journal_file = scratch / ".run-journal.sqlite" if scratch is not None else None
    if not task_order or journal_file is None or not journal_file.exists():
        return [_task_row({"name": n, "status": "pending"}) for n in task_order or []]
    from dkist_processing_core.framework.executors.journal import RunJournal

    journal = RunJournal(scratch)
    try:
        return [_task_row(r.model_dump()) for r in journal.records(list(task_order))]
    finally:
        journal.close()


def _log_locations(scratch: Path | None) -> dict[str, Any]:
    """Where a run's files and logs are: its scratch folder, journal, report, ``*.log`` files."""
    logs: dict[str, Any] = {}
    if scratch is None:
        return logs
    logs["scratch"] = str(scratch)
    if scratch.is_dir():
        for name, path in (
            ("journal", scratch / ".run-journal.sqlite"),
            ("run_report", scratch / "run_report.json"),
            ("worker_log", scratch / "worker.log"),
        ):
            if path.exists():
                logs[name] = str(path)
        logs["log_files"] = sorted(str(p) for p in scratch.rglob("*.log"))
    else:
        logs["note"] = "the scratch folder does not exist (wrong --scratch-root?)"
    return logs


def recipe_run_detail(
    session: Session, recipe_run_id: int, *, scratch_root: str | Path | None = None
) -> dict[str, Any]:
    """A recipe run in full: what ``runs show RUN --json``, the run page and its JSON twin show.

    Status, attempt, pool, times and lease; the recorded plan (workflow, name,
    version, task order: the order recorded at creation, else the report's, else
    the installed workflow's); the configuration as run and the run-specific
    values; the input dataset (frames per OP run and kind, parameter values);
    the task timeline (per task status, attempts, start, end, duration, error,
    from the run's report, else from the run journal in its scratch); the whole
    error and the failed task; its newest ticket; reprocessing, dataset versions
    made, publication state. With ``scratch_root``: where its files and logs are
    and the end of the failed task's log.
    """
    from dkist_processing_core.datacenter.operations.scheduling import scratch_dir_for
    from dkist_processing_core.datacenter.planning.recipe_runs import recorded_plan

    run = session.get(RecipeRun, recipe_run_id)
    if run is None:
        raise ViewError(f"recipe run {recipe_run_id} does not exist")
    instance = session.get(RecipeInstance, run.recipe_instance_id)
    recipe = session.get(Recipe, instance.recipe_id)
    candidate = session.get(ProcessingCandidate, instance.processing_candidate_id)
    spec, recorded_order = recorded_plan(session, run)
    report = run.report or {}
    reference = report.get("workflow") or (spec.reference if spec else None)
    version = (
        report.get("workflow_version") or run.workflow_version or (spec.version if spec else None)
    )
    scratch = (
        scratch_dir_for(Path(scratch_root).resolve(), run.id) if scratch_root is not None else None
    )
    tasks = _task_timeline(run, recorded_order, scratch)
    order = (
        list(recorded_order)
        if recorded_order
        else [t["name"] for t in tasks] or _task_order(reference, version)
    )
    frames = session.execute(
        select(InputDatasetFrame.op_run_id, InputDatasetFrame.frame_kind, func.count())
        .where(InputDatasetFrame.input_dataset_id == instance.input_dataset_id)
        .group_by(InputDatasetFrame.op_run_id, InputDatasetFrame.frame_kind)
        .order_by(InputDatasetFrame.op_run_id, InputDatasetFrame.frame_kind)
    ).all()
    input_dataset = session.get(InputDataset, instance.input_dataset_id)
    # The run's newest ticket (a run whose publication failed twice has two).
    ticket = session.scalar(
        select(Ticket).where(Ticket.recipe_run_id == run.id).order_by(Ticket.id.desc()).limit(1)
    )
    publication = session.get(RecipeRunPublication, run.id)
    follow_ups = session.scalars(
        select(RecipeRun.id)
        .where(RecipeRun.retry_of_recipe_run_id == run.id)
        .order_by(RecipeRun.id)
    ).all()
    reprocessing = session.scalar(select(Reprocessing).where(Reprocessing.recipe_run_id == run.id))
    versions = session.execute(
        select(Dataset.dataset_id, DatasetVersion.version_id, DatasetVersion.status)
        .join(DatasetVersion, DatasetVersion.dataset_pk == Dataset.id)
        .where(DatasetVersion.recipe_run_id == run.id)
    ).all()
    failed_task = run.failed_task or report.get("failed_task")
    log = None
    if scratch_root is not None and failed_task:
        log = task_log(Path(scratch_root).resolve(), run.id, failed_task)
    return {
        "recipe_run_id": run.id,
        "attempt": run.attempt,
        "status": run.status,
        "recipe": recipe.name,
        "recipe_is_manual": recipe.is_manual,
        "recipe_instance_id": instance.id,
        "processing_candidate_id": candidate.id,
        "observe_op_run_id": candidate.observe_op_run_id,
        "proposal_id": candidate.proposal_id,
        "resource_pool": run.resource_pool,
        "priority_boost": run.priority_boost,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_s": (run.finished_at - run.started_at).total_seconds()
        if run.finished_at and run.started_at
        else None,
        "lease_owner": run.lease_owner,
        "lease_expires_at": _iso(run.lease_expires_at),
        "manually_processed": run.manually_processed,
        "retry_of_recipe_run_id": run.retry_of_recipe_run_id,
        "follow_up_recipe_run_ids": list(follow_ups),
        "plan": {
            "workflow": reference,
            "workflow_name": run.workflow_name or (spec.name if spec else None),
            "workflow_version": version,
            "task_order": order,
        },
        "configuration": run.configuration,
        "run_configuration": run.run_configuration,
        "input_dataset": {
            "input_dataset_id": instance.input_dataset_id,
            "frozen_at": _iso(input_dataset.frozen_at),
            "supersedes_input_dataset_id": input_dataset.supersedes_input_dataset_id,
            "note": input_dataset.note,
            "frames": [{"op_run_id": o, "frame_kind": k, "count": int(n)} for o, k, n in frames],
            "parameter_values": input_dataset_parameter_values(session, instance.input_dataset_id),
        },
        "tasks": tasks,
        "failed_task": failed_task,
        "error": run.error,
        "failed_task_log": log,
        "logs": _log_locations(scratch),
        "ticket": ticket_row(ticket) if ticket else None,
        "reprocessing": None
        if reprocessing is None
        else {
            "batch": reprocessing.batch,
            "supersedes_version_id": reprocessing.supersedes_version_id,
            "reprocesses_recipe_run_id": reprocessing.reprocesses_recipe_run_id,
            "reason": reprocessing.reason,
            "requested_by": reprocessing.requested_by,
        },
        "dataset_versions": [
            {"dataset_id": d, "version_id": v, "status": s} for d, v, s in versions
        ],
        "publication": None
        if publication is None
        else {
            "status": publication.status,
            "attempts": publication.attempts,
            "last_error": publication.last_error,
            "version_id": publication.version_id,
            "updated_at": _iso(publication.updated_at),
            "published_at": _iso(publication.published_at),
        },
    }


def _epoch_iso(value: float | None) -> str | None:
    if value is None:
        return None
    from datetime import UTC

    return datetime.fromtimestamp(value, UTC).isoformat()


# --- tickets -------------------------------------------------------------------------------------


def ticket_detail(
    session: Session, ticket_id: int, *, scratch_root: str | Path | None = None
) -> dict[str, Any]:
    """A ticket, its run in full, its resolution and follow-up run, manual executions, and a
    history: what ``tickets show N --json``, the ticket page and its JSON twin show.

    ``recipe_run`` is :func:`recipe_run_detail` of the ticket's run (with
    ``scratch_root``, where its logs are).

    The history lists, oldest first, what happened to the ticket's run, the
    ticket and the run(s) its resolution made (and, for each run that failed
    again, its own ticket).
    """
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise ViewError(f"ticket {ticket_id} does not exist")
    run = session.get(RecipeRun, ticket.recipe_run_id)
    events: list[dict[str, Any]] = []

    def run_events(r: RecipeRun) -> None:
        events.append(
            {"at": _iso(r.created_at), "event": f"recipe run {r.id} created", "run": r.id}
        )
        if r.started_at:
            events.append(
                {"at": _iso(r.started_at), "event": f"recipe run {r.id} started", "run": r.id}
            )
        if r.finished_at:
            what = f"recipe run {r.id} {r.status}"
            if r.failed_task:
                what += f" in {r.failed_task}"
            events.append({"at": _iso(r.finished_at), "event": what, "run": r.id})

    run_events(run)
    events.append(
        {
            "at": _iso(ticket.created_at),
            "event": f"ticket {ticket.id} opened ({ticket.kind})",
            "run": run.id,
        }
    )
    executions = session.scalars(
        select(ManualExecution)
        .where(ManualExecution.ticket_id == ticket.id)
        .order_by(ManualExecution.id)
    ).all()
    for e in executions:
        events.append(
            {
                "at": _iso(e.performed_at),
                "event": f"manual execution by {e.operator}: {e.actions}",
                "run": e.recipe_run_id,
            }
        )
    if ticket.resolved_at:
        events.append(
            {
                "at": _iso(ticket.resolved_at),
                "event": f"ticket resolved by {ticket.resolved_by}: {ticket.resolution}"
                + (f" ({ticket.resolution_note})" if ticket.resolution_note else ""),
                "run": ticket.follow_up_recipe_run_id,
            }
        )
    follow_up = None
    if ticket.follow_up_recipe_run_id and ticket.follow_up_recipe_run_id != run.id:
        follow_up = session.get(RecipeRun, ticket.follow_up_recipe_run_id)
        run_events(follow_up)
        again = session.scalar(select(Ticket).where(Ticket.recipe_run_id == follow_up.id))
        if again is not None:
            events.append(
                {
                    "at": _iso(again.created_at),
                    "event": f"ticket {again.id} opened ({again.kind})",
                    "run": follow_up.id,
                }
            )
    events.sort(key=lambda e: e["at"] or "")
    return {
        **ticket_row(ticket),
        "recipe_run": recipe_run_detail(session, run.id, scratch_root=scratch_root),
        "follow_up_run": None
        if follow_up is None
        else {
            "recipe_run_id": follow_up.id,
            "status": follow_up.status,
            "attempt": follow_up.attempt,
        },
        "manual_executions": [
            {
                "operator": e.operator,
                "actions": e.actions,
                "reason": e.reason,
                "files": e.files,
                "performed_at": _iso(e.performed_at),
                "recipe_run_id": e.recipe_run_id,
            }
            for e in executions
        ],
        "history": events,
    }


# --- proposals and curation ----------------------------------------------------------------------


def proposal_summary(session: Session, proposal_id: str) -> dict[str, Any]:
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise ViewError(f"proposal {proposal_id!r} does not exist")
    return {
        "proposal_id": proposal.id,
        "principal_investigator": proposal.principal_investigator,
        "priority": proposal.priority,
    }


def curation_history(session: Session, *, limit: int = 100) -> list[dict[str, Any]]:
    """Curators' decisions, newest first: which version, the other version, who, when, why."""
    return [
        {
            "version_id": d.version_id,
            "other_version_id": d.other_version_id,
            "decision": d.decision,
            "decided_by": d.decided_by,
            "decided_at": _iso(d.decided_at),
            "reason": d.reason,
        }
        for d in session.scalars(
            select(CurationDecision).order_by(CurationDecision.id.desc()).limit(limit)
        )
    ]


def version_proposal(session: Session, version_id: str) -> str | None:
    """The proposal a dataset version belongs to."""
    return session.scalar(
        select(Dataset.proposal_id)
        .join(DatasetVersion, DatasetVersion.dataset_pk == Dataset.id)
        .where(DatasetVersion.version_id == version_id)
    )


def proposal_datasets(session: Session, proposal_id: str) -> list[dict[str, Any]]:
    """The distributed datasets of one proposal, each with its versions (as ``list_datasets``)."""
    from dkist_processing_core.datacenter.products.discovery import find_versions

    ids = session.scalars(
        select(Dataset.dataset_id)
        .where(Dataset.proposal_id == proposal_id)
        .order_by(Dataset.dataset_id)
    ).all()
    found = []
    for dataset_id in ids:
        versions = find_versions(session, dataset_id=dataset_id)
        if versions:
            found.append({"dataset_id": dataset_id, "versions": versions})
    return found


def dataset_proposal(session: Session, dataset_id: str) -> str | None:
    return session.scalar(select(Dataset.proposal_id).where(Dataset.dataset_id == dataset_id))


def run_proposal(session: Session, recipe_run_id: int) -> str | None:
    return session.scalar(
        select(ProcessingCandidate.proposal_id)
        .join(RecipeInstance, RecipeInstance.processing_candidate_id == ProcessingCandidate.id)
        .join(RecipeRun, RecipeRun.recipe_instance_id == RecipeInstance.id)
        .where(RecipeRun.id == recipe_run_id)
    )


# --- archived files ------------------------------------------------------------------------------


def archived_object(
    session: Session, archive_root: str | Path, version_id: str, object_key: str
) -> tuple[Path, str]:
    """The file of one object of a distributed dataset version, and its kind.

    Only objects the version's object inventory lists are served, only for a
    version that is not discarded, and only when the file resolves (links
    followed) to a place inside ``archive_root``: no URL reaches anything else.
    """
    row = session.execute(
        select(ObjectInventory.kind, DatasetVersion.status)
        .join(DatasetVersion, DatasetVersion.version_id == ObjectInventory.version_id)
        .where(ObjectInventory.version_id == version_id, ObjectInventory.object_key == object_key)
    ).first()
    if row is None or row.status == "discarded" or row.kind not in SERVED_KINDS:
        raise ViewError(f"no served file {object_key!r} in dataset version {version_id!r}")
    root = Path(archive_root).resolve()
    path = (root / object_key).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise ViewError(f"no served file {object_key!r} in dataset version {version_id!r}")
    return path, row.kind


def version_media(session: Session, version_id: str) -> dict[str, list[str]]:
    """The object keys of a version's movie, preview and quality report (what a page embeds)."""
    media: dict[str, list[str]] = {"movie": [], "preview": [], "quality_report": []}
    for kind, key in session.execute(
        select(ObjectInventory.kind, ObjectInventory.object_key)
        .where(ObjectInventory.version_id == version_id, ObjectInventory.kind.in_(list(media)))
        .order_by(ObjectInventory.object_key)
    ):
        media[kind].append(key)
    return media


def version_detail(session: Session, version_id: str) -> dict[str, Any]:
    """A dataset version in full (provenance, inventories), its lineage and its media: what
    ``datasets show VERSION``, the version page and its JSON twin show."""
    from dkist_processing_core.datacenter.products.discovery import show_version
    from dkist_processing_core.datacenter.products.versions import version_lineage

    data = show_version(session, version_id)
    data["lineage"] = version_lineage(session, data["version_id"])
    data["media"] = version_media(session, data["version_id"])
    return data


def dataset_or_version_detail(session: Session, name: str) -> dict[str, Any]:
    """``datasets show NAME``: a dataset id's :func:`~.discovery.show_dataset` (the dataset
    page's data), else a version id's (or prefix's) :func:`version_detail`."""
    from dkist_processing_core.datacenter.products.discovery import (
        DiscoveryError,
        show_dataset,
    )

    try:
        return show_dataset(session, name)
    except DiscoveryError:
        pass
    try:
        return version_detail(session, name)
    except DiscoveryError as error:
        raise DiscoveryError(f"{name!r} is no dataset id; as a version: {error}") from None


# --- metrics -------------------------------------------------------------------------------------


def mails_pending(outbox_folder: str | Path) -> int:
    """PI notices queued in the outbox and not yet accepted by the mail server (0 if no outbox)."""
    path = Path(outbox_folder) / "outbox.sqlite"
    if not path.is_file():
        return 0
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        return int(db.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0])


def _seconds_between(session: Session, start, end):
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


def operational_metrics(
    session: Session, now: datetime, *, outbox_folder: str | Path | None = None
) -> dict[str, Any]:
    """The numbers an operator's monitoring scrapes (a fixed handful of aggregate queries).

    Runs by status; finished runs' durations (count and sum per status); the
    queue (runs waiting to start, per pool) and pool slots; the age of the oldest
    candidate still waiting for frames; open tickets by kind; publish failures
    (open tickets whose failed task is ``publish``); the readiness passes'
    durations (count, sum, the last one) and when the last one ran; mails
    pending in the outbox.
    """
    duration = _seconds_between(session, RecipeRun.started_at, RecipeRun.finished_at)
    durations = {
        status: {"count": int(n), "sum_s": float(total or 0.0)}
        for status, n, total in session.execute(
            select(RecipeRun.status, func.count(), func.sum(duration))
            .where(RecipeRun.started_at.is_not(None), RecipeRun.finished_at.is_not(None))
            .group_by(RecipeRun.status)
        )
    }
    oldest = session.scalar(
        select(func.min(ProcessingCandidate.created_at)).where(
            ProcessingCandidate.ready_at.is_(None)
        )
    )
    if isinstance(oldest, str):  # an aggregate over a timestamp on SQLite
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    tickets = {
        kind: int(n)
        for kind, n in session.execute(
            select(Ticket.kind, func.count()).where(Ticket.status == OPEN).group_by(Ticket.kind)
        )
    }
    publish_failures = session.scalar(
        select(func.count()).where(Ticket.status == OPEN, Ticket.failed_task == "publish")
    )
    last_pass = session.scalar(select(func.max(ReadinessPass.started_at)))
    if isinstance(last_pass, str):
        last_pass = datetime.fromisoformat(last_pass)
    passes, pass_seconds = session.execute(
        select(func.count(), func.sum(ReadinessPass.duration_s)).where(
            ReadinessPass.duration_s.is_not(None)
        )
    ).one()
    last_duration = session.scalar(
        select(ReadinessPass.duration_s)
        .where(ReadinessPass.duration_s.is_not(None))
        .order_by(ReadinessPass.started_at.desc())
        .limit(1)
    )
    return {
        "runs_by_status": runs_by_status(session),
        "run_durations": durations,
        "pools": pool_usage(session),
        "queue_length": sum(p["waiting"] for p in pool_usage(session)),
        "oldest_waiting_candidate_age_s": None
        if oldest is None
        else max((now - oldest).total_seconds(), 0.0),
        "open_tickets_by_kind": tickets,
        "publish_failures_open": int(publish_failures or 0),
        "readiness_passes": int(passes or 0),
        "readiness_pass_seconds_total": float(pass_seconds or 0.0),
        "last_readiness_pass_duration_s": last_duration,
        "last_readiness_pass_at": None
        if last_pass is None
        else (last_pass if last_pass.tzinfo else last_pass.replace(tzinfo=now.tzinfo)).isoformat(),
        "mails_pending": None if outbox_folder is None else mails_pending(outbox_folder),
    }


def back_stop_at(last_frame_at: datetime | None, back_stop: timedelta = DEFAULT_BACK_STOP):
    """When the back stop forces a candidate ready: its last frame plus the back stop."""
    return None if last_frame_at is None else last_frame_at + back_stop


__all__ = [
    "SERVED_KINDS",
    "ViewError",
    "archived_object",
    "back_stop_at",
    "candidates_by_state",
    "curation_history",
    "dataset_or_version_detail",
    "mails_pending",
    "operational_metrics",
    "overview",
    "pool_usage",
    "proposal_datasets",
    "proposal_summary",
    "recent_failures",
    "recipe_run_detail",
    "run_rows",
    "runs_by_status",
    "task_log",
    "ticket_detail",
    "ticket_row",
    "ticket_rows",
    "version_detail",
    "version_media",
    "versions_published_since",
]
