"""``dkist-processing reprocess``: find outdated dataset versions, run them again, curate."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .common import (
    AsJson,
    CommandGroup,
    DatabaseUrl,
    Workdir,
    console,
    json_option,
    print_json,
    store,
    table,
)
from .datasets import parameter_criterion, print_versions

app = CommandGroup(help="Reprocessing: find outdated versions, run them again, curate.")


def _pairs(items: list[str], what: str, convert) -> dict:
    """``OLD=NEW`` options as a mapping."""
    out = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{what} {item!r}: expected OLD=NEW")
        try:
            out[convert(old)] = convert(new)
        except ValueError:
            raise typer.BadParameter(f"{what} {item!r}: expected OLD=NEW with ids") from None
    return out


@app.command("find")
def reprocess_find(
    older_than_workflow: str = typer.Option(
        None, "--older-than-workflow", help="NAME==VERSION: made by an older version."
    ),
    parameter_value: str = typer.Option(
        None, "--parameter-value", help="A parameter value id, or NAME=JSON."
    ),
    input_frame: str = typer.Option(None, "--input-frame"),
    code_version: str = typer.Option(None, "--code-version", help="PACKAGE==VERSION."),
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Distributed versions that need reprocessing (matching any criterion), with why."""
    from ..datacenter.reprocessing import find_reprocessing_candidates

    criteria = parameter_criterion(parameter_value)
    with store(database_url, workdir, read_only=True).session() as s:
        found = find_reprocessing_candidates(
            s,
            older_than_workflow=older_than_workflow,
            input_frame_id=input_frame,
            code_version=code_version,
            **criteria,
        )
    print_versions("to reprocess", found, as_json)


@app.command("run")
def reprocess_run(
    version: list[str] = typer.Option(..., "--version", "-v", help="Dataset version(s)."),
    requested_by: str = typer.Option(..., "--by"),
    why: str = typer.Option(..., "--why"),
    workflow_version: str = typer.Option(None, "--workflow-version"),
    replace_value: list[str] = typer.Option(
        [], "--replace-value", help="OLD_ID=NEW_ID parameter value."
    ),
    replace_frame: list[str] = typer.Option([], "--replace-frame", help="OLD=NEW frame id."),
    reassemble: bool = typer.Option(False, help="Input frames and values as valid now."),
    run_configuration: str = typer.Option(None, help="Changed values (JSON object)."),
    boost: int = typer.Option(None, help="Priority boost (default: the old run's)."),
    batch: str = typer.Option(None, help="Name of this (bulk) reprocessing."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Harvest each version's plan, update it, and queue a run for the scheduler."""
    from ..datacenter.reprocessing import reprocess

    replace_values = _pairs(replace_value, "--replace-value", int) or None
    replace_frames = _pairs(replace_frame, "--replace-frame", str) or None
    configuration = json_option(run_configuration, "--run-configuration")
    with store(database_url, workdir).session() as s:
        planned = reprocess(
            s,
            version,
            requested_by=requested_by,
            reason=why,
            workflow_version=workflow_version,
            replace_parameter_values=replace_values,
            replace_frames=replace_frames,
            reassemble_input_dataset=reassemble,
            run_configuration=configuration,
            priority_boost=boost,
            batch=batch,
        )
    table(
        f"reprocessing batch {planned[0]['batch']}",
        ["dataset", "version", "new run", "status", "recipe", "changes"],
        [
            (
                p["dataset_id"],
                p["version_id"],
                p["recipe_run_id"],
                p["status"],
                p["recipe"],
                json.dumps(p["changes"]),
            )
            for p in planned
        ],
    )


@app.command("curate")
def reprocess_curate(
    decision: str = typer.Argument(..., help="KEEP_BOTH or DISCARD"),
    version: str = typer.Option(..., "--version"),
    by: str = typer.Option(..., "--by"),
    why: str = typer.Option(..., "--why"),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """A curator's decision: keep both versions, or discard this one (recorded: who, when, why)."""
    from ..datacenter.reprocessing import curate

    with store(database_url, workdir).session() as s:
        result = curate(s, version, decision, by=by, why=why)
    console.print(f"version {result['version_id']}: {result['status']} ({decision.lower()})")


@app.command("pending")
def reprocess_pending(database_url: str = DatabaseUrl, workdir: Path = Workdir) -> None:
    """Versions awaiting a curator: each new version and the one it would supersede."""
    from ..datacenter.reprocessing import pending_curation

    with store(database_url, workdir, read_only=True).session() as s:
        pairs = pending_curation(s)
    table(
        "awaiting curation",
        ["dataset", "new version", "workflow", "supersedes", "workflow (old)"],
        [
            (
                p["version"]["dataset_id"],
                p["version"]["version_id"],
                f"{p['version']['workflow_name']} {p['version']['workflow_version']}",
                p["supersedes"]["version_id"],
                f"{p['supersedes']['workflow_name']} {p['supersedes']['workflow_version']}",
            )
            for p in pairs
        ],
    )


@app.command("status")
def reprocess_status(
    batch: str = typer.Option(None),
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Progress of each (bulk) reprocessing: runs by status, versions, awaiting curation."""
    from ..datacenter.reprocessing import reprocessing_status

    with store(database_url, workdir, read_only=True).session() as s:
        data = reprocessing_status(s, batch=batch)
    if as_json:
        print_json(data)
        return
    table(
        "reprocessing",
        ["batch", "by", "why", "runs", "by status", "versions", "awaiting curation"],
        [
            (
                b["batch"],
                b["requested_by"],
                b["reason"],
                b["runs"],
                " ".join(f"{k}:{v}" for k, v in sorted(b["runs_by_status"].items())),
                b["versions_registered"],
                b["awaiting_curation"],
            )
            for b in data
        ],
    )
