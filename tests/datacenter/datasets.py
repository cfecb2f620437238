"""Helpers for dataset-version scenarios: process candidates for real, build inventories from outputs.

"Processing a dataset" here is a real recipe run of ``tests.datacenter.workflows:PROCESS``
(or ``PROCESS_V2``) through the Scheduler and the LocalExecutor; the inventories are
built from the files the run wrote (sizes and SHA-256 of the real files), as the
catalog would build them from L1 frames.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from dkist_processing_core.datacenter.operations.scheduling import Scheduler
from dkist_processing_core.datacenter.planning import readiness, recipes
from dkist_processing_core.datacenter.products.register import register_dataset_version
from dkist_processing_core.datacenter.store.models import RecipeInstance, RecipeRun
from dkist_processing_core.framework.scratch import Scratch

from .scenario import announce, deliver

PROCESS_V1 = "tests.datacenter.workflows:PROCESS"
PROCESS_V2 = "tests.datacenter.workflows:PROCESS_V2"
CODE_VERSIONS = {"dkist-processing-core": "0.1.0", "dkist-processing-testinst": "1.0.0"}
VALUE_DATE = datetime(2024, 1, 1, tzinfo=UTC)


def set_up_processing(store, clock, *, slots=2, with_v2=True):
    """Instrument, workflow ``process`` 1.0 (and 2.0), parameter ``threshold`` = 2.5, recipe."""
    with store.session() as s:
        recipes.create_instrument(s, "testinst", clock=clock)
        recipes.create_workflow_specification(
            s, "testinst", "process", "1.0", import_path=PROCESS_V1, clock=clock
        )
        if with_v2:
            release_v2(s, clock)
        recipes.create_parameter(s, "testinst", "threshold", "float", clock=clock)
        value = recipes.add_parameter_value(
            s, "testinst", "threshold", 2.5, VALUE_DATE, clock=clock
        )
        recipes.set_resource_pool(s, "default", slots)
        recipes.create_recipe(
            s, "process", "testinst", "process", "1.0", parameters=["threshold"], clock=clock
        )
        return value.id


def release_v2(session, clock):
    """Register version 2.0 of workflow ``process`` (a new workflow version is released)."""
    return recipes.create_workflow_specification(
        session, "testinst", "process", "2.0", import_path=PROCESS_V2, clock=clock
    )


def ready_candidate(store, clock, op, frames=3, *, proposal="pid_1", priority=0):
    """A candidate whose ``frames`` observe frames and 2 dark frames all arrived, made ready."""
    dark = f"dark_{op}"
    cid = announce(
        store,
        clock,
        op,
        {op: frames, dark: 2},
        proposal=proposal,
        recipe="process",
        priority=priority,
    )
    deliver(store, clock, op, range(frames))
    deliver(store, clock, dark, range(2), "dark")
    readiness.run_readiness_pass(store, clock=clock)
    return cid


def runs_of(store, candidate_id):
    with store.session() as s:
        return s.scalars(
            select(RecipeRun.id)
            .join(RecipeInstance)
            .where(RecipeInstance.processing_candidate_id == candidate_id)
            .order_by(RecipeRun.id)
        ).all()


def run_outputs(scratch_root: Path, recipe_run_id: int, dataset_id: str):
    """(dataset_inventory, frames, objects) from the files a run wrote, as the catalog makes them."""
    scratch = Scratch(Path(scratch_root) / f"recipe_run_{recipe_run_id}")
    try:
        frame_paths = sorted(scratch.find("OUTPUT", "FRAME"))
        quality_paths = scratch.find("OUTPUT", "QUALITY")
    finally:
        scratch.close()
    frames, objects = [], []
    for path in frame_paths:
        document = json.loads(path.read_text())
        key = f"{dataset_id}/{path.name}"
        frames.append(
            {
                "object_key": key,
                "date_beg": document["date_beg"],
                "stokes": "I",
                "wavelength_nm": 630.2,
                "size_bytes": path.stat().st_size,
                "provenance": {
                    "RRUNID": document["recipe_run_id"],
                    "WKFLNAME": document["workflow"],
                    "WKFLVERS": document["workflow_version"],
                },
            }
        )
        objects.append(_object(path, key, "frame"))
    for path in quality_paths:
        objects.append(_object(path, f"{dataset_id}/{path.name}", "quality_data"))
    times = [f["date_beg"] for f in frames]
    inventory = {
        "dataset_id": dataset_id,
        "start_time": min(times),
        "end_time": max(times),
        "wavelength_min_nm": 630.0,
        "wavelength_max_nm": 630.4,
        "bounding_box_arcsec": [[-10.0, -10.0], [10.0, 10.0]],
        "stokes_parameters": ["I"],
        "frame_count": len(frames),
        "dataset_size_bytes": sum(o["size_bytes"] for o in objects),
        "quality": json.loads(quality_paths[0].read_text()) if quality_paths else None,
    }
    return inventory, frames, objects


def _object(path: Path, key: str, kind: str) -> dict:
    data = path.read_bytes()
    return {
        "object_key": key,
        "kind": kind,
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def register_run(store, clock, scratch_root, recipe_run_id, dataset_id, code_versions=None):
    """Register the dataset version a succeeded run produced; return the RegisteredVersion."""
    inventory, frames, objects = run_outputs(scratch_root, recipe_run_id, dataset_id)
    with store.session() as s:
        return register_dataset_version(
            s,
            recipe_run_id,
            dataset_inventory=inventory,
            frames=frames,
            objects=objects,
            code_versions=code_versions or CODE_VERSIONS,
            clock=clock,
        )


def process_all(store, clock, scratch_root):
    """Run every waiting run through the Scheduler (real LocalExecutor); return the outcomes."""
    outcomes = Scheduler(store, scratch_root, clock=clock).run_until_idle()
    assert all(o.status == "succeeded" for o in outcomes), outcomes
    return outcomes


def process_datasets(store, clock, scratch_root, ops, **kwargs):
    """Make each OP's candidate ready, process it, register its version; return {op: version}."""
    for op in ops:
        ready_candidate(store, clock, op, **kwargs)
    outcomes = process_all(store, clock, scratch_root)
    versions = {}
    for outcome, op in zip(sorted(outcomes, key=lambda o: o.recipe_run_id), ops, strict=True):
        versions[op] = register_run(store, clock, scratch_root, outcome.recipe_run_id, f"DS_{op}")
    return versions
