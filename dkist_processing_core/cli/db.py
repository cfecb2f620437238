"""``dkist-processing db``: the metadata store."""

from __future__ import annotations

from pathlib import Path

from .common import CommandGroup, DatabaseUrl, Workdir, console, store

app = CommandGroup(help="The metadata store.")


@app.command("upgrade")
def db_upgrade(database_url: str = DatabaseUrl, workdir: Path = Workdir) -> None:
    """Create or migrate the tables to the newest schema."""
    opened = store(database_url, workdir)
    console.print(f"schema up to date: {opened.engine.url.render_as_string(hide_password=True)}")
