"""The data center's periodic pass: readiness, then start (and publish) the ready runs.

Two plain functions, so any scheduler can call them: a cron line
(``dkist-processing cron``), or Airflow's schedule DAG
(:func:`dkist_processing_core.framework.executors.airflow.datacenter_schedule_dag`
with the import paths ``dkist_processing_core.datacenter.operations.periodic:readiness_pass``
and ``...:start_ready_runs``). Where files go comes from a work folder: the
argument, else the environment variable ``DKIST_PROCESSING_WORKDIR``, else
``./dkist-work``; PI mail goes to the SMTP server ``DKIST_PROCESSING_SMTP``
(``host:port``) when set, and stays queued in the store's outbox (sent by a later
pass with a server, see ``dkist-processing outbox``) when not.

Publication is a step of every succeeded run: after running what is ready,
:func:`start_ready_runs` publishes *every* succeeded run whose publication is
pending (:func:`~dkist_processing_core.datacenter.products.publication.publish_pending`),
whichever path succeeded it (this pass, ``runs schedule``, a manual resolution...).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dkist_processing_core.datacenter.operations.scheduling import Scheduler
from dkist_processing_core.datacenter.planning.readiness import run_readiness_pass
from dkist_processing_core.datacenter.products.catalog.notify import Outbox
from dkist_processing_core.datacenter.products.outbox import store_outbox
from dkist_processing_core.datacenter.products.publication import publish_pending
from dkist_processing_core.datacenter.store import Store, open_store

WORKDIR_ENV = "DKIST_PROCESSING_WORKDIR"
SMTP_ENV = "DKIST_PROCESSING_SMTP"


def work_folder(workdir: str | Path | None = None) -> Path:
    return Path(workdir or os.environ.get(WORKDIR_ENV, "dkist-work")).resolve()


class SmtpSettingError(ValueError):
    """An SMTP server setting that is not ``host:port``."""


def smtp_server(smtp: str | None = None) -> tuple[str, int] | None:
    """The SMTP server ``(host, port)`` from ``smtp`` or ``DKIST_PROCESSING_SMTP``; None if unset.

    Raises :class:`SmtpSettingError` for a setting that is not ``host:port``.
    """
    source = "smtp server" if smtp else SMTP_ENV
    smtp = smtp or os.environ.get(SMTP_ENV)
    if not smtp:
        return None
    host, sep, port = smtp.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SmtpSettingError(
            f"{source} {smtp!r}: expected HOST:PORT with a port number, e.g. localhost:25"
        )
    return host, int(port)


def outbox_for(store: Store, smtp: str | None = None) -> Outbox:
    """The store's outbox; it sends through ``smtp`` (or ``DKIST_PROCESSING_SMTP``) when set."""
    return store_outbox(store, smtp_server(smtp))


def publish_pending_runs(
    *,
    database_url: str | None = None,
    workdir: str | Path | None = None,
    smtp: str | None = None,
    store: Store | None = None,
    recipe_run_ids: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Publish every succeeded run whose publication is pending (or those of
    ``recipe_run_ids`` that are); what each came to."""
    folder = work_folder(workdir)
    store = store or open_store(database_url, folder)
    outcomes = publish_pending(
        store,
        scratch_root=folder / "scratch",
        archive_root=folder / "archive",
        outbox=outbox_for(store, smtp),
        recipe_run_ids=recipe_run_ids,
    )
    return [
        {
            "recipe_run_id": o.recipe_run_id,
            "publication": o.status,
            "version": o.version,
            "error": o.error,
            "ticket_id": o.ticket_id,
        }
        for o in outcomes
    ]


class RecipeRunFailed(RuntimeError):
    """A stored recipe run run by name failed (its ticket holds the error); ``report`` is
    the run's report as stored (None if it could not start)."""

    def __init__(self, message: str, report: dict[str, Any] | None = None):
        super().__init__(message)
        self.report = report


def run_stored_recipe_run(
    recipe_run_id: int,
    *,
    database_url: str | None = None,
    workdir: str | Path | None = None,
    smtp: str | None = None,
    executor: Any = None,
    rerun: str = "changed",
) -> dict[str, Any]:
    """Run one waiting recipe run of the store by its id, as a pass would, then publish it.

    What ``dkist-processing run --recipe-run N`` calls. The run is claimed under a
    lease this process renews while it executes (its recorded plan, its scratch in
    WORKDIR/scratch); its outcome is recorded (a failure is a ticket, and raises
    :class:`RecipeRunFailed`), and a success is published through
    :func:`~dkist_processing_core.datacenter.products.publication.publish_pending`,
    the step every path that succeeds a run ends with (claimed first: exactly once).
    Returns ``outcome`` (status, failed task, error, ticket), ``report`` (the run's
    report, as stored) and ``publication`` (status, version, error, ticket).
    """
    from dkist_processing_core.datacenter.store.models import RecipeRun
    from dkist_processing_core.framework import LocalExecutor

    folder = work_folder(workdir)
    smtp_server(smtp)  # a bad setting fails before anything runs
    store = open_store(database_url, folder, create=False)  # a run lives in an existing store
    runner = executor or LocalExecutor()
    if rerun != "changed":
        runner = _Rerun(runner, rerun)
    scheduler = Scheduler(store, folder / "scratch", executor=runner)
    scheduler.claim_run(recipe_run_id)
    outcome = scheduler.execute(recipe_run_id)
    with store.session() as session:
        report = session.get(RecipeRun, recipe_run_id).report
    done: dict[str, Any] = {
        "outcome": {
            "recipe_run_id": recipe_run_id,
            "status": outcome.status,
            "failed_task": outcome.failed_task,
            "error": outcome.error,
            "ticket_id": outcome.ticket_id,
        },
        "report": report,
        "publication": None,
    }
    if outcome.status != "succeeded":
        raise RecipeRunFailed(
            f"recipe run {recipe_run_id} {outcome.status}"
            + (f" in task {outcome.failed_task}" if outcome.failed_task else "")
            + f": {outcome.error}"
            + (f" (ticket {outcome.ticket_id})" if outcome.ticket_id else ""),
            report,
        )
    for p in publish_pending_runs(
        store=store, workdir=folder, smtp=smtp, recipe_run_ids=[recipe_run_id]
    ):
        done["publication"] = p
    return done


class _Rerun:
    """An executor that reruns as asked (``rerun="all"``: every task again)."""

    def __init__(self, executor: Any, rerun: str):
        self.executor, self.rerun = executor, rerun

    def run(self, spec: Any) -> Any:
        return self.executor.run(spec, rerun=self.rerun)


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
    """Run the waiting recipe runs that fit the pools' free slots, then publish every
    succeeded run whose publication is pending (these and any earlier ones).

    A publication failure shows as ``failed_task`` ``publish`` with its ticket.
    """
    folder = work_folder(workdir)
    store = open_store(database_url, folder)
    smtp_server(smtp)  # a bad setting fails before anything runs
    scheduler = Scheduler(store, folder / "scratch")
    outcomes = scheduler.run_until_idle() if until_idle else scheduler.run_once()
    rows = {
        o.recipe_run_id: {
            "recipe_run_id": o.recipe_run_id,
            "status": o.status,
            "failed_task": o.failed_task,
            "error": o.error,
            "ticket_id": o.ticket_id,
        }
        for o in outcomes
    }
    for p in publish_pending_runs(store=store, workdir=folder, smtp=smtp):
        row = rows.setdefault(
            p["recipe_run_id"],
            {
                "recipe_run_id": p["recipe_run_id"],
                "status": "succeeded",
                "failed_task": None,
                "error": None,
                "ticket_id": None,
            },
        )
        row["publication"], row["version"] = p["publication"], p["version"]
        if p["publication"] == "failed":
            row.update(failed_task="publish", error=p["error"], ticket_id=p["ticket_id"])
    return list(rows.values())


def periodic_pass(
    *,
    database_url: str | None = None,
    workdir: str | Path | None = None,
    smtp: str | None = None,
) -> dict[str, Any]:
    """What ``dkist-processing cron`` runs: check the settings, readiness, then start ready runs.

    The SMTP setting is checked before anything runs. Returns ``readiness``
    (what :func:`readiness_pass` returns) and ``outcomes`` (:func:`start_ready_runs`).
    """
    smtp_server(smtp)
    readiness = readiness_pass(database_url=database_url, workdir=workdir)
    outcomes = start_ready_runs(database_url=database_url, workdir=workdir, smtp=smtp)
    return {"readiness": readiness, "outcomes": outcomes}
