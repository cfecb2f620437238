"""Frames within a task in parallel chunks (``framework.parallel.map_frames``).

Truth: each frame's result is its index squared (exact in float32 for these
small integers, so compared with no tolerance); the in-process path and the
Dask path must give the same results in the same order, and write the same
files byte for byte. Concurrency is proven with a barrier (each chunk waits
for the other to start), not by timing.
"""

from __future__ import annotations

import os

import pytest

from dkist_processing_core.framework import LocalExecutor, RunSpec, Scratch, TaskFailed
from dkist_processing_core.framework.parallel import (
    FrameError,
    chunked,
    describe_item,
    function_path,
    run_chunk,
)

WORKFLOW = "tests.framework.chunked_for_tests:squares"


def spec(tmp_path, run_id=1, **configuration) -> RunSpec:
    return RunSpec(
        recipe_run_id=run_id,
        workflow=WORKFLOW,
        scratch_dir=tmp_path / "scratch",
        configuration={"n_frames": 10, **configuration},
    )


def squares_of(s: RunSpec) -> dict:
    with Scratch(s.scratch_dir) as scratch:
        return scratch.read_json(scratch.find_one("SQUARES"))


def square_files(s: RunSpec) -> dict[str, bytes]:
    with Scratch(s.scratch_dir) as scratch:
        return {p.name: p.read_bytes() for p in scratch.find("SQUARE")}


# -- in this process --------------------------------------------------------------------
def test_in_process_results_are_in_order_and_exact(tmp_path):
    s = spec(tmp_path, chunk=3)  # chunks of 3, 3, 3, 1
    LocalExecutor().run(s)
    out = squares_of(s)
    assert [r["index"] for r in out["results"]] == list(range(10))
    assert [r["square"] for r in out["results"]] == [float(i * i) for i in range(10)]
    assert {r["pid"] for r in out["results"]} == {os.getpid()} == {out["task_pid"]}
    assert len(square_files(s)) == 10


def test_configured_chunk_size_wins_and_is_checked(tmp_path):
    LocalExecutor().run(spec(tmp_path / "a", chunk=3, frame_chunk_size=4))
    with pytest.raises(TaskFailed, match=r"frame_chunk_size must be a whole number >= 1, got 0"):
        LocalExecutor().run(spec(tmp_path / "b", frame_chunk_size=0))


def test_an_error_names_the_frame_and_fails_the_task(tmp_path):
    with pytest.raises(TaskFailed) as info:
        LocalExecutor().run(spec(tmp_path, chunk=4, fail_on=5))
    err = info.value
    assert err.task_name == "SquareFrames"
    assert (
        "FrameError: SquareFrames: frame raw/frame0005.fits failed: "
        "ValueError: simulated bad data in frame 5" in err.error
    )
    # Frames of the failed chunk before the bad one were written (and are the task's own
    # partial outputs, removed before a retry); the chunks after it never ran.
    with Scratch(tmp_path / "scratch") as scratch:
        assert sorted(p.name for p in scratch.find("SQUARE")) == [
            f"square{i:04d}.npy" for i in range(5)
        ]
        assert scratch.count("SQUARES") == 0


def test_a_chunk_function_must_yield_one_result_per_frame(tmp_path):
    with pytest.raises(TaskFailed, match=r"yielded 1 results for 10 items"):
        LocalExecutor().run(spec(tmp_path, miscount=True, chunk=10))


def test_only_module_level_functions_cross():
    def local(items):
        yield from items

    with pytest.raises(TypeError, match="must be a module-level function"):
        function_path(local)
    with pytest.raises(TypeError, match="must be a module-level function"):
        function_path(lambda items: items)
    from .chunked_for_tests import square_frames

    assert function_path(square_frames) == "tests.framework.chunked_for_tests:square_frames"


def test_run_chunk_reports_the_failing_item_as_json():
    import json

    out = json.loads(
        run_chunk(
            "tests.framework.chunked_for_tests:square_frames",
            json.dumps([{"path": "a.fits", "index": 1}, {"path": "b.fits", "index": 2}]),
            json.dumps({"scratch_dir": "/nonexistent/never", "writer": "w", "fail_on": 1}),
        )
    )
    assert out["results"] == [] and out["error"]["item"] == {"path": "a.fits", "index": 1}
    assert out["error"]["message"] == "ValueError: simulated bad data in frame 1"
    err = FrameError(out["error"]["item"], out["error"]["message"], "T")
    assert str(err) == "T: frame a.fits failed: ValueError: simulated bad data in frame 1"
    assert describe_item(3) == "3" and chunked([1, 2, 3], 2) == [[1, 2], [3]]


def test_a_chunk_on_a_worker_records_its_temporary_files_as_the_task_s(tmp_path):
    import json

    scratch_dir = str(tmp_path / "scratch")
    out = json.loads(
        run_chunk(  # as a Dask worker runs it: no recorder of the task's process is set here
            "tests.framework.chunked_for_tests:square_frames",
            json.dumps([{"path": "a.fits", "index": 1}, {"path": "b.fits", "index": 2}]),
            json.dumps({"scratch_dir": scratch_dir, "writer": "Squares"}),
            json.dumps({"scratch_dir": scratch_dir, "writer": "Squares"}),
        )
    )
    assert out["error"] is None
    with Scratch(scratch_dir) as scratch:
        recorded = scratch.temporaries_of("Squares")
        written = scratch.written_by("Squares")
    assert len(recorded) == len(written) == 2
    for temporary in recorded:  # renamed into place: each the temporary of a written file
        assert not temporary.exists() and temporary.name.endswith(".part")
        assert any(temporary.name.startswith(f".{w.name}.") for w in written)


# -- on a real Dask cluster --------------------------------------------------------------
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    from dkist_processing_core.framework.executors.dask import local_cluster

    with (
        local_cluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.slow
def test_chunks_run_at_the_same_time_on_two_workers(client, tmp_path):
    from dkist_processing_core.framework.executors.dask import DaskExecutor

    barrier = tmp_path / "barrier"
    barrier.mkdir()
    # Two chunks of 5; each waits until both have started: completes only if they run at once,
    # on the two workers, while the task itself waits (seceded) on one of them.
    s = spec(tmp_path, chunk=5, barrier=str(barrier), barrier_chunks=2)
    report = DaskExecutor(client).run(s)
    assert report.status == "succeeded"
    out = squares_of(s)
    pids = {r["pid"] for r in out["results"]}
    assert len(pids) == 2 and os.getpid() not in pids
    assert out["task_pid"] != os.getpid()
    assert len(list(barrier.glob("chunk-*"))) == 2


@pytest.mark.slow
def test_dask_results_equal_the_in_process_results(client, tmp_path):
    from dkist_processing_core.framework.executors.dask import DaskExecutor

    local, dask = spec(tmp_path / "local", chunk=2), spec(tmp_path / "dask", chunk=2)
    LocalExecutor().run(local)
    DaskExecutor(client).run(dask)

    def without_process(s):
        return [
            {k: v for k, v in r.items() if k not in ("pid", "path")}
            for r in squares_of(s)["results"]
        ]

    assert without_process(dask) == without_process(local)
    assert square_files(dask) == square_files(local)


@pytest.mark.slow
def test_an_error_on_a_worker_names_the_frame_and_fails_the_task(client, tmp_path):
    from dkist_processing_core.framework.executors.dask import DaskExecutor

    with pytest.raises(TaskFailed) as info:
        DaskExecutor(client).run(spec(tmp_path, chunk=3, fail_on=7))
    assert info.value.task_name == "SquareFrames"
    assert "frame raw/frame0007.fits failed: ValueError: simulated bad data in frame 7" in (
        info.value.error
    )


@pytest.mark.slow
def test_a_task_on_a_one_thread_worker_does_not_deadlock(tmp_path):
    """One worker with one thread: the task's own thread must give up its slot to its chunks."""
    distributed = pytest.importorskip("distributed")
    from dkist_processing_core.framework.executors.dask import DaskExecutor, local_cluster

    with (
        local_cluster(n_workers=1, threads_per_worker=1, processes=True) as cluster,
        distributed.Client(cluster) as one,
    ):
        s = spec(tmp_path, chunk=2)
        report = DaskExecutor(one).run(s)
    assert report.status == "succeeded"
    out = squares_of(s)
    assert [r["square"] for r in out["results"]] == [float(i * i) for i in range(10)]
    assert {r["pid"] for r in out["results"]} == {out["task_pid"]}  # the one worker


@pytest.mark.slow
def test_a_run_outside_the_cluster_uses_the_configured_scheduler(client, tmp_path):
    s = spec(tmp_path, chunk=5, dask_scheduler_address=client.scheduler.address)
    LocalExecutor().run(s)  # the task runs here; its chunks on the cluster
    out = squares_of(s)
    assert out["task_pid"] == os.getpid()
    assert os.getpid() not in {r["pid"] for r in out["results"]}
    assert [r["square"] for r in out["results"]] == [float(i * i) for i in range(10)]


@pytest.mark.slow
def test_after_an_error_no_new_chunk_starts_and_none_still_writes(client, tmp_path):
    """20 chunks of one frame, the first fails: only the chunks already in flight (two per
    worker) ran, and all of them had finished when the task was reported failed."""
    import time

    from dkist_processing_core.framework.executors.dask import DaskExecutor

    with pytest.raises(TaskFailed, match=r"frame raw/frame0000.fits failed"):
        DaskExecutor(client).run(spec(tmp_path, n_frames=20, chunk=1, fail_on=0))
    with Scratch(tmp_path / "scratch") as scratch:
        written = scratch.count("SQUARE")
        assert written <= 2 * 2 - 1  # in flight with the failing chunk, on two workers
        time.sleep(1.0)  # a chunk still running would write within this (each takes ~ms)
        assert scratch.count("SQUARE") == written
