"""The local executor, the embedded default: runs a workflow in this process, in order."""

from __future__ import annotations

import time

from ..isolation import preserved_process_state
from ..logs import run_logger
from ..spec import RunSpec
from .base import (
    RERUN_CHANGED,
    RunReport,
    build_report,
    execute_task,
    finish_run,
    load_workflow,
)
from .journal import FAILED, SUCCEEDED


class LocalExecutor:
    """Run every task of a recipe run in this process, in the workflow's task order.

    A second invocation for the same recipe run (same scratch) reuses every task
    that completed before from the same code, parameter values and inputs (its
    fingerprint, see :mod:`~dkist_processing_core.framework.fingerprint`), and runs
    again those that changed and, through their new outputs, what depends on them.
    ``rerun="all"`` runs every task again. The report says, per task, why it ran
    or was reused.
    The first failing task stops the run and raises :class:`TaskFailed`
    naming it; the scratch is left intact.
    """

    name = "local"

    def run(self, spec: RunSpec, *, rerun: str = RERUN_CHANGED) -> RunReport:
        """Run ``spec`` (reusing unchanged tasks); the process's state is as before afterwards."""
        with preserved_process_state():
            return self._run(spec, rerun=rerun)

    def _run(self, spec: RunSpec, *, rerun: str = RERUN_CHANGED) -> RunReport:
        start = time.perf_counter()
        workflow = load_workflow(spec)
        logger = run_logger(spec.recipe_run_id)
        logger.info("running %s %s locally", workflow.reference, workflow.version)
        records = {}
        for task_name in workflow.task_order:
            record = execute_task(spec, task_name, workflow, rerun=rerun)
            records[task_name] = record
            if record.status == FAILED:
                break
            assert record.status == SUCCEEDED
        report = build_report(spec, workflow, records, start)
        logger.info("run %s in %.2f s", report.status, report.duration_s)
        return finish_run(spec, report)
