"""Faults: kill -9 in each task of a workflow, and a service that cannot be reached.

Each kill case runs ``dkist-processing run`` on a tiny VBI observation in a subprocess that
kills itself (SIGKILL) in the middle of the named task's first atomic write (its bytes in the
``.part`` file, not yet renamed), then runs the same spec again in-process: the rerun
completes, and its L1 frames equal those of an uninterrupted run (data; headers but the
per-file keywords). The scratch keeps no leftover of the killed attempt anywhere (a task's
temporary files are recorded as its own wherever it writes them).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from dkist_processing_vbi import DEFAULT_PARAMETER_VALUES

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.framework import (
    LocalExecutor,
    Scratch,
    ServiceUnavailable,
    resolve_workflow,
)
from dkist_processing_core.framework.crashpoints import ENV_MATCH, ENV_POINT
from dkist_processing_core.simulate import simulate_vbi
from dkist_processing_core.simulate.runs import run_spec_for

from .conftest import TINY_VBI

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).with_name("dkist-processing")
PER_FILE_KEYWORDS = {"FILE_ID", "DATE", "CHECKSUM", "DATASUM"}
TASKS = resolve_workflow("vbi:l1_calibration").task_order


def l1_frames(scratch_dir: Path) -> dict[str, tuple[np.ndarray, list]]:
    frames = {}
    with Scratch(scratch_dir) as scratch:
        for path in scratch.find(t.OUTPUT, t.L1):
            with fits.open(path) as hdul:
                cards = [(c.keyword, str(c.value)) for c in hdul[1].header.cards
                         if c.keyword not in PER_FILE_KEYWORDS]  # fmt: skip
                frames[path.name] = (hdul[1].data.copy(), cards)
    return frames


@pytest.fixture(scope="module")
def observation(tmp_path_factory):
    return simulate_vbi(tmp_path_factory.mktemp("faults") / "summit", **TINY_VBI)


@pytest.fixture(scope="module")
def uninterrupted(observation, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("uninterrupted") / "scratch"
    LocalExecutor().run(run_spec_for(observation, "vbi:l1_calibration", scratch,
                                     DEFAULT_PARAMETER_VALUES))  # fmt: skip
    return l1_frames(scratch)


@pytest.mark.parametrize("task", TASKS)
def test_kill_9_in_any_task_then_a_rerun_completes_equal(
    observation, uninterrupted, task, tmp_path
):
    spec = run_spec_for(
        observation, "vbi:l1_calibration", tmp_path / "scratch", DEFAULT_PARAMETER_VALUES
    )
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.to_json())
    # A task's writes go to its own folder, but the dataset ASDF is written beside the frames.
    match = ".asdf" if task == "WriteDatasetAsdf" else f"/{task}/"
    env = {**os.environ, ENV_POINT: "write-before-rename:1", ENV_MATCH: match}
    killed = subprocess.run([str(CLI), "run", str(spec_file)], env=env, capture_output=True,
                            text=True, timeout=900)  # fmt: skip
    assert killed.returncode == -9, f"{task} was not killed: {killed.stderr[-2000:]}"

    report = LocalExecutor().run(spec)
    assert report.status == "succeeded"
    assert report.task(task).reason == "the earlier attempt stopped"
    rerun = l1_frames(spec.scratch_dir)
    assert rerun.keys() == uninterrupted.keys()
    for name, (data, cards) in uninterrupted.items():
        np.testing.assert_array_equal(rerun[name][0], data, err_msg=name)
        assert rerun[name][1] == cards, name
    # The killed attempt's unfinished files are gone from the whole scratch, also the
    # dataset ASDF's temporary file, written beside the L1 frames in another task's folder.
    leftovers = list(Path(spec.scratch_dir).rglob("*.part"))
    assert leftovers == []
    with Scratch(spec.scratch_dir) as scratch:
        assert scratch.temporaries_of(task) == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


def test_an_unreachable_dask_scheduler_is_named(tmp_path):
    from dkist_processing_core.framework.executors.dask import DaskExecutor

    address = f"tcp://127.0.0.1:{_closed_port()}"
    with pytest.raises(ServiceUnavailable, match=f"the Dask scheduler at {address} cannot be"):
        DaskExecutor(address=address, timeout=2)


def test_the_cli_names_an_unreachable_dask_scheduler_without_a_traceback(observation, tmp_path):
    spec = run_spec_for(
        observation, "vbi:l1_calibration", tmp_path / "scratch", DEFAULT_PARAMETER_VALUES
    )
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.to_json())
    address = f"tcp://127.0.0.1:{_closed_port()}"
    done = subprocess.run(
        [str(CLI), "run", str(spec_file), "--executor", "dask", "--dask-address", address],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: the Dask scheduler at {address} cannot be reached")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "scratch" / ".run-journal.sqlite").exists()  # nothing ran
