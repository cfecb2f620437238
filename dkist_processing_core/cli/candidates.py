"""``dkist-processing candidates``: processing candidates, transfer manifests, frame counts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from .common import CommandGroup, DatabaseUrl, Workdir, console, json_option, store

app = CommandGroup(help="Processing candidates, transfer manifests and frame counts.")


@app.command("add")
def add_candidate(
    observe_op: str,
    recipe: str,
    proposal: str,
    pi: str,
    observation_date: datetime,
    calibration_op: list[str] = typer.Option([], "--calibration-op", "-c"),
    priority: int = typer.Option(None),
    pi_email: str = typer.Option(None, "--pi-email", help="The PI's e-mail for the notices."),
    run_configuration: str = typer.Option(None, help="Run-specific values (JSON)."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Register a processing candidate."""
    from ..datacenter.planning import readiness

    configuration = json_option(run_configuration, "--run-configuration")
    with store(database_url, workdir).session() as s:
        c = readiness.register_processing_candidate(
            s,
            observe_op,
            calibration_op,
            proposal_id=proposal,
            principal_investigator=pi,
            principal_investigator_email=pi_email,
            recipe=recipe,
            observation_date=observation_date,
            proposal_priority=priority,
            run_configuration=configuration,
        )
        console.print(f"processing candidate {c.id} ({observe_op}) added")


@app.command("manifest")
def manifest(
    op_run_id: str, expected_frames: int, database_url: str = DatabaseUrl, workdir: Path = Workdir
) -> None:
    """Record a transfer manifest: how many frames OP ``op_run_id`` sends."""
    from ..datacenter.planning import readiness

    with store(database_url, workdir).session() as s:
        readiness.record_transfer_manifest(s, op_run_id, expected_frames)
    console.print(f"manifest {op_run_id}: {expected_frames} frames")


@app.command("frames")
def frames(
    arrivals: Path = typer.Argument(
        ..., exists=True, help="JSON list of {frame_id, op_run_id, frame_kind, path}."
    ),
    summit_root: Path = typer.Option(
        None,
        "--summit-root",
        help="Relative frame paths are relative to this folder (default: "
        "DKIST_PROCESSING_SUMMIT_ROOT, else the current folder); paths are stored absolute.",
    ),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Count ingested frames (each frame id once)."""
    from ..datacenter.planning import readiness

    rows = readiness.read_frame_arrivals(arrivals)
    with store(database_url, workdir).session() as s:
        new = readiness.record_frames(s, rows, summit_root=summit_root)
    console.print(f"{new} new frames counted ({len(rows) - new} already known)")
