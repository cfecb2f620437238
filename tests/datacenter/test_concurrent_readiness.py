"""Two readiness passes in two processes at the same moment never plan a candidate twice."""

import json
import multiprocessing
import time

import pytest
from sqlalchemy import func, select

from dkist_processing_core.datacenter.planning import readiness
from dkist_processing_core.datacenter.store.models import (
    InputDataset,
    ProcessingCandidate,
    RecipeInstance,
    RecipeRun,
)

from .scenario import deliver, set_up_recipe

CANDIDATES = 300


def _pass_in_process(url: str, start_at: float, results) -> None:
    from dkist_processing_core.datacenter.store import Store

    store = Store.open(url)
    while time.time() < start_at:  # both processes start their pass at the same moment
        time.sleep(0.001)
    report = readiness.run_readiness_pass(store)
    results.put(json.dumps({"ready": report.ready, "runs": report.recipe_runs_created}))
    store.dispose()


@pytest.mark.slow
def test_two_concurrent_passes_make_one_run_per_candidate(store, clock, database_url):
    set_up_recipe(store, clock)
    with store.session() as s:
        for i in range(CANDIDATES):
            readiness.register_processing_candidate(
                s,
                f"obs_{i}",
                [],
                proposal_id="pid_1",
                principal_investigator="PI",
                recipe="calibrate",
                observation_date=clock.now(),
                clock=clock,
            )
        readiness.record_transfer_manifests(s, {f"obs_{i}": 2 for i in range(CANDIDATES)})
    for i in range(CANDIDATES):
        deliver(store, clock, f"obs_{i}", range(2))
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 3.0  # time for both interpreters to start
    processes = [
        context.Process(target=_pass_in_process, args=(database_url, start_at, results))
        for _ in range(2)
    ]
    for p in processes:
        p.start()
    reports = [json.loads(results.get(timeout=120)) for _ in processes]
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    # Together the two passes made every candidate ready exactly once.
    assert sum(r["ready"] for r in reports) == CANDIDATES
    assert sum(r["runs"] for r in reports) == CANDIDATES
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(RecipeRun)) == CANDIDATES
        assert (
            s.scalar(select(func.count(func.distinct(RecipeInstance.processing_candidate_id))))
            == CANDIDATES
        )
        assert s.scalar(select(func.count()).select_from(RecipeInstance)) == CANDIDATES
        assert s.scalar(select(func.count()).select_from(InputDataset)) == CANDIDATES
        assert (
            s.scalar(
                select(func.count())
                .select_from(ProcessingCandidate)
                .where(ProcessingCandidate.ready_at.is_(None))
            )
            == 0
        )
