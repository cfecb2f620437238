"""The data center's periodic pass: readiness, then start (and publish) the ready runs.

Two plain functions, so any scheduler can call them: a cron line
(``dkist-processing cron``), or Airflow's schedule DAG
(:func:`dkist_processing_core.framework.executors.airflow.datacenter_schedule_dag`
with the import paths ``dkist_processing_core.datacenter.operations.periodic:readiness_pass``
and ``...:start_ready_runs``). Where files go comes from a work folder: the
argument, else the environment variable ``DKIST_PROCESSING_WORKDIR``, else
``./dkist-work``; PI mail goes to the SMTP server ``DKIST_PROCESSING_SMTP``
(``host:port``) when set, and stays queued in the outbox (sent by a later pass)
when not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dkist_processing_core.datacenter.operations.scheduling import Scheduler
from dkist_processing_core.datacenter.planning.readiness import run_readiness_pass
from dkist_processing_core.datacenter.products.catalog.notify import Outbox, SQLiteOutboxStore
from dkist_processing_core.datacenter.products.publish import publish_recipe_run
from dkist_processing_core.datacenter.store import open_store

WORKDIR_ENV = "DKIST_PROCESSING_WORKDIR"
SMTP_ENV = "DKIST_PROCESSING_SMTP"


def work_folder(workdir: str | Path | None = None) -> Path:
    return Path(workdir or os.environ.get(WORKDIR_ENV, "dkist-work")).resolve()


def outbox_for(workdir: Path, smtp: str | None = None) -> Outbox | None:
    smtp = smtp or os.environ.get(SMTP_ENV)
    if not smtp:
        return None
    host, _, port = smtp.rpartition(":")
    return Outbox(SQLiteOutboxStore(workdir / "outbox"), smtp_host=host, smtp_port=int(port))


def readiness_pass(*, database_url: str | None = None, workdir: str | Path | None = None) -> dict:
    """Mark ready candidates and create their recipe runs; return what it did."""
    store = open_store(database_url, work_folder(workdir))
    report = run_readiness_pass(store)
    return {
        "ready": report.ready,
        "ready_by_back_stop": report.ready_by_back_stop,
        "recipe_runs_created": report.recipe_runs_created,
    }


def start_ready_runs(
    *,
    database_url: str | None = None,
    workdir: str | Path | None = None,
    smtp: str | None = None,
    until_idle: bool = True,
) -> list[dict[str, Any]]:
    """Run the waiting recipe runs that fit the pools' free slots, and publish each success."""
    folder = work_folder(workdir)
    store = open_store(database_url, folder)
    outbox = outbox_for(folder, smtp)

    def publish(recipe_run_id: int) -> None:
        publish_recipe_run(
            store,
            recipe_run_id,
            scratch_root=folder / "scratch",
            archive_root=folder / "archive",
            outbox=outbox,
        )

    scheduler = Scheduler(store, folder / "scratch", after_success=publish)
    outcomes = scheduler.run_until_idle() if until_idle else scheduler.run_once()
    if outbox is not None:
        outbox.send_pending()  # notices whose earlier sends failed
    return [
        {
            "recipe_run_id": o.recipe_run_id,
            "status": o.status,
            "failed_task": o.failed_task,
            "error": o.error,
            "ticket_id": o.ticket_id,
        }
        for o in outcomes
    ]
