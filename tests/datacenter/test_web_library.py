"""The library behind the status pages: users and PI links, and the views.

(Cancel and requeue are :mod:`~dkist_processing_core.datacenter.planning.recipe_runs`'s,
tested with the leases in ``test_leases_and_plans``.)

On both backends, against the real store; runs go through the real scheduler and executor.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from dkist_processing_core.datacenter.operations import access, views
from dkist_processing_core.datacenter.operations.scheduling import Scheduler
from dkist_processing_core.datacenter.operations.status import processing_status
from dkist_processing_core.datacenter.planning import readiness
from dkist_processing_core.datacenter.planning.recipe_runs import cancel_recipe_run
from dkist_processing_core.datacenter.store.models import (
    ObjectInventory,
    RecipeInstance,
    RecipeRun,
    WebUser,
)

from .scenario import announce, deliver, set_up_recipe


def _ready_run(store, clock, op, **kwargs):
    cid = announce(store, clock, op, {op: 3}, **kwargs)
    deliver(store, clock, op, range(3))
    readiness.run_readiness_pass(store, clock=clock)
    with store.session() as s:
        return s.scalar(
            select(RecipeRun.id)
            .join(RecipeInstance)
            .where(RecipeInstance.processing_candidate_id == cid)
        )


# --- users and PI links --------------------------------------------------------------------------


def test_users_sign_in_with_a_salted_hash_and_their_roles(store, clock):
    with store.session() as s:
        access.add_user(s, "olga", "a long password", ["operator"], clock=clock)
        access.add_user(s, "carl", "a long password", ["curator", "operator"], clock=clock)
        hashes = dict(s.execute(select(WebUser.name, WebUser.password_hash)).all())
    assert "a long password" not in hashes["olga"]
    assert hashes["olga"] != hashes["carl"]  # same password, different salts
    with store.session() as s:
        olga = access.authenticate(s, "olga", "a long password")
        assert olga.roles == {"operator"} and olga.has("operator") and not olga.has("curator")
        assert access.authenticate(s, "carl", "a long password").roles == {"operator", "curator"}
        assert access.authenticate(s, "olga", "a long passwore") is None
        assert access.authenticate(s, "nobody", "a long password") is None
        access.disable_user(s, "olga", clock=clock)
        assert access.authenticate(s, "olga", "a long password") is None
        assert access.get_user(s, "olga") is None


def test_user_mistakes_are_refused_with_a_message(store, clock):
    with store.session() as s:
        with pytest.raises(access.AccessError, match=r"role\(s\) \['admin'\]"):
            access.add_user(s, "x", "a long password", ["admin"], clock=clock)
        with pytest.raises(access.AccessError, match="at least 8 characters"):
            access.add_user(s, "x", "short", [], clock=clock)
        access.add_user(s, "x", "a long password", [], clock=clock)
        with pytest.raises(access.AccessError, match="exists already"):
            access.add_user(s, "x", "another password", [], clock=clock)
        access.add_user(s, "x", "another password", ["curator"], replace=True, clock=clock)
        assert access.authenticate(s, "x", "another password").roles == {"curator"}


def test_a_proposal_link_opens_its_proposal_only_and_cannot_be_altered(store, clock):
    set_up_recipe(store, clock)
    announce(store, clock, "obs_a", {"obs_a": 1}, proposal="pid_a")
    announce(store, clock, "obs_b", {"obs_b": 1}, proposal="pid_b")
    with store.session() as s:
        a = access.proposal_link(s, "pid_a", clock=clock)
        b = access.proposal_link(s, "pid_b", clock=clock)
        assert access.proposal_link(s, "pid_a", clock=clock) == a  # issued once
        assert a != b and len(a) >= 43
        assert access.proposal_for_link(s, a) == "pid_a"
        assert access.proposal_for_link(s, b) == "pid_b"
        for altered in (
            a[:-1] + ("x" if a[-1] != "x" else "y"),
            a[:-1],
            a + "x",
            "pid_a",
            "",
            "x" * 500,
        ):
            assert access.proposal_for_link(s, altered) is None
        with pytest.raises(access.AccessError, match="does not exist"):
            access.proposal_link(s, "pid_nope", clock=clock)
        assert access.revoke_proposal_link(s, "pid_a", clock=clock) == 1
        assert access.proposal_for_link(s, a) is None
        assert access.proposal_link(s, "pid_a", clock=clock) not in (a, b)


# --- views ---------------------------------------------------------------------------------------


def test_overview_counts_and_lists(store, clock, tmp_path):
    set_up_recipe(store, clock)
    _ready_run(store, clock, "obs_ok")
    _ready_run(store, clock, "obs_bad", run_configuration={"fail_in": "Finish"})
    _ready_run(store, clock, "obs_wait")
    announce(store, clock, "obs_frames", {"obs_frames": 5})
    deliver(store, clock, "obs_frames", range(2))
    with store.session() as s:
        waiting_id = s.scalar(
            select(RecipeRun.id).join(RecipeInstance).order_by(RecipeRun.id.desc()).limit(1)
        )
        cancel_recipe_run(s, waiting_id, "olga", "hold", clock=clock)
    outcomes = Scheduler(store, tmp_path, clock=clock).run_until_idle()
    assert sorted(o.status for o in outcomes) == ["failed", "succeeded"]
    with store.session() as s:
        data = views.overview(s, clock.now())
        metrics = views.operational_metrics(s, clock.now() + timedelta(hours=1))
    assert data["candidates_by_state"] == {
        "waiting for frames": 1,
        "ready": 0,
        "canceled": 1,
        "failed": 1,
        "succeeded": 1,
    }
    assert data["runs_by_status"] == {"canceled": 1, "failed": 1, "succeeded": 1}
    assert data["pools"] == [{"pool": "default", "slots": 2, "in_use": 0, "waiting": 0}]
    assert data["open_tickets"]["count"] == 1
    (failure,) = data["recent_failures"]
    assert failure["failed_task"] == "Finish" and "simulated failure" in failure["error"]
    assert failure["ticket_id"] == data["open_tickets"]["newest"][0]["ticket_id"]
    assert metrics["open_tickets_by_kind"] == {"manual_by_exception": 1}
    assert metrics["oldest_waiting_candidate_age_s"] == pytest.approx(3600, abs=1)
    assert metrics["run_durations"]["succeeded"]["count"] == 1
    assert metrics["queue_length"] == 0
    assert metrics["readiness_passes"] == 3  # one per _ready_run, each timed
    assert metrics["readiness_pass_seconds_total"] >= metrics["last_readiness_pass_duration_s"] > 0


def test_run_detail_has_plan_timeline_error_and_the_failed_tasks_log(store, clock, tmp_path):
    set_up_recipe(store, clock)
    run_id = _ready_run(store, clock, "obs_bad", run_configuration={"fail_in": "Finish"})
    Scheduler(store, tmp_path, clock=clock).run_until_idle()
    with store.session() as s:
        run = views.recipe_run_detail(s, run_id, scratch_root=tmp_path)
        ticket = views.ticket_detail(s, run["ticket"]["ticket_id"])
        with pytest.raises(views.ViewError, match="recipe run 999 does not exist"):
            views.recipe_run_detail(s, 999)
    assert run["plan"] == {
        "workflow": "tests.datacenter.workflows:CALIBRATE",
        "workflow_name": run["plan"]["workflow_name"],
        "workflow_version": "1.0",
        "task_order": ["CountInputFrames", "Finish"],
    }
    assert run["logs"]["scratch"] == str(tmp_path.resolve() / f"recipe_run_{run_id}")
    assert [(t["name"], t["status"]) for t in run["tasks"]] == [
        ("CountInputFrames", "succeeded"),
        ("Finish", "failed"),
    ]
    assert run["tasks"][0]["duration_s"] >= 0 and run["tasks"][0]["started_at"]
    assert run["failed_task"] == "Finish" and "simulated failure in Finish" in run["error"]
    assert "Traceback (most recent call last)" in run["failed_task_log"]
    assert run["configuration"] == {"a": {"b": 1, "c": 2}, "fail_in": "Finish"}
    assert run["input_dataset"]["frames"] == [
        {"op_run_id": "obs_bad", "frame_kind": "observe", "count": 3}
    ]
    assert [e["event"] for e in ticket["history"]][-1].startswith("ticket")
    with pytest.raises(views.ViewError, match="cannot name a log file"):
        views.task_log(tmp_path, run_id, "../../etc/passwd")


def test_status_pages_and_back_stop_date(store, clock):
    set_up_recipe(store, clock)
    for i in range(5):
        announce(store, clock, f"obs_{i}", {f"obs_{i}": 4})
    deliver(store, clock, "obs_3", range(2))
    with store.session() as s:
        page = processing_status(s, limit=2, offset=2)
    assert [c["observe_op_run_id"] for p in page for c in p["candidates"]] == ["obs_2", "obs_3"]
    obs_3 = page[0]["candidates"][1]
    assert obs_3["last_frame_at"] == clock.now().isoformat()
    assert obs_3["back_stop_at"] == (clock.now() + timedelta(days=13)).isoformat()
    assert page[0]["candidates"][0]["back_stop_at"] is None  # no frame yet


def test_only_listed_files_of_distributed_versions_inside_the_archive_are_served(
    store, clock, tmp_path
):
    from .datasets import process_datasets, set_up_processing

    set_up_processing(store, clock)
    (version,) = process_datasets(store, clock, tmp_path / "scratch", ["obs_a"]).values()
    archive = tmp_path / "archive"
    with store.session() as s:
        key = s.scalar(
            select(ObjectInventory.object_key).where(
                ObjectInventory.version_id == version.version_id
            )
        )
        assert key is not None
        # frames are listed, not served; nothing outside the inventory is served
        for bad in (key, "../secret", "/etc/passwd", f"{key}/../../x"):
            with pytest.raises(views.ViewError):
                views.archived_object(s, archive, version.version_id, bad)
