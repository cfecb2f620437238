"""Fixed costs of a process: import and first task, the SPEC-0214 plan, reading one raw frame.

Each figure is a ratio to a floor measured in the same run (``extra_info``):

- a fresh process that imports the package and runs a one-task workflow with the
  local executor / a bare ``python -c pass``;
- the SPEC-0214 level-0 translation rules and key sets of an instrument in a fresh
  process, from an empty cache folder (``cold``: the schema is expanded) and from the
  folder it left (``warm``: read from disk) / a bare ``python -c pass``;
- ``read_raw_frame`` of a 4096x4096 raw frame (page cache) / reading the file's bytes
  and verifying its FITS data checksum in numpy (the work the reader cannot avoid).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dkist_processing_core.framework import Task, Workflow

ROOT = Path(__file__).resolve().parents[1]


class NoOp(Task):
    """Does nothing: the first task's cost is the executor's and the imports'."""

    def run(self) -> None:
        pass


def one_task() -> Workflow:
    wf = Workflow("one_task", "1")
    wf.add(NoOp, name="noop")
    return wf


def _python_seconds(code: str, env: dict[str, str] | None = None, rounds: int = 3) -> float:
    best = float("inf")
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [environment.get("PYTHONPATH")])]
    )
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=environment)
        best = min(best, time.perf_counter() - start)
    return best


FIRST_TASK = """
import tempfile
from dkist_processing_core.framework import LocalExecutor, RunSpec
with tempfile.TemporaryDirectory() as d:
    LocalExecutor().run(RunSpec(recipe_run_id=1, workflow="benchmarks.bench_fixed_costs:one_task",
                                scratch_dir=d))
"""

TRANSLATION = """
from dkist_processing_core.calibration.l1 import translation
translation._translation_rules("VBI")
translation._level0_only_and_spec122_keys()
"""


def test_import_and_first_task(benchmark):
    floor = _python_seconds("pass")
    seconds = benchmark.pedantic(_python_seconds, args=(FIRST_TASK,), rounds=1, iterations=1)
    imports = _python_seconds("import dkist_processing_core")
    benchmark.extra_info.update(
        python_pass_s=round(floor, 3),
        import_s=round(imports, 3),
        import_and_first_task_s=round(seconds, 3),
        ratio_to_python_pass=round(seconds / floor, 2),
    )


def test_translation_plan_cold_and_warm(benchmark, tmp_path):
    floor = _python_seconds("pass")
    env = {"DKIST_PROCESSING_CACHE_DIR": str(tmp_path / "cache")}
    cold = _python_seconds(TRANSLATION, env, rounds=1)
    warm = benchmark.pedantic(_python_seconds, args=(TRANSLATION, env), rounds=1, iterations=1)
    benchmark.extra_info.update(
        python_pass_s=round(floor, 3),
        cold_s=round(cold, 3),
        warm_s=round(warm, 3),
        cold_ratio_to_python_pass=round(cold / floor, 2),
        warm_ratio_to_python_pass=round(warm / floor, 2),
    )


def _fits_data_checksum_ok(raw: bytes, header_bytes: int, data_bytes: int, datasum: int) -> bool:
    """The FITS DATASUM (ones' complement sum of big-endian 32-bit words) of the data, in numpy."""
    padded = -(-data_bytes // 2880) * 2880
    words = np.frombuffer(raw, dtype=">u4", count=padded // 4, offset=header_bytes)
    total = int(words.sum(dtype=np.uint64))
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total == datasum


@pytest.fixture(scope="module")
def raw_frame(tmp_path_factory):
    from dkist_processing_core.simulate import VbiConfig, iter_vbi_frames
    from dkist_processing_core.simulate.observation import write_frames

    root = tmp_path_factory.mktemp("raw")
    config = VbiConfig(size=(4096, 4096), mosaic=(1, 1), wavelengths_nm=(393.327,),
                       exposure_ms=(8.0,), counts_per_ms=(1500.0,), granulation_contrast=(0.12,),
                       n_dark_frames=1, n_gain_frames=0, n_frames_per_tile=0)  # fmt: skip
    record = next(write_frames(root, iter_vbi_frames(config)))
    return root / record.path


def test_raw_frame_read(benchmark, raw_frame):
    from astropy.io import fits

    from dkist_processing_core.calibration.input.frames import read_raw_frame

    with fits.open(raw_frame) as hdul:
        hdu = hdul[-1]
        info = hdu.fileinfo()
        header_bytes, data_bytes = info["datLoc"], hdu._data_size
        datasum = int(hdu.header["DATASUM"])

    def floor() -> None:
        raw = raw_frame.read_bytes()
        assert _fits_data_checksum_ok(raw, header_bytes, data_bytes, datasum)

    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        floor()
        best = min(best, time.perf_counter() - start)
    benchmark.pedantic(read_raw_frame, args=(raw_frame,), rounds=5, iterations=1, warmup_rounds=1)
    seconds = benchmark.stats.stats.median
    benchmark.extra_info.update(
        bytes=raw_frame.stat().st_size,
        bytes_and_checksum_s=round(best, 4),
        read_raw_frame_s=round(seconds, 4),
        ratio_to_bytes_and_checksum=round(seconds / best, 2),
    )
