"""What the command modules share: the store options, the console, tables, JSON options.

Every command group is a :class:`CommandGroup`, so every command goes through the
one error path of :mod:`.errors`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from .errors import Command

console = Console(width=None if sys.stdout.isatty() else 160)  # wide tables in logs too

DatabaseUrl = typer.Option(
    None, "--database-url", help="Database URL (default: env var or --workdir)."
)
Workdir = typer.Option(Path("."), "--workdir", help="Where the embedded SQLite file lives.")
AsJson = typer.Option(False, "--json", help="Plain data instead of a table.")


class CommandGroup(typer.Typer):
    """A Typer app whose commands are :class:`~.errors.Command` (the one error path)."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("pretty_exceptions_show_locals", False)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, *, cls: type | None = None, **kwargs: Any):
        return super().command(name, cls=cls or Command, **kwargs)


def store(database_url: str | None, workdir: Path, *, read_only: bool = False):
    """The metadata store; a command that only reads never creates one (``read_only``)."""
    from ..datacenter.store import open_store

    return open_store(database_url, workdir, create=not read_only)


def table(title: str, columns: list[str] | tuple[str, ...], rows) -> None:
    """Print a table; None shows as an empty cell."""
    out = Table(title=title)
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*["" if v is None else str(v) for v in row])
    console.print(out)


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data))


def json_option(text: str | None, what: str) -> Any:
    """The JSON value of an option (None when not given); a usage error when it is not JSON."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(
            f"{what} {text!r}: not JSON ({error.msg} at column {error.colno}); "
            'e.g. 2.5, "text" or {"key": 1}'
        ) from None
