"""Dataset versions: provenance, deterministic version ids, idempotent all-or-nothing registration."""

import copy

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from dkist_processing_core.datacenter.operations import resolutions, tickets
from dkist_processing_core.datacenter.operations.scheduling import Scheduler
from dkist_processing_core.datacenter.products.register import IngestError, register_dataset_version
from dkist_processing_core.datacenter.products.versions import (
    VersionError,
    canonical_json,
    provenance_document,
    version_id,
)
from dkist_processing_core.datacenter.store.models import (
    Dataset,
    DatasetInventory,
    DatasetVersion,
    DatasetVersionCodeVersion,
    DatasetVersionInputFrame,
    DatasetVersionParameterValue,
    FrameInventory,
    ObjectInventory,
)

from .datasets import (
    CODE_VERSIONS,
    process_all,
    process_datasets,
    ready_candidate,
    register_run,
    run_outputs,
    runs_of,
    set_up_processing,
)

STORED_TABLES = (
    Dataset,
    DatasetVersion,
    DatasetVersionInputFrame,
    DatasetVersionParameterValue,
    DatasetVersionCodeVersion,
    FrameInventory,
    ObjectInventory,
    DatasetInventory,
)


def _counts(store):
    with store.session() as s:
        return {
            t.__tablename__: s.scalar(select(func.count()).select_from(t)) for t in STORED_TABLES
        }


def _one_processed_run(store, clock, tmp_path):
    set_up_processing(store, clock)
    cid = ready_candidate(store, clock, "obs_1")
    process_all(store, clock, tmp_path / "scratch")
    [run_id] = runs_of(store, cid)
    return run_id


def test_provenance_document_describes_the_plan(store, clock, tmp_path):
    run_id = _one_processed_run(store, clock, tmp_path)
    with store.session() as s:
        document = provenance_document(s, run_id, code_versions=CODE_VERSIONS)
    assert document["input_frame_ids"] == [
        "dark_obs_1_0000",
        "dark_obs_1_0001",
        "obs_1_0000",
        "obs_1_0001",
        "obs_1_0002",
    ]
    assert [(p["name"], p["value"]) for p in document["parameter_values"]] == [("threshold", 2.5)]
    assert document["workflow"] == {"name": "process", "version": "1.0"}
    assert document["task_order"] == ["CountInputFrames", "WriteL1Frames"]
    assert document["code_versions"] == CODE_VERSIONS
    assert document["manual_influence"] == {"manually_processed": False, "executions": []}
    # Without explicit code versions, those of the installed code are used.
    with store.session() as s:
        installed = provenance_document(s, run_id)["code_versions"]
    assert "dkist-processing-core" in installed


def test_equal_provenance_gives_equal_version_and_each_change_a_new_one():
    base = {
        "schema": 1,
        "instrument": "testinst",
        "observe_op_run_id": "obs_1",
        "input_frame_ids": ["a", "b"],
        "parameter_values": [{"id": 1, "name": "threshold", "value": 2.5}],
        "workflow": {"name": "process", "version": "1.0"},
        "task_order": ["A", "B"],
        "configuration": {"x": {"y": 1}},
        "code_versions": {"dkist-processing-core": "0.1.0"},
        "manual_influence": {"manually_processed": False, "executions": []},
    }
    reordered = dict(reversed(list(copy.deepcopy(base).items())))
    assert version_id(reordered) == version_id(base)  # key order is not meaning
    assert canonical_json(reordered) == canonical_json(base)
    integral = copy.deepcopy(base)
    integral["configuration"] = {"x": {"y": 1.0}}  # JSON has one number type: 1.0 is 1
    assert version_id(integral) == version_id(base)
    changes = {
        "input frame": ("input_frame_ids", ["a", "c"]),
        "parameter value id": ("parameter_values", [{"id": 2, "name": "threshold", "value": 2.5}]),
        "parameter value": ("parameter_values", [{"id": 1, "name": "threshold", "value": 3.0}]),
        "workflow version": ("workflow", {"name": "process", "version": "2.0"}),
        "task order": ("task_order", ["B", "A"]),
        "configuration": ("configuration", {"x": {"y": 2}}),
        "code version": ("code_versions", {"dkist-processing-core": "0.2.0"}),
        "manual influence": (
            "manual_influence",
            {"manually_processed": True, "executions": [{"operator": "me"}]},
        ),
    }
    ids = {"base": version_id(base)}
    for what, (key, value) in changes.items():
        changed = copy.deepcopy(base)
        changed[key] = value
        ids[what] = version_id(changed)
    assert len(set(ids.values())) == len(ids), ids
    assert all(v.startswith("v") and len(v) == 21 for v in ids.values())
    with pytest.raises(VersionError, match="finite"):
        version_id({**base, "configuration": {"x": float("nan")}})


def test_registration_stores_inventories_and_is_idempotent(store, clock, tmp_path):
    run_id = _one_processed_run(store, clock, tmp_path)
    first = register_run(store, clock, tmp_path / "scratch", run_id, "DS_obs_1")
    assert first.created and first.sequence == 1 and first.supersedes_version_id is None
    counts = _counts(store)
    assert counts == {
        "dataset": 1,
        "dataset_version": 1,
        "dataset_version_input_frame": 5,
        "dataset_version_parameter_value": 1,
        "dataset_version_code_version": 2,
        "frame_inventory": 3,  # one L1 frame per observe frame
        "object_inventory": 3,
        "dataset_inventory": 1,
    }
    again = register_run(store, clock, tmp_path / "scratch", run_id, "DS_obs_1")
    assert (again.version_id, again.created) == (first.version_id, False)
    assert _counts(store) == counts
    with store.session() as s:
        version = s.get(DatasetVersion, first.version_id)
        assert (version.status, version.workflow_version, version.recipe_run_id) == (
            "available",
            "1.0",
            run_id,
        )
        assert version_id(version.provenance) == first.version_id
        frame = s.scalars(select(FrameInventory).order_by(FrameInventory.object_key)).first()
        assert frame.frame_file_name == "L1_obs_1_0000.json"
        assert frame.input_frame_ids == version.provenance["input_frame_ids"]
        assert frame.code_versions == CODE_VERSIONS and frame.stokes == "I"
        inventory = s.get(DatasetInventory, first.version_id)
        assert (inventory.frame_count, inventory.object_count) == (3, 3)
        assert inventory.start_time.isoformat() == "2024-04-20T18:00:00+00:00"


def test_same_plan_run_again_registers_the_same_version(store, clock, tmp_path):
    """A second run of an identical plan (same provenance) returns the existing version."""
    set_up_processing(store, clock)
    versions = process_datasets(store, clock, tmp_path / "scratch", ["obs_1"])
    from dkist_processing_core.datacenter import reprocessing

    with store.session() as s:
        [planned] = reprocessing.reprocess(
            s, [versions["obs_1"].version_id], requested_by="me", reason="same plan", clock=clock
        )
    process_all(store, clock, tmp_path / "scratch")
    again = register_run(store, clock, tmp_path / "scratch", planned["recipe_run_id"], "DS_obs_1")
    assert (again.version_id, again.created) == (versions["obs_1"].version_id, False)


def test_nothing_partial_after_an_error_mid_registration(store, clock, tmp_path, monkeypatch):
    run_id = _one_processed_run(store, clock, tmp_path)
    inventory, frames, objects = run_outputs(tmp_path / "scratch", run_id, "DS_obs_1")
    before = _counts(store)
    # Refused by validation before anything is written.
    duplicate = [*objects, objects[0]]
    with pytest.raises(IngestError, match="listed twice"), store.session() as s:
        register_dataset_version(
            s,
            run_id,
            dataset_inventory=inventory,
            frames=frames,
            objects=duplicate,
            code_versions=CODE_VERSIONS,
        )
    assert _counts(store) == before
    # Refused by the database after the dataset, the version, its links and part of the
    # inventories were written: a last frame row breaks the (version, object key) key.
    # The savepoint takes all of it back although the caller's transaction commits.
    from dkist_processing_core.datacenter.products import register

    original = register._insert_links_and_inventories

    def then_fail(session, vid, *args):
        original(session, vid, *args)
        row = {
            "version_id": vid,
            "frame_file_name": "again",
            "object_key": frames[0]["object_key"],
            "recipe_run_id": run_id,
            "workflow_name": "process",
            "workflow_version": "1.0",
            "input_frame_ids": [],
            "parameter_value_ids": [],
            "code_versions": {},
            "manually_processed": False,
        }
        session.execute(register.insert(FrameInventory), [row])

    monkeypatch.setattr(register, "_insert_links_and_inventories", then_fail)
    with store.session() as s, pytest.raises(IntegrityError):
        register_dataset_version(
            s,
            run_id,
            dataset_inventory=inventory,
            frames=frames,
            objects=objects,
            code_versions=CODE_VERSIONS,
        )
    assert _counts(store) == before
    monkeypatch.setattr(register, "_insert_links_and_inventories", original)
    assert register_run(store, clock, tmp_path / "scratch", run_id, "DS_obs_1").created


def test_registration_refuses_runs_that_did_not_succeed_and_bad_inventories(store, clock, tmp_path):
    set_up_processing(store, clock)
    cid = ready_candidate(store, clock, "obs_1")
    [run_id] = runs_of(store, cid)
    with pytest.raises(IngestError, match="'created'"), store.session() as s:
        register_dataset_version(
            s, run_id, dataset_inventory={}, frames=[], objects=[], code_versions=CODE_VERSIONS
        )
    process_all(store, clock, tmp_path / "scratch")
    inventory, frames, objects = run_outputs(tmp_path / "scratch", run_id, "DS_obs_1")
    bad_cases = {
        "not in the object inventory": dict(objects=objects[1:]),
        "sha256": dict(objects=[{**objects[0], "sha256": "xyz"}, *objects[1:]]),
        "kind 'video'": dict(objects=[{**objects[0], "kind": "video"}, *objects[1:]]),
        "WKFLVERS": dict(frames=[{**frames[0], "provenance": {"WKFLVERS": "9.9"}}, *frames[1:]]),
        "frame_count 7": dict(dataset_inventory={**inventory, "frame_count": 7}),
        "'start_time'": dict(dataset_inventory={"end_time": inventory["end_time"]}),
        "not a time": dict(dataset_inventory={**inventory, "start_time": "yesterday"}),
    }
    for message, override in bad_cases.items():
        arguments = dict(dataset_inventory=inventory, frames=frames, objects=objects)
        arguments.update(override)
        with pytest.raises(IngestError, match=message), store.session() as s:
            register_dataset_version(s, run_id, code_versions=CODE_VERSIONS, **arguments)
    with store.session() as s:
        document = provenance_document(s, run_id, code_versions=CODE_VERSIONS)
    wrong = {**document, "input_frame_ids": document["input_frame_ids"][1:]}
    with pytest.raises(IngestError, match="input frames differ"), store.session() as s:
        register_dataset_version(
            s, run_id, dataset_inventory=inventory, frames=frames, objects=objects, provenance=wrong
        )
    assert _counts(store)["dataset_version"] == 0


def test_manual_execution_is_recorded_in_the_provenance(store, clock, tmp_path):
    set_up_processing(store, clock)
    with store.session() as s:
        from dkist_processing_core.datacenter.planning import recipes

        recipes.update_recipe(s, "process", default_configuration={"fail_in": "CountInputFrames"})
    cid = ready_candidate(store, clock, "obs_1")
    [outcome] = Scheduler(store, tmp_path / "scratch", clock=clock).run_until_idle()
    assert outcome.status == "failed"
    with store.session() as s:
        ticket = tickets.ticket_for_run(s, outcome.recipe_run_id)
        execution = resolutions.resolve_by_manual_execution(
            s,
            ticket.id,
            "Dr. Hand",
            "wrote the L1 frames in a notebook",
            "writer bug",
            [],
            clock=clock,
        )
        manual_run = execution.recipe_run_id
        document = provenance_document(s, manual_run, code_versions=CODE_VERSIONS)
    assert document["manual_influence"]["manually_processed"] is True
    [record] = document["manual_influence"]["executions"]
    assert (record["operator"], record["reason"]) == ("Dr. Hand", "writer bug")
    assert runs_of(store, cid)[-1] == manual_run
