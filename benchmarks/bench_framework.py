"""Framework overheads: per-task cost of the local executor, tag queries over 100,000 files.

Each figure is reported next to a floor measured in the same run (``extra_info``):
- per-task overhead vs. one durable SQLite commit (the journal needs two per task);
- a tag query over 100,000 indexed files vs. listing those files' folder (what a
  glob-based scratch would pay for every query).
"""

from __future__ import annotations

import os
import sqlite3
import time

import pytest

from dkist_processing_core.framework import LocalExecutor, RunSpec, Scratch, Task, Workflow


class NoOp(Task):
    """Does nothing: measures what the executor itself costs per task."""

    def run(self) -> None:
        pass


def chain(n: int) -> Workflow:
    wf = Workflow("noop_chain", "1")
    previous = None
    for i in range(n):
        previous = wf.add(NoOp, name=f"noop_{i:03d}", upstreams=[previous] if previous else [])
    return wf


N_TASKS = 50
_CHAIN = chain(N_TASKS)


def noop_chain() -> Workflow:
    return _CHAIN


def _sqlite_commit_seconds(path, n=200) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)")
    start = time.perf_counter()
    for i in range(n):
        conn.execute("INSERT OR REPLACE INTO t VALUES (?, 'x')", (i,))
    elapsed = (time.perf_counter() - start) / n
    conn.close()
    return elapsed


def test_local_executor_per_task_overhead(benchmark, tmp_path):
    runs = iter(range(10**6))

    def run_chain():
        spec = RunSpec(
            recipe_run_id=next(runs),
            workflow="benchmarks.bench_framework:noop_chain",
            scratch_dir=tmp_path / f"run{next(runs)}",
        )
        LocalExecutor().run(spec)

    benchmark.pedantic(run_chain, rounds=5, iterations=1, warmup_rounds=1)
    per_task = benchmark.stats.stats.median / N_TASKS
    floor = _sqlite_commit_seconds(tmp_path / "floor.sqlite")
    benchmark.extra_info.update(
        per_task_ms=round(per_task * 1e3, 3),
        sqlite_commit_ms=round(floor * 1e3, 3),
        ratio_to_one_commit=round(per_task / floor, 1),
    )


N_FILES = 100_000


@pytest.fixture(scope="module")
def big_scratch(tmp_path_factory):
    root = tmp_path_factory.mktemp("big") / "scratch"
    files = root / "files"
    files.mkdir(parents=True)
    scratch = Scratch(root)
    with scratch.batch():
        for i in range(N_FILES):
            p = files / f"{i:06d}.fits"
            p.touch()
            tags = [
                "FRAME",
                "INPUT" if i % 2 else "INTERMEDIATE",
                f"TASK_{('DARK', 'GAIN', 'POLCAL', 'OBSERVE')[i % 4]}",
                f"MODSTATE_{i % 10}",
                f"EXP_TIME_{(i // 7) % 5}",
            ]
            scratch.add(p, tags)
    yield scratch
    scratch.close()


def test_tag_query_over_100k_files(benchmark, big_scratch):
    found = benchmark(big_scratch.find, "INPUT", "TASK_OBSERVE", "MODSTATE_3", "EXP_TIME_2")
    assert found and len(found) < N_FILES / 40
    start = time.perf_counter()
    listed = sum(1 for _ in os.scandir(big_scratch.root / "files"))
    scandir = time.perf_counter() - start
    assert listed == N_FILES
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(
        files=N_FILES,
        matches=len(found),
        query_ms=round(median * 1e3, 3),
        scandir_ms=round(scandir * 1e3, 3),
        ratio_to_listing_the_folder=round(median / scandir, 3),
    )


def test_tag_count_over_100k_files(benchmark, big_scratch):
    n = benchmark(big_scratch.count, "INPUT", "TASK_DARK")
    assert n == 0  # INPUT is odd i, TASK_DARK is i % 4 == 0: disjoint by construction
    n = big_scratch.count("INPUT", "TASK_GAIN")
    assert n == N_FILES // 4
