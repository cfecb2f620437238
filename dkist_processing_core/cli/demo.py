"""``dkist-processing demo``: the end-to-end demo on the embedded defaults."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import console


def demo(
    workdir: Path = typer.Option(Path("demo-work"), "--workdir", help="Everything goes here."),
    seed: int = typer.Option(1, help="Seed of the simulated observation."),
) -> None:
    """Run the end-to-end demo on the embedded defaults (SQLite, local executor, simulated data)."""
    from ..demo import run_demo

    run_demo(workdir, seed=seed, narrator=RichNarrator())


class RichNarrator:
    """The demo's story drawn in the terminal: rules between steps, tables as tables."""

    def section(self, title: str) -> None:
        console.rule(title)

    def say(self, text: str) -> None:
        console.print(text)

    def table(self, title, columns, rows) -> None:
        from rich.table import Table

        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(v) for v in row))
        console.print(table)
