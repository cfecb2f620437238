"""``dkist-processing tickets``: tickets for manual processing and their resolutions."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import (
    AsJson,
    CommandGroup,
    DatabaseUrl,
    Workdir,
    console,
    json_option,
    print_json,
    store,
    table,
)
from .runs import ScratchRoot, print_run_details, scratch_root_for

app = CommandGroup(help="Tickets for manual processing.")


@app.command("list")
def list_open_tickets(
    all_tickets: bool = typer.Option(False, "--all"),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    from ..datacenter.operations import tickets

    with store(database_url, workdir, read_only=True).session() as s:
        table(
            "tickets",
            [
                "id",
                "run",
                "kind",
                "status",
                "failed task",
                "error",
                "resolution",
                "by",
                "follow-up run",
            ],
            [
                (
                    t.id,
                    t.recipe_run_id,
                    t.kind,
                    t.status,
                    t.failed_task,
                    t.error,
                    t.resolution,
                    t.resolved_by,
                    t.follow_up_recipe_run_id,
                )
                for t in tickets.list_tickets(s, status=None if all_tickets else "open")
            ],
        )


@app.command("retry")
def retry(
    ticket_id: int,
    operator: str = typer.Option(...),
    note: str = "",
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Resolve by a simple retry."""
    from ..datacenter.operations import resolutions

    with store(database_url, workdir).session() as s:
        run = resolutions.resolve_by_retry(s, ticket_id, operator, note)
        console.print(f"ticket {ticket_id} resolved: retry is recipe run {run.id}")


@app.command("adjust")
def adjust(
    ticket_id: int,
    operator: str = typer.Option(...),
    note: str = "",
    run_configuration: str = typer.Option(None, help="Changed values (JSON object)."),
    frame: list[str] = typer.Option(None, "--frame", help="Exact frame ids to use."),
    reassemble: bool = typer.Option(False, help="Re-assemble the input dataset."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Resolve by an adjusted plan (new input dataset and/or configuration) and a retry."""
    from ..datacenter.operations import resolutions

    configuration = json_option(run_configuration, "--run-configuration")
    with store(database_url, workdir).session() as s:
        run = resolutions.resolve_by_adjusted_plan(
            s,
            ticket_id,
            operator,
            note,
            run_configuration=configuration,
            frame_ids=frame or None,
            reassemble_input_dataset=reassemble,
        )
        console.print(f"ticket {ticket_id} resolved: adjusted run is recipe run {run.id}")


@app.command("manual")
def manual(
    ticket_id: int,
    operator: str = typer.Option(...),
    actions: str = typer.Option(...),
    reason: str = typer.Option(...),
    file: list[str] = typer.Option([], "--file"),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Resolve by a manual execution; who, what, why and which files are recorded."""
    from ..datacenter.operations import resolutions

    with store(database_url, workdir).session() as s:
        done = resolutions.resolve_by_manual_execution(
            s, ticket_id, operator, actions, reason, file
        )
        console.print(f"ticket {ticket_id} resolved by manual execution {done.id}")


@app.command("show")
def show(
    ticket_id: int,
    scratch_root: Path = ScratchRoot,
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """A ticket and its run: the whole error, the failed task, per-task status and durations,
    and where the logs are."""
    from ..datacenter.operations import tickets
    from ..datacenter.operations.status import run_details, ticket_details

    with store(database_url, workdir, read_only=True).session() as s:
        ticket = tickets.get_ticket(s, ticket_id)
        data = ticket_details(ticket)
        data["recipe_run"] = run_details(
            s, ticket.recipe_run_id, scratch_root_for(scratch_root, workdir)
        )
    if as_json:
        print_json(data)
        return
    console.print(
        f"ticket {data['ticket_id']} ({data['kind']}): {data['status']}"
        + (
            f", resolved by {data['resolution']} ({data['resolved_by']})"
            if data["resolution"]
            else ""
        ),
        markup=False,
    )
    if data["resolution_note"]:
        console.print(f"  note: {data['resolution_note']}", markup=False)
    if data["follow_up_recipe_run_id"]:
        console.print(f"  follow-up run: {data['follow_up_recipe_run_id']}", markup=False)
    if data["error"] and data["error"] != data["recipe_run"]["error"]:
        console.print(
            f"  ticket error (when opened): {data['error']}", markup=False, soft_wrap=True
        )
    print_run_details(data["recipe_run"])
