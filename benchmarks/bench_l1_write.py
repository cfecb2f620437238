"""Write speed of one 4096x4096 float32 L1 frame: astropy's standard writer vs ours.

Run: ``.venv/bin/python -m pytest benchmarks/bench_l1_write.py --benchmark-only -s``

Each case reports, in ``benchmark.extra_info``, its time as a ratio to the machine's lower bound
measured in the same run: an uncompressed write + fsync of the same number of bytes as our
compressed file, plus one numpy copy of the frame (the memory traffic of touching it once).
"""

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from benchmarks.limits import best_of, write_fsync_seconds
from dkist_processing_core.calibration.l1.writer import (
    L1WriteTimings,
    write_l1_frame,
    write_l1_frame_astropy,
    write_l1_frames_parallel,
)

SHAPE = (4096, 4096)


def frame(seed=0):
    rng = np.random.default_rng(seed)
    x = np.arange(SHAPE[1])[None, :]
    return (1000 + 80 * np.sin(x / 17.0) + rng.normal(0, 3, SHAPE)).astype(np.float32)


@pytest.fixture(scope="module")
def lower_bound(tmp_path_factory):
    """Seconds: write + fsync of 14.4 MB (our file's size) + one copy of the 64 MiB frame."""
    d = tmp_path_factory.mktemp("lb")
    data = frame()
    payload = np.random.default_rng(1).integers(0, 255, 14_400_000, dtype=np.uint8).tobytes()

    disk = write_fsync_seconds(d / "raw.bin", payload)
    copy = best_of(lambda: data.copy())
    return {"disk_s": disk, "copy_s": copy, "total_s": disk + copy}


def _report(benchmark, lower_bound, extra=None):
    mean = benchmark.stats.stats.min
    benchmark.extra_info.update(
        {
            "ms_per_frame_min": round(mean * 1e3, 1),
            "lower_bound_ms": round(lower_bound["total_s"] * 1e3, 1),
            "ratio_to_lower_bound": round(mean / lower_bound["total_s"], 2),
            **(extra or {}),
        }
    )


def test_write_astropy(benchmark, tmp_path, lower_bound):
    data = frame()
    header = fits.Header({"EXTNAME": "OBSERVATION"})
    benchmark.pedantic(
        write_l1_frame_astropy, args=(tmp_path / "a.fits", data, header), rounds=3, iterations=1
    )
    _report(benchmark, lower_bound)


def test_write_ours(benchmark, tmp_path, lower_bound):
    data = frame()
    header = fits.Header({"EXTNAME": "OBSERVATION"})
    write_l1_frame(tmp_path / "o.fits", data, header)  # numba compile / cache load
    timings = []

    def run():
        t = L1WriteTimings()
        write_l1_frame(tmp_path / "o.fits", data, header, timings=t)
        timings.append(t)

    benchmark.pedantic(run, rounds=5, iterations=1)
    best = min(timings, key=lambda t: t.total_s)
    _report(
        benchmark,
        lower_bound,
        {
            "compress_ms": round(best.compress_s * 1e3, 1),
            "table_and_checksum_ms": round(best.table_s * 1e3, 1),
            "write_fsync_rename_ms": round(best.write_s * 1e3, 1),
            "file_MB": best.file_bytes / 1e6,
        },
    )


@pytest.mark.parametrize("processes", [1, 2])
def test_frames_per_second(benchmark, tmp_path, lower_bound, processes):
    n = 8
    jobs = []
    for i in range(n):
        np.save(tmp_path / f"a{i}.npy", frame(i))
        jobs.append((tmp_path / f"a{i}.npy", fits.Header({"FRAMENUM": i}), tmp_path / f"{i}.fits"))
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from dkist_processing_core.calibration.l1 import writer

    with ProcessPoolExecutor(
        processes, mp_context=get_context("forkserver"), initializer=writer._warm_up
    ) as pool:
        write_l1_frames_parallel(jobs[:processes], executor=pool)  # start the workers
        benchmark.pedantic(
            write_l1_frames_parallel, args=(jobs,), kwargs={"executor": pool}, rounds=2,
            iterations=1,
        )  # fmt: skip
    seconds = benchmark.stats.stats.min
    benchmark.extra_info.update(
        {
            "frames": n,
            "processes": processes,
            "frames_per_second": round(n / seconds, 2),
            "ms_per_frame": round(seconds / n * 1e3, 1),
            "ratio_to_lower_bound": round(seconds / n / lower_bound["total_s"], 2),
        }
    )
    assert all(Path(tmp_path / f"{i}.fits").exists() for i in range(n))
