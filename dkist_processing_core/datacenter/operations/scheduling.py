"""Scheduling recipe runs onto resource pools by priority, and running them.

Each recipe run waits in a resource pool (its recipe's, e.g. ``default`` or
``high-memory``); a pool has a number of slots. A run's priority is::

    priority = proposal priority + operator boost + waiting_weight_per_day * days waited

so a run of a low-priority proposal is not starved: it gains one point per day
by default. The scheduler claims the highest-priority waiting runs that fit the
free slots (free = slots - running runs of that pool), moves them to
``running`` and commits, then runs each through the framework's executor
(``LocalExecutor`` by default; any object with ``.run(spec)``) and records the
outcome. A failure becomes a ticket (manual by exception) holding the error
and the failed task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select, update
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
    CREATED,
    FAILED,
    RUNNING,
    SUCCEEDED,
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
    WorkflowSpecification,
)

DEFAULT_WAITING_WEIGHT_PER_DAY = 1.0


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
    spec = session.get(WorkflowSpecification, recipe.workflow_specification_id)
    instrument = session.get(Instrument, recipe.instrument_id)
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


class Scheduler:
    """Start the highest-priority waiting runs that fit the free slots, and record outcomes."""

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
    ):
        if executor is None:
            from dkist_processing_core.framework import LocalExecutor

            executor = LocalExecutor()
        self.store = store
        self.scratch_root = Path(scratch_root)
        self.executor = executor
        self.clock = clock or SystemClock()
        self.ticket_sink = ticket_sink or StoreTicketSink(self.clock)
        self.waiting_weight_per_day = waiting_weight_per_day
        # Called with the recipe run id after a run succeeds, e.g. to publish its dataset.
        self.after_success = after_success

    def claim(self) -> list[int]:
        """Move the runs that fit the free slots to ``running``; return their ids, in order."""
        with self.store.session() as session:
            # Lock the pools so that two schedulers do not both fill the same free slot.
            session.execute(select(ResourcePool.name).with_for_update())
            slots = free_slots(session)
            claimed: list[int] = []
            now = self.clock.now()
            for run in waiting_runs(session, now, self.waiting_weight_per_day):
                if slots.get(run.resource_pool, 0) <= 0:
                    continue
                moved = session.execute(
                    update(RecipeRun)
                    .where(RecipeRun.id == run.recipe_run_id, RecipeRun.status == CREATED)
                    .values(status=RUNNING, started_at=now)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if moved:
                    slots[run.resource_pool] -= 1
                    claimed.append(run.recipe_run_id)
                if not any(slots.values()):
                    break
        return claimed

    def execute(self, recipe_run_id: int) -> RunOutcome:
        """Run one claimed (``running``) run through the executor and record the outcome."""
        from dkist_processing_core.framework import TaskFailed

        with self.store.session() as session:
            spec = build_run_spec(session, recipe_run_id, self.scratch_root)
        failed_task: str | None = None
        try:
            report = self.executor.run(spec)
        except TaskFailed as failure:
            failed_task, error = failure.task_name, failure.error
            report_json = failure.report.model_dump(mode="json") if failure.report else None
        except Exception as failure:  # the run could not start: workflow missing, bad spec...
            error = f"{type(failure).__name__}: {failure}"
            report_json = None
        else:
            with self.store.session() as session:
                transition(
                    session, recipe_run_id, SUCCEEDED, clock=self.clock, report=_report_json(report)
                )
            return self._after_success(recipe_run_id)
        with self.store.session() as session:
            transition(
                session,
                recipe_run_id,
                FAILED,
                clock=self.clock,
                error=error,
                failed_task=failed_task,
                report=report_json,
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
        return RunOutcome(recipe_run_id, FAILED, failed_task, error, ticket.id if ticket else None)

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
        """Claim what fits the free slots and run it; return the outcomes."""
        return [self.execute(run_id) for run_id in self.claim()]

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
