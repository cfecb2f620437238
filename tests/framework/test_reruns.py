"""Reruns that know what changed: a task is reused only when its fingerprint is unchanged.

A scientist re-running a workflow into the same scratch after changing one parameter
value, one option or one input file gets the results of a fresh run with the change,
and only the tasks the change affects run again. Checked on the local executor here and
on a real Dask cluster in ``test_dask_executor.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from dkist_processing_core.framework import (
    LocalExecutor,
    ParameterValue,
    RunSpec,
    Scratch,
)
from dkist_processing_core.framework.executors.base import REUSED

WORKFLOW = "tests.framework.workflows_for_tests:branches"
ALL = ["MakeFrames", "ScaledSum", "ClippedMax", "Report"]


def spec_for(scratch, ledger, *, frame_count=5, max_clip=3.0, **configuration) -> RunSpec:
    return RunSpec(
        recipe_run_id=21,
        workflow=WORKFLOW,
        scratch_dir=scratch,
        configuration={"ledger": str(ledger), **configuration},
        parameters=[
            ParameterValue(id=1, name="frame_count", value=frame_count),
            ParameterValue(id=2, name="max_clip", value=max_clip),
        ],
    )


def ran(ledger) -> list[str]:
    return ledger.read_text().split() if ledger.exists() else []


def results(scratch) -> dict:
    with Scratch(scratch) as s:
        report = s.read_json(s.find_one("REPORT"))
        return {
            "sum": s.read_array(s.find_one("SUM")).tolist(),
            "max": s.read_array(s.find_one("MAX")).tolist(),
            "report": {k: v for k, v in report.items() if k != "pid"},
        }


def fresh(tmp_path, **kw) -> dict:
    scratch = tmp_path / "fresh"
    LocalExecutor().run(spec_for(scratch, tmp_path / "fresh-ledger", **kw))
    return results(scratch)


@pytest.fixture
def first_run(tmp_path):
    scratch, ledger = tmp_path / "scratch", tmp_path / "ledger"
    report = LocalExecutor().run(spec_for(scratch, ledger))
    assert ran(ledger) == ALL and report.reused == []
    assert all(r == "first run" for r in report.ran.values())
    ledger.unlink()
    return scratch, ledger


def test_nothing_changed_nothing_runs(first_run):
    scratch, ledger = first_run
    before = results(scratch)
    report = LocalExecutor().run(spec_for(scratch, ledger))
    assert ran(ledger) == []
    assert report.reused == ALL and report.ran == {}
    assert {t.reason for t in report.tasks} == {REUSED}
    assert results(scratch) == before
    assert "reused" in report.summary()


def test_a_changed_parameter_reruns_only_what_it_affects(first_run, tmp_path):
    scratch, ledger = first_run
    report = LocalExecutor().run(spec_for(scratch, ledger, max_clip=2.5))
    assert ran(ledger) == ["ClippedMax", "Report"]
    assert report.reused == ["MakeFrames", "ScaledSum"]
    assert report.ran["ClippedMax"] == "parameter max_clip changed (3.0 -> 2.5)"
    assert report.ran["Report"].startswith("inputs changed: max")
    assert results(scratch) == fresh(tmp_path, max_clip=2.5)


def test_an_output_option_reruns_its_task_and_an_execution_option_does_not(first_run, tmp_path):
    scratch, ledger = first_run
    LocalExecutor().run(spec_for(scratch, ledger, barrier_timeout=5))  # not an output option
    assert ran(ledger) == []
    report = LocalExecutor().run(spec_for(scratch, ledger, scale=2.0))
    assert ran(ledger) == ["ScaledSum", "Report"]
    assert report.ran["ScaledSum"] == "option scale changed (None -> 2.0)"
    assert results(scratch) == fresh(tmp_path, scale=2.0)


def test_a_changed_input_file_reruns_its_readers_and_what_follows(first_run, tmp_path):
    scratch, ledger = first_run
    with Scratch(scratch) as s:
        frame = next(p for p in s.find("FRAME") if "INDEX_4" in s.tags_of(p))
    expected = fresh(tmp_path)
    # Someone edits a frame in place: both readers and the report must follow.
    with Scratch(scratch) as s:
        data = s.read_array(frame)
    np.save(frame.with_suffix(".tmp.npy"), data * 0 + 9)
    frame.with_suffix(".tmp.npy").replace(frame)
    report = LocalExecutor().run(spec_for(scratch, ledger))
    assert sorted(ran(ledger)) == ["ClippedMax", "Report", "ScaledSum"]
    assert report.reused == ["MakeFrames"]
    assert "inputs changed" in report.ran["ScaledSum"]
    after = results(scratch)
    assert after["sum"][0][0] == expected["sum"][0][0] - 4 + 9
    assert after["max"][0][0] == 3.0  # clipped


def test_rerun_all_runs_every_task(first_run):
    scratch, ledger = first_run
    report = LocalExecutor().run(spec_for(scratch, ledger), rerun="all")
    assert ran(ledger) == ALL
    assert set(report.ran.values()) == {"a full rerun was asked for"}


def test_an_upstream_that_reruns_with_identical_outputs_leaves_downstream_reused(
    first_run, tmp_path
):
    scratch, ledger = first_run
    LocalExecutor().run(spec_for(scratch, ledger), rerun="all")  # same bytes again
    ledger.unlink()
    report = LocalExecutor().run(spec_for(scratch, ledger, max_clip=3.0))
    assert ran(ledger) == [] and report.reused == ALL


def test_the_journal_keeps_the_fingerprint_in_plain_json(first_run):
    import sqlite3

    scratch, _ = first_run
    with sqlite3.connect(scratch / ".run-journal.sqlite") as db:
        rows = dict(db.execute("SELECT name, fingerprint FROM task_runs"))
    clipped = json.loads(rows["ClippedMax"])
    assert clipped["parameters"] == {"max_clip": 3.0}
    assert clipped["code"].startswith("tests.framework.workflows_for_tests.ClippedMax@")
    assert len(clipped["inputs"]) == 5 and all(len(h) == 64 for h in clipped["inputs"].values())


def test_a_task_that_reads_fewer_files_than_it_declares_is_still_reused(tmp_path):
    """Inputs are what it looked up plus what matches its declared reads, on both sides."""
    scratch, ledger = tmp_path / "scratch", tmp_path / "ledger"
    spec = spec_for(scratch, ledger).model_copy(
        update={"workflow": "tests.framework.workflows_for_tests:picky"}
    )
    LocalExecutor().run(spec)
    ledger.unlink()
    report = LocalExecutor().run(spec)
    assert ran(ledger) == [] and report.ran == {}
