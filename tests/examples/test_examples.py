"""The examples in ``examples/`` run as a user would run them, and produce real results.

Each runs as its own process with ``--workdir`` in a temporary folder; the test
reads the numbers it prints and checks them against the simulator's truth.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dkist_processing_core.framework.links import workflow_doc_url, workflow_source_url
from dkist_processing_core.framework.registry import resolve_workflow

EXAMPLES = Path(__file__).parents[2] / "examples"

pytestmark = pytest.mark.slow


def run_example(name: str, workdir: Path) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the output:\n{text[-3000:]}"
    return float(match.group(1))


def test_notebook_path_recovers_the_truth(tmp_path):
    out = run_example("notebook_path.py", tmp_path)
    assert "recipe run 1: succeeded" in out
    tasks = re.findall(r"^  (\w+) +(\w+) +[\d.]+ s$", out, flags=re.MULTILINE)
    workflow = resolve_workflow("visp:l1_calibration")
    assert [name for name, _ in tasks] == workflow.task_order  # every task, in order
    assert all(status == "succeeded" for _, status in tasks)
    # Same tolerances as the ViSP workflow tests: darks and gain within 0.5% (20 darks per
    # exposure time, 4 gain repeats: photon noise is a few 1e-3), spectral shifts within 0.05 px.
    darks = [float(x) for x in re.findall(r"dark [\d.]+ ms: largest relative error (\S+)", out)]
    assert len(darks) == 3 and max(darks) < 0.005
    assert number(r"gain: rms relative error (\S+)", out) < 0.005
    assert number(r"spectral shifts: largest error (\S+) px", out) < 0.05
    assert number(r"(\d+) Level 1 frames", out) == 8  # 2 scan steps x 4 Stokes parameters
    # Stokes I: unbiased well below its 0.25% photon noise; Q/I, U/I, V/I: the residual is
    # the propagated photon + read noise (~4e-3 per pixel here), so below 1.5 x that.
    assert abs(number(r"Stokes I: mean relative error (\S+),", out)) < 5e-4
    for s in "QUV":
        assert number(rf"{s}/I: rms difference from the truth (\S+) ", out) < 6e-3
    assert f"INFO_URL={workflow_doc_url('visp', 'l1_calibration', '1.0.0')}" in out
    assert (tmp_path / "stokes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_operator_path_runs_a_candidate_to_level1_frames_through_the_cli(tmp_path):
    out = run_example("operator_path.py", tmp_path)
    assert (tmp_path / "datacenter.sqlite").is_file()  # the embedded store in --workdir
    frames = int(number(r"(\d+) new frames counted \(0 already known\)", out))
    assert frames > 100  # every frame of the simulated observation, counted once
    assert "1 candidates ready (0 by the back stop), 1 recipe runs created" in out
    # The first attempt fails on the frame moved aside and opens a ticket naming the file.
    first = out[out.index("$ dkist-processing runs schedule") : out.index("# (frame ")]
    assert re.search(r"│ 1 +│ failed +│ VispParseInputData +│ 1 ", first)
    assert re.search(r"│ 1 +│ 1 +│ manual_by_exception +│ open ", first)
    assert "ticket 1 resolved: retry is recipe run 2" in out
    # The retry succeeds; the status view and the ticket list say so.
    after = out[out.index("# (frame ") :]
    assert re.search(r"│ 2 +│ succeeded ", after)
    assert re.search(
        rf"pid_3_visp .* {frames}/{frames} .* yes .* succeeded .* 1:failed 2:succeeded", after
    )
    assert re.search(r"│ 1 +│ 1 +│ manual_by_exception +│ resolved .* retry .* ops-on-duty", after)
    # The periodic pass published the retry's output as an available dataset version.
    datasets = out[out.index("$ dkist-processing datasets list") :]
    assert re.search(
        r"eid_3_visp_observe_op +│ v\w+ +│ 1 +│ available +│ l1_calibration 1\.0\.0 +│ 2 ", datasets
    )
    assert number(r"# (\d+) Level 1 frames", out) == 8
    assert "recipe run 2, input dataset 1" in out
    assert f"documentation {workflow_doc_url('visp', 'l1_calibration', '1.0.0')}" in out
    assert f"source code   {workflow_source_url('visp', '1.0.0')}" in out
