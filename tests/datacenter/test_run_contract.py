"""The run contract the data center hands a run, and what of it ends in the L1 headers.

A small simulated VBI observation goes through the data center (processing candidate,
transfer manifest, frames, readiness, scheduler, local executor). The run spec the data
center builds sets every provenance field, and the L1 headers of the run carry the ids the
store assigned and the documentation and source addresses the instrument package declares.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from astropy.io import fits
from sqlalchemy import select

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.datacenter.operations.scheduling import (
    Scheduler,
    build_run_spec,
    scratch_dir_for,
)
from dkist_processing_core.datacenter.planning import readiness, recipes
from dkist_processing_core.datacenter.store import open_store
from dkist_processing_core.datacenter.store.models import (
    Dataset,
    ProcessingCandidate,
    RecipeInstance,
    RecipeRun,
)
from dkist_processing_core.framework import RunSpec, Scratch, instruments
from dkist_processing_core.framework.links import workflow_doc_path
from dkist_processing_core.simulate import simulate_vbi, single_filter

pytest.importorskip("dkist_processing_vbi")
pytestmark = pytest.mark.slow

OBSERVATION_DATE = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def vbi_run(tmp_path_factory):
    """(store, recipe run id, scratch root) of a succeeded VBI run made by the data center."""
    root = tmp_path_factory.mktemp("run-contract")
    observation = simulate_vbi(
        root / "summit", seed=4, size=(32, 32), n_frames_per_tile=1, **single_filter(1)
    )
    store = open_store(workdir=root)
    with store.session() as s:
        recipes.register_instrument_package(s, "vbi", valid_from=OBSERVATION_DATE)
        recipes.set_resource_pool(s, "default", 1)
    calibration_ops = [op for op, kind in observation.op_runs.items() if kind != "observe"]
    (observe_op,) = [op for op, kind in observation.op_runs.items() if kind == "observe"]
    with store.session() as s:
        readiness.register_processing_candidate(
            s,
            observe_op,
            calibration_ops,
            proposal_id="pid_2_7",
            principal_investigator="Dr. Test",
            recipe="vbi_l1_calibration",
            observation_date=OBSERVATION_DATE,
        )
        readiness.record_transfer_manifests(s, observation.transfer_manifest)
        readiness.record_frames(
            s,
            [
                readiness.FrameArrival(
                    observation.frame_id(r),
                    r.op_run_id,
                    observation.op_runs[r.op_run_id],
                    str(observation.path_of(r)),
                )
                for r in observation.frames
            ],
        )
    assert readiness.run_readiness_pass(store).recipe_runs_created == 1
    (outcome,) = Scheduler(store, root / "scratch").run_until_idle()
    assert outcome.status == "succeeded", outcome.error
    return store, outcome.recipe_run_id, root / "scratch"


def test_the_data_center_sets_every_provenance_field(vbi_run):
    store, run_id, scratch_root = vbi_run
    with store.session() as s:
        spec = build_run_spec(s, run_id, scratch_root)
        run = s.get(RecipeRun, run_id)
        instance = s.get(RecipeInstance, run.recipe_instance_id)
        candidate = s.get(ProcessingCandidate, instance.processing_candidate_id)
        op_run_ids = {op.op_run_id for op in candidate.ops}
    unset = [name for name, value in spec.provenance if value is None]
    assert unset == [], f"the data center leaves {unset} unset"
    assert spec.provenance.recipe_id == instance.recipe_id
    assert spec.provenance.recipe_instance_id == instance.id
    assert spec.provenance.proposal_id == candidate.proposal_id == "pid_2_7"
    assert spec.input_dataset.input_dataset_id == instance.input_dataset_id
    assert spec.parameters == spec.input_dataset.parameter_values
    assert {f.op_run_id for f in spec.input_dataset.frames} == op_run_ids
    # The spec crosses process boundaries as JSON and comes back the same.
    assert RunSpec.from_json(spec.to_json()) == spec


def test_l1_headers_carry_what_the_store_assigned(vbi_run):
    store, run_id, scratch_root = vbi_run
    with store.session() as s:
        run = s.get(RecipeRun, run_id)
        instance = s.get(RecipeInstance, run.recipe_instance_id)
        candidate = s.get(ProcessingCandidate, instance.processing_candidate_id)
        dataset = s.scalar(select(Dataset).where(Dataset.processing_candidate_id == candidate.id))
        expected = {
            "RRUNID": run.id,
            "RECIPEID": instance.recipe_id,
            "RINSTID": instance.id,
            "IDSOBSID": instance.input_dataset_id,
            "IDSCALID": instance.input_dataset_id,
            "IDSPARID": instance.input_dataset_id,
            # Before its first publication the dataset is named by its observe OP run id.
            "DSETID": dataset.dataset_id if dataset else candidate.observe_op_run_id,
            "MANPROCD": run.manually_processed,
        }
    with Scratch(scratch_dir_for(scratch_root, run_id)) as scratch:
        frames = scratch.find(t.OUTPUT, t.L1)
    assert frames
    products = set()
    for path in frames:
        header = fits.getheader(path, 1)
        assert {key: header[key] for key in expected} == expected, path.name
        products.add(header["PRODUCT"])
    # One product for the dataset, named after it, not a default of the L1 task.
    assert products == {f"L1-{expected['DSETID']}"}


def test_l1_headers_link_what_the_instrument_package_declares(vbi_run):
    _, run_id, scratch_root = vbi_run
    instrument = instruments()["vbi"]
    (workflow,) = instrument.workflows
    assert instrument.docs_url and isinstance(instrument.source_url, str)
    info_url = (
        f"{instrument.docs_url}/{workflow_doc_path('vbi', workflow.name, workflow.version)}.html"
    )
    cal_url = instrument.source_url.format(name="vbi", version=workflow.version)
    with Scratch(scratch_dir_for(scratch_root, run_id)) as scratch:
        frames = scratch.find(t.OUTPUT, t.L1)
    for path in frames:
        header = fits.getheader(path, 1)
        assert header["INFO_URL"] == info_url
        assert header["CAL_URL"] == cal_url
