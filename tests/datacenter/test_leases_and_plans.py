"""Operations that never lose work: leases, cancel/requeue, recorded plans, concurrency, status.

Every test runs on SQLite and on a real PostgreSQL (the ``store`` fixture), through the
real Scheduler and LocalExecutor (worker processes for concurrent runs).
"""

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from dkist_processing_core.datacenter.operations import tickets
from dkist_processing_core.datacenter.operations.scheduling import (
    Scheduler,
    SchedulingError,
    build_run_spec,
    free_slots,
    lease_seconds_setting,
)
from dkist_processing_core.datacenter.operations.status import processing_status
from dkist_processing_core.datacenter.operations.views import recipe_run_detail
from dkist_processing_core.datacenter.planning import readiness, recipes
from dkist_processing_core.datacenter.planning.recipe_runs import (
    ALLOWED_TRANSITIONS,
    RecipeRunError,
    cancel_recipe_run,
    create_recipe_run,
    processing_candidate_status,
    requeue_recipe_run,
)
from dkist_processing_core.datacenter.products.versions import provenance_document
from dkist_processing_core.datacenter.store.models import FrameCount, RecipeInstance, RecipeRun
from dkist_processing_core.framework.executors.journal import RunJournal

from .datasets import CODE_VERSIONS, ready_candidate, runs_of, set_up_processing
from .scenario import announce, deliver, set_up_recipe


def _ready_run(store, clock, op, frames=2):
    cid = announce(store, clock, op, {op: frames})
    deliver(store, clock, op, range(frames))
    readiness.run_readiness_pass(store, clock=clock)
    with store.session() as s:
        return s.scalar(
            select(RecipeRun.id)
            .join(RecipeInstance)
            .where(RecipeInstance.processing_candidate_id == cid)
        )


def _status(store, run_id):
    with store.session() as s:
        return s.get(RecipeRun, run_id).status


# --- leases ----------------------------------------------------------------------------------


def test_an_expired_lease_fails_the_run_as_interrupted_frees_its_slot_and_requeue_completes(
    store, clock, tmp_path
):
    set_up_recipe(store, clock, slots=1)
    first = _ready_run(store, clock, "obs_1")
    second = _ready_run(store, clock, "obs_2")
    scratch = tmp_path / "scratch"
    dead = Scheduler(store, scratch, clock=clock, lease_seconds=60)
    assert dead.claim() == [first]
    with store.session() as s:
        run = s.get(RecipeRun, first)
        assert run.lease_owner == dead.owner
        assert run.lease_expires_at == clock.now() + timedelta(seconds=60)
    # Its process started the first task, then died (kill -9): nobody renews the lease.
    journal = RunJournal(scratch / f"recipe_run_{first}")
    journal.start("CountInputFrames")
    journal.close()

    later = Scheduler(store, scratch, clock=clock, lease_seconds=60)
    clock.advance(seconds=30)
    assert later.run_once() == []  # the lease still holds the only slot
    assert _status(store, second) == "created"

    clock.advance(seconds=31)
    interrupted, ran = later.run_once()
    assert (interrupted.recipe_run_id, interrupted.status) == (first, "failed")
    assert interrupted.failed_task == "CountInputFrames"
    assert "interrupted" in interrupted.error and dead.owner in interrupted.error
    assert (ran.recipe_run_id, ran.status) == (second, "succeeded")  # the slot was freed
    with store.session() as s:
        run = s.get(RecipeRun, first)
        assert (run.status, run.failed_task, run.lease_owner) == (
            "failed",
            "CountInputFrames",
            None,
        )
        ticket = tickets.ticket_for_run(s, first)
        assert (ticket.status, ticket.failed_task) == ("open", "CountInputFrames")
        assert ticket.error == run.error

    with store.session() as s:
        requeued = requeue_recipe_run(s, first, "operator", "the machine rebooted", clock=clock)
        assert (requeued.status, requeued.error, requeued.failed_task) == ("created", None, None)
        ticket = tickets.ticket_for_run(s, first)
        assert (ticket.status, ticket.resolution, ticket.resolved_by) == (
            "resolved",
            "requeue",
            "operator",
        )
    [done] = later.run_once()
    assert (done.recipe_run_id, done.status) == (first, "succeeded")
    with store.session() as s:
        assert s.get(RecipeRun, first).lease_owner is None
        assert free_slots(s) == {"default": 1}


def test_a_requeued_run_that_fails_again_reopens_its_ticket(store, clock, tmp_path):
    set_up_recipe(store, clock, defaults={"fail_in": "Finish"})
    run_id = _ready_run(store, clock, "obs_1")
    scheduler = Scheduler(store, tmp_path / "scratch", clock=clock)
    [failed] = scheduler.run_once()
    with store.session() as s:
        requeue_recipe_run(s, run_id, "operator", clock=clock)
    [again] = scheduler.run_once()
    assert (again.status, again.failed_task, again.ticket_id) == (
        "failed",
        "Finish",
        failed.ticket_id,
    )
    with store.session() as s:
        ticket = tickets.get_ticket(s, failed.ticket_id)
        assert (ticket.status, ticket.resolution) == ("open", None)


def test_cancel_and_requeue_follow_the_allowed_transitions(store, clock, tmp_path):
    set_up_recipe(store, clock, slots=1)
    waiting = _ready_run(store, clock, "obs_1")
    running = _ready_run(store, clock, "obs_2")
    with store.session() as s:
        cancel_recipe_run(s, waiting, "operator", "wrong frames", clock=clock)
        assert s.get(RecipeRun, waiting).error == "canceled by operator: wrong frames"
    scheduler = Scheduler(store, tmp_path / "scratch", clock=clock)
    assert scheduler.claim() == [running]
    with store.session() as s:
        assert free_slots(s) == {"default": 0}
        cancel_recipe_run(s, running, "operator", clock=clock)
        run = s.get(RecipeRun, running)
        assert (run.status, run.lease_owner, run.lease_expires_at) == ("canceled", None, None)
        assert free_slots(s) == {"default": 1}
        for run_id in (waiting, running):
            with pytest.raises(RecipeRunError, match="only a waiting"):
                cancel_recipe_run(s, run_id, "operator", clock=clock)
            with pytest.raises(RecipeRunError, match="only a failed run can be requeued"):
                requeue_recipe_run(s, run_id, "operator", clock=clock)
    assert ALLOWED_TRANSITIONS["running"] >= {"canceled"}
    assert ALLOWED_TRANSITIONS["failed"] == frozenset({"created"})
    # The canceled run's executor finds it canceled: its outcome is not recorded over it.
    assert scheduler.execute(running).status == "canceled"
    assert _status(store, running) == "canceled"


def test_requeue_is_refused_once_a_ticket_was_resolved_by_a_retry(store, clock, tmp_path):
    from dkist_processing_core.datacenter.operations import resolutions

    set_up_recipe(store, clock, defaults={"fail_in": "Finish"})
    run_id = _ready_run(store, clock, "obs_1")
    [failed] = Scheduler(store, tmp_path / "scratch", clock=clock).run_once()
    with store.session() as s:
        retry = resolutions.resolve_by_retry(s, failed.ticket_id, "operator", clock=clock)
        with pytest.raises(RecipeRunError, match=f"follow-up run {retry.id}"):
            requeue_recipe_run(s, run_id, "operator", clock=clock)


def test_the_lease_duration_setting(monkeypatch):
    monkeypatch.setenv("DKIST_PROCESSING_LEASE_SECONDS", "2.5")
    assert lease_seconds_setting() == 2.5
    assert lease_seconds_setting(7) == 7.0
    monkeypatch.setenv("DKIST_PROCESSING_LEASE_SECONDS", "soon")
    with pytest.raises(SchedulingError, match="DKIST_PROCESSING_LEASE_SECONDS 'soon'"):
        lease_seconds_setting()


# --- recorded plans --------------------------------------------------------------------------


def test_a_recipe_update_leaves_the_plan_of_an_existing_run_unchanged(store, clock, tmp_path):
    set_up_processing(store, clock)  # workflow process 1.0 and 2.0; the recipe names 1.0
    planned = runs_of(store, ready_candidate(store, clock, "obs_1"))[0]
    with store.session() as s:
        recipes.update_recipe(s, "process", workflow_version="2.0", clock=clock)
    with store.session() as s:
        run = s.get(RecipeRun, planned)
        assert (run.workflow_name, run.workflow_version) == ("process", "1.0")
        assert run.task_order == ["CountInputFrames", "WriteL1Frames"]
        spec = build_run_spec(s, planned, tmp_path / "scratch")
        assert spec.workflow.endswith(":PROCESS") and spec.workflow_version == "1.0"
        assert spec.task_order == ["CountInputFrames", "WriteL1Frames"]
        # A retry repeats the plan of the run it retries, whatever the recipe says now.
        retry = create_recipe_run(
            s, run.recipe_instance_id, retry_of_recipe_run_id=planned, clock=clock
        )
        assert (retry.workflow_version, retry.task_order) == ("1.0", run.task_order)
        s.delete(retry)
    [outcome] = Scheduler(store, tmp_path / "scratch", clock=clock).run_once()
    assert (outcome.recipe_run_id, outcome.status) == (planned, "succeeded")
    with store.session() as s:
        run = s.get(RecipeRun, planned)
        assert run.report["workflow_version"] == "1.0"
        assert [t["name"] for t in run.report["tasks"]] == ["CountInputFrames", "WriteL1Frames"]
        document = provenance_document(s, planned, code_versions=CODE_VERSIONS)
        assert document["workflow"] == {"name": "process", "version": "1.0"}
        assert document["task_order"] == ["CountInputFrames", "WriteL1Frames"]
    # A run created after the update takes the new plan.
    later = runs_of(store, ready_candidate(store, clock, "obs_2"))[0]
    with store.session() as s:
        run = s.get(RecipeRun, later)
        assert run.workflow_version == "2.0"
        assert run.task_order == ["CountInputFrames", "WriteL1Frames", "QualityReport"]


# --- concurrency -----------------------------------------------------------------------------


def _two_barrier_runs(store, clock, barrier):
    """Two ready runs of the workflow ``barrier`` (each waits until both left a marker)."""
    set_up_recipe(store, clock, slots=2)
    with store.session() as s:
        recipes.create_workflow_specification(
            s, "testinst", "barrier", "1.0", import_path="tests.datacenter.workflows:BARRIER"
        )
        recipes.create_recipe(
            s,
            "barrier",
            "testinst",
            "barrier",
            "1.0",
            default_configuration={"barrier": str(barrier), "parties": 2},
            clock=clock,
        )
    ids = []
    for op in ("obs_1", "obs_2"):
        cid = announce(store, clock, op, {op: 1}, recipe="barrier")
        deliver(store, clock, op, [0])
        readiness.run_readiness_pass(store, clock=clock)
        ids += runs_of(store, cid)
    return ids


def _met(scratch, ids):
    met = [
        json.loads((scratch / f"recipe_run_{i}" / "MeetAtBarrier" / "met.json").read_text())
        for i in ids
    ]
    # Each run saw the other's marker: they waited for each other, so they ran at once.
    assert all(m["seen"] == [f"run_{ids[0]}", f"run_{ids[1]}"] for m in met)
    return met


def test_runs_claimed_in_one_pass_run_at_the_same_time(store, clock, tmp_path):
    ids = _two_barrier_runs(store, clock, tmp_path / "barrier")
    outcomes = Scheduler(store, tmp_path / "scratch", clock=clock).run_once()
    assert sorted((o.recipe_run_id, o.status) for o in outcomes) == [
        (ids[0], "succeeded"),
        (ids[1], "succeeded"),
    ]
    met = _met(tmp_path / "scratch", ids)
    assert met[0]["pid"] != met[1]["pid"]  # each in its own worker process
    with store.session() as s:
        for i in ids:
            details = recipe_run_detail(s, i, scratch_root=tmp_path / "scratch")
            assert details["status"] == "succeeded"
            assert details["logs"]["worker_log"].endswith("worker.log")


@pytest.mark.slow
def test_runs_claimed_in_one_pass_run_at_the_same_time_on_a_dask_cluster(
    store, clock, tmp_path, monkeypatch
):
    distributed = pytest.importorskip("distributed")
    ids = _two_barrier_runs(store, clock, tmp_path / "barrier")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        # The cluster named by the setting does the work; one thread per run waits on it.
        monkeypatch.setenv("DKIST_PROCESSING_DASK_ADDRESS", cluster.scheduler_address)
        scheduler = Scheduler(store, tmp_path / "scratch", clock=clock)
        try:
            assert not scheduler.in_workers
            outcomes = scheduler.run_once()
        finally:
            scheduler.executor.client.close()
    assert sorted(o.status for o in outcomes) == ["succeeded", "succeeded"], outcomes
    _met(tmp_path / "scratch", ids)


# --- status and frames -----------------------------------------------------------------------


def test_status_tells_all_frames_arrived_apart_from_waiting_for_frames(store, clock):
    set_up_recipe(store, clock)
    cid = announce(store, clock, "obs_1", {"obs_1": 2, "dark_1": 1})
    deliver(store, clock, "obs_1", [0, 1])

    def both():
        with store.session() as s:
            [proposal] = processing_status(s)
            return proposal["candidates"][0]["status"], processing_candidate_status(s, cid)

    assert both() == ("waiting for frames", "waiting for frames")
    deliver(store, clock, "dark_1", [0], kind="dark")
    arrived = "all frames arrived, waiting for the readiness pass"
    assert both() == (arrived, arrived)
    readiness.run_readiness_pass(store, clock=clock)
    assert both() == ("created", "created")


def test_frame_paths_are_stored_absolute(store, clock, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DKIST_PROCESSING_SUMMIT_ROOT", raising=False)
    arrivals = [
        readiness.FrameArrival("f1", "op", "observe", "raw/f1.fits"),
        readiness.FrameArrival("f2", "op", "observe", "/data/f2.fits"),
        readiness.FrameArrival("f3", "op", "observe", "f3.fits"),
    ]
    with store.session() as s:
        readiness.record_frames(s, arrivals[:2], clock=clock)
        readiness.record_frames(s, arrivals[2:], clock=clock, summit_root=tmp_path / "summit")
    monkeypatch.setenv("DKIST_PROCESSING_SUMMIT_ROOT", str(tmp_path / "env-root"))
    with store.session() as s:
        readiness.record_frames(
            s, [readiness.FrameArrival("f4", "op", "observe", "./a/../f4.fits")], clock=clock
        )
        paths = dict(s.execute(select(FrameCount.frame_id, FrameCount.path)).all())
    assert paths == {
        "f1": str(tmp_path / "raw" / "f1.fits"),
        "f2": "/data/f2.fits",
        "f3": str(tmp_path / "summit" / "f3.fits"),
        "f4": str(tmp_path / "env-root" / "f4.fits"),
    }


# --- identifiers are matched exactly ---------------------------------------------------------


def test_a_version_prefix_is_matched_literally_never_as_a_wildcard(store, clock, tmp_path):
    from dkist_processing_core.datacenter.products.versions import VersionError, get_version
    from dkist_processing_core.datacenter.reprocessing import ReprocessingError, curate

    from .datasets import process_all, register_run

    set_up_processing(store, clock)
    [run_id] = runs_of(store, ready_candidate(store, clock, "obs_1"))
    process_all(store, clock, tmp_path / "scratch")
    version = register_run(store, clock, tmp_path / "scratch", run_id, "DS_obs_1").version_id
    with store.session() as s:
        assert get_version(s, version[:6]).version_id == version  # a documented prefix
        for pattern in ("____", "%%%%", version[:3] + "_", version[:3] + "%"):
            with pytest.raises(VersionError, match="does not exist"):
                get_version(s, pattern)
            with pytest.raises(ReprocessingError, match="does not exist"):
                curate(s, pattern, "discard", by="curator", why="wildcards must not match")
        assert get_version(s, version).status == "available"
