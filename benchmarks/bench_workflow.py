"""The whole VBI-like workflow at real size: frames/s, seconds per task, CPU and peak memory.

Run: ``.venv/bin/python -m pytest benchmarks/bench_workflow.py --benchmark-only -s``
(a few minutes on the 2-core machine; ~3 GB of scratch under the pytest temp directory), or
directly, to compare two checkouts on the same simulated frames::

    python -m benchmarks.bench_workflow simulate SIM_DIR
    python benchmarks/bench_workflow.py measure SIM_DIR WORK_DIR [CODE_ROOT [10,20 [no-warm-up]]]

where ``CODE_ROOT`` (a checkout of dkist-processing-core, default this one) is the code the
workflow runs with: ``measure`` on ``main`` and on a branch gives the before/after figures.

A VBI observation of 4096x4096 frames (one mosaic tile, 20 repeats: 20 observe frames, 3 darks
and 3 gains) is simulated once. The instrument's ``l1_calibration`` workflow then runs with
``LocalExecutor`` in a fresh subprocess on 10 and on 20 of the observe frames. For each run:

- frames/s of the whole workflow and seconds of each task (from the run report);
- CPU seconds of the process tree (user + system of the workflow process and every process it
  waited for: L1 writer processes, the ffmpeg encoder);
- peak resident memory of the process tree: the sum of the RSS of the workflow process and all
  its descendants, sampled every 20 ms with psutil, with the largest single process and the
  largest ffmpeg child apart;
- the share of the run taken by the quality report and by the browse movie.

The machine's limits, measured in the same run on the same bytes, turn the total into ratios:
reading the raw input bytes (plain ``read()`` from the page cache), writing the compressed L1
bytes (uncompressed write + fsync of as many bytes) and the calibration arithmetic
(``(raw - dark) * inv_gain`` per frame) on two cores. Their sum is the run's floor.

Targets (asserted in the pytest entry, as properties, not wall-clock times): the quality report
and the movie each under 10 % of the run, peak RSS of the process tree under 700 MB and flat from
10 to 20 frames (15 % + 100 MB of allocator noise).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

SIZE = (4096, 4096)
REPEATS = 20  # one tile (the dataset inventory wants a complete mosaic for 10 and for 20)
QUALITY_TASK = "AssembleQualityReport"
MOVIE_TASK = "MakeBrowseMovie"
SHARE_TARGET = 0.10
PEAK_TARGET_MB = 700.0
PEAK_GROWTH_FRACTION = 0.15
PEAK_GROWTH_MB = 100.0
REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# subprocess entry points
# ---------------------------------------------------------------------------------------------
def _simulate(root: str) -> None:
    from dkist_processing_core.simulate import simulate_vbi

    simulate_vbi(
        root, seed=1, size=SIZE, mosaic=(1, 1), include_scene_truth=False, noise="gaussian",
        wavelengths_nm=(430.52,), exposure_ms=(2.0,), counts_per_ms=(6000.0,),
        granulation_contrast=(0.18,), n_dark_frames=3, n_gain_frames=3,
        n_frames_per_tile=REPEATS,
    )  # fmt: skip


def _input_dataset(root: str, observe_frames: int) -> dict:
    """The input dataset with the first ``observe_frames`` observe frames (in time order)."""
    from dkist_processing_core.simulate import SimulatedObservation

    sim = SimulatedObservation.load(root)
    doc = sim.input_dataset_document()
    observe = [
        (record, entry)
        for record, entry in zip(sim.frames, doc["frames"])
        if record.task_type == "OBSERVE"
    ]
    keep = {id(e) for _, e in sorted(observe, key=lambda re: re[0].repeat)[:observe_frames]}
    frames = [
        entry
        for record, entry in zip(sim.frames, doc["frames"])
        if record.task_type != "OBSERVE" or id(entry) in keep
    ]
    return {**doc, "frames": frames}


def _run_workflow(root: str, scratch: str, observe_frames: int) -> dict:
    import dkist_processing_vbi

    from dkist_processing_core.framework import LocalExecutor, ParameterValue, RunSpec
    from dkist_processing_core.framework.logs import configure_logging

    configure_logging("WARNING")
    values = dkist_processing_vbi.DEFAULT_PARAMETER_VALUES
    document = _input_dataset(root, observe_frames)
    spec = RunSpec(
        recipe_run_id=1,
        workflow="vbi:l1_calibration",
        scratch_dir=Path(scratch),
        configuration={"l1_write_processes": 1},
        parameters=[ParameterValue(id=i, name=k, value=v) for i, (k, v) in enumerate(values.items(), 1)],
        input_dataset=document,
    )  # fmt: skip
    t0 = time.perf_counter()
    report = LocalExecutor().run(spec)
    total = time.perf_counter() - t0
    l1_frames = [p for p in Path(scratch).rglob("*_L1.fits")]
    raw_bytes = sum(Path(f["path"]).stat().st_size for f in document["frames"])
    return {
        "status": report.status,
        "total_s": total,
        "tasks": {t.name: t.duration_s for t in report.tasks},
        "observe_frames": sum(1 for f in document["frames"] if f["frame_kind"] == "observe"),
        "input_frames": len(document["frames"]),
        "raw_bytes": raw_bytes,
        "l1_frames": len(l1_frames),
        "l1_bytes": sum(p.stat().st_size for p in l1_frames),
    }


# ---------------------------------------------------------------------------------------------
# the parent: runs a case in a fresh process tree and watches its memory
# ---------------------------------------------------------------------------------------------
def _watch_tree(pid: int, stop: threading.Event, out: dict, interval: float = 0.02) -> None:
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    while not stop.is_set():
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        total = 0
        for proc in procs:
            try:
                rss = proc.memory_info().rss
                name = proc.name()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += rss
            out["largest_process_mb"] = max(out.get("largest_process_mb", 0.0), rss / 2**20)
            if "ffmpeg" in name:
                out["ffmpeg_mb"] = max(out.get("ffmpeg_mb", 0.0), rss / 2**20)
        out["tree_mb"] = max(out.get("tree_mb", 0.0), total / 2**20)
        stop.wait(interval)


def run_case(root: Path, scratch: Path, observe_frames: int, code_root: Path = REPO) -> dict:
    """Run the workflow in a fresh process (with the code of ``code_root``) and measure it."""
    code_root = Path(code_root).resolve()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(code_root), str(code_root / "instruments/visp"), str(code_root / "instruments/vbi")]
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "run", str(root), str(scratch),
         str(observe_frames)],
        cwd=code_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    memory: dict = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_tree, args=(proc.pid, stop, memory), daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    stop.set()
    watcher.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"workflow run ({observe_frames} frames) failed:\n{stderr[-3000:]}")
    case = json.loads(stdout.strip().splitlines()[-1])
    case["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of waited-for descendants: the largest single process (kB on Linux).
    case["largest_process_maxrss_mb"] = after.ru_maxrss / 1024
    case["peak_tree_rss_mb"] = memory.get("tree_mb", 0.0)
    case["peak_largest_process_rss_mb"] = memory.get("largest_process_mb", 0.0)
    case["peak_ffmpeg_rss_mb"] = memory.get("ffmpeg_mb", 0.0)
    return case


def machine_limits(root: Path, workdir: Path) -> dict:
    """The run's yardsticks, measured now on this machine (see module docstring)."""
    from benchmarks.limits import best_of, write_fsync_seconds
    from dkist_processing_core.calibration.science.algorithm import (
        dark_gain_correct,
        reciprocal_gain,
    )
    from dkist_processing_core.simulate import SimulatedObservation

    sim = SimulatedObservation.load(root)
    paths = [sim.path_of(r) for r in sim.frames]
    nbytes = sum(p.stat().st_size for p in paths)

    def plain_read():
        for p in paths:
            with open(p, "rb") as f:
                f.read()

    plain_read()  # into the page cache
    read_s = best_of(plain_read, 2)
    raw = np.random.default_rng(0).normal(1000, 10, SIZE).astype(np.float32)
    dark = np.full(SIZE, 100.0, np.float32)
    inv_gain = reciprocal_gain(np.ones(SIZE, np.float32))
    dark_gain_correct(raw, dark, inv_gain)  # compile
    arithmetic_s = best_of(lambda: dark_gain_correct(raw, dark, inv_gain))
    payload = np.zeros(16 * 2**20, np.uint8).tobytes()
    write_s = write_fsync_seconds(workdir / "limit_write.bin", payload)
    return {
        "read_bytes_per_s": nbytes / read_s,
        "write_fsync_bytes_per_s": len(payload) / write_s,
        "arithmetic_s_per_frame": arithmetic_s,
    }


def summarise(case: dict, limits: dict) -> dict:
    """The figures of one run, with its floor from the machine's limits."""
    total = case["total_s"]
    floor = {
        "read_raw_s": case["raw_bytes"] / limits["read_bytes_per_s"],
        "write_l1_s": case["l1_bytes"] / limits["write_fsync_bytes_per_s"],
        "arithmetic_2_cores_s": case["observe_frames"] * limits["arithmetic_s_per_frame"] / 2,
    }
    floor_s = sum(floor.values())
    return {
        "observe_frames": case["observe_frames"],
        "total_s": round(total, 2),
        "frames_per_s": round(case["observe_frames"] / total, 3),
        "tasks_s": {k: round(v, 2) for k, v in case["tasks"].items()},
        "quality_share": round(case["tasks"].get(QUALITY_TASK, 0.0) / total, 3),
        "movie_share": round(case["tasks"].get(MOVIE_TASK, 0.0) / total, 3),
        "cpu_s": round(case["cpu_s"], 1),
        "cpu_s_per_wall_s": round(case["cpu_s"] / total, 2),
        "peak_tree_rss_mb": round(case["peak_tree_rss_mb"], 1),
        "peak_largest_process_rss_mb": round(case["peak_largest_process_rss_mb"], 1),
        "largest_process_maxrss_mb": round(case["largest_process_maxrss_mb"], 1),
        "peak_ffmpeg_rss_mb": round(case["peak_ffmpeg_rss_mb"], 1),
        "floor_s": {k: round(v, 2) for k, v in floor.items()},
        "total_ratio_to_floor": round(total / floor_s, 1) if floor_s > 0 else None,
        "cpu_ratio_to_2_core_arithmetic": round(
            case["cpu_s"] / (2 * floor["arithmetic_2_cores_s"]), 1
        ),
    }


def measure(
    root: Path, workdir: Path, code_root: Path = REPO, counts=(10, 20), warm_up: bool = True
) -> dict:
    """Run the workflow on each count of observe frames; the summaries and the limits."""
    import shutil

    workdir.mkdir(parents=True, exist_ok=True)
    if warm_up:
        # A first, discarded run pays for what later runs find ready (numba caches, page cache).
        run_case(root, workdir / "warm_up", counts[0], code_root)
        shutil.rmtree(workdir / "warm_up", ignore_errors=True)
    cases = {}
    for n in counts:
        cases[n] = run_case(root, workdir / f"run_{n}", n, code_root)
        assert cases[n]["status"] == "succeeded", cases[n]
        shutil.rmtree(workdir / f"run_{n}", ignore_errors=True)
    limits = machine_limits(root, workdir)
    return {
        "code_root": str(code_root),
        "limits": {k: round(v, 4) for k, v in limits.items()},
        "runs": {str(n): summarise(c, limits) for n, c in cases.items()},
    }


# ---------------------------------------------------------------------------------------------
# pytest entry
# ---------------------------------------------------------------------------------------------
def test_whole_workflow(benchmark, tmp_path):
    root = tmp_path / "sim"
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_workflow", "simulate", str(root)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = {}
    benchmark.pedantic(
        lambda: result.update(measure(root, tmp_path / "work")), rounds=1, iterations=1
    )
    benchmark.extra_info.update(result)
    print(json.dumps(result, indent=1))
    small, large = result["runs"]["10"], result["runs"]["20"]
    for run in (small, large):
        assert run["quality_share"] < SHARE_TARGET, run
        assert run["movie_share"] < SHARE_TARGET, run
        assert run["peak_tree_rss_mb"] < PEAK_TARGET_MB, run
    allowed = small["peak_tree_rss_mb"] * (1 + PEAK_GROWTH_FRACTION) + PEAK_GROWTH_MB
    assert large["peak_tree_rss_mb"] < allowed, (small, large)


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "simulate":
        _simulate(rest[0])
        print("{}")
    elif command == "run":
        print(json.dumps(_run_workflow(rest[0], rest[1], int(rest[2]))))
    elif command == "measure":
        sys.path.append(str(REPO))  # run as a script: the benchmarks package
        code = Path(rest[2]) if len(rest) > 2 else REPO
        counts = tuple(int(n) for n in rest[3].split(",")) if len(rest) > 3 else (10, 20)
        warm = len(rest) <= 4 or rest[4] != "no-warm-up"
        print(json.dumps(measure(Path(rest[0]), Path(rest[1]), code, counts, warm), indent=1))
