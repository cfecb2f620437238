"""``dkist-processing status``: work on data that has arrived from the summit."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import AsJson, DatabaseUrl, Workdir, print_json, store, table


def status(
    proposal: str = typer.Option(None, help="Only this proposal."),
    limit: int = typer.Option(None, help="At most this many candidates."),
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Work on data that has arrived from the summit, per proposal and candidate."""
    from ..datacenter.operations.status import STATUS_COLUMNS, processing_status, status_rows

    with store(database_url, workdir, read_only=True).session() as s:
        data = processing_status(s, proposal_id=proposal, limit=limit)
    if as_json:
        print_json(data)
    else:
        table("processing status", STATUS_COLUMNS, status_rows(data))
