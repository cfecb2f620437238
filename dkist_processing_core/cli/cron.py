"""``dkist-processing cron``: the periodic pass for a plain cron."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import DatabaseUrl, Workdir, console, table
from .runs import OUTCOME_COLUMNS


def cron(
    smtp: str = typer.Option(None, help="SMTP server host:port for the PI notices."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """The periodic pass for a plain cron: readiness, then run and publish what is ready."""
    from ..datacenter.operations import periodic

    done = periodic.periodic_pass(database_url=database_url, workdir=workdir, smtp=smtp)
    console.print(done["readiness"])
    table(
        "outcomes",
        OUTCOME_COLUMNS,
        [
            (o["recipe_run_id"], o["status"], o["failed_task"], o["ticket_id"])
            for o in done["outcomes"]
        ],
    )
