"""Scheduling recipe runs onto resource pools by priority, and running them.

Each recipe run waits in a resource pool (its recipe's, e.g. ``default`` or
``high-memory``); a pool has a number of slots. A run's priority is::

    priority = proposal priority + operator boost + waiting_weight_per_day * days waited

so a run of a low-priority proposal is not starved: it gains one point per day
by default. The scheduler claims the highest-priority waiting runs that fit the
free slots (free = slots - running runs of that pool), moves them to
``running`` and commits, then runs each through the framework's executor
(``LocalExecutor`` by default; a ``DaskExecutor`` when
``DKIST_PROCESSING_DASK_ADDRESS`` names a cluster; any object with
``.run(spec)``) and records the outcome. A failure becomes a ticket (manual
by exception) holding the error and the failed task.

Concurrency: the runs claimed in one pass run at the same time. With the
``LocalExecutor`` each run executes in its own worker process
(``python -m dkist_processing_core.datacenter.operations.scheduling``, the run
spec and its result as JSON files in the run's scratch, its output in
``worker.log`` there); any other executor (a Dask cluster does the work) is
called from one thread per run. Each run records its own outcome as soon as
it ends. A single claimed run executes in the scheduler's own process.

Leases: a claimed run holds a lease (``lease_owner``, ``lease_expires_at``)
that a thread of the scheduling process renews every third of the lease
duration (``DKIST_PROCESSING_LEASE_SECONDS``, 300 s by default) while the run
executes. Every pass first calls :func:`expire_leases`: a ``running`` run whose
lease expired (its process was killed, the machine rebooted) becomes
``failed`` (interrupted) with a ticket naming the task that was running (from
the run journal in its scratch), which frees its slot. A run canceled by an
operator loses its lease; its worker process is stopped at the next renewal.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.clock import Clock, SystemClock
from dkist_processing_core.datacenter.operations.tickets import (
    MANUAL_BY_EXCEPTION,
    StoreTicketSink,
    TicketRequest,
    TicketSink,
)
from dkist_processing_core.datacenter.planning.input_datasets import run_input_dataset
from dkist_processing_core.datacenter.planning.recipe_runs import (
    CANCELED,
    CREATED,
    FAILED,
    MANUAL,
    RUNNING,
    SUCCEEDED,
    RecipeRunError,
    recorded_plan,
    transition,
)
from dkist_processing_core.datacenter.store import Store
from dkist_processing_core.datacenter.store.models import (
    Dataset,
    Instrument,
    ProcessingCandidate,
    Proposal,
    Recipe,
    RecipeInstance,
    RecipeRun,
    ResourcePool,
)
from dkist_processing_core.framework.executors.base import PlanChanged  # noqa: F401 (re-export)

DEFAULT_WAITING_WEIGHT_PER_DAY = 1.0
LEASE_SECONDS_ENV = "DKIST_PROCESSING_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 300.0
DASK_ADDRESS_ENV = "DKIST_PROCESSING_DASK_ADDRESS"
WORKER_LOG = "worker.log"
SPEC_FILE = ".run-spec.json"
RESULT_FILE = ".run-result.json"


class SchedulingError(ValueError):
    """A scheduling setting that is not valid (for example a lease duration that is no number)."""


def lease_seconds_setting(value: float | str | None = None) -> float:
    """The lease duration in seconds: ``value``, else ``DKIST_PROCESSING_LEASE_SECONDS``, else 300."""
    source = "lease seconds" if value is not None else LEASE_SECONDS_ENV
    if value is None:
        value = os.environ.get(LEASE_SECONDS_ENV) or DEFAULT_LEASE_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise SchedulingError(
            f"{source} {value!r}: expected a positive number of seconds, e.g. 300"
        )
    return seconds


def new_lease_owner() -> str:
    """A name for the leases of one scheduler: host, process id and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Executor(Protocol):
    def run(self, spec: Any) -> Any: ...


@dataclass(frozen=True)
class WaitingRun:
    recipe_run_id: int
    resource_pool: str
    priority: float


@dataclass(frozen=True)
class RunOutcome:
    recipe_run_id: int
    status: str
    failed_task: str | None = None
    error: str | None = None
    ticket_id: int | None = None


def run_priority(
    proposal_priority: int,
    boost: int,
    created_at: datetime,
    now: datetime,
    waiting_weight_per_day: float = DEFAULT_WAITING_WEIGHT_PER_DAY,
) -> float:
    """Priority of a waiting run: proposal priority + boost + weight x days waited."""
    days = max((now - created_at).total_seconds(), 0.0) / 86400.0
    return proposal_priority + boost + waiting_weight_per_day * days


def waiting_runs(
    session: Session,
    now: datetime,
    waiting_weight_per_day: float = DEFAULT_WAITING_WEIGHT_PER_DAY,
) -> list[WaitingRun]:
    """Runs waiting to start (status ``created``), highest priority first (oldest first on ties)."""
    rows = session.execute(
        select(
            RecipeRun.id,
            RecipeRun.resource_pool,
            RecipeRun.priority_boost,
            RecipeRun.created_at,
            Proposal.priority,
        )
        .join(RecipeInstance, RecipeInstance.id == RecipeRun.recipe_instance_id)
        .join(ProcessingCandidate, ProcessingCandidate.id == RecipeInstance.processing_candidate_id)
        .join(Proposal, Proposal.id == ProcessingCandidate.proposal_id)
        .where(RecipeRun.status == CREATED)
    ).all()
    runs = [
        WaitingRun(
            r.id,
            r.resource_pool,
            run_priority(r.priority, r.priority_boost, r.created_at, now, waiting_weight_per_day),
        )
        for r in rows
    ]
    runs.sort(key=lambda w: (-w.priority, w.recipe_run_id))
    return runs


def free_slots(session: Session) -> dict[str, int]:
    """Per resource pool: slots minus the runs now running in it."""
    running = dict(
        session.execute(
            select(RecipeRun.resource_pool, func.count())
            .where(RecipeRun.status == RUNNING)
            .group_by(RecipeRun.resource_pool)
        ).all()
    )
    return {
        pool.name: max(pool.slots - running.get(pool.name, 0), 0)
        for pool in session.scalars(select(ResourcePool))
    }


def scratch_dir_for(scratch_root: str | Path, recipe_run_id: int) -> Path:
    """Where a recipe run's working files go (the same folder on every attempt: runs resume)."""
    return Path(scratch_root) / f"recipe_run_{recipe_run_id}"


def product_id_for(dataset_id: str) -> str:
    """The product a dataset's versions are versions of (the same when it is reprocessed)."""
    return f"L1-{dataset_id}"


def build_run_spec(session: Session, recipe_run_id: int, scratch_root: str | Path):
    """The framework's RunSpec for a recipe run: workflow, version, configuration as run,
    the parameter values, the input dataset and the provenance the products record."""
    from dkist_processing_core.framework import RunProvenance, RunSpec

    run = session.get(RecipeRun, recipe_run_id)
    instance = session.get(RecipeInstance, run.recipe_instance_id)
    recipe = session.get(Recipe, instance.recipe_id)
    # The plan recorded when the run was created, never the recipe's current workflow.
    spec, task_order = recorded_plan(session, run)
    instrument = session.get(Instrument, spec.instrument_id)
    input_dataset = run_input_dataset(session, instance.input_dataset_id)
    candidate = session.get(ProcessingCandidate, instance.processing_candidate_id)
    # The dataset id the L1 headers carry (DSETID): the candidate's dataset, whose
    # reprocessings add versions to it; its observe OP run id before its first version.
    dataset_id = (
        session.scalar(
            select(Dataset.dataset_id).where(Dataset.processing_candidate_id == candidate.id)
        )
        or candidate.observe_op_run_id
    )
    return RunSpec(
        recipe_run_id=run.id,
        workflow=spec.import_path or f"{instrument.name}:{spec.name}",
        workflow_version=spec.version,
        task_order=list(task_order) if task_order is not None else None,
        scratch_dir=scratch_dir_for(scratch_root, run.id),
        configuration=run.configuration or {},
        parameters=input_dataset.parameter_values,
        input_dataset=input_dataset,
        provenance=RunProvenance(
            recipe_id=recipe.id,
            recipe_instance_id=instance.id,
            # One input dataset holds the observe frames, the calibration frames and the
            # parameter values: it is each of the three parts.
            input_dataset_observe_id=instance.input_dataset_id,
            input_dataset_calibration_id=instance.input_dataset_id,
            input_dataset_parameters_id=instance.input_dataset_id,
            proposal_id=candidate.proposal_id,
            dataset_id=dataset_id,
            product_id=product_id_for(dataset_id),
            manual_processing=run.manually_processed,
        ),
    )


def check_recorded_task_order(spec: Any) -> None:
    """Refuse to run a workflow whose task order is not the one the run recorded
    (:class:`PlanChanged`; every executor checks it too, when it loads the workflow)."""
    from dkist_processing_core.framework.executors.base import load_workflow

    load_workflow(spec)


def last_task(scratch_dir: Path, task_order: list[str] | None) -> str | None:
    """The task a run was executing, from the run journal in its scratch: the one marked
    running, else the one started last; None without a journal."""
    from dkist_processing_core.framework.executors.journal import JOURNAL_NAME, RunJournal

    if not task_order or not (Path(scratch_dir) / JOURNAL_NAME).exists():
        return None
    journal = RunJournal(scratch_dir)
    try:
        records = [r for r in journal.records(list(task_order)) if r.started is not None]
    finally:
        journal.close()
    running = [r for r in records if r.status == "running"]
    if running:
        return running[-1].name
    return max(records, key=lambda r: r.started).name if records else None


def expire_leases(
    session: Session,
    now: datetime,
    *,
    scratch_root: str | Path,
    ticket_sink: TicketSink,
    lease_seconds: float | None = None,
) -> list[RunOutcome]:
    """Fail (interrupted) every ``running`` run whose lease expired, with a ticket; free its slot.

    A run without a lease (claimed before leases existed) counts as expired a
    lease duration after it started. The UPDATE names the lease it saw, so a
    renewal that comes in between wins.
    """
    lease = timedelta(seconds=lease_seconds_setting(lease_seconds))
    expired = session.execute(
        select(
            RecipeRun.id,
            RecipeRun.lease_owner,
            RecipeRun.lease_expires_at,
            RecipeRun.task_order,
        ).where(
            RecipeRun.status == RUNNING,
            or_(
                RecipeRun.lease_expires_at < now,
                and_(RecipeRun.lease_expires_at.is_(None), RecipeRun.started_at < now - lease),
            ),
        )
    ).all()
    outcomes = []
    for r in expired:
        task = last_task(scratch_dir_for(scratch_root, r.id), r.task_order)
        when = r.lease_expires_at.isoformat() if r.lease_expires_at else "(no lease)"
        error = (
            f"interrupted: the lease of {r.lease_owner or 'its scheduler'} expired at {when} "
            f"while task {task or '(none started)'} was running; the process executing the run "
            "stopped (killed, or the machine restarted). Requeue the run to continue it."
        )
        seen = (
            RecipeRun.lease_expires_at.is_(None)
            if r.lease_expires_at is None
            else RecipeRun.lease_expires_at == r.lease_expires_at
        )
        moved = session.execute(
            update(RecipeRun)
            .where(RecipeRun.id == r.id, RecipeRun.status == RUNNING, seen)
            .values(
                status=FAILED,
                finished_at=now,
                error=error,
                failed_task=task,
                lease_owner=None,
                lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if not moved:
            continue
        ticket_sink.open_tickets(
            session,
            [
                TicketRequest(
                    recipe_run_id=r.id, kind=MANUAL_BY_EXCEPTION, error=error, failed_task=task
                )
            ],
        )
        from dkist_processing_core.datacenter.operations.tickets import ticket_for_run

        ticket = ticket_for_run(session, r.id)
        outcomes.append(RunOutcome(r.id, FAILED, task, error, ticket.id if ticket else None))
    return outcomes


class LeaseKeeper:
    """Renews, from a daemon thread, the leases of the runs this process executes.

    Renewal happens every third of the lease duration. A renewal that finds the
    run no longer ``running`` under this owner (canceled, or expired and failed
    by another pass) sets the run's ``lost`` event.
    """

    def __init__(self, store: Store, owner: str, lease_seconds: float, clock: Clock):
        self.store = store
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._held: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, recipe_run_id: int) -> threading.Event:
        lost = threading.Event()
        with self._lock:
            self._held[recipe_run_id] = lost
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._loop, name="dkist-lease-keeper", daemon=True
                )
                self._thread.start()
        return lost

    def release(self, recipe_run_id: int) -> None:
        with self._lock:
            self._held.pop(recipe_run_id, None)
            if not self._held:
                self._stop.set()

    def renew(self) -> None:
        with self._lock:
            held = dict(self._held)
        if not held:
            return
        expires = self.clock.now() + timedelta(seconds=self.lease_seconds)
        with self.store.session() as session:
            for run_id, lost in held.items():
                renewed = session.execute(
                    update(RecipeRun)
                    .where(
                        RecipeRun.id == run_id,
                        RecipeRun.status == RUNNING,
                        RecipeRun.lease_owner == self.owner,
                    )
                    .values(lease_expires_at=expires)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if not renewed:
                    lost.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self.renew()
            except Exception:  # a store hiccup: try again at the next beat; the lease has margin
                continue


class RunLost(RuntimeError):
    """The run's lease was taken away (canceled, or failed as interrupted) while it executed."""


def run_spec_in_worker(spec: Any, lost: threading.Event) -> dict[str, Any]:
    """Execute ``spec`` with a ``LocalExecutor`` in a worker process; return its result document.

    The spec and the result cross as JSON files in the run's scratch; the
    worker's output goes to ``worker.log`` there. The worker stops when this
    process goes away (its stdin closes) and is terminated when ``lost`` is set.
    """
    scratch = Path(spec.scratch_dir)
    scratch.mkdir(parents=True, exist_ok=True)
    spec_path, result_path = scratch / SPEC_FILE, scratch / RESULT_FILE
    result_path.unlink(missing_ok=True)
    _atomic_write(spec_path, spec.to_json())
    with open(scratch / WORKER_LOG, "ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", __name__, str(spec_path), str(result_path)],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            while worker.poll() is None:
                if lost.wait(0.2):
                    worker.terminate()
                    worker.wait()
                    raise RunLost(f"recipe run {spec.recipe_run_id} lost its lease")
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            if worker.stdin:
                worker.stdin.close()
    if not result_path.exists():
        return {
            "status": "error",
            "error": f"the worker process ended with exit code {worker.returncode} and no "
            f"result; see {scratch / WORKER_LOG}",
        }
    return json.loads(result_path.read_text())


def _atomic_write(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def _exit_when_parent_goes() -> None:
    """In a worker: stop at once when the scheduling process goes away (stdin reaches EOF)."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except Exception:
        pass
    os._exit(3)


def worker_main(argv: list[str]) -> int:
    """A worker process: run the spec file through a LocalExecutor, write the result file."""
    from dkist_processing_core.framework import LocalExecutor, RunSpec, TaskFailed

    spec_path, result_path = (Path(a) for a in argv)
    threading.Thread(target=_exit_when_parent_goes, daemon=True).start()
    spec = RunSpec.from_json(spec_path.read_text())
    try:
        check_recorded_task_order(spec)
        report = LocalExecutor().run(spec)
        result: dict[str, Any] = {"status": SUCCEEDED, "report": _report_json(report)}
    except TaskFailed as failure:
        result = {
            "status": FAILED,
            "failed_task": failure.task_name,
            "error": failure.error,
            "report": _report_json(failure.report),
        }
    except Exception as failure:
        result = {"status": "error", "error": f"{type(failure).__name__}: {failure}"}
    _atomic_write(result_path, json.dumps(result))
    return 0


class Scheduler:
    """Start the highest-priority waiting runs that fit the free slots, and record outcomes.

    ``lease_seconds`` (else ``DKIST_PROCESSING_LEASE_SECONDS``, else 300) is the
    lease a claimed run holds; ``parallel`` runs the runs claimed in one pass at
    the same time (see the module's documentation).
    """

    def __init__(
        self,
        store: Store,
        scratch_root: str | Path,
        *,
        executor: Executor | None = None,
        clock: Clock | None = None,
        ticket_sink: TicketSink | None = None,
        waiting_weight_per_day: float = DEFAULT_WAITING_WEIGHT_PER_DAY,
        after_success: Callable[[int], Any] | None = None,
        lease_seconds: float | None = None,
        parallel: bool = True,
    ):
        from dkist_processing_core.framework import LocalExecutor

        if executor is None:
            address = os.environ.get(DASK_ADDRESS_ENV)
            if address:
                from dkist_processing_core.framework.executors.dask import DaskExecutor

                executor = DaskExecutor(address=address)
            else:
                executor = LocalExecutor()
        self.store = store
        self.scratch_root = Path(scratch_root)
        self.executor = executor
        self.in_workers = isinstance(executor, LocalExecutor)
        self.clock = clock or SystemClock()
        self.ticket_sink = ticket_sink or StoreTicketSink(self.clock)
        self.waiting_weight_per_day = waiting_weight_per_day
        # Called with the recipe run id after a run succeeds, e.g. to publish its dataset.
        self.after_success = after_success
        self.lease_seconds = lease_seconds_setting(lease_seconds)
        self.parallel = parallel
        self.owner = new_lease_owner()
        self.leases = LeaseKeeper(store, self.owner, self.lease_seconds, self.clock)
        self.expired: list[RunOutcome] = []

    def expire(self) -> list[RunOutcome]:
        """Fail the runs whose lease expired (see :func:`expire_leases`); return their outcomes."""
        with self.store.session() as session:
            return expire_leases(
                session,
                self.clock.now(),
                scratch_root=self.scratch_root,
                ticket_sink=self.ticket_sink,
                lease_seconds=self.lease_seconds,
            )

    def claim(self) -> list[int]:
        """Expire dead leases, then move the runs that fit the free slots to ``running`` under
        this scheduler's lease; return their ids, in order (the expired runs' outcomes are in
        :attr:`expired`)."""
        self.expired = self.expire()
        with self.store.session() as session:
            # Lock the pools so that two schedulers do not both fill the same free slot.
            session.execute(select(ResourcePool.name).with_for_update())
            slots = free_slots(session)
            claimed: list[int] = []
            now = self.clock.now()
            expires = now + timedelta(seconds=self.lease_seconds)
            for run in waiting_runs(session, now, self.waiting_weight_per_day):
                if slots.get(run.resource_pool, 0) <= 0:
                    continue
                moved = session.execute(
                    update(RecipeRun)
                    .where(RecipeRun.id == run.recipe_run_id, RecipeRun.status == CREATED)
                    .values(
                        status=RUNNING,
                        started_at=now,
                        lease_owner=self.owner,
                        lease_expires_at=expires,
                    )
                    .execution_options(synchronize_session=False)
                ).rowcount
                if moved:
                    slots[run.resource_pool] -= 1
                    claimed.append(run.recipe_run_id)
                if not any(slots.values()):
                    break
        return claimed

    def claim_run(self, recipe_run_id: int) -> None:
        """Expire dead leases, then move this one waiting (``created``) run to ``running``
        under this scheduler's lease: an operator runs it by name, whatever its pool's slots.

        Raises :class:`~dkist_processing_core.datacenter.planning.recipe_runs.RecipeRunError`
        naming the run's status when it is not waiting (running under another lease,
        failed and not requeued, manual by definition, done).
        """
        self.expired = self.expire()
        with self.store.session() as session:
            now = self.clock.now()
            moved = session.execute(
                update(RecipeRun)
                .where(RecipeRun.id == recipe_run_id, RecipeRun.status == CREATED)
                .values(
                    status=RUNNING,
                    started_at=now,
                    lease_owner=self.owner,
                    lease_expires_at=now + timedelta(seconds=self.lease_seconds),
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if moved:
                return
            run = session.get(RecipeRun, recipe_run_id)
            if run is None:
                raise RecipeRunError(f"recipe run {recipe_run_id} does not exist")
            hint = {
                RUNNING: f"it runs under the lease of {run.lease_owner} until "
                f"{run.lease_expires_at}",
                FAILED: "requeue it first (runs requeue) or resolve its ticket",
                MANUAL: "it is manual by definition: export its plan with tickets plan, "
                "process it by hand and resolve the ticket with tickets manual",
                SUCCEEDED: "it ran already (a pass publishes it if it is not published)",
            }.get(run.status, "only a waiting (created) run can be started")
        raise RecipeRunError(
            f"recipe run {recipe_run_id} is {run.status}, not waiting (created): {hint}"
        )

    def _run_here(self, spec: Any) -> dict[str, Any]:
        """Execute ``spec`` through the executor in this process; the result document."""
        from dkist_processing_core.framework import TaskFailed

        try:
            check_recorded_task_order(spec)
            report = self.executor.run(spec)
        except TaskFailed as failure:
            return {
                "status": FAILED,
                "failed_task": failure.task_name,
                "error": failure.error,
                "report": _report_json(failure.report),
            }
        except Exception as failure:  # the run could not start: workflow missing, bad spec...
            return {"status": "error", "error": f"{type(failure).__name__}: {failure}"}
        return {"status": SUCCEEDED, "report": _report_json(report)}

    def execute(self, recipe_run_id: int, *, in_worker: bool = False) -> RunOutcome:
        """Run one claimed (``running``) run and record its outcome, renewing its lease meanwhile.

        ``in_worker`` executes it in a worker process (``LocalExecutor`` only).
        """
        lost = self.leases.hold(recipe_run_id)
        try:
            with self.store.session() as session:
                spec = build_run_spec(session, recipe_run_id, self.scratch_root)
            result = run_spec_in_worker(spec, lost) if in_worker else self._run_here(spec)
        except RunLost:
            result = None
        except Exception as failure:  # no run spec: the run could not start
            result = {"status": "error", "error": f"{type(failure).__name__}: {failure}"}
        finally:
            self.leases.release(recipe_run_id)
        if result is None or lost.is_set():
            return self._lost(recipe_run_id)
        if result["status"] == SUCCEEDED:
            try:
                with self.store.session() as session:
                    transition(
                        session, recipe_run_id, SUCCEEDED, clock=self.clock, report=result["report"]
                    )
            except RecipeRunError:  # canceled (or expired) while it ran
                return self._lost(recipe_run_id)
            return self._after_success(recipe_run_id)
        failed_task, error = result.get("failed_task"), result["error"]
        try:
            with self.store.session() as session:
                transition(
                    session,
                    recipe_run_id,
                    FAILED,
                    clock=self.clock,
                    error=error,
                    failed_task=failed_task,
                    report=result.get("report"),
                )
                self.ticket_sink.open_tickets(
                    session,
                    [
                        TicketRequest(
                            recipe_run_id=recipe_run_id,
                            kind=MANUAL_BY_EXCEPTION,
                            error=error,
                            failed_task=failed_task,
                        )
                    ],
                )
                from dkist_processing_core.datacenter.operations.tickets import ticket_for_run

                ticket = ticket_for_run(session, recipe_run_id)
        except RecipeRunError:
            return self._lost(recipe_run_id)
        return RunOutcome(recipe_run_id, FAILED, failed_task, error, ticket.id if ticket else None)

    def _lost(self, recipe_run_id: int) -> RunOutcome:
        """The outcome of a run taken away while it executed: what the store says it is now."""
        with self.store.session() as session:
            run = session.get(RecipeRun, recipe_run_id)
            status, error, task = run.status, run.error, run.failed_task
        return RunOutcome(recipe_run_id, status if status != RUNNING else CANCELED, task, error)

    def _after_success(self, recipe_run_id: int) -> RunOutcome:
        """Run the after-success step; its failure becomes a ticket (the run stays succeeded)."""
        if self.after_success is None:
            return RunOutcome(recipe_run_id, SUCCEEDED)
        try:
            self.after_success(recipe_run_id)
        except Exception as failure:
            error = f"{type(failure).__name__}: {failure}"
            with self.store.session() as session:
                self.ticket_sink.open_tickets(
                    session,
                    [
                        TicketRequest(
                            recipe_run_id=recipe_run_id,
                            kind=MANUAL_BY_EXCEPTION,
                            error=error,
                            failed_task="publish",
                        )
                    ],
                )
                from dkist_processing_core.datacenter.operations.tickets import ticket_for_run

                ticket = ticket_for_run(session, recipe_run_id)
            return RunOutcome(
                recipe_run_id, SUCCEEDED, "publish", error, ticket.id if ticket else None
            )
        return RunOutcome(recipe_run_id, SUCCEEDED)

    def run_once(self) -> list[RunOutcome]:
        """One pass: expire dead leases, claim what fits the free slots and run it (the claimed
        runs at the same time); return the outcomes, the expired runs' first."""
        claimed = self.claim()
        outcomes = list(self.expired)
        if len(claimed) <= 1 or not self.parallel:
            return outcomes + [self.execute(run_id) for run_id in claimed]
        with ThreadPoolExecutor(max_workers=len(claimed), thread_name_prefix="dkist-run") as pool:
            done = pool.map(lambda run_id: self.execute(run_id, in_worker=self.in_workers), claimed)
            return outcomes + list(done)

    def run_until_idle(self, max_rounds: int = 1000) -> list[RunOutcome]:
        """Repeat :meth:`run_once` until no waiting run fits (or ``max_rounds``)."""
        outcomes: list[RunOutcome] = []
        for _ in range(max_rounds):
            done = self.run_once()
            if not done:
                break
            outcomes += done
        return outcomes


def _report_json(report: Any) -> dict[str, Any] | None:
    if report is None:
        return None
    if hasattr(report, "model_dump"):
        return report.model_dump(mode="json")
    return dict(report)


if __name__ == "__main__":  # a worker process (see run_spec_in_worker)
    sys.exit(worker_main(sys.argv[1:]))
