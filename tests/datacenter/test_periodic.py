"""The periodic pass a cron or Airflow runs: readiness, then run and publish what is ready."""

from dkist_processing_core.datacenter.operations import periodic, tickets

from .scenario import announce, deliver, set_up_recipe


def test_periodic_pass_runs_ready_work_and_tickets_a_publishing_failure(
    store, clock, database_url, tmp_path
):
    set_up_recipe(store, clock)
    announce(store, clock, "obs_1", {"obs_1": 2, "dark_1": 1})
    deliver(store, clock, "obs_1", [0, 1])
    deliver(store, clock, "dark_1", [0], kind="dark")

    done = periodic.readiness_pass(database_url=database_url, workdir=tmp_path)
    assert done == {"ready": 1, "ready_by_back_stop": 0, "recipe_runs_created": 1}
    (outcome,) = periodic.start_ready_runs(database_url=database_url, workdir=tmp_path)
    # The run itself succeeds; the tests' workflow makes no L1 frames, so publishing it fails,
    # and that becomes a ticket naming the step and the reason instead of being lost.
    assert outcome["status"] == "succeeded"
    assert outcome["failed_task"] == "publish"
    assert "has no L1 frames" in outcome["error"]
    with store.session() as s:
        (ticket,) = tickets.list_tickets(s)
        assert ticket.failed_task == "publish" and ticket.recipe_run_id == outcome["recipe_run_id"]
    # Nothing left to do: a second pass creates and runs nothing.
    assert periodic.readiness_pass(database_url=database_url, workdir=tmp_path)["ready"] == 0
    assert periodic.start_ready_runs(database_url=database_url, workdir=tmp_path) == []
