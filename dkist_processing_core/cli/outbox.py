"""``dkist-processing outbox``: the PI notices waiting in the store, sent, refused or abandoned."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import CommandGroup, DatabaseUrl, Workdir, console, store, table

app = CommandGroup(help="The outbox of PI notices: list, send, retry, abandon.")


@app.command("list")
def list_messages(
    status_filter: str = typer.Option(None, "--status", help="queued, sending, sent, refused..."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Every message with its status, attempts and last error."""
    from ..datacenter.products import outbox

    with store(database_url, workdir, read_only=True).session() as s:
        table(
            "outbox",
            ["key", "run", "to", "status", "attempts", "next attempt", "sent", "last error"],
            [
                (
                    m.key,
                    m.recipe_run_id,
                    m.recipient,
                    m.status,
                    m.attempts,
                    m.next_attempt_at,
                    m.sent_at,
                    (m.last_error or "")[:80],
                )
                for m in outbox.list_messages(s, status=status_filter)
            ],
        )


@app.command("send")
def send(
    smtp: str = typer.Option(None, help="SMTP server host:port (else DKIST_PROCESSING_SMTP)."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Send the messages that are due (each claimed first: never sent twice)."""
    from ..datacenter.operations.periodic import SmtpSettingError, outbox_for, smtp_server

    if smtp_server(smtp) is None:
        raise SmtpSettingError("no SMTP server: give --smtp HOST:PORT or set DKIST_PROCESSING_SMTP")
    report = outbox_for(store(database_url, workdir), smtp).send_pending()
    console.print(
        f"{len(report.sent)} sent, {len(report.failed)} to retry later, "
        f"{len(report.refused)} refused"
    )
    for key, error in {**report.failed, **report.refused}.items():
        console.print(f"  {key}: {error}")


@app.command("retry")
def retry(
    key: str,
    operator: str = typer.Option("operator"),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Queue a refused, abandoned or waiting message to be sent at the next send."""
    from ..datacenter.products import outbox

    with store(database_url, workdir).session() as s:
        outbox.retry_message(s, key, operator)
    console.print(f"{key}: queued")


@app.command("abandon")
def abandon(
    key: str,
    operator: str = typer.Option("operator"),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Never send this message."""
    from ..datacenter.products import outbox

    with store(database_url, workdir).session() as s:
        outbox.abandon_message(s, key, operator)
    console.print(f"{key}: abandoned")
