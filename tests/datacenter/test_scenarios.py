"""Scenarios on simulated arrivals: complete, late, missing and duplicated frames; the back stop."""

from datetime import timedelta

from sqlalchemy import func, select

from dkist_processing_core.datacenter.planning import readiness
from dkist_processing_core.datacenter.planning.recipe_runs import processing_candidate_status
from dkist_processing_core.datacenter.store.models import (
    InputDatasetFrame,
    ProcessingCandidate,
    RecipeInstance,
    RecipeRun,
)

from .scenario import announce, deliver, set_up_recipe

OPS = {"obs_1": 10, "dark_1": 4, "gain_1": 3}


def _candidate(store, candidate_id):
    with store.session() as s:
        return s.get(ProcessingCandidate, candidate_id)


def _runs(store):
    with store.session() as s:
        return s.scalars(select(RecipeRun).order_by(RecipeRun.id)).all()


def test_complete_frames_make_the_candidate_ready_with_one_run(store, clock):
    set_up_recipe(store, clock)
    cid = announce(store, clock, "obs_1", OPS)
    deliver(store, clock, "obs_1", range(10))
    deliver(store, clock, "dark_1", range(4), "dark")
    report = readiness.run_readiness_pass(store, clock=clock)
    assert (report.ready, report.ready_by_back_stop, report.recipe_runs_created) == (0, 0, 0)
    assert _candidate(store, cid).ready_at is None  # gain_1 still has no frames
    deliver(store, clock, "gain_1", range(3), "gain")
    report = readiness.run_readiness_pass(store, clock=clock)
    assert (report.ready, report.ready_by_back_stop, report.recipe_runs_created) == (1, 0, 1)
    candidate = _candidate(store, cid)
    assert candidate.ready_at == clock.now() and not candidate.ready_by_back_stop
    [run] = _runs(store)
    assert run.status == "created" and run.attempt == 1
    assert run.configuration == {"a": {"b": 1, "c": 2}}
    with store.session() as s:
        frames = s.scalar(select(func.count()).select_from(InputDatasetFrame))
        assert frames == 17
        assert processing_candidate_status(s, cid) == "created"
    # A second pass finds nothing new to do.
    assert readiness.run_readiness_pass(store, clock=clock).ready == 0
    assert len(_runs(store)) == 1


def test_late_frames_wait_and_duplicates_count_once(store, clock):
    set_up_recipe(store, clock)
    cid = announce(store, clock, "obs_1", OPS)
    deliver(store, clock, "dark_1", range(4), "dark")
    deliver(store, clock, "gain_1", range(3), "gain")
    assert deliver(store, clock, "obs_1", range(8)) == 8
    # The same eight frames delivered again, plus one new: only the new one counts.
    assert deliver(store, clock, "obs_1", range(9)) == 1
    clock.advance(days=5)
    assert readiness.run_readiness_pass(store, clock=clock).ready == 0
    clock.advance(days=2)
    assert deliver(store, clock, "obs_1", [9, 9, 0]) == 1  # late, and duplicated in one batch
    report = readiness.run_readiness_pass(store, clock=clock)
    assert (report.ready, report.ready_by_back_stop) == (1, 0)
    assert not _candidate(store, cid).ready_by_back_stop


def test_missing_frames_are_forced_ready_by_the_back_stop(store, clock):
    set_up_recipe(store, clock)
    cid = announce(store, clock, "obs_1", OPS)
    deliver(store, clock, "dark_1", range(4), "dark")
    deliver(store, clock, "gain_1", range(3), "gain")
    deliver(store, clock, "obs_1", range(7))  # three observe frames never arrive
    last_arrival = clock.now()
    clock.advance(days=12, hours=23)
    assert readiness.run_readiness_pass(store, clock=clock).ready == 0
    clock.set(last_arrival + timedelta(days=13))
    report = readiness.run_readiness_pass(store, clock=clock)
    assert (report.ready, report.ready_by_back_stop, report.recipe_runs_created) == (1, 1, 1)
    candidate = _candidate(store, cid)
    assert candidate.ready_by_back_stop and candidate.last_frame_at == last_arrival
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(InputDatasetFrame)) == 14


def test_back_stop_is_configurable(store, clock):
    set_up_recipe(store, clock)
    announce(store, clock, "obs_1", OPS)
    deliver(store, clock, "obs_1", range(2))
    clock.advance(days=3)
    assert readiness.run_readiness_pass(store, clock=clock).ready == 0
    report = readiness.run_readiness_pass(store, clock=clock, back_stop=timedelta(days=3))
    assert (report.ready, report.ready_by_back_stop) == (1, 1)


def test_candidate_without_any_frame_is_never_forced(store, clock):
    set_up_recipe(store, clock)
    announce(store, clock, "obs_1", OPS)
    clock.advance(days=100)
    assert readiness.run_readiness_pass(store, clock=clock).ready == 0


def test_run_values_are_deep_merged_over_defaults_and_kept_as_run(store, clock):
    from dkist_processing_core.datacenter.planning import recipes

    set_up_recipe(store, clock, defaults={"a": {"b": 1, "c": 2}, "d": 3})
    announce(store, clock, "obs_1", {"obs_1": 1}, run_configuration={"a": {"c": 20}, "e": 5})
    announce(store, clock, "obs_2", {"obs_2": 1})
    deliver(store, clock, "obs_1", [0])
    deliver(store, clock, "obs_2", [0])
    assert readiness.run_readiness_pass(store, clock=clock).recipe_runs_created == 2
    with store.session() as s:
        recipes.update_recipe(s, "calibrate", default_configuration={"a": {"b": 100}}, clock=clock)
    first, second = _runs(store)
    assert first.configuration == {"a": {"b": 1, "c": 20}, "d": 3, "e": 5}
    assert first.run_configuration == {"a": {"c": 20}, "e": 5}
    assert second.configuration == {"a": {"b": 1, "c": 2}, "d": 3}


def test_manual_by_definition_gets_a_ticket_not_a_run(store, clock):
    from dkist_processing_core.datacenter.operations import tickets

    set_up_recipe(store, clock, name="by-hand", manual=True)
    announce(store, clock, "obs_1", {"obs_1": 2}, recipe="by-hand")
    deliver(store, clock, "obs_1", range(2))
    readiness.run_readiness_pass(store, clock=clock)
    [run] = _runs(store)
    assert run.status == "manual"
    with store.session() as s:
        [ticket] = tickets.list_tickets(s)
        assert (ticket.kind, ticket.recipe_run_id, ticket.status) == (
            "manual_by_definition",
            run.id,
            "open",
        )


def test_missing_parameter_value_fails_the_run_into_a_ticket(store, clock):
    from datetime import UTC, datetime

    from dkist_processing_core.datacenter.operations import tickets
    from dkist_processing_core.datacenter.planning import recipes

    set_up_recipe(store, clock)
    with store.session() as s:
        [value] = recipes.list_parameter_values(s, "testinst", "threshold")
        recipes.retire_parameter_value(s, value.id, clock=clock)
        # A value valid only after the observation date does not apply to it.
        recipes.add_parameter_value(
            s, "testinst", "threshold", 1.0, datetime(2030, 1, 1, tzinfo=UTC), clock=clock
        )
    announce(store, clock, "obs_1", {"obs_1": 1})
    deliver(store, clock, "obs_1", [0])
    readiness.run_readiness_pass(store, clock=clock)
    [run] = _runs(store)
    assert run.status == "failed" and "threshold" in run.error
    with store.session() as s:
        [ticket] = tickets.list_tickets(s)
        assert ticket.kind == "manual_by_exception" and "threshold" in ticket.error


def test_many_candidates_in_one_pass(store, clock):
    set_up_recipe(store, clock)
    for i in range(30):
        announce(
            store, clock, f"obs_{i}", {f"obs_{i}": 2, "dark_shared": 2}, proposal=f"pid_{i % 3}"
        )
    deliver(store, clock, "dark_shared", range(2), "dark")
    for i in range(0, 30, 2):
        deliver(store, clock, f"obs_{i}", range(2))
    report = readiness.run_readiness_pass(store, clock=clock)
    assert (report.ready, report.recipe_runs_created) == (15, 15)
    with store.session() as s:
        instances = s.scalars(select(RecipeInstance)).all()
        assert len({i.processing_candidate_id for i in instances}) == 15
        # Each input dataset: its own 2 observe frames and the 2 shared dark frames.
        counts = s.execute(
            select(InputDatasetFrame.input_dataset_id, func.count()).group_by(
                InputDatasetFrame.input_dataset_id
            )
        ).all()
        assert sorted(n for _, n in counts) == [4] * 15
