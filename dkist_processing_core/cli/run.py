"""``dkist-processing run``: one recipe run from its JSON run spec."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from .common import console
from .errors import about

if TYPE_CHECKING:
    from ..framework.executors.base import RunReport


class Rerun(StrEnum):
    changed = "changed"
    all = "all"


class Executor(StrEnum):
    local = "local"
    dask = "dask"


def run_spec(
    spec_file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="A run spec JSON document."
    ),
    executor: Executor = typer.Option(Executor.local, help="Where the tasks run."),
    dask_address: str = typer.Option(None, help="Dask scheduler address (with --executor dask)."),
    rerun: Rerun = typer.Option(
        Rerun.changed,
        help="changed: reuse every task whose code, parameter values and inputs are unchanged "
        "since it succeeded; all: run every task again.",
    ),
) -> None:
    """Run one recipe run from its JSON run spec (a rerun reuses what is unchanged)."""
    from ..framework import LocalExecutor, RunSpec, TaskFailed
    from ..framework.executors.base import load_workflow

    with about(f"run spec {spec_file}"):
        spec = RunSpec.from_json(spec_file.read_text())
        load_workflow(spec)  # an unknown workflow or a definition error, before anything runs
    if executor is Executor.dask:
        from ..framework.executors.dask import DaskExecutor

        runner = DaskExecutor(address=dask_address)
    else:
        runner = LocalExecutor()
    try:
        report = runner.run(spec, rerun=rerun.value)
    except TaskFailed as failed:  # show what ran, then the one error path says what failed
        if failed.report is not None:
            print_report(failed.report)
        raise
    print_report(report)


def print_report(report: RunReport) -> None:
    table = Table(title=f"recipe run {report.recipe_run_id}: {report.workflow} {report.status}")
    for col in ("task", "status", "attempts", "seconds", "why", "error"):
        table.add_column(col)
    for t in report.tasks:
        secs = "" if t.duration_s is None else f"{t.duration_s:.2f}"
        status = "reused" if t.resumed else t.status
        table.add_row(t.name, status, str(t.attempts), secs, t.reason or "", t.error or "")
    console.print(table)
