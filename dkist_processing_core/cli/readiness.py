"""``dkist-processing readiness``: the periodic readiness pass."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import typer

from .common import CommandGroup, DatabaseUrl, Workdir, console, store

app = CommandGroup(help="The periodic readiness pass.")


@app.command("run")
def run_pass(
    back_stop_days: float = typer.Option(
        13.0, help="Force readiness this long after the last frame."
    ),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Run one readiness pass (from cron, or by hand)."""
    from ..datacenter.planning import readiness

    report = readiness.run_readiness_pass(
        store(database_url, workdir), back_stop=timedelta(days=back_stop_days)
    )
    console.print(
        f"{report.ready} candidates ready ({report.ready_by_back_stop} by the back "
        f"stop), {report.recipe_runs_created} recipe runs created"
    )
