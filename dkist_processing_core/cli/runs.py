"""``dkist-processing runs``: recipe runs and the scheduler."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import CommandGroup, DatabaseUrl, Workdir, console, store, table

app = CommandGroup(help="Recipe runs and the scheduler.")

OUTCOME_COLUMNS = ["run", "status", "failed task", "ticket"]


@app.command("list")
def list_runs(
    status_filter: str = typer.Option(None, "--status"),
    limit: int = 100,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    from ..datacenter.planning import recipe_runs

    with store(database_url, workdir, read_only=True).session() as s:
        table(
            "recipe runs",
            [
                "id",
                "instance",
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
                    r.id,
                    r.recipe_instance_id,
                    r.attempt,
                    r.status,
                    r.resource_pool,
                    r.priority_boost,
                    r.failed_task,
                    r.manually_processed,
                    r.created_at,
                )
                for r in recipe_runs.list_recipe_runs(s, status=status_filter, limit=limit)
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
