"""Provenance discovery: dataset versions and frames by each provenance key, on both backends."""

import pytest

from dkist_processing_core.datacenter.operations import resolutions, tickets
from dkist_processing_core.datacenter.operations.scheduling import Scheduler, build_run_spec
from dkist_processing_core.datacenter.planning import recipes
from dkist_processing_core.datacenter.products.discovery import (
    DiscoveryError,
    find_frames,
    find_versions,
    list_datasets,
    show_dataset,
    show_version,
)
from dkist_processing_core.framework import LocalExecutor

from .datasets import (
    CODE_VERSIONS,
    process_all,
    process_datasets,
    ready_candidate,
    register_run,
    runs_of,
    set_up_processing,
)


def _datasets(found):
    return sorted(v["dataset_id"] for v in found)


@pytest.fixture
def three_datasets(store, clock, tmp_path):
    """obs_a and obs_b processed with threshold 2.5; obs_c with a new value 4.0 by new code."""
    first_value = set_up_processing(store, clock)
    versions = process_datasets(store, clock, tmp_path / "scratch", ["obs_a", "obs_b"])
    with store.session() as s:
        recipes.retire_parameter_value(s, first_value, clock=clock)
        second_value = recipes.add_parameter_value(
            s, "testinst", "threshold", 4.0, recipes_value_date(), clock=clock
        ).id
    cid = ready_candidate(store, clock, "obs_c")
    process_all(store, clock, tmp_path / "scratch")
    [run_c] = runs_of(store, cid)
    newer_code = {**CODE_VERSIONS, "dkist-processing-testinst": "1.1.0"}
    versions["obs_c"] = register_run(
        store, clock, tmp_path / "scratch", run_c, "DS_obs_c", code_versions=newer_code
    )
    return versions, first_value, second_value


def recipes_value_date():
    from .datasets import VALUE_DATE

    return VALUE_DATE


def test_discovery_by_each_provenance_key(store, three_datasets):
    versions, first_value, second_value = three_datasets
    with store.session() as s:
        assert _datasets(find_versions(s, input_frame_id="obs_b_0001")) == ["DS_obs_b"]
        assert _datasets(find_versions(s, input_frame_id="nowhere")) == []
        assert _datasets(find_versions(s, parameter_value_id=first_value)) == [
            "DS_obs_a",
            "DS_obs_b",
        ]
        assert _datasets(find_versions(s, parameter=("threshold", 4.0))) == ["DS_obs_c"]
        # Values compare as canonical JSON: 4 and 4.0 are one JSON number on both backends.
        assert _datasets(find_versions(s, parameter=("threshold", 4))) == ["DS_obs_c"]
        assert find_versions(s, parameter=("threshold", 4.5)) == []
        assert _datasets(find_versions(s, parameter=("threshold", 2.5))) == ["DS_obs_a", "DS_obs_b"]
        assert len(find_versions(s, workflow="process")) == 3
        assert len(find_versions(s, workflow="process==1.0")) == 3
        assert find_versions(s, workflow="process==2.0") == []
        assert _datasets(find_versions(s, code_version="dkist-processing-testinst==1.1.0")) == [
            "DS_obs_c"
        ]
        assert len(find_versions(s, code_version="dkist-processing-testinst")) == 3
        run_b = versions["obs_b"]
        [found] = find_versions(s, recipe_run_id=show_version(s, run_b.version_id)["recipe_run_id"])
        assert found["version_id"] == run_b.version_id
        assert found["reasons"] == [f"made by recipe run {found['recipe_run_id']}"]
        # Criteria combine: every one must match by default, any one with match="any".
        both = find_versions(s, parameter_value_id=first_value, input_frame_id="obs_a_0000")
        assert _datasets(both) == ["DS_obs_a"]
        either = find_versions(
            s, parameter_value_id=second_value, input_frame_id="obs_a_0000", match="any"
        )
        assert _datasets(either) == ["DS_obs_a", "DS_obs_c"]
        reasons = {v["dataset_id"]: v["reasons"] for v in either}
        assert reasons == {
            "DS_obs_a": ["made from input frame obs_a_0000"],
            "DS_obs_c": [f"used parameter value id {second_value}"],
        }


def test_older_than_uses_version_order_not_text_order(store, clock, tmp_path):
    set_up_processing(store, clock, with_v2=False)
    process_datasets(store, clock, tmp_path / "scratch", ["obs_a"])
    with store.session() as s:
        # As text "1.0" > "1.10" is false but "1.9" > "1.10" is true; as versions 1.9 < 1.10.
        assert len(find_versions(s, older_than_workflow="process==1.10")) == 1
        assert len(find_versions(s, older_than_workflow="process==1.0.1")) == 1
        assert find_versions(s, older_than_workflow="process==1.0") == []
        assert find_versions(s, older_than_workflow="process==0.9") == []
        assert find_versions(s, older_than_workflow="other==9") == []
        [found] = find_versions(s, older_than_workflow="process==2.0")
        assert found["reasons"] == ["workflow process 1.0 is older than 2.0"]
        with pytest.raises(DiscoveryError, match="NAME==VERSION"):
            find_versions(s, older_than_workflow="process")
        with pytest.raises(DiscoveryError, match="not a version"):
            find_versions(s, older_than_workflow="process==latest")


def test_discovery_by_manual_influence(store, clock, tmp_path):
    set_up_processing(store, clock)
    process_datasets(store, clock, tmp_path / "scratch", ["obs_auto"])
    with store.session() as s:
        recipes.update_recipe(s, "process", default_configuration={"fail_in": "CountInputFrames"})
    ready_candidate(store, clock, "obs_hand")
    [failed] = Scheduler(store, tmp_path / "scratch", clock=clock).run_until_idle()
    with store.session() as s:
        ticket = tickets.ticket_for_run(s, failed.recipe_run_id)
        # The person re-ran the run's plan by hand; its files are the run's outputs.
        run = resolutions.resolve_by_manual_execution(
            s, ticket.id, "Dr. Hand", "ran the tasks in a notebook", "bad reader", [], clock=clock
        ).recipe_run_id
    # What the person ran by hand: the workflow's tasks without the failing setting, into
    # the manual run's scratch (the files the inventories are built from).
    with store.session() as s:
        spec = build_run_spec(s, run, tmp_path / "scratch")
    LocalExecutor().run(spec.model_copy(update={"configuration": {}}))
    register_run(store, clock, tmp_path / "scratch", run, "DS_obs_hand")
    with store.session() as s:
        [manual] = find_versions(s, manual=True)
        assert manual["dataset_id"] == "DS_obs_hand" and manual["manually_processed"]
        assert _datasets(find_versions(s, manual="Dr. Hand")) == ["DS_obs_hand"]
        assert find_versions(s, manual="Someone Else") == []
        assert find_versions(s, manual="Dr. Hand")[0]["reasons"] == ["manual execution by Dr. Hand"]


def test_frames_and_dataset_views(store, three_datasets):
    versions, first_value, _ = three_datasets
    with store.session() as s:
        frames = find_frames(s, parameter_value_id=first_value)
        assert len(frames) == 6  # three L1 frames in each of two datasets
        assert {f["dataset_id"] for f in frames} == {"DS_obs_a", "DS_obs_b"}
        assert all(f["parameter_value_ids"] == [first_value] for f in frames)
        assert len(find_frames(s, input_frame_id="obs_c_0002", limit=2)) == 2
        listed = list_datasets(s)
        assert [d["dataset_id"] for d in listed] == ["DS_obs_a", "DS_obs_b", "DS_obs_c"]
        detail = show_version(s, versions["obs_a"].version_id[:8])  # a prefix is enough
        assert detail["version_id"] == versions["obs_a"].version_id
        assert detail["dataset_inventory"]["frame_count"] == 3
        assert [o["kind"] for o in detail["objects"]] == ["frame"] * 3
        assert show_dataset(s, "DS_obs_a")["versions"][0]["status"] == "available"
        with pytest.raises(DiscoveryError, match="does not exist"):
            show_dataset(s, "DS_nothing")
