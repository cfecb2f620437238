"""``dkist-processing serve`` (the status web pages) and ``dkist-processing users`` (who may act).

Thin wrappers: the pages are :mod:`dkist_processing_core.web`, users and PI links are
:mod:`dkist_processing_core.datacenter.operations.access`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from dkist_processing_core.datacenter.operations import access
from dkist_processing_core.datacenter.store import open_store

from .common import CommandGroup

console = Console(width=None if sys.stdout.isatty() else 160)

DatabaseUrl = typer.Option(
    None, "--database-url", help="Database URL (default: env var or --workdir)."
)
Workdir = typer.Option(Path("."), "--workdir", help="Where the embedded SQLite file lives.")

users_app = CommandGroup(help="People who sign in to the status pages, and the PIs' links.")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``users`` group to ``app`` (through the one error path)."""
    from .errors import Command

    app.command("serve", cls=Command)(serve)
    app.add_typer(users_app, name="users")


def serve(
    workdir: Path = Workdir,
    database_url: str = DatabaseUrl,
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback unless told otherwise)."),
    port: int = typer.Option(8080, help="TCP port."),
    require_login: bool = typer.Option(
        False, "--require-login", help="Reading needs a sign-in too (always, even on loopback)."
    ),
    archive: Path = typer.Option(
        None, help="The archive of published versions (default: WORKDIR/archive)."
    ),
    scratch: Path = typer.Option(
        None, help="The runs' scratch folders (default: WORKDIR/scratch)."
    ),
) -> None:
    """Serve the status pages (overview, candidates, runs, tickets, datasets, reprocessing)."""
    from dkist_processing_core.web import WebConfig, load_or_create_secret
    from dkist_processing_core.web import serve as run_server

    store = open_store(database_url, workdir)
    config = WebConfig(
        store=store,
        workdir=workdir,
        secret_key=load_or_create_secret(workdir),
        archive_root=archive,
        scratch_root=scratch,
        require_login=require_login,
    )
    where = store.engine.url.render_as_string(hide_password=True)
    console.print(f"serving {where} on http://{host}:{port}/ (Ctrl-C stops)")
    run_server(config, host=host, port=port)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    name: str,
    role: list[str] = typer.Option([], "--role", help="operator and/or curator (repeat)."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (scripts)."
    ),
    replace: bool = typer.Option(False, help="Set a new password and roles for an existing user."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Add a user (the password is asked for, never given as an argument)."""
    password = _read_password(password_stdin)
    try:
        with open_store(database_url, workdir).session() as s:
            user = access.add_user(s, name, password, role, replace=replace)
    except access.AccessError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None
    console.print(f"user {user.name}: roles {', '.join(sorted(user.roles)) or 'none (read only)'}")


@users_app.command("list")
def users_list(database_url: str = DatabaseUrl, workdir: Path = Workdir) -> None:
    with open_store(database_url, workdir).session() as s:
        for u in access.list_users(s):
            state = " (disabled)" if u["disabled"] else ""
            console.print(f"{u['name']}: {', '.join(u['roles']) or 'read only'}{state}")


@users_app.command("disable")
def users_disable(name: str, database_url: str = DatabaseUrl, workdir: Path = Workdir) -> None:
    """The user can no longer sign in."""
    try:
        with open_store(database_url, workdir).session() as s:
            access.disable_user(s, name)
    except access.AccessError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None
    console.print(f"user {name} disabled")


@users_app.command("pi-link")
def users_pi_link(
    proposal: str,
    revoke: bool = typer.Option(False, help="Revoke the proposal's link (a new one can follow)."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """The path of a proposal's read-only page for its PI (issued on first use)."""
    try:
        with open_store(database_url, workdir).session() as s:
            if revoke:
                n = access.revoke_proposal_link(s, proposal)
                console.print(f"{n} link(s) of proposal {proposal} revoked")
                return
            token = access.proposal_link(s, proposal)
    except access.AccessError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None
    typer.echo(f"/pi/{token}")
