import subprocess
import sys

import numpy as np
import pytest

from dkist_processing_core.framework import (
    LocalExecutor,
    ParameterValue,
    RunSpec,
    Scratch,
    TaskFailed,
)

WORKFLOW = "tests.framework.workflows_for_tests:diamond"


def make_spec(tmp_path, **configuration) -> RunSpec:
    return RunSpec(
        recipe_run_id=7,
        workflow=WORKFLOW,
        workflow_version="1.0.0",
        scratch_dir=tmp_path / "scratch",
        configuration={"ledger": str(tmp_path / "ledger.txt"), **configuration},
        parameters=[ParameterValue(id=11, name="frame_count", value=5)],
    )


def ledger(tmp_path) -> list[str]:
    path = tmp_path / "ledger.txt"
    return path.read_text().split() if path.exists() else []


def report_of(spec):
    with Scratch(spec.scratch_dir) as s:
        return s.read_json(s.find_one("REPORT"))


def test_runs_every_task_in_order_and_records_them(tmp_path):
    spec = make_spec(tmp_path)
    report = LocalExecutor().run(spec)
    assert report.status == "succeeded"
    assert [t.name for t in report.tasks] == ["MakeFrames", "SumFrames", "MaxFrames", "Report"]
    assert all(t.status == "succeeded" and t.duration_s >= 0 for t in report.tasks)
    assert report_of(spec) == {"sum": 10.0, "max": 4.0, "pid": report_of(spec)["pid"]}


def test_failure_names_the_task_and_keeps_the_scratch(tmp_path):
    spec = make_spec(tmp_path, fail_in="MaxFrames")
    with pytest.raises(TaskFailed) as info:
        LocalExecutor().run(spec)
    err = info.value
    assert err.task_name == "MaxFrames" and err.recipe_run_id == 7
    assert "task 'MaxFrames' of recipe run 7 failed: ValueError: simulated failure" in str(err)
    statuses = {t.name: t.status for t in err.report.tasks}
    assert statuses == {
        "MakeFrames": "succeeded",
        "SumFrames": "succeeded",
        "MaxFrames": "failed",
        "Report": "pending",
    }
    with Scratch(spec.scratch_dir) as s:
        assert s.count("FRAME") == 5 and s.count("SUM") == 1


def test_resume_after_failure_does_not_rerun_completed_tasks(tmp_path):
    with pytest.raises(TaskFailed):
        LocalExecutor().run(make_spec(tmp_path, fail_in="MaxFrames"))
    with Scratch(tmp_path / "scratch") as s:
        sum_path = s.find_one("SUM")
    sum_bytes = sum_path.read_bytes()
    report = LocalExecutor().run(make_spec(tmp_path))  # the cause is fixed; same recipe run
    assert ledger(tmp_path) == ["MakeFrames", "SumFrames", "MaxFrames", "MaxFrames", "Report"]
    assert report.task("MakeFrames").resumed and report.task("SumFrames").resumed
    assert report.task("MaxFrames").attempts == 2
    assert sum_path.read_bytes() == sum_bytes  # completed outputs untouched


def test_resume_after_the_process_is_killed(tmp_path):
    spec = make_spec(tmp_path, kill_in="SumFrames")
    code = (
        "from dkist_processing_core.framework import LocalExecutor, RunSpec\n"
        f"LocalExecutor().run(RunSpec.from_json({spec.to_json()!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()  # SIGKILL
    with Scratch(spec.scratch_dir) as s:
        frames = {p: s.read_array(p) for p in s.find("FRAME")}
        assert len(frames) == 5
        assert s.count("PARTIAL_SumFrames") == 1  # the killed task's half-done output

    report = LocalExecutor().run(make_spec(tmp_path))
    assert report.status == "succeeded"
    assert ledger(tmp_path).count("MakeFrames") == 1  # not run again
    with Scratch(spec.scratch_dir) as s:
        assert s.count("PARTIAL_SumFrames") == 0  # the interrupted attempt's output is gone
        for p, arr in frames.items():
            np.testing.assert_array_equal(s.read_array(p), arr)
    assert report_of(spec)["sum"] == 10.0


def test_a_missing_parameter_value_is_a_clear_task_failure(tmp_path):
    spec = make_spec(tmp_path).model_copy(update={"parameters": []})
    with pytest.raises(TaskFailed, match="parameter 'frame_count' has no value in this run"):
        LocalExecutor().run(spec)


def test_version_mismatch_is_refused_before_running(tmp_path):
    spec = make_spec(tmp_path).model_copy(update={"workflow_version": "2.0.0"})
    with pytest.raises(LookupError, match=r"is at version 1\.0\.0, but version 2\.0\.0"):
        LocalExecutor().run(spec)
    assert ledger(tmp_path) == []
