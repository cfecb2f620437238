"""``dkist-processing run``: one recipe run, from its JSON run spec or from the store.

With a run spec file the run is the spec alone (no store: nothing is recorded or
published). With ``--recipe-run N`` (and the store's ``--workdir``/``--database-url``)
the store's waiting run N runs under a lease, its outcome is recorded, and a
success is published like any other run
(:func:`~dkist_processing_core.datacenter.operations.periodic.run_stored_recipe_run`).
"""

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
        None, exists=True, dir_okay=False, help="A run spec JSON document."
    ),
    recipe_run: int = typer.Option(
        None,
        "--recipe-run",
        help="Instead of a spec file: the store's waiting recipe run with this id; it is "
        "recorded and, when it succeeds, published (packages in WORKDIR/archive).",
    ),
    executor: Executor = typer.Option(Executor.local, help="Where the tasks run."),
    dask_address: str = typer.Option(None, help="Dask scheduler address (with --executor dask)."),
    rerun: Rerun = typer.Option(
        Rerun.changed,
        help="changed: reuse every task whose code, parameter values and inputs are unchanged "
        "since it succeeded; all: run every task again.",
    ),
    smtp: str = typer.Option(None, help="With --recipe-run: SMTP host:port for the PI notice."),
    database_url: str = typer.Option(
        None, "--database-url", help="With --recipe-run: the store's database URL."
    ),
    workdir: Path = typer.Option(
        None, "--workdir", help="With --recipe-run: the work folder (store, scratch, archive)."
    ),
) -> None:
    """Run one recipe run from its JSON run spec, or the store's recipe run --recipe-run N
    (recorded and published). A rerun reuses what is unchanged."""
    from ..framework import LocalExecutor, RunSpec, TaskFailed
    from ..framework.executors.base import load_workflow

    if (spec_file is None) == (recipe_run is None):
        raise typer.BadParameter("give a run spec file or --recipe-run ID (one of them)")
    if spec_file is not None and (database_url or workdir or smtp):
        raise typer.BadParameter(
            "a run spec file runs without a store; --database-url, --workdir and --smtp go "
            "with --recipe-run ID"
        )

    if spec_file is not None:
        with about(f"run spec {spec_file}"):
            spec = RunSpec.from_json(spec_file.read_text())
            load_workflow(spec)  # an unknown workflow or a definition error, before anything runs
    if executor is Executor.dask:
        from ..framework.executors.dask import DaskExecutor

        runner = DaskExecutor(address=dask_address)
    else:
        runner = LocalExecutor()
    if recipe_run is not None:
        run_stored(recipe_run, runner, rerun, smtp, database_url, workdir)
        return
    try:
        report = runner.run(spec, rerun=rerun.value)
    except TaskFailed as failed:  # show what ran, then the one error path says what failed
        if failed.report is not None:
            print_report(failed.report)
        raise
    print_report(report)


def run_stored(recipe_run_id, runner, rerun: Rerun, smtp, database_url, workdir) -> None:
    """The store's recipe run: run, record, publish; show the tasks and the publication."""
    from ..datacenter.operations.periodic import RecipeRunFailed, run_stored_recipe_run
    from ..framework.executors.base import RunReport

    try:
        done = run_stored_recipe_run(
            recipe_run_id,
            database_url=database_url,
            workdir=workdir or Path("."),
            smtp=smtp,
            executor=runner,
            rerun=rerun.value,
        )
    except RecipeRunFailed as failed:  # show what ran, then the one error path says what failed
        if failed.report:
            print_report(RunReport.model_validate(failed.report))
        raise
    if done["report"]:
        print_report(RunReport.model_validate(done["report"]))
    p = done["publication"]
    if p is None:
        console.print(f"recipe run {recipe_run_id}: succeeded (published by another publisher)")
        return
    console.print(
        f"recipe run {recipe_run_id}: {p['publication']}"
        + (f" as version {p['version']}" if p["version"] else "")
        + (f": {p['error']} (ticket {p['ticket_id']})" if p["error"] else ""),
        markup=False,
    )
    if p["publication"] == "failed":
        raise typer.Exit(1)


def print_report(report: RunReport) -> None:
    table = Table(title=f"recipe run {report.recipe_run_id}: {report.workflow} {report.status}")
    for col in ("task", "status", "attempts", "seconds", "why", "error"):
        table.add_column(col)
    for t in report.tasks:
        secs = "" if t.duration_s is None else f"{t.duration_s:.2f}"
        status = "reused" if t.resumed else t.status
        table.add_row(t.name, status, str(t.attempts), secs, t.reason or "", t.error or "")
    console.print(table)
