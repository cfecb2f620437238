"""An operator's interventions on a waiting recipe run: cancel it, or queue it again.

- Cancel: a run waiting to start (``created``) becomes ``canceled``; who and why
  are recorded in its error text. A run that is ``manual`` waits for a person
  through its ticket and is resolved there, not canceled here.
- Requeue: a canceled run, if it is the latest attempt of its recipe instance,
  gets a new attempt with the same configuration as run and boost, waiting for
  the scheduler (``retry_of_recipe_run_id`` names the canceled run).

Both go through :func:`~.recipe_runs.transition` / :func:`~.recipe_runs.create_recipe_run`,
so the allowed status changes are enforced in one place.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.clock import Clock
from dkist_processing_core.datacenter.planning.recipe_runs import (
    CANCELED,
    CREATED,
    RecipeRunError,
    create_recipe_run,
    transition,
)
from dkist_processing_core.datacenter.store.models import RecipeRun


def cancel_recipe_run(
    session: Session, recipe_run_id: int, operator: str, reason: str, *, clock: Clock | None = None
) -> RecipeRun:
    """Cancel a run that waits to start; record who and why."""
    if not operator or not reason:
        raise RecipeRunError(f"recipe run {recipe_run_id}: canceling needs who (operator) and why")
    run = session.get(RecipeRun, recipe_run_id)
    if run is None:
        raise RecipeRunError(f"recipe run {recipe_run_id} does not exist")
    if run.status != CREATED:
        raise RecipeRunError(
            f"recipe run {recipe_run_id} is {run.status}: only a run waiting to start (created) "
            "can be canceled"
        )
    return transition(
        session, recipe_run_id, CANCELED, clock=clock, error=f"canceled by {operator}: {reason}"
    )


def requeue_recipe_run(
    session: Session, recipe_run_id: int, operator: str, *, clock: Clock | None = None
) -> RecipeRun:
    """Queue a canceled run again: a new attempt with the same configuration as run."""
    if not operator:
        raise RecipeRunError(f"recipe run {recipe_run_id}: requeueing needs who (operator)")
    run = session.get(RecipeRun, recipe_run_id)
    if run is None:
        raise RecipeRunError(f"recipe run {recipe_run_id} does not exist")
    if run.status != CANCELED:
        raise RecipeRunError(
            f"recipe run {recipe_run_id} is {run.status}: only a canceled run can be requeued "
            "(a failed run is retried through its ticket)"
        )
    newest = session.scalar(
        select(func.max(RecipeRun.attempt)).where(
            RecipeRun.recipe_instance_id == run.recipe_instance_id
        )
    )
    if newest != run.attempt:
        raise RecipeRunError(
            f"recipe run {recipe_run_id} is attempt {run.attempt} of recipe instance "
            f"{run.recipe_instance_id}, which has a newer attempt {newest}"
        )
    return create_recipe_run(
        session,
        run.recipe_instance_id,
        configuration=run.configuration,
        run_configuration=run.run_configuration,
        status=CREATED,
        retry_of_recipe_run_id=run.id,
        priority_boost=run.priority_boost,
        clock=clock,
    )
