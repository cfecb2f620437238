"""Scheduling through the real LocalExecutor; a failure becomes a ticket; the three resolutions."""

import json

import pytest
from sqlalchemy import select

from dkist_processing_core.datacenter.operations import resolutions, tickets
from dkist_processing_core.datacenter.operations.scheduling import Scheduler, waiting_runs
from dkist_processing_core.datacenter.operations.status import processing_status
from dkist_processing_core.datacenter.planning import readiness, recipes
from dkist_processing_core.datacenter.planning.input_datasets import InputDatasetError
from dkist_processing_core.datacenter.planning.recipe_runs import (
    RecipeRunError,
    boost_priority,
    processing_candidate_status,
    transition,
)
from dkist_processing_core.datacenter.products.manual import ManualFilesError
from dkist_processing_core.datacenter.store.models import (
    InputDataset,
    InputDatasetFrame,
    ManualExecution,
    RecipeInstance,
    RecipeRun,
)

from .scenario import announce, deliver, set_up_recipe


def _ready_run(store, clock, op="obs_1", run_configuration=None, **kwargs):
    cid = announce(store, clock, op, {op: 3}, run_configuration=run_configuration, **kwargs)
    deliver(store, clock, op, range(3))
    readiness.run_readiness_pass(store, clock=clock)
    with store.session() as s:
        return cid, s.scalar(
            select(RecipeRun.id)
            .join(RecipeInstance)
            .where(RecipeInstance.processing_candidate_id == cid)
        )


def _failed_run_with_ticket(store, clock, tmp_path):
    set_up_recipe(store, clock)
    cid, run_id = _ready_run(store, clock, run_configuration={"fail_in": "Finish"})
    [outcome] = Scheduler(store, tmp_path / "scratch", clock=clock).run_once()
    assert (outcome.status, outcome.failed_task) == ("failed", "Finish")
    with store.session() as s:
        ticket = tickets.ticket_for_run(s, run_id)
    return cid, run_id, ticket


def test_successful_run_through_the_local_executor(store, clock, tmp_path):
    set_up_recipe(store, clock)
    cid, run_id = _ready_run(store, clock)
    [outcome] = Scheduler(store, tmp_path / "scratch", clock=clock).run_once()
    assert (outcome.recipe_run_id, outcome.status) == (run_id, "succeeded")
    summary = json.loads(
        (tmp_path / "scratch" / f"recipe_run_{run_id}" / "Finish" / "done.json").read_text()
    )
    # The task saw the input dataset's 3 frames and the parameter value valid at the date.
    assert summary["frames"] == 3 and summary["threshold"] == 2.5
    with store.session() as s:
        run = s.get(RecipeRun, run_id)
        assert run.status == "succeeded" and run.report["status"] == "succeeded"
        assert [t["name"] for t in run.report["tasks"]] == ["CountInputFrames", "Finish"]
        assert processing_candidate_status(s, cid) == "succeeded"
        assert tickets.list_tickets(s) == []


def test_failure_becomes_a_ticket_with_error_and_task(store, clock, tmp_path):
    _cid, run_id, ticket = _failed_run_with_ticket(store, clock, tmp_path)
    assert ticket.kind == "manual_by_exception" and ticket.failed_task == "Finish"
    assert "simulated failure in Finish" in ticket.error
    with store.session() as s:
        assert s.get(RecipeRun, run_id).status == "failed"
        [proposal] = processing_status(s)
        [candidate] = proposal["candidates"]
        assert candidate["status"] == "failed" and candidate["open_tickets"] == [ticket.id]
        assert (candidate["frames_received"], candidate["frames_expected"]) == (3, 3)


def test_resolution_by_simple_retry(store, clock, tmp_path):
    _cid, run_id, ticket = _failed_run_with_ticket(store, clock, tmp_path)
    with store.session() as s:
        retry = resolutions.resolve_by_retry(s, ticket.id, "operator", "transient", clock=clock)
        assert (retry.attempt, retry.retry_of_recipe_run_id) == (2, run_id)
        assert retry.configuration == s.get(RecipeRun, run_id).configuration
    # Same plan, so it fails again the same way: a new ticket for the new run.
    [outcome] = Scheduler(store, tmp_path / "scratch", clock=clock).run_once()
    assert outcome.recipe_run_id == retry.id and outcome.status == "failed"
    with store.session() as s:
        assert s.get(type(ticket), ticket.id).resolution == "retry"
        assert [t.recipe_run_id for t in tickets.list_tickets(s)] == [retry.id]


def test_resolution_by_adjusted_plan(store, clock, tmp_path):
    cid, run_id, ticket = _failed_run_with_ticket(store, clock, tmp_path)
    with store.session() as s:
        old_instance = s.get(RecipeRun, run_id).recipe_instance
        frames = ["obs_1_0000", "obs_1_0001"]
        run = resolutions.resolve_by_adjusted_plan(
            s,
            ticket.id,
            "operator",
            "drop a bad frame, no failure",
            run_configuration={"fail_in": None},
            frame_ids=frames,
            clock=clock,
        )
        instance = s.get(RecipeInstance, run.recipe_instance_id)
        assert instance.supersedes_recipe_instance_id == old_instance.id
        dataset = s.get(InputDataset, instance.input_dataset_id)
        assert dataset.supersedes_input_dataset_id == old_instance.input_dataset_id
        assert run.configuration["fail_in"] is None and run.configuration["a"] == {"b": 1, "c": 2}
    [outcome] = Scheduler(store, tmp_path / "scratch", clock=clock).run_once()
    assert outcome.status == "succeeded"
    with store.session() as s:
        assert processing_candidate_status(s, cid) == "succeeded"
        assert tickets.list_tickets(s) == []


def test_resolution_by_manual_execution_records_influence(store, clock, tmp_path):
    cid, _run_id, ticket = _failed_run_with_ticket(store, clock, tmp_path)
    # Named files are validated before anything is recorded: these do not exist.
    with store.session() as s, pytest.raises(ManualFilesError) as refused:
        resolutions.resolve_by_manual_execution(
            s,
            ticket.id,
            "Dr. Hand",
            "ran Finish in a notebook with a patched reader",
            "the reader chokes on frame 2",
            ["/l1/obs_1/a.fits", "/l1/obs_1/b.fits"],
            clock=clock,
        )
    assert "/l1/obs_1/a.fits" in str(refused.value) and "/l1/obs_1/b.fits" in str(refused.value)
    with store.session() as s:
        assert s.scalars(select(ManualExecution)).all() == []
        execution = resolutions.resolve_by_manual_execution(
            s,
            ticket.id,
            "Dr. Hand",
            "ran Finish in a notebook with a patched reader",
            "the reader chokes on frame 2",
            [],
            clock=clock,
        )
        run = s.get(RecipeRun, execution.recipe_run_id)
        assert run.status == "succeeded" and run.manually_processed and run.attempt == 2
        stored = s.scalars(select(ManualExecution)).one()
        assert (stored.operator, stored.files) == ("Dr. Hand", [])
        assert s.get(type(ticket), ticket.id).resolution == "manual_execution"
        assert processing_candidate_status(s, cid) == "succeeded"
        with pytest.raises(tickets.TicketError, match="already resolved"):
            resolutions.resolve_by_retry(s, ticket.id, "x")


def test_manual_by_definition_resolved_by_manual_execution_only(store, clock, tmp_path):
    set_up_recipe(store, clock, name="by-hand", manual=True)
    _cid, run_id = _ready_run(store, clock, recipe="by-hand")
    assert Scheduler(store, tmp_path, clock=clock).run_once() == []  # never automated
    with store.session() as s:
        [ticket] = tickets.list_tickets(s)
        with pytest.raises(tickets.TicketError, match="manual by definition"):
            resolutions.resolve_by_retry(s, ticket.id, "op")
    with store.session() as s:
        resolutions.resolve_by_manual_execution(s, ticket.id, "op", "did it", "by design")
        run = s.get(RecipeRun, run_id)
        assert run.status == "succeeded" and run.manually_processed and run.attempt == 1


def test_status_transitions_are_enforced(store, clock, tmp_path):
    set_up_recipe(store, clock)
    _, run_id = _ready_run(store, clock)
    with store.session() as s:
        with pytest.raises(RecipeRunError, match="'created' cannot become 'succeeded'"):
            transition(s, run_id, "succeeded")
        transition(s, run_id, "canceled", clock=clock)
        with pytest.raises(RecipeRunError, match="final"):
            transition(s, run_id, "running")


def test_used_input_dataset_is_immutable_and_exportable(store, clock, tmp_path):
    set_up_recipe(store, clock)
    _, run_id = _ready_run(store, clock)
    from dkist_processing_core.datacenter.planning.input_datasets import export_input_dataset

    with store.session() as s:
        dataset_id = s.get(RecipeRun, run_id).recipe_instance.input_dataset_id
        path = export_input_dataset(s, dataset_id, tmp_path / "ids.json")
    document = json.loads(path.read_text())
    assert [f["frame_id"] for f in document["frames"]] == ["obs_1_0000", "obs_1_0001", "obs_1_0002"]
    assert [(p["name"], p["value"]) for p in document["parameter_values"]] == [("threshold", 2.5)]
    with pytest.raises(InputDatasetError, match="frozen"), store.session() as s:
        s.add(
            InputDatasetFrame(
                input_dataset_id=dataset_id, frame_id="obs_1_0000", op_run_id="x", frame_kind="dark"
            )
        )
        s.flush()
    with pytest.raises(InputDatasetError, match="frozen"), store.session() as s:
        s.delete(s.scalars(select(InputDatasetFrame)).first())
        s.flush()


def test_priority_and_pool_slots(store, clock, tmp_path):
    set_up_recipe(store, clock, slots=1)
    with store.session() as s:
        recipes.set_resource_pool(s, "high-memory", 1)
        recipes.create_recipe(
            s,
            "big",
            "testinst",
            "calibrate",
            "1.0",
            parameters=["threshold"],
            resource_pool="high-memory",
            clock=clock,
        )
    _, low = _ready_run(store, clock, "obs_low", proposal="pid_low", priority=0)
    _, high = _ready_run(store, clock, "obs_high", proposal="pid_high", priority=5)
    _, big = _ready_run(store, clock, "obs_big", proposal="pid_big", priority=0, recipe="big")
    clock.advance(days=2)
    _, boosted = _ready_run(store, clock, "obs_boost", proposal="pid_low")
    with store.session() as s:
        boost_priority(s, boosted, 10)
        order = [w.recipe_run_id for w in waiting_runs(s, clock.now())]
    # 0 + 10 boost > 5 + 2 days waited > 0 + 2 days waited (low, big: oldest first on ties)
    assert order == [boosted, high, low, big]
    scheduler = Scheduler(store, tmp_path, clock=clock)
    # One default slot and one high-memory slot: the boosted run and the big run start.
    assert sorted(scheduler.claim()) == sorted([boosted, big])
    assert scheduler.claim() == []  # no free slot until they finish
    for run_id in (boosted, big):
        scheduler.execute(run_id)
    assert scheduler.claim() == [high]
