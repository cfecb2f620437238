"""kill -9 of a real workflow run at a random moment; the rerun's outputs equal an uninterrupted run.

``dkist-processing run spec.json`` runs the VBI default workflow on a small simulated
observation in a subprocess; once its run journal says a randomly chosen task is
running, the process is killed (SIGKILL) after a random delay. The same recipe run is
then run again in this process with the local executor and completes; every file its
tasks wrote carries the same tags and the same data as in an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dkist_processing_core.framework import LocalExecutor, Scratch, resolve_workflow
from dkist_processing_core.framework.executors.journal import RUNNING, RunJournal
from dkist_processing_core.simulate import simulate_vbi, single_filter
from dkist_processing_core.simulate.runs import run_spec_for

vbi = pytest.importorskip("dkist_processing_vbi")
pytestmark = pytest.mark.slow

WORKFLOW = "vbi:l1_calibration"
# Header keys that say when (and as which unique file) a file was written, not what it holds.
WRITE_TIME_KEYS = {"DATE", "CHECKSUM", "DATASUM", "FRAMEVOL", "FILE_ID"}
# The same, as the inventories record them (frame headers, and the dataset's creation date).
INVENTORY_WRITE_TIME_KEYS = WRITE_TIME_KEYS | {"headerDataUnitCreationDate"}


def _without_write_times(value):
    """A JSON document without the keys that say when a file was written."""
    if isinstance(value, dict):
        return {
            k: _without_write_times(v)
            for k, v in value.items()
            if k not in INVENTORY_WRITE_TIME_KEYS
        }
    if isinstance(value, list):
        return [_without_write_times(v) for v in value]
    return value


def cli() -> list[str]:
    found = shutil.which("dkist-processing") or str(
        Path(sys.executable).with_name("dkist-processing")
    )
    return [found]


def _fits_content(path: Path) -> list:
    with fits.open(path) as hdul:
        return [
            (
                {k: v for k, v in h.header.items() if k not in WRITE_TIME_KEYS and k != "HISTORY"},
                None if h.data is None else np.asarray(h.data).tobytes(),
            )
            for h in hdul
        ]


def outputs(scratch_dir: Path, tasks: list[str]) -> dict[str, tuple]:
    """What the run's tasks wrote: relative path -> (tags, content as compared)."""
    found = {}
    with Scratch(scratch_dir) as s:
        for task in tasks:
            for path in s.written_by(task):
                if not path.is_relative_to(s.root):
                    continue  # a raw frame the input parsing indexed where it lies
                name = str(path.relative_to(s.root))
                if path.suffix == ".fits":
                    content = _fits_content(path)
                elif path.suffix == ".json":
                    content = _without_write_times(json.loads(path.read_text()))
                elif path.suffix in (".npy",):
                    content = path.read_bytes()
                else:  # PDF report, movie, preview: their bytes hold their writing time
                    content = path.stat().st_size > 0
                found[name] = (sorted(s.tags_of(path)), content)
    return found


def test_a_run_killed_at_a_random_moment_reruns_to_the_same_outputs(tmp_path):
    observation = simulate_vbi(
        tmp_path / "sim", seed=4, size=(32, 32), n_frames_per_tile=1, n_dark_frames=2,
        n_gain_frames=2, **single_filter(1),
    )  # fmt: skip
    parameters = vbi.DEFAULT_PARAMETER_VALUES
    tasks = resolve_workflow(WORKFLOW).task_order
    reference = run_spec_for(observation, WORKFLOW, tmp_path / "reference", parameters)
    assert LocalExecutor().run(reference).status == "succeeded"
    expected = outputs(reference.scratch_dir, tasks)

    seed = int(os.environ.get("KILL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    victim, delay = rng.choice(tasks[:-1]), rng.uniform(0.0, 0.3)
    spec = run_spec_for(observation, WORKFLOW, tmp_path / "killed", parameters)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.to_json())
    process = subprocess.Popen(
        [*cli(), "run", str(spec_file)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    journal = RunJournal(spec.scratch_dir)
    try:
        deadline = time.monotonic() + 900
        while journal.record(victim).status != RUNNING:
            assert process.poll() is None, f"seed {seed}: the run ended before {victim} ran"
            assert time.monotonic() < deadline, f"seed {seed}: {victim} never started"
            time.sleep(0.01)
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
        journal.close()
    assert process.returncode == -signal.SIGKILL, f"seed {seed}: {process.stderr.read()[-2000:]}"

    report = LocalExecutor().run(spec)
    assert report.status == "succeeded", seed
    # The task running when the process was killed ran again; completed ones were kept.
    assert any(not t.resumed for t in report.tasks), seed
    assert all(report.task(n).resumed for n in tasks[: tasks.index(victim)]), seed
    assert outputs(spec.scratch_dir, tasks) == expected, f"seed {seed}, killed in {victim}"
    leftovers = [p for p in spec.scratch_dir.rglob("*") if p.is_file() and p.name.endswith(".part")]
    assert leftovers == [], seed
