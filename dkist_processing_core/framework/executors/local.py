"""The local executor, the embedded default: runs a workflow in this process, in order."""

from __future__ import annotations

import time

from ..isolation import preserved_process_state
from ..logs import run_logger
from ..spec import RunSpec
from .base import RunReport, build_report, execute_task, load_workflow, raise_for_failure
from .journal import FAILED, SUCCEEDED


class LocalExecutor:
    """Run every task of a recipe run in this process, in the workflow's task order.

    A second invocation for the same recipe run (same scratch) resumes: tasks
    that completed are not run again, and their outputs stay as they were.
    The first failing task stops the run and raises :class:`TaskFailed`
    naming it; the scratch is left intact.
    """

    name = "local"

    def run(self, spec: RunSpec) -> RunReport:
        """Run (or resume) ``spec``; the process's state is as before afterwards."""
        with preserved_process_state():
            return self._run(spec)

    def _run(self, spec: RunSpec) -> RunReport:
        start = time.perf_counter()
        workflow = load_workflow(spec)
        logger = run_logger(spec.recipe_run_id)
        logger.info("running %s %s locally", workflow.reference, workflow.version)
        records = {}
        for task_name in workflow.task_order:
            record = execute_task(spec, task_name, workflow)
            records[task_name] = record
            if record.status == FAILED:
                break
            assert record.status == SUCCEEDED
        report = build_report(spec, workflow, records, start)
        logger.info("run %s in %.2f s", report.status, report.duration_s)
        return raise_for_failure(report)
