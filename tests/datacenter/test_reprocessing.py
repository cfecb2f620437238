"""Issue 8: reprocessing and curation, end to end through the Scheduler and the LocalExecutor.

For a new workflow version, a changed parameter value, a changed input frame and new
code: process datasets, discover the affected ones (with why), reprocess them, check
the new versions and their lineage, that the old versions stay distributed and
findable until a curator decides, and each decision's effect on distribution and
discovery. Runs on SQLite and PostgreSQL.
"""

import json

import pytest

from dkist_processing_core.datacenter.operations.scheduling import Scheduler
from dkist_processing_core.datacenter.operations.status import processing_status
from dkist_processing_core.datacenter.planning import readiness, recipes
from dkist_processing_core.datacenter.products.discovery import (
    find_frames,
    find_versions,
    show_version,
)
from dkist_processing_core.datacenter.products.versions import distributed_versions, version_lineage
from dkist_processing_core.datacenter.reprocessing import (
    ReprocessingError,
    curate,
    find_reprocessing_candidates,
    harvest_plan,
    pending_curation,
    reprocess,
    reprocessing_status,
)
from dkist_processing_core.datacenter.store.models import InputDataset, RecipeInstance, RecipeRun
from dkist_processing_core.framework.scratch import Scratch

from .datasets import (
    CODE_VERSIONS,
    VALUE_DATE,
    process_all,
    process_datasets,
    register_run,
    release_v2,
    set_up_processing,
)

OPS = ["obs_a", "obs_b", "obs_c"]


def _l1_values(scratch_root, recipe_run_id):
    scratch = Scratch(scratch_root / f"recipe_run_{recipe_run_id}")
    try:
        return [scratch.read_json(p)["value"] for p in sorted(scratch.find("OUTPUT", "FRAME"))]
    finally:
        scratch.close()


def _reprocess_and_register(store, clock, scratch, versions, **changes):
    with store.session() as s:
        planned = reprocess(
            s, versions, requested_by="dq-team", reason="test reprocessing", clock=clock, **changes
        )
    process_all(store, clock, scratch)
    registered = {}
    for p in planned:
        registered[p["version_id"]] = register_run(
            store, clock, scratch, p["recipe_run_id"], p["dataset_id"]
        )
    return planned, registered


def _status(store, version_id):
    with store.session() as s:
        return show_version(s, version_id)["status"]


def test_new_workflow_version(store, clock, tmp_path):
    scratch = tmp_path / "scratch"
    set_up_processing(store, clock, with_v2=False)
    old = process_datasets(store, clock, scratch, OPS)
    old_ids = {op: v.version_id for op, v in old.items()}
    with store.session() as s:
        release_v2(s, clock)
        affected = find_reprocessing_candidates(s, older_than_workflow="process==2.0")
    assert sorted(v["version_id"] for v in affected) == sorted(old_ids.values())
    assert all(v["reasons"] == ["workflow process 1.0 is older than 2.0"] for v in affected)

    with store.session() as s:
        plan = harvest_plan(s, old_ids["obs_a"])
        assert (plan["recipe"], plan["workflow_version"], len(plan["frame_ids"])) == (
            "process",
            "1.0",
            5,
        )
        planned = reprocess(
            s,
            [v["version_id"] for v in affected],
            workflow_version="2.0",
            requested_by="dq-team",
            reason="gain correction in 2.0",
            clock=clock,
        )
        with pytest.raises(ReprocessingError, match="already being reprocessed"):
            reprocess(s, [old_ids["obs_a"]], requested_by="x", reason="again", clock=clock)
    assert {p["recipe"] for p in planned} == {"process@2.0"}  # a copy of the recipe at 2.0
    assert all(p["changes"]["workflow_version"] == {"from": "1.0", "to": "2.0"} for p in planned)
    with store.session() as s:
        for p in planned:
            instance = s.get(RecipeInstance, p["recipe_instance_id"])
            old_run = s.get(RecipeRun, p["reprocesses_recipe_run_id"])
            assert instance.supersedes_recipe_instance_id == old_run.recipe_instance_id
            # Same plan otherwise: the same input dataset.
            assert instance.input_dataset_id == old_run.recipe_instance.input_dataset_id
        # The status view marks the waiting reprocessing runs.
        runs = [r for p in processing_status(s) for c in p["candidates"] for r in c["runs"]]
        marked = {r["recipe_run_id"]: r["reprocessing_of_version"] for r in runs}
        assert {marked[p["recipe_run_id"]] for p in planned} == set(old_ids.values())

    process_all(store, clock, scratch)
    new = {}
    for p in planned:
        # Version 2.0 multiplies by the corrected gain 1.1: 2.5 x 1.1, to float rounding.
        assert _l1_values(scratch, p["recipe_run_id"]) == pytest.approx([2.75] * 3, rel=1e-12)
        new[p["version_id"]] = register_run(
            store, clock, scratch, p["recipe_run_id"], p["dataset_id"]
        )
    for old_id, registered in new.items():
        assert registered.created and registered.supersedes_version_id == old_id
        assert registered.sequence == 2
        assert _status(store, old_id) == "superseded_pending_curation"
        assert _status(store, registered.version_id) == "available"
    with store.session() as s:
        # Both versions of every dataset are distributed and findable until a curator decides.
        assert len(distributed_versions(s)) == 6
        assert len(find_versions(s, workflow="process==1.0")) == 3
        assert len(find_versions(s, workflow="process==2.0")) == 3
        assert len(pending_curation(s)) == 3
        lineage = version_lineage(s, new[old_ids["obs_a"]].version_id)
        assert [v["version_id"] for v in lineage] == [
            new[old_ids["obs_a"]].version_id,
            old_ids["obs_a"],
        ]
        detail = show_version(s, new[old_ids["obs_a"]].version_id)
        assert detail["provenance"]["task_order"] == [
            "CountInputFrames",
            "WriteL1Frames",
            "QualityReport",
        ]
        assert sorted(o["kind"] for o in detail["objects"]) == ["frame"] * 3 + ["quality_data"]
        # Nothing is left to do for 2.0.
        assert find_reprocessing_candidates(s, older_than_workflow="process==2.0") == []

    # Curator decisions, one per dataset.
    new_a, new_b, new_c = (new[old_ids[op]].version_id for op in OPS)
    with store.session() as s:
        kept = curate(
            s, new_a, "KEEP_BOTH", by="Dr. Curator", why="1.0 is used in a paper", clock=clock
        )
        assert kept["curation"]["decision"] == "keep_both"
        discarded = curate(
            s, old_ids["obs_b"], "discard", by="Dr. Curator", why="1.0 gain wrong", clock=clock
        )
        assert (discarded["status"], discarded["distributed"]) == ("discarded", False)
        curate(s, new_c, "discard", by="Dr. Curator", why="2.0 worse for this one", clock=clock)
        with pytest.raises(ReprocessingError, match="already discarded"):
            curate(s, new_c, "discard", by="x", why="y")
        with pytest.raises(ReprocessingError, match="awaits no curation"):
            curate(s, new_a, "keep_both", by="x", why="y")
        with pytest.raises(ReprocessingError, match="who decides"):
            curate(s, new_b, "discard", by="", why="")
    assert (_status(store, old_ids["obs_a"]), _status(store, new_a)) == ("available", "available")
    assert (_status(store, old_ids["obs_b"]), _status(store, new_b)) == ("discarded", "available")
    assert (_status(store, old_ids["obs_c"]), _status(store, new_c)) == ("available", "discarded")
    with store.session() as s:
        assert pending_curation(s) == []
        distributed = {v["version_id"] for v in distributed_versions(s)}
        assert distributed == {old_ids["obs_a"], new_a, new_b, old_ids["obs_c"]}
        # Discovery hides discarded versions unless asked, then shows the decision.
        assert {v["version_id"] for v in find_versions(s, workflow="process==1.0")} == {
            old_ids["obs_a"],
            old_ids["obs_c"],
        }
        shown = {
            v["version_id"]: v
            for v in find_versions(s, workflow="process==1.0", include_discarded=True)
        }
        decision = shown[old_ids["obs_b"]]["curation"]
        assert (decision["decision"], decision["by"], decision["why"]) == (
            "discard",
            "Dr. Curator",
            "1.0 gain wrong",
        )
        assert decision["at"] == clock.now().isoformat()
        # The discarded version keeps its provenance and inventories.
        kept_detail = show_version(s, old_ids["obs_b"])
        assert kept_detail["provenance"]["workflow"]["version"] == "1.0"
        assert len(kept_detail["objects"]) == 3
        assert len(find_frames(s, input_frame_id="obs_b_0000", include_discarded=True)) == 6
        assert len(find_frames(s, input_frame_id="obs_b_0000")) == 3
        # Discarding the new version of obs_c makes its 1.0 version outdated again.
        [again] = find_reprocessing_candidates(s, older_than_workflow="process==2.0")
        assert again["version_id"] == old_ids["obs_c"]


def test_changed_parameter_value(store, clock, tmp_path):
    scratch = tmp_path / "scratch"
    first_value = set_up_processing(store, clock)
    old = process_datasets(store, clock, scratch, ["obs_a", "obs_b"])
    with store.session() as s:
        # The threshold was wrong: a new value replaces it for these observations.
        recipes.retire_parameter_value(s, first_value, clock=clock)
        new_value = recipes.add_parameter_value(
            s, "testinst", "threshold", 3.0, VALUE_DATE, clock=clock
        ).id
        affected = find_reprocessing_candidates(s, parameter_value_id=first_value)
    assert {v["dataset_id"] for v in affected} == {"DS_obs_a", "DS_obs_b"}
    assert affected[0]["reasons"] == [f"used parameter value id {first_value}"]
    # obs_a by an explicit replacement, obs_b by re-assembling with the values valid now.
    planned_a, new_a = _reprocess_and_register(
        store,
        clock,
        scratch,
        [old["obs_a"].version_id],
        replace_parameter_values={first_value: new_value},
    )
    planned_b, new_b = _reprocess_and_register(
        store, clock, scratch, [old["obs_b"].version_id], reassemble_input_dataset=True
    )
    for planned in (planned_a, planned_b):
        [p] = planned
        assert p["changes"]["parameter_values"] == {"removed": [first_value], "added": [new_value]}
        assert _l1_values(scratch, p["recipe_run_id"]) == pytest.approx([3.0] * 3, rel=1e-12)
        with store.session() as s:
            dataset = s.get(InputDataset, p["input_dataset_id"])
            assert (
                dataset.supersedes_input_dataset_id
                == s.get(RecipeRun, p["reprocesses_recipe_run_id"]).recipe_instance.input_dataset_id
            )
    new_versions = {**new_a, **new_b}
    assert all(r.supersedes_version_id == old_id for old_id, r in new_versions.items())
    with store.session() as s:
        # Old and new both findable: by the old value, by the new value.
        assert {v["version_id"] for v in find_versions(s, parameter_value_id=first_value)} == {
            old["obs_a"].version_id,
            old["obs_b"].version_id,
        }
        assert {v["version_id"] for v in find_versions(s, parameter=("threshold", 3.0))} == {
            r.version_id for r in new_versions.values()
        }
        for old_id in new_versions:
            curate(s, old_id, "discard", by="dq", why="wrong threshold", clock=clock)
        assert find_versions(s, parameter_value_id=first_value) == []
        hidden = find_versions(s, parameter_value_id=first_value, include_discarded=True)
        assert {v["curation"]["why"] for v in hidden} == {"wrong threshold"}
        assert len(distributed_versions(s)) == 2


def test_changed_input_frame(store, clock, tmp_path):
    scratch = tmp_path / "scratch"
    set_up_processing(store, clock)
    old = process_datasets(store, clock, scratch, ["obs_a", "obs_b"])
    # Frame obs_a_0001 was corrupt; the summit re-sends it under a new frame id.
    with store.session() as s:
        readiness.record_frames(
            s,
            [readiness.FrameArrival("obs_a_0001_fixed", "obs_a", "observe", "/raw/fixed.fits")],
            clock=clock,
        )
        [affected] = find_reprocessing_candidates(s, input_frame_id="obs_a_0001")
    assert affected["version_id"] == old["obs_a"].version_id
    assert affected["reasons"] == ["made from input frame obs_a_0001"]
    [p], new = _reprocess_and_register(
        store,
        clock,
        scratch,
        [affected["version_id"]],
        replace_frames={"obs_a_0001": "obs_a_0001_fixed"},
    )
    assert p["changes"]["input_frames"] == {
        "removed": ["obs_a_0001"],
        "added": ["obs_a_0001_fixed"],
    }
    registered = new[old["obs_a"].version_id]
    assert registered.supersedes_version_id == old["obs_a"].version_id
    with store.session() as s:
        [now_made] = find_versions(s, input_frame_id="obs_a_0001_fixed")
        assert now_made["version_id"] == registered.version_id
        # The old version stays findable by the corrupt frame until the curator decides.
        assert [v["status"] for v in find_versions(s, input_frame_id="obs_a_0001")] == [
            "superseded_pending_curation"
        ]
        curate(s, registered.version_id, "keep_both", by="dq", why="compare", clock=clock)
        assert [v["status"] for v in find_versions(s, input_frame_id="obs_a_0001")] == ["available"]
        with pytest.raises(ReprocessingError, match="does not use them"):
            reprocess(
                s,
                [old["obs_b"].version_id],
                replace_frames={"obs_a_0002": "obs_a_0001_fixed"},
                requested_by="dq",
                reason="wrong dataset",
            )


def test_bulk_reprocessing_for_new_code_respects_priorities_and_pools(store, clock, tmp_path):
    scratch = tmp_path / "scratch"
    set_up_processing(store, clock, slots=1)
    old = {}
    for op, priority in (("obs_low", 0), ("obs_high", 5), ("obs_mid", 2)):
        old.update(
            process_datasets(store, clock, scratch, [op], proposal=f"pid_{op}", priority=priority)
        )
    clock.advance(hours=1)
    with store.session() as s:
        affected = find_reprocessing_candidates(s, code_version="dkist-processing-testinst==1.0.0")
        assert len(affected) == 3
        assert affected[0]["reasons"] == ["made by code dkist-processing-testinst==1.0.0"]
        planned = reprocess(
            s,
            [v["version_id"] for v in affected],
            requested_by="dq",
            reason="testinst 1.1.0 fixes the reader",
            batch="code-1.1.0",
            clock=clock,
        )
    by_op = {p["dataset_id"]: p["recipe_run_id"] for p in planned}
    assert all(p["changes"] == {} for p in planned)  # the same plan, new code
    scheduler = Scheduler(store, scratch, clock=clock)
    order = []
    for _ in range(3):
        claimed = scheduler.claim()
        assert len(claimed) == 1  # one slot in the pool: one reprocessing run at a time
        assert scheduler.claim() == []
        with store.session() as s:
            [watch] = reprocessing_status(s, batch="code-1.1.0")
        assert watch["runs_by_status"].get("running") == 1
        order += claimed
        scheduler.execute(claimed[0])
    # Highest proposal priority first.
    assert order == [by_op["DS_obs_high"], by_op["DS_obs_mid"], by_op["DS_obs_low"]]
    newer_code = {**CODE_VERSIONS, "dkist-processing-testinst": "1.1.0"}
    for p in planned:
        r = register_run(store, clock, scratch, p["recipe_run_id"], p["dataset_id"], newer_code)
        assert r.created and r.supersedes_version_id == p["version_id"]
    with store.session() as s:
        [watch] = reprocessing_status(s)
        assert (watch["batch"], watch["runs"], watch["runs_by_status"]) == (
            "code-1.1.0",
            3,
            {"succeeded": 3},
        )
        assert (watch["versions_registered"], watch["awaiting_curation"]) == (3, 3)
        assert watch["reason"] == "testinst 1.1.0 fixes the reader"
        assert (
            find_reprocessing_candidates(s, code_version="dkist-processing-testinst==1.0.0") == []
        )
        status = json.dumps(processing_status(s))
        assert "code-1.1.0" in status and "superseded_pending_curation" in status
