"""Dask distributed adapter: the same workflow on a Dask cluster.

Each task becomes one Dask future whose inputs are its upstreams' futures, so
Dask runs independent tasks in parallel on different workers. Only JSON text
crosses to the workers (the run spec and task name) and back (the task
record); a task error comes back as a failed record, not a pickled exception.
A task whose upstream failed is not run.
"""

from __future__ import annotations

import time
import uuid

from ..logs import run_logger
from ..spec import RunSpec
from .base import (
    RERUN_CHANGED,
    RunReport,
    build_report,
    execute_task,
    finish_run,
    load_workflow,
    mark_upstream_failed,
)
from .journal import FAILED, UPSTREAM_FAILED, TaskRecord


def run_task_on_worker(
    spec_json: str, task_name: str, *upstream_records: str, rerun: str = RERUN_CHANGED
) -> str:
    """Worker side: run one task unless an upstream failed; return its record as JSON."""
    spec = RunSpec.from_json(spec_json)
    failed = [
        r.name
        for r in (TaskRecord.model_validate_json(u) for u in upstream_records)
        if r.status in (FAILED, UPSTREAM_FAILED)
    ]
    if failed:
        return mark_upstream_failed(spec, task_name, failed).model_dump_json()
    return execute_task(spec, task_name, rerun=rerun).model_dump_json()


class DaskExecutor:
    """Run a recipe run's tasks on a Dask distributed cluster.

    Give a ``distributed.Client`` or a scheduler ``address``. Tasks are reused or
    run again like the local executor's (by their fingerprints; ``rerun="all"``).
    """

    name = "dask"

    def __init__(self, client=None, *, address: str | None = None):
        if client is None:
            from distributed import Client

            client = Client(address)
        self.client = client

    def run(self, spec: RunSpec, *, rerun: str = RERUN_CHANGED) -> RunReport:
        from distributed import wait

        start = time.perf_counter()
        workflow = load_workflow(spec)
        logger = run_logger(spec.recipe_run_id)
        logger.info(
            "running %s %s on dask %s", workflow.reference, workflow.version, self.client.scheduler
        )
        spec_json = spec.to_json()
        token = uuid.uuid4().hex[:8]
        futures = {}
        for name in workflow.task_order:
            upstream = [futures[u] for u in workflow.node(name).upstreams]
            futures[name] = self.client.submit(
                run_task_on_worker,
                spec_json,
                name,
                *upstream,
                rerun=rerun,
                key=f"run{spec.recipe_run_id}-{name}-{token}",
                pure=False,
                retries=0,
            )
        wait(list(futures.values()))
        records = {name: TaskRecord.model_validate_json(f.result()) for name, f in futures.items()}
        report = build_report(spec, workflow, records, start)
        logger.info("run %s in %.2f s", report.status, report.duration_s)
        return finish_run(spec, report)
