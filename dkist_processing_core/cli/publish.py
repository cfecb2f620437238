"""``dkist-processing publish``: publish succeeded recipe runs (the operator's door)."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import DatabaseUrl, Workdir, console, table

PUBLICATION_COLUMNS = ["run", "publication", "version", "ticket", "error"]


def publish(
    recipe_run_id: list[int] = typer.Argument(
        None,
        help="Runs to publish (again, if their publication failed). Default: every pending run.",
    ),
    smtp: str = typer.Option(None, help="SMTP server host:port for the PI notices."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Publish succeeded runs: every pending one, or the runs named (again if they failed).

    Packages go to WORKDIR/archive, the runs' outputs are read from WORKDIR/scratch;
    the PI's notice waits in the outbox (sent now with --smtp or DKIST_PROCESSING_SMTP).
    """
    from ..datacenter.operations.periodic import outbox_for, work_folder
    from ..datacenter.products.publication import publish_pending, publish_run
    from ..datacenter.store import open_store

    folder = work_folder(workdir)
    store = open_store(database_url, folder)
    outbox = outbox_for(store, smtp)
    paths = {"scratch_root": folder / "scratch", "archive_root": folder / "archive"}
    if recipe_run_id:
        outcomes = [
            publish_run(store, run, outbox=outbox, again=True, operator="operator", **paths)
            for run in recipe_run_id
        ]
        outbox.send_pending()
    else:
        outcomes = publish_pending(store, outbox=outbox, **paths)
    table(
        "publication",
        PUBLICATION_COLUMNS,
        [(o.recipe_run_id, o.status, o.version, o.ticket_id, o.error) for o in outcomes],
    )
    if not outcomes:
        console.print("nothing to publish")
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)
