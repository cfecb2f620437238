"""Per-task overhead of the engines side by side: local, Dask (a real LocalCluster), Airflow.

The same 50-task no-op chain (``benchmarks.bench_framework:noop_chain``) runs on
each; the run's time divided by its task count is what the engine costs per
task, since the tasks themselves do nothing. Each figure is reported in
``extra_info`` next to yardsticks measured in the same run: one durable SQLite
commit (the journal's unit of work) and the local executor's per-task cost.

Airflow is measured only where it is installed (the tox ``airflow`` environment):
``.venv/bin/tox -e airflow -- benchmarks/bench_adapters.py --benchmark-only``
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import statistics
import tempfile
import time

import pytest

from dkist_processing_core.framework import LocalExecutor, RunSpec

from .bench_framework import N_TASKS, _sqlite_commit_seconds

WORKFLOW = "benchmarks.bench_framework:noop_chain"
_run_ids = itertools.count(1000)

if importlib.util.find_spec("airflow") is not None and "AIRFLOW_HOME" not in os.environ:
    # Never touch a real deployment's metadata database from a benchmark.
    _home = tempfile.mkdtemp(prefix="airflow-home-")
    os.environ.update(
        AIRFLOW_HOME=_home,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=os.path.join(_home, "dags"),
    )


def _spec(root) -> RunSpec:
    run_id = next(_run_ids)
    return RunSpec(recipe_run_id=run_id, workflow=WORKFLOW, scratch_dir=root / f"run{run_id}")


@pytest.fixture(scope="module")
def yardsticks(tmp_path_factory):
    """Per-task cost of the local executor and one SQLite commit, measured once for the module."""
    root = tmp_path_factory.mktemp("yardsticks")
    LocalExecutor().run(_spec(root))  # warm-up: imports, first journal
    times = []
    for _ in range(5):
        start = time.perf_counter()
        LocalExecutor().run(_spec(root))
        times.append(time.perf_counter() - start)
    return {
        "local_per_task": statistics.median(times) / N_TASKS,
        "sqlite_commit": _sqlite_commit_seconds(root / "floor.sqlite"),
    }


def _report(benchmark, yardsticks) -> None:
    per_task = benchmark.stats.stats.median / N_TASKS
    benchmark.extra_info.update(
        tasks=N_TASKS,
        per_task_ms=round(per_task * 1e3, 3),
        local_per_task_ms=round(yardsticks["local_per_task"] * 1e3, 3),
        sqlite_commit_ms=round(yardsticks["sqlite_commit"] * 1e3, 3),
        ratio_to_local=round(per_task / yardsticks["local_per_task"], 1),
        ratio_to_one_commit=round(per_task / yardsticks["sqlite_commit"], 1),
    )


def test_local_per_task_overhead(benchmark, tmp_path, yardsticks):
    benchmark.pedantic(
        lambda: LocalExecutor().run(_spec(tmp_path)), rounds=5, iterations=1, warmup_rounds=1
    )
    _report(benchmark, yardsticks)


def test_dask_per_task_overhead(benchmark, tmp_path, yardsticks):
    distributed = pytest.importorskip("distributed")
    from dkist_processing_core.framework.executors.dask import DaskExecutor, local_cluster

    with (
        local_cluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        distributed.Client(cluster) as client,
    ):
        executor = DaskExecutor(client)
        benchmark.pedantic(
            lambda: executor.run(_spec(tmp_path)), rounds=5, iterations=1, warmup_rounds=1
        )
    _report(benchmark, yardsticks)


def test_airflow_per_task_overhead(benchmark, tmp_path, yardsticks):
    pytest.importorskip("airflow")
    import subprocess
    import sys

    from dkist_processing_core.framework.executors.airflow import AirflowExecutor

    # Migrating an already-migrated database is a no-op, so this is safe inside tox too.
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True
    )
    executor = AirflowExecutor()
    # Warm-up includes the first dag.test() of the process (~4.5 s of Airflow set-up).
    benchmark.pedantic(
        lambda: executor.run(_spec(tmp_path)), rounds=3, iterations=1, warmup_rounds=1
    )
    _report(benchmark, yardsticks)
