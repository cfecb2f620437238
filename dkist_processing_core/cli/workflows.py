"""``dkist-processing workflows``: the installed instruments' workflows, listed, shown, drawn."""

from __future__ import annotations

import json
from enum import StrEnum

import typer

from .common import CommandGroup, console, table

app = CommandGroup(help="Instruments' workflows: list, show and draw them.")


@app.command("list")
def list_workflows() -> None:
    """Every installed instrument and its workflows."""
    from ..framework import instruments

    table(
        "workflows",
        ["instrument", "package version", "workflow", "version", "tasks"],
        [
            (inst.name, inst.version, wf.name, wf.version, len(wf.nodes))
            for inst in instruments().values()
            for wf in inst.workflows
        ],
    )


class Drawing(StrEnum):
    text = "text"
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


@app.command("show")
def show_workflow(
    reference: str = typer.Argument(..., help="<instrument>:<workflow> or module:attribute"),
    format: Drawing = typer.Option(Drawing.text, "--format", help="text, dot, mermaid or json"),
) -> None:
    """Show a workflow's tasks in order, or draw its graph."""
    from ..framework import resolve_workflow

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
