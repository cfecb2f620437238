"""``dkist-processing runs``: recipe runs and the scheduler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .common import AsJson, CommandGroup, DatabaseUrl, Workdir, console, print_json, store, table

app = CommandGroup(help="Recipe runs and the scheduler.")

OUTCOME_COLUMNS = ["run", "status", "failed task", "ticket"]
ScratchRoot = typer.Option(
    None, "--scratch-root", help="Where run scratch folders are (default: WORKDIR/scratch)."
)


def print_run_details(details: dict[str, Any]) -> None:
    """A run's details (:func:`~dkist_processing_core.datacenter.operations.views.recipe_run_detail`)
    as text: the whole error, the failed task, per-task status and durations, where the logs are."""
    d = details
    plan = d["plan"]
    console.print(
        f"recipe run {d['recipe_run_id']} (instance {d['recipe_instance_id']}, attempt "
        f"{d['attempt']}): {d['status']}",
        markup=False,
    )
    lines = [
        (
            "recipe",
            f"{d['recipe']} (candidate {d['processing_candidate_id']}, "
            f"{d['observe_op_run_id']}, proposal {d['proposal_id']})",
        ),
        ("workflow", f"{plan['workflow']} {plan['workflow_version']} (as planned)"),
        ("task order", " -> ".join(plan["task_order"] or []) or "(not recorded)"),
        ("input", f"input dataset {d['input_dataset']['input_dataset_id']}"),
        ("pool", f"{d['resource_pool']} (boost {d['priority_boost']})"),
        ("created", d["created_at"]),
        ("started", d["started_at"]),
        ("finished", d["finished_at"]),
    ]
    if d["lease_owner"]:
        lines.append(("lease", f"{d['lease_owner']} until {d['lease_expires_at']}"))
    if d["retry_of_recipe_run_id"]:
        lines.append(("retry of", str(d["retry_of_recipe_run_id"])))
    if d["ticket"]:
        t = d["ticket"]
        lines.append(("ticket", f"{t['ticket_id']} ({t['kind']}, {t['status']})"))
    if d["failed_task"]:
        lines.append(("failed task", d["failed_task"]))
    if d.get("publication"):
        p = d["publication"]
        lines.append(
            (
                "publication",
                f"{p['status']} (attempt {p['attempts']})"
                + (f", version {p['version_id']}" if p["version_id"] else "")
                + (
                    f": {p['last_error']}" if p["last_error"] and p["status"] != "published" else ""
                ),
            )
        )
    for key, value in lines:
        console.print(f"  {key + ':':<13} {'' if value is None else value}", markup=False)
    if d["error"]:
        console.print("  error:", markup=False)
        for line in d["error"].splitlines():
            console.print(f"    {line}", markup=False, soft_wrap=True)
    table(
        "tasks",
        ["task", "status", "attempts", "duration (s)", "error"],
        [
            (
                t["name"],
                t.get("status"),
                t.get("attempts"),
                f"{t['duration_s']:.2f}" if t.get("duration_s") is not None else None,
                t.get("error"),
            )
            for t in d["tasks"]
        ],
    )
    logs = d["logs"]
    if logs:
        console.print("logs and files:", markup=False)
        for key in ("scratch", "journal", "run_report", "worker_log", "note"):
            if key in logs:
                console.print(f"  {key}: {logs[key]}", markup=False, soft_wrap=True)
        for path in logs.get("log_files", []):
            if path != logs.get("worker_log"):
                console.print(f"  log: {path}", markup=False, soft_wrap=True)


def scratch_root_for(scratch_root: Path | None, workdir: Path) -> Path:
    return scratch_root if scratch_root is not None else workdir / "scratch"


@app.command("list")
def list_runs(
    status_filter: str = typer.Option(None, "--status"),
    limit: int = 100,
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Recipe runs, newest first, with their candidate and recipe: the runs page's data."""
    from ..datacenter.operations.views import run_rows

    with store(database_url, workdir, read_only=True).session() as s:
        rows = run_rows(s, status=status_filter, limit=limit)
    if as_json:
        print_json(rows)
        return
    table(
        "recipe runs",
        [
            "id",
            "candidate",
            "recipe",
            "attempt",
            "status",
            "pool",
            "boost",
            "failed task",
            "manual",
            "created",
        ],
        [
            (
                r["recipe_run_id"],
                r["processing_candidate_id"],
                r["recipe"],
                r["attempt"],
                r["status"],
                r["resource_pool"],
                r["priority_boost"],
                r["failed_task"],
                r["manually_processed"],
                r["created_at"],
            )
            for r in rows
        ],
    )


@app.command("boost")
def boost(
    recipe_run_id: int, boost: int, database_url: str = DatabaseUrl, workdir: Path = Workdir
) -> None:
    """Set the operator's priority boost of a run."""
    from ..datacenter.planning import recipe_runs

    with store(database_url, workdir).session() as s:
        recipe_runs.boost_priority(s, recipe_run_id, boost)
    console.print(f"recipe run {recipe_run_id}: boost {boost}")


@app.command("schedule")
def schedule(
    scratch_root: Path = typer.Option(..., help="Scratch directories go here."),
    until_idle: bool = typer.Option(False, help="Repeat until nothing fits."),
    smtp: str = typer.Option(None, help="SMTP server host:port for the PI notices."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Start the highest-priority runs that fit the free slots, record the outcomes, and
    publish each run that succeeded (packages in WORKDIR/archive)."""
    from ..datacenter.operations.scheduling import Scheduler

    db = store(database_url, workdir)
    scheduler = Scheduler(db, scratch_root)
    outcomes = scheduler.run_until_idle() if until_idle else scheduler.run_once()
    table(
        "outcomes",
        OUTCOME_COLUMNS,
        [(o.recipe_run_id, o.status, o.failed_task, o.ticket_id) for o in outcomes],
    )
    # Publication is a step of every succeeded run (a failure is a publication ticket).
    from ..datacenter.operations.periodic import outbox_for, work_folder
    from ..datacenter.products.publication import publish_pending

    published = publish_pending(
        db,
        scratch_root=scratch_root,
        archive_root=work_folder(workdir) / "archive",
        outbox=outbox_for(db, smtp),
        recipe_run_ids=[o.recipe_run_id for o in outcomes if o.status == "succeeded"],
    )
    if published:
        table(
            "publication",
            ["run", "publication", "version", "ticket", "error"],
            [(o.recipe_run_id, o.status, o.version, o.ticket_id, o.error) for o in published],
        )


@app.command("show")
def show(
    recipe_run_id: int,
    scratch_root: Path = ScratchRoot,
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """A run: status, plan, the whole error, the failed task, per-task status and durations,
    and where its logs are."""
    from ..datacenter.operations.views import recipe_run_detail

    with store(database_url, workdir, read_only=True).session() as s:
        details = recipe_run_detail(
            s, recipe_run_id, scratch_root=scratch_root_for(scratch_root, workdir)
        )
    if as_json:
        print_json(details)
    else:
        print_run_details(details)


@app.command("cancel")
def cancel(
    recipe_run_id: int,
    operator: str = typer.Option(...),
    reason: str = "",
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Cancel a waiting (created), running or manual run; a running run loses its lease."""
    from ..datacenter.planning import recipe_runs

    with store(database_url, workdir).session() as s:
        recipe_runs.cancel_recipe_run(s, recipe_run_id, operator, reason)
    console.print(f"recipe run {recipe_run_id}: canceled")


@app.command("requeue")
def requeue(
    recipe_run_id: int,
    operator: str = typer.Option(...),
    note: str = "",
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Put a failed run back to wait with its recorded plan (its open ticket is resolved)."""
    from ..datacenter.planning import recipe_runs

    with store(database_url, workdir).session() as s:
        recipe_runs.requeue_recipe_run(s, recipe_run_id, operator, note)
    console.print(f"recipe run {recipe_run_id}: requeued (waiting)")
