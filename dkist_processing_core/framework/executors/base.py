"""What every executor shares: running one task of a run, and the run's report.

Each engine (in-process, Dask, Airflow) only decides *where* and *when* a task
runs; :func:`execute_task` is the one place that decides *how*: it resolves the
workflow, skips a task the journal says has completed, removes the partial
outputs of an interrupted earlier attempt, builds the run context, runs the
task and records the outcome. The arguments are a JSON run spec and a task
name, so they cross process boundaries as plain text.

When a run finishes, its :class:`RunReport` (every task's outcome and the
versions of every library the workflow's code uses, :mod:`..libraries`) is
written as JSON into the run's scratch (:func:`finish_run`, atomically), where
whoever publishes the run reads it (:func:`read_run_report`).
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from pydantic import BaseModel

from ..atomic import atomic_write
from ..context import RunContext
from ..libraries import code_versions
from ..logs import run_logger
from ..registry import resolve_workflow
from ..scratch import Scratch
from ..spec import RunSpec
from ..workflow import Workflow
from .journal import FAILED, RUNNING, SUCCEEDED, UPSTREAM_FAILED, RunJournal, TaskRecord

#: The file name of the run report in a run's scratch folder.
RUN_REPORT_NAME = "run_report.json"


class RunReport(BaseModel):
    """What a run did: each task's outcome, and the versions of the code it ran.

    ``code_versions`` maps each library (normalised distribution name) to its
    installed version: the workflow's own packages, what they require, and the
    libraries its tasks declare (:func:`~dkist_processing_core.framework.libraries.code_versions`).
    """

    recipe_run_id: int
    workflow: str
    workflow_version: str
    status: str  # "succeeded" or "failed"
    tasks: list[TaskRecord]
    failed_task: str | None = None
    error: str | None = None
    duration_s: float = 0.0
    code_versions: dict[str, str] = {}

    def task(self, name: str) -> TaskRecord:
        return next(t for t in self.tasks if t.name == name)


class TaskFailed(RuntimeError):
    """A task of a recipe run failed; the scratch is kept as it was for inspection or retry."""

    def __init__(self, task_name: str, recipe_run_id: int, error: str, report: RunReport | None):
        self.task_name = task_name
        self.recipe_run_id = recipe_run_id
        self.error = error
        self.report = report
        super().__init__(f"task {task_name!r} of recipe run {recipe_run_id} failed: {error}")


def load_workflow(spec: RunSpec) -> Workflow:
    return resolve_workflow(spec.workflow, spec.workflow_version).validate()


def execute_task(spec: RunSpec, task_name: str, workflow: Workflow | None = None) -> TaskRecord:
    """Run one task of a run (unless it already completed); never raises for a task error.

    The returned record says what happened; a failed task's error message names
    the exception and its text, the traceback goes to the log.
    """
    workflow = workflow or load_workflow(spec)
    node = workflow.node(task_name)
    journal = RunJournal(spec.scratch_dir)
    logger = run_logger(spec.recipe_run_id, task_name)
    try:
        previous = journal.record(task_name)
        if previous.status == SUCCEEDED:
            logger.info("already completed in an earlier invocation; not run again")
            return previous.model_copy(update={"resumed": True})
        scratch = Scratch(spec.scratch_dir, writer=task_name)
        if previous.status in (RUNNING, FAILED):
            removed = scratch.remove_written_by(task_name)
            logger.info("earlier attempt did not complete; removed its %d partial outputs", removed)
        journal.start(task_name)
        context = RunContext(
            spec=spec,
            scratch=scratch,
            logger=logger,
            workflow_name=workflow.name,
            workflow_version=workflow.version,
            task_order=workflow.task_order,
            instrument=workflow.instrument,
            declared_parameters=workflow.declared_parameters,
        )
        start = time.perf_counter()
        logger.info("started")
        try:
            node.task(context, name=task_name).run()
        except Exception as e:
            message = f"{type(e).__name__}: {e}"
            logger.error("failed: %s\n%s", message, traceback.format_exc())
            journal.finish(task_name, FAILED, message)
            return journal.record(task_name)
        finally:
            scratch.close()
        journal.finish(task_name, SUCCEEDED)
        logger.info("completed in %.2f s", time.perf_counter() - start)
        return journal.record(task_name)
    finally:
        journal.close()


def mark_upstream_failed(spec: RunSpec, task_name: str, failed_upstreams: list[str]) -> TaskRecord:
    journal = RunJournal(spec.scratch_dir)
    try:
        journal.mark(task_name, UPSTREAM_FAILED, f"not run: upstream {failed_upstreams} failed")
        return journal.record(task_name)
    finally:
        journal.close()


def build_report(spec: RunSpec, workflow: Workflow, records: dict[str, TaskRecord], start: float):
    order = workflow.task_order
    tasks = [records.get(n) or RunJournal(spec.scratch_dir).record(n) for n in order]
    failed = next((t for t in tasks if t.status == FAILED), None)
    return RunReport(
        recipe_run_id=spec.recipe_run_id,
        workflow=spec.workflow,
        workflow_version=workflow.version,
        status="failed" if failed else SUCCEEDED,
        tasks=tasks,
        failed_task=failed.name if failed else None,
        error=failed.error if failed else None,
        duration_s=time.perf_counter() - start,
        code_versions=code_versions(workflow),
    )


def run_report_path(scratch_dir: Path | str) -> Path:
    """Where the report of the run whose scratch is ``scratch_dir`` is written."""
    return Path(scratch_dir) / RUN_REPORT_NAME


def write_run_report(scratch_dir: Path | str, report: RunReport) -> Path:
    """Write ``report`` as JSON into the run's scratch, atomically (a reader never sees half)."""
    path = run_report_path(scratch_dir)
    with atomic_write(path) as f:
        f.write(report.model_dump_json(indent=1).encode())
    return path


def read_run_report(scratch_dir: Path | str) -> RunReport:
    """The report a finished run wrote into its scratch; the error names the file."""
    path = run_report_path(scratch_dir)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no run report (an executor writes it when the run finishes)"
        ) from None
    try:
        return RunReport.model_validate_json(text)
    except ValueError as error:
        raise ValueError(f"{path}: not a run report: {error}") from None


def finish_run(spec: RunSpec, report: RunReport) -> RunReport:
    """Write the run report into the run's scratch; raise :class:`TaskFailed` if it failed."""
    write_run_report(spec.scratch_dir, report)
    return raise_for_failure(report)


def raise_for_failure(report: RunReport) -> RunReport:
    if report.status != SUCCEEDED:
        raise TaskFailed(
            report.failed_task or "?", report.recipe_run_id, report.error or "", report
        )
    return report
