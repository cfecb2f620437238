"""Run the demo and say what it made and where."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ..framework import LocalExecutor, ParameterValue, RunSpec, Scratch


def run_demo(workdir: Path | str, *, seed: int = 1, console: Console | None = None) -> dict:
    console = console or Console()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    spec = RunSpec(
        recipe_run_id=1,
        workflow="dkist_processing_core.demo.illustrative:illustrative_workflow",
        scratch_dir=workdir / "scratch" / "recipe-run-1",
        configuration={"seed": seed},
        parameters=[ParameterValue(id=1, name="dark_frame_count", value=8)],
    )
    report = LocalExecutor().run(spec)
    with Scratch(spec.scratch_dir) as scratch:
        dark = scratch.find_one("INTERMEDIATE", "DARK")
    console.print(f"recipe run {spec.recipe_run_id}: {report.status} in {report.duration_s:.2f} s")
    console.print(f"made: averaged dark {dark}")
    console.print(f"everything is under {workdir}")
    return {"report": report, "dark": dark}
