"""``dkist-processing status``: work on data that has arrived from the summit."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import AsJson, DatabaseUrl, Workdir, print_json, store, table


def status(
    proposal: str = typer.Option(None, help="Only this proposal."),
    limit: int = typer.Option(None, help="At most this many candidates."),
    overview: bool = typer.Option(
        False, "--overview", help="The overview page's data (states, pools, tickets, failures)."
    ),
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Work on data that has arrived from the summit, per proposal and candidate (the
    candidates page's data); with --overview, the overview page's data as JSON."""
    from ..datacenter.operations.status import STATUS_COLUMNS, processing_status, status_rows

    if overview:
        from ..datacenter.clock import SystemClock
        from ..datacenter.operations.views import overview as overview_data

        with store(database_url, workdir, read_only=True).session() as s:
            print_json(overview_data(s, SystemClock().now()))
        return
    with store(database_url, workdir, read_only=True).session() as s:
        data = processing_status(s, proposal_id=proposal, limit=limit)
    if as_json:
        print_json(data)
    else:
        table("processing status", STATUS_COLUMNS, status_rows(data))
