"""A store filled by the demo's scenario, with what an operator meets on a bad day.

In one work folder (as ``dkist-processing demo`` makes it: the SQLite store,
``scratch/``, ``archive/``):

- the demo's VBI observation (proposal ``pid_2_114``), processed by the real
  VBI workflow and published: Level 1 frames, quality report, browse movie and
  preview image in the archive;
- a dataset of the test instrument (proposal ``pid_1``) reprocessed with
  workflow version 2.0: two versions, the newer one awaiting a curator;
- a run that failed on a storage fault (its calibration file is missing), with
  its ticket; :func:`restore_calibration_file` repairs the fault, after which a
  retry succeeds;
- a candidate of a recipe that is manual by definition (its ticket waits);
- a candidate still waiting for frames.

Everything goes through the library functions the CLI calls, with the real
scheduler and executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dkist_processing_core.datacenter.clock import SystemClock
from dkist_processing_core.datacenter.operations.scheduling import Scheduler
from dkist_processing_core.datacenter.planning import readiness, recipes
from dkist_processing_core.datacenter.products.publication import publish_run
from dkist_processing_core.datacenter.reprocessing import reprocess
from dkist_processing_core.datacenter.store import open_store
from dkist_processing_core.demo.run import OBSERVATION_DATE, PI, PROPOSAL
from dkist_processing_core.simulate import simulate_vbi, single_filter
from tests.datacenter.datasets import VALUE_DATE, register_run, set_up_processing
from tests.datacenter.scenario import announce, deliver

FLAKY_IMPORT_PATH = "tests.web.workflows:FLAKY"
TEST_PROPOSAL = "pid_1"


@dataclass
class Scenario:
    workdir: Path
    vbi_dataset_id: str
    vbi_version: str
    reprocessed_dataset_id: str
    old_version: str
    new_version: str
    failed_run_id: int
    failed_ticket_id: int
    manual_ticket_id: int
    calibration_file: Path


def restore_calibration_file(scenario: Scenario) -> None:
    scenario.calibration_file.parent.mkdir(parents=True, exist_ok=True)
    scenario.calibration_file.write_text("calibration constants\n")


def run_scheduler(workdir: Path) -> list:
    """What the periodic pass does: run the waiting runs and publish each success."""
    store = open_store(workdir=workdir)
    try:

        def publish(recipe_run_id: int) -> None:
            publish_run(
                store,
                recipe_run_id,
                scratch_root=workdir / "scratch",
                archive_root=workdir / "archive",
            )

        return Scheduler(store, workdir / "scratch", after_success=publish).run_until_idle()
    finally:
        store.dispose()


def build(workdir: Path) -> Scenario:
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    clock = SystemClock()
    store = open_store(workdir=workdir)
    scratch = workdir / "scratch"
    calibration_file = workdir / "calibration" / "constants.txt"
    set_up_processing(store, clock)  # instrument testinst, workflow process 1.0 and 2.0, recipe
    with store.session() as s:
        recipes.create_workflow_specification(
            s, "testinst", "flaky", "1.0", import_path=FLAKY_IMPORT_PATH, clock=clock
        )
        recipes.create_recipe(s, "flaky", "testinst", "flaky", "1.0", clock=clock)
        recipes.create_recipe(
            s,
            "by_hand",
            "testinst",
            "process",
            "1.0",
            parameters=["threshold"],
            is_manual=True,
            clock=clock,
        )
    # 1. The test instrument: one dataset, a storage fault, a manual recipe, missing frames.
    frames = {"obs_process": 3, "dark_obs_process": 2}
    announce(store, clock, "obs_process", frames, proposal=TEST_PROPOSAL, recipe="process")
    deliver(store, clock, "obs_process", range(3))
    deliver(store, clock, "dark_obs_process", range(2), "dark")
    announce(
        store,
        clock,
        "obs_flaky",
        {"obs_flaky": 2},
        proposal=TEST_PROPOSAL,
        recipe="flaky",
        run_configuration={"calibration_file": str(calibration_file)},
    )
    deliver(store, clock, "obs_flaky", range(2))
    announce(
        store, clock, "obs_by_hand", {"obs_by_hand": 2}, proposal=TEST_PROPOSAL, recipe="by_hand"
    )
    deliver(store, clock, "obs_by_hand", range(2))
    announce(
        store, clock, "obs_waiting", {"obs_waiting": 10}, proposal=TEST_PROPOSAL, recipe="process"
    )
    deliver(store, clock, "obs_waiting", range(4))
    readiness.run_readiness_pass(store, clock=clock)
    outcomes = {o.status: o for o in Scheduler(store, scratch, clock=clock).run_until_idle()}
    failed = outcomes["failed"]
    first = register_run(
        store, clock, scratch, outcomes["succeeded"].recipe_run_id, "DS_obs_process"
    )
    # 2. Reprocess that dataset with workflow 2.0: a second version awaiting curation.
    with store.session() as s:
        (planned,) = reprocess(
            s,
            [first.version_id],
            workflow_version="2.0",
            requested_by="dq-team",
            reason="workflow 2.0 corrects the gain",
            batch="gain-fix",
            clock=clock,
        )
    (rerun,) = Scheduler(store, scratch, clock=clock).run_until_idle()
    assert rerun.status == "succeeded", rerun
    second = register_run(store, clock, scratch, planned["recipe_run_id"], "DS_obs_process")
    # 3. The demo's VBI observation, processed and published for real.
    obs = simulate_vbi(workdir / "summit" / "vbi", seed=1, **single_filter(1))
    with store.session() as s:
        recipes.register_instrument_package(s, "vbi", valid_from=OBSERVATION_DATE)
    calibration_ops = [op for op, kind in obs.op_runs.items() if kind != "observe"]
    (observe_op,) = [op for op, kind in obs.op_runs.items() if kind == "observe"]
    with store.session() as s:
        readiness.register_processing_candidate(
            s,
            observe_op,
            calibration_ops,
            proposal_id=PROPOSAL,
            principal_investigator=PI[0],
            principal_investigator_email=PI[1],
            recipe="vbi_l1_calibration",
            observation_date=OBSERVATION_DATE,
        )
        readiness.record_transfer_manifests(s, obs.transfer_manifest)
        readiness.record_frames(
            s,
            [
                readiness.FrameArrival(
                    obs.frame_id(r), r.op_run_id, obs.op_runs[r.op_run_id], str(obs.path_of(r))
                )
                for r in obs.frames
            ],
        )
    readiness.run_readiness_pass(store)
    store.dispose()
    (vbi,) = run_scheduler(workdir)
    assert vbi.status == "succeeded" and vbi.error is None, vbi
    store = open_store(workdir=workdir)
    from sqlalchemy import select

    from dkist_processing_core.datacenter.store.models import (
        Dataset,
        DatasetVersion,
        RecipeRun,
        Ticket,
    )

    with store.session() as s:
        vbi_dataset, vbi_version = s.execute(
            select(Dataset.dataset_id, DatasetVersion.version_id)
            .join(DatasetVersion, DatasetVersion.dataset_pk == Dataset.id)
            .where(DatasetVersion.recipe_run_id == vbi.recipe_run_id)
        ).one()
        failed_ticket = s.scalar(
            select(Ticket.id).where(Ticket.recipe_run_id == failed.recipe_run_id)
        )
        manual_ticket = s.scalar(
            select(Ticket.id)
            .join(RecipeRun, RecipeRun.id == Ticket.recipe_run_id)
            .where(RecipeRun.status == "manual")
        )
    store.dispose()
    return Scenario(
        workdir=workdir,
        vbi_dataset_id=vbi_dataset,
        vbi_version=vbi_version,
        reprocessed_dataset_id="DS_obs_process",
        old_version=first.version_id,
        new_version=second.version_id,
        failed_run_id=failed.recipe_run_id,
        failed_ticket_id=failed_ticket,
        manual_ticket_id=manual_ticket,
        calibration_file=calibration_file,
    )


# --- what the action tests add to the store (after the pages that only read it) ---------------


def add_flaky_candidate(workdir: Path, op: str, calibration_file: Path) -> int:
    """A candidate of the ``flaky`` recipe reading ``calibration_file``, made ready and run
    through the real scheduler (it fails while the file is missing); its run's id."""
    clock = SystemClock()
    store = open_store(workdir=workdir)
    try:
        announce(
            store,
            clock,
            op,
            {op: 2},
            proposal=TEST_PROPOSAL,
            recipe="flaky",
            run_configuration={"calibration_file": str(calibration_file)},
        )
        deliver(store, clock, op, range(2))
        readiness.run_readiness_pass(store, clock=clock)
    finally:
        store.dispose()
    (outcome,) = run_scheduler(workdir)
    return outcome.recipe_run_id


PUBLISHABLE_IMPORT_PATH = "tests.datacenter.publishing_workflows:PUBLISHABLE"


def add_publishable_candidate(workdir: Path, op: str) -> int:
    """A candidate of a small publishable recipe (L1 frames of a simulated L1 dataset and the
    real dataset product tasks), made ready and run by the periodic pass, which publishes
    it (:func:`run_scheduler`); the run's id."""
    from dkist_processing_core.simulate.l1_dataset import write_simulated_l1_dataset

    clock = SystemClock()
    l1_folder = workdir / "l1-frames" / op
    write_simulated_l1_dataset(l1_folder, detector_shape=(16, 24), n_maps=1, n_steps=2)
    store = open_store(workdir=workdir)
    try:
        with store.session() as s:
            recipes.create_workflow_specification(
                s, "testinst", "publishable", "1.0", import_path=PUBLISHABLE_IMPORT_PATH,
                clock=clock,
            )  # fmt: skip
            recipes.create_parameter(s, "testinst", "browse_movie_max_size", "int", clock=clock)
            recipes.add_parameter_value(
                s, "testinst", "browse_movie_max_size", 2048, VALUE_DATE, clock=clock
            )
            recipes.create_recipe(
                s,
                "publish",
                "testinst",
                "publishable",
                "1.0",
                parameters=["browse_movie_max_size"],
                default_configuration={"l1_folder": str(l1_folder)},
                clock=clock,
            )
        announce(store, clock, op, {op: 2}, proposal=TEST_PROPOSAL, recipe="publish")
        deliver(store, clock, op, range(2))
        readiness.run_readiness_pass(store, clock=clock)
    finally:
        store.dispose()
    (outcome,) = run_scheduler(workdir)
    assert outcome.status == "succeeded", outcome
    return outcome.recipe_run_id
