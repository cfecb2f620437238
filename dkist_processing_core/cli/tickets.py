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
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Open tickets (every ticket with --all), newest first: the tickets page's data."""
    from ..datacenter.operations import views

    with store(database_url, workdir, read_only=True).session() as s:
        rows = views.ticket_rows(s, status=None if all_tickets else "open")
    if as_json:
        print_json(rows)
        return
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
                t["ticket_id"],
                t["recipe_run_id"],
                t["kind"],
                t["status"],
                t["failed_task"],
                t["error"],
                t["resolution"],
                t["resolved_by"],
                t["follow_up_recipe_run_id"],
            )
            for t in rows
        ],
    )


@app.command("retry")
def retry(
    ticket_id: int,
    operator: str = typer.Option(...),
    note: str = "",
    smtp: str = typer.Option(None, help="SMTP server host:port for the PI notice."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Resolve by a simple retry (a publication ticket: publish again; a notification: resend)."""
    from ..datacenter.operations import resolutions, tickets
    from ..datacenter.operations.periodic import outbox_for, work_folder

    folder = work_folder(workdir)
    db = store(database_url, folder)
    done = resolutions.retry_ticket(
        db,
        ticket_id,
        operator,
        note,
        scratch_root=folder / "scratch",
        archive_root=folder / "archive",
        outbox=outbox_for(db, smtp),
    )
    run_id = done.recipe_run_id
    if done.kind == tickets.PUBLICATION:
        console.print(f"ticket {ticket_id} resolved: publishing recipe run {run_id} again")
        o = done.publication
        if o is not None and o.status == "failed":
            raise PublishFailed(
                f"recipe run {run_id}: publication failed again: {o.error} (ticket {o.ticket_id})"
            )
        if o is not None:
            console.print(f"recipe run {run_id}: {o.status} as version {o.version}")
    elif done.kind == tickets.NOTIFICATION:
        console.print(f"ticket {ticket_id} resolved: the notice of recipe run {run_id} is queued")
    else:
        console.print(f"ticket {ticket_id} resolved: retry is recipe run {run_id}")


class PublishFailed(RuntimeError):
    """Publishing a run again failed (a new publication ticket holds the error)."""


def _publish_now(recipe_run_id: int, smtp: str | None, database_url, workdir: Path) -> None:
    """Publish a run whose publication is pending (and send what waits); say what came of it."""
    from ..datacenter.operations.periodic import outbox_for, work_folder
    from ..datacenter.products.publication import publish_pending

    folder = work_folder(workdir)
    db = store(database_url, folder)
    outbox = outbox_for(db, smtp)
    for o in publish_pending(
        db,
        scratch_root=folder / "scratch",
        archive_root=folder / "archive",
        outbox=outbox,
        recipe_run_ids=[recipe_run_id],
    ):
        if o.status == "failed":
            raise PublishFailed(
                f"recipe run {recipe_run_id}: publication failed again: {o.error} "
                f"(ticket {o.ticket_id})"
            )
        console.print(f"recipe run {recipe_run_id}: {o.status} as version {o.version}")


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
    file: list[str] = typer.Option(
        [],
        "--file",
        help="The hand-made run's scratch folder, an L1 frame (FITS) or KIND=PATH of a product.",
    ),
    smtp: str = typer.Option(None, help="SMTP server host:port for the PI notice."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Resolve by a manual execution; who, what, why and which files are recorded.

    The files are validated (SPEC-0214, checksums, DSETID, MANPROCD) and then
    published: a version, a package and the PI's notice, like any other run.
    """
    from ..datacenter.operations import resolutions

    with store(database_url, workdir).session() as s:
        done = resolutions.resolve_by_manual_execution(
            s, ticket_id, operator, actions, reason, file
        )
        done_id, run_id = done.id, done.recipe_run_id
    console.print(f"ticket {ticket_id} resolved by manual execution {done_id}")
    if file:
        _publish_now(run_id, smtp, database_url, workdir)


@app.command("plan")
def plan(
    ticket_id: int,
    out: Path = typer.Option(..., "--out", help="Folder for the plan's JSON files."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Export the plan of a ticket's run for manual processing.

    Writes run_spec.json (its scratch in OUT/scratch, MANPROCD set), input_dataset.json and
    parameter_values.json. Process it, e.g. with 'dkist-processing run OUT/run_spec.json',
    then resolve with 'tickets manual --file OUT/scratch'.
    """
    from ..datacenter.operations import tickets
    from ..datacenter.operations.periodic import work_folder
    from ..datacenter.products.manual import export_plan

    with store(database_url, workdir, read_only=True).session() as s:
        run_id = tickets.get_ticket(s, ticket_id).recipe_run_id
        written = export_plan(s, run_id, out, work_folder(workdir) / "scratch")
    for path in written:
        console.print(f"wrote {path}")


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
    from ..datacenter.operations import tickets, views

    with store(database_url, workdir, read_only=True).session() as s:
        tickets.get_ticket(s, ticket_id)  # its own message for an unknown ticket
        data = views.ticket_detail(
            s, ticket_id, scratch_root=scratch_root_for(scratch_root, workdir)
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
    for e in data["manual_executions"]:
        console.print(
            f"  manual execution by {e['operator']} ({e['performed_at']}): {e['actions']}",
            markup=False,
            soft_wrap=True,
        )
    print_run_details(data["recipe_run"])
    console.print("history:", markup=False)
    for e in data["history"]:
        console.print(f"  {e['at']}  {e['event']}", markup=False, soft_wrap=True)
