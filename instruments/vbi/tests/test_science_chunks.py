"""VBI's science calibration in parallel chunks on a Dask cluster: same frames, bounded memory.

Truths: (1) the in-process path's calibrated frames; the Dask path only changes
where the chunks run, so the calibrated FITS files are compared byte for byte.
(2) Streaming: a chunk holds one frame at a time and returns only paths, so the
worker's peak memory does not grow with the number of frames. Doubling the
observe frames from N to 2N frames of 1024 x 1024 may raise the worker's peak RSS by
less than 16 MiB: two raw frames as float64 (8 MiB each), room for allocator and
SQLite page-cache slack, while keeping the N extra calibrated frames (4 MiB each,
48 MiB) or raw frames (96 MiB) would exceed it several times over.
"""

from __future__ import annotations

import resource

import pytest
from dkist_processing_vbi import DEFAULT_PARAMETER_VALUES

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.framework import LocalExecutor, Scratch, execute_task
from dkist_processing_core.framework.executors.dask import (
    DaskExecutor,
    local_cluster,
    run_task_on_worker,
)
from dkist_processing_core.simulate import simulate_vbi, single_filter
from dkist_processing_core.simulate.runs import run_spec_for

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

MIB = 1 << 20
SCIENCE = "ImagerScienceCalibration"
BEFORE_SCIENCE = ("VbiParseInputData", "DarkCalibration", "ImagerGainCalibration")


def calibrated_files(scratch_dir) -> dict[str, bytes]:
    with Scratch(scratch_dir) as s:
        return {p.name: p.read_bytes() for p in s.find(t.CALIBRATED)}


def test_calibrated_frames_on_dask_equal_the_in_process_ones(tmp_path):
    observation = simulate_vbi(tmp_path / "summit", seed=4, **single_filter(1))
    local, dask = (
        run_spec_for(
            observation, "vbi:l1_calibration", tmp_path / name, DEFAULT_PARAMETER_VALUES,
            configuration={"frame_chunk_size": 5},
        )
        for name in ("local", "dask")
    )  # fmt: skip
    LocalExecutor().run(local)
    with (
        local_cluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        distributed.Client(cluster) as client,
    ):
        DaskExecutor(client).run(dask)
    in_process, on_dask = calibrated_files(local.scratch_dir), calibrated_files(dask.scratch_dir)
    assert (
        len(in_process) == len(observation.select("OBSERVE")) == 8
    )  # 4 tiles x 2 frames, one filter
    assert on_dask.keys() == in_process.keys()
    for name in in_process:
        assert on_dask[name] == in_process[name], name


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def science_peak_rss(root, frames_per_tile: int) -> int:
    """Peak RSS (bytes) of a fresh one-worker Dask worker that ran the science calibration."""
    observation = simulate_vbi(
        root / "summit", seed=5, size=(1024, 1024), mosaic=(2, 2), include_scene_truth=False,
        noise="gaussian", n_dark_frames=4, n_gain_frames=4, n_frames_per_tile=frames_per_tile,
        **single_filter(1),
    )  # fmt: skip
    spec = run_spec_for(
        observation, "vbi:l1_calibration", root / "scratch", DEFAULT_PARAMETER_VALUES,
        configuration={"frame_chunk_size": 3},
    )  # fmt: skip
    for name in BEFORE_SCIENCE:
        assert execute_task(spec, name).status == "succeeded"
    with (
        local_cluster(n_workers=1, threads_per_worker=1, processes=True) as cluster,
        distributed.Client(cluster) as client,
    ):
        record = client.submit(run_task_on_worker, spec.to_json(), SCIENCE, pure=False).result()
        assert '"status":"succeeded"' in record.replace(" ", ""), record
        (peak,) = client.run(_peak_rss).values()
    with Scratch(spec.scratch_dir) as s:
        assert (
            s.count(t.CALIBRATED) == len(observation.select("OBSERVE")) == 4 * frames_per_tile
        )  # 4 tiles, one filter
    return peak


def test_worker_peak_memory_does_not_grow_with_the_number_of_frames(tmp_path):
    n = science_peak_rss(tmp_path / "n", frames_per_tile=1)  # 12 observe frames
    two_n = science_peak_rss(tmp_path / "2n", frames_per_tile=2)  # 24 observe frames
    growth = two_n - n
    print(f"science worker peak RSS: N {n / MIB:.1f} MiB, 2N {two_n / MIB:.1f} MiB")
    assert growth < 16 * MIB, f"peak RSS {n / MIB:.1f} MiB -> {two_n / MIB:.1f} MiB"
