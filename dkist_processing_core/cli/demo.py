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

    run_demo(workdir, seed=seed, console=console)
