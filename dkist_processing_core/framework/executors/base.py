"""What every executor shares: running one task of a run, and the run's report.

Each engine (in-process, Dask, Airflow) only decides *where* and *when* a task
runs; :func:`execute_task` is the one place that decides *how*: it resolves the
workflow, skips a task the journal says has completed, removes the partial
outputs of an interrupted earlier attempt, builds the run context, runs the
task and records the outcome. The arguments are a JSON run spec and a task
name, so they cross process boundaries as plain text.
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path

from pydantic import BaseModel

from ..context import RunContext
from ..logs import run_logger
from ..registry import resolve_workflow
from ..scratch import Scratch
from ..spec import RunSpec
from ..workflow import Workflow
from .journal import FAILED, RUNNING, SUCCEEDED, UPSTREAM_FAILED, RunJournal, TaskRecord


class RunReport(BaseModel):
    recipe_run_id: int
    workflow: str
    workflow_version: str
    status: str  # "succeeded" or "failed"
    tasks: list[TaskRecord]
    failed_task: str | None = None
    error: str | None = None
    duration_s: float = 0.0

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
    log_file = _task_log_handler(spec, task_name, logger.logger)
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
        logger.logger.removeHandler(log_file)
        log_file.close()


TASK_LOG_FOLDER = "logs"


def _task_log_handler(spec: RunSpec, task_name: str, logger: logging.Logger) -> logging.Handler:
    """Also write the task's log records to ``<scratch>/logs/<task>.log`` while it runs.

    The file keeps what an operator needs after the fact (the traceback of a
    failure above all) beside the run's other files, whichever executor ran it.
    Only this task's logger gets the handler, for the task's duration; the
    caller's logging configuration is otherwise left as it was.
    """
    folder = Path(spec.scratch_dir) / TASK_LOG_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(folder / f"{task_name}.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s"))
    logger.addHandler(handler)
    return handler


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
    )


def raise_for_failure(report: RunReport) -> RunReport:
    if report.status != SUCCEEDED:
        raise TaskFailed(
            report.failed_task or "?", report.recipe_run_id, report.error or "", report
        )
    return report
