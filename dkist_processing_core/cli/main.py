"""The `dkist-processing` command: a thin layer over library calls.

Every command calls one library function that a notebook can call too.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..framework import LocalExecutor, RunSpec, TaskFailed, instruments, resolve_workflow
from ..framework.logs import configure_logging
from . import datacenter, serve

app = typer.Typer(
    name="dkist-processing",
    help="Calibrate DKIST frames into Level 1 data and run the data center around it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
workflows_app = typer.Typer(help="Instruments' workflows: list, show and draw them.")
app.add_typer(workflows_app, name="workflows")
console = Console(width=None if sys.stdout.isatty() else 160)  # wide tables in logs too


@app.callback()
def main(
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    configure_logging(log_level.upper())


@app.command()
def demo(
    workdir: Path = typer.Option(Path("demo-work"), "--workdir", help="Everything goes here."),
    seed: int = typer.Option(1, help="Seed of the simulated observation."),
) -> None:
    """Run the end-to-end demo on the embedded defaults (SQLite, local executor, simulated data)."""
    from ..demo import run_demo

    run_demo(workdir, seed=seed, console=console)


class Executor(StrEnum):
    local = "local"
    dask = "dask"


@app.command("run")
def run_spec(
    spec_file: Path = typer.Argument(..., exists=True, help="A run spec JSON document."),
    executor: Executor = typer.Option(Executor.local, help="Where the tasks run."),
    dask_address: str = typer.Option(None, help="Dask scheduler address (with --executor dask)."),
) -> None:
    """Run one recipe run from its JSON run spec (resumes if it ran before)."""
    spec = RunSpec.from_json(spec_file.read_text())
    if executor is Executor.dask:
        from ..framework.executors.dask import DaskExecutor

        runner = DaskExecutor(address=dask_address)
    else:
        runner = LocalExecutor()
    try:
        report = runner.run(spec)
    except TaskFailed as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(1) from None
    _print_report(report)


def _print_report(report) -> None:
    table = Table(title=f"recipe run {report.recipe_run_id}: {report.workflow} {report.status}")
    for col in ("task", "status", "attempts", "seconds", "error"):
        table.add_column(col)
    for t in report.tasks:
        secs = "" if t.duration_s is None else f"{t.duration_s:.2f}"
        status = f"{t.status} (earlier run)" if t.resumed else t.status
        table.add_row(t.name, status, str(t.attempts), secs, t.error or "")
    console.print(table)


@workflows_app.command("list")
def list_workflows() -> None:
    """Every installed instrument and its workflows."""
    table = Table(title="workflows")
    for col in ("instrument", "package version", "workflow", "version", "tasks"):
        table.add_column(col)
    for inst in instruments().values():
        for wf in inst.workflows:
            table.add_row(inst.name, inst.version, wf.name, wf.version, str(len(wf.nodes)))
    console.print(table)


class Drawing(StrEnum):
    text = "text"
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


@workflows_app.command("show")
def show_workflow(
    reference: str = typer.Argument(..., help="<instrument>:<workflow> or module:attribute"),
    format: Drawing = typer.Option(Drawing.text, "--format", help="text, dot, mermaid or json"),
) -> None:
    """Show a workflow's tasks in order, or draw its graph."""
    wf = resolve_workflow(reference).validate()
    if format is Drawing.dot:
        typer.echo(wf.to_dot(), nl=False)
    elif format is Drawing.mermaid:
        typer.echo(wf.to_mermaid(), nl=False)
    elif format is Drawing.json:
        nodes = [
            {"name": n.name, "task": n.task.__name__, "upstreams": n.upstreams} for n in wf.nodes
        ]
        typer.echo(json.dumps({"name": wf.name, "version": wf.version, "tasks": nodes}, indent=2))
    else:
        console.print(f"[bold]{wf.reference}[/bold] {wf.version}: {wf.description}")
        for i, name in enumerate(wf.task_order, 1):
            node = wf.node(name)
            after = f" (after {', '.join(node.upstreams)})" if node.upstreams else ""
            console.print(f"{i:3d}. {name}{after}: {node.task.summary()}")


# The data-center command groups (thin wrappers too) live in their own module.
datacenter.register(app)
serve.register(app)
