"""Dask distributed adapter: the same workflow on a Dask cluster.

Each task becomes one Dask future whose inputs are its upstreams' futures, so
Dask runs independent tasks in parallel on different workers. Only JSON text
crosses to the workers (the run spec and task name) and back (the task
record); a task error comes back as a failed record, not a pickled exception.
A task whose upstream failed is not run.

Without a client or a scheduler address the executor starts its own
:func:`local_cluster`, which listens on the loopback interface only
(scheduler, workers and no dashboard unless asked, on ``127.0.0.1``): nothing
of a run is reachable from the network unless configured.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from ..errors import ServiceUnavailable
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
    mark_upstream_failed,
)
from .journal import FAILED, UPSTREAM_FAILED, TaskRecord

LOOPBACK = "127.0.0.1"


def local_cluster(**options: Any):
    """A ``distributed.LocalCluster`` that listens on the loopback interface only.

    The scheduler and the workers bind to ``127.0.0.1`` and there is no
    dashboard (Dask's default dashboard listens on every interface, port 8787);
    ``dashboard=True`` gives one on ``127.0.0.1`` at a free port. Other
    ``options`` (``n_workers``, ``threads_per_worker``, ``processes``, ...) go to
    ``LocalCluster``; an explicit ``host`` or ``dashboard_address`` is the caller's choice.
    """
    from distributed import LocalCluster

    dashboard = options.pop("dashboard", False)
    if options.get("processes", True):
        options.setdefault("host", LOOPBACK)  # scheduler, nannies, workers and their http
    else:
        # In-process workers talk over inproc://, but each still serves http (health,
        # metrics) on every interface unless given an address.
        options.setdefault("worker_dashboard_address", f"{LOOPBACK}:0")
    options.setdefault("dashboard_address", f"{LOOPBACK}:0" if dashboard else None)
    return LocalCluster(**options)


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

    Give a ``distributed.Client`` or a scheduler ``address``; with neither, the
    executor starts a :func:`local_cluster` (loopback only) with
    ``cluster_options`` and closes it in :meth:`close`. Tasks are reused or run
    again like the local executor's (by their fingerprints; ``rerun="all"``).
    """

    name = "dask"

    def __init__(
        self,
        client=None,
        *,
        address: str | None = None,
        timeout: float = 30.0,
        **cluster_options: Any,
    ):
        self._cluster = None
        if client is None:
            from distributed import Client

            if address is None:
                self._cluster = local_cluster(**cluster_options)
                address = self._cluster
                client = Client(address)
            else:
                try:
                    client = Client(address, timeout=timeout)
                except OSError as e:
                    raise ServiceUnavailable(
                        f"the Dask scheduler at {address} cannot be reached ({e}); start it, "
                        "or give the address of a running one, or run without --dask-address "
                        "for a cluster on this machine"
                    ) from None
        self.client = client
        self._owns_client = self._cluster is not None

    def close(self) -> None:
        """Close the client and the cluster this executor started (if it started one)."""
        if self._owns_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, spec: RunSpec, *, rerun: str = RERUN_CHANGED) -> RunReport:
        with preserved_process_state():
            return self._run(spec, rerun=rerun)

    def _run(self, spec: RunSpec, *, rerun: str = RERUN_CHANGED) -> RunReport:
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
