"""Helpers for data-center scenarios: a recipe, candidates with manifests, frame arrivals."""

from __future__ import annotations

from datetime import UTC, datetime

from dkist_processing_core.datacenter.planning import readiness, recipes

WORKFLOW_IMPORT_PATH = "tests.datacenter.workflows:CALIBRATE"
OBSERVATION_DATE = datetime(2024, 4, 20, 18, 0, tzinfo=UTC)


def set_up_recipe(store, clock, *, name="calibrate", manual=False, defaults=None, slots=2):
    """An instrument, the test workflow, a typed parameter with one value, and a recipe."""
    with store.session() as s:
        if not recipes.list_instruments(s):
            recipes.create_instrument(s, "testinst", "instrument of the tests", clock=clock)
            recipes.create_workflow_specification(
                s, "testinst", "calibrate", "1.0", import_path=WORKFLOW_IMPORT_PATH, clock=clock
            )
            recipes.create_parameter(s, "testinst", "threshold", "float", clock=clock)
            recipes.add_parameter_value(
                s, "testinst", "threshold", 2.5, datetime(2024, 1, 1, tzinfo=UTC), clock=clock
            )
            recipes.set_resource_pool(s, "default", slots)
        recipes.create_recipe(
            s,
            name,
            "testinst",
            "calibrate",
            "1.0",
            default_configuration=defaults if defaults is not None else {"a": {"b": 1, "c": 2}},
            parameters=["threshold"],
            is_manual=manual,
            clock=clock,
        )
    return name


def announce(
    store,
    clock,
    observe_op,
    frames_per_op,
    *,
    proposal="pid_1_1",
    recipe="calibrate",
    priority=0,
    run_configuration=None,
):
    """Register a candidate whose first OP is the observe OP, and its transfer manifests."""
    calibration_ops = [op for op in frames_per_op if op != observe_op]
    with store.session() as s:
        candidate = readiness.register_processing_candidate(
            s,
            observe_op,
            calibration_ops,
            proposal_id=proposal,
            principal_investigator="Dr. Sun",
            recipe=recipe,
            observation_date=OBSERVATION_DATE,
            proposal_priority=priority,
            run_configuration=run_configuration,
            clock=clock,
        )
        readiness.record_transfer_manifests(s, frames_per_op, clock=clock)
        return candidate.id


def deliver(store, clock, op, indices, kind="observe"):
    """Frames ``indices`` of OP ``op`` arrive now; return how many were newly counted."""
    with store.session() as s:
        return readiness.record_frames(
            s,
            [
                readiness.FrameArrival(f"{op}_{i:04d}", op, kind, f"/raw/{op}/{i:04d}.fits")
                for i in indices
            ],
            clock=clock,
        )
