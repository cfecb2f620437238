"""The diamond workflow as a real Airflow DAG, run with ``dag.test()`` on Airflow's metadata DB.

Truth: the local executor's outputs for the same recipe run (the adapter may only
change where and when tasks run, never what they write), so files are compared
byte for byte, with no tolerance.
"""

from datetime import timedelta

import pytest

from dkist_processing_core.framework import LocalExecutor, RunSpec, Scratch, TaskFailed
from dkist_processing_core.framework.executors.airflow import (
    RUN_SPEC_PARAM,
    AirflowExecutor,
    default_dag_id,
    register_dag,
    workflow_dag,
)

from ..framework.test_local_executor import ledger, make_spec, report_of

pytest.importorskip("airflow")
pytestmark = [pytest.mark.airflow, pytest.mark.slow]

OUTPUT_TAGS = ("FRAME", "SUM", "MAX", "REPORT")


def outputs(spec: RunSpec) -> dict[str, bytes]:
    """Every output of the diamond workflow: path inside the scratch -> file bytes."""
    with Scratch(spec.scratch_dir) as s:
        return {
            str(p.relative_to(spec.scratch_dir)): p.read_bytes()
            for tag in OUTPUT_TAGS
            for p in s.find(tag)
        }


def test_dag_has_one_airflow_task_per_task_with_the_same_dependencies(tmp_path):
    spec = make_spec(tmp_path)
    dag = workflow_dag(
        spec, pool="visp_pool", priority_weight=7, retries={"SumFrames": 2}, dag_id="diamond_7"
    )
    workflow = spec_workflow(spec)
    assert dag.dag_id == "diamond_7"
    assert sorted(dag.task_ids) == sorted(workflow.task_names)
    for node in workflow.nodes:
        task = dag.get_task(node.name)
        assert task.upstream_task_ids == set(node.upstreams)
        assert task.pool == "visp_pool"
        assert task.priority_weight == 7 and str(task.weight_rule) in (
            "absolute",
            "WeightRule.ABSOLUTE",
        )
        assert task.retries == (2 if node.name == "SumFrames" else 0)
        assert task.op_kwargs == {"task_name": node.name, "workflow": spec.workflow}
    carried = RunSpec.from_json(dag.params[RUN_SPEC_PARAM])
    assert carried == spec  # recipe run id, configuration, parameter values: all carried
    assert f"recipe_run:{spec.recipe_run_id}" in dag.tags


def spec_workflow(spec):
    from dkist_processing_core.framework.executors.base import load_workflow

    return load_workflow(spec)


def test_bad_retries_are_named(tmp_path):
    with pytest.raises(
        ValueError, match=r"retries names tasks \['Sum'\] that are not in workflow 'diamond'"
    ):
        workflow_dag(make_spec(tmp_path), retries={"Sum": 1})


def test_diamond_runs_end_to_end_with_the_local_executors_outputs(tmp_path):
    local_spec = make_spec(tmp_path / "local")
    airflow_spec = make_spec(tmp_path / "airflow")
    LocalExecutor().run(local_spec)
    report = AirflowExecutor().run(airflow_spec)
    assert report.status == "succeeded"
    assert [t.name for t in report.tasks] == ["MakeFrames", "SumFrames", "MaxFrames", "Report"]
    assert all(t.status == "succeeded" and t.attempts == 1 for t in report.tasks)
    assert report_of(airflow_spec)["sum"] == 10.0 and report_of(airflow_spec)["max"] == 4.0
    local, airflow = outputs(local_spec), outputs(airflow_spec)
    assert len(local) == 5 + 1 + 1 + 1
    assert local.keys() == airflow.keys()
    for path in local:
        assert local[path] == airflow[path], path


def test_failure_names_the_task_and_keeps_the_scratch(tmp_path):
    spec = make_spec(tmp_path, fail_in="MaxFrames")
    with pytest.raises(TaskFailed) as info:
        AirflowExecutor().run(spec)
    err = info.value
    assert err.task_name == "MaxFrames" and err.recipe_run_id == 7
    assert "ValueError: simulated failure in MaxFrames" in str(err)
    statuses = {t.name: t.status for t in err.report.tasks}
    assert statuses == {
        "MakeFrames": "succeeded",
        "SumFrames": "succeeded",
        "MaxFrames": "failed",
        "Report": "upstream_failed",  # Airflow did not run it; the journal says why
    }
    assert "upstream ['MaxFrames'] failed" in err.report.task("Report").error
    with Scratch(spec.scratch_dir) as s:
        assert s.count("FRAME") == 5 and s.count("SUM") == 1 and s.count("REPORT") == 0
    # Airflow's own record agrees: the DAG run failed, at that task.
    from airflow.models.dagrun import DagRun

    run = max(DagRun.find(dag_id=default_dag_id(spec)), key=lambda r: r.start_date)
    assert str(run.state) in ("failed", "DagRunState.FAILED")
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {
        "MakeFrames": "success",
        "SumFrames": "success",
        "MaxFrames": "failed",
        "Report": "upstream_failed",
    }


def test_rerun_resumes_without_rerunning_completed_tasks(tmp_path):
    with pytest.raises(TaskFailed):
        AirflowExecutor().run(make_spec(tmp_path, fail_in="MaxFrames"))
    with Scratch(tmp_path / "scratch") as s:
        sum_path = s.find_one("SUM")
    sum_bytes = sum_path.read_bytes()
    report = AirflowExecutor().run(make_spec(tmp_path))  # the cause is fixed; same recipe run
    assert sorted(ledger(tmp_path)) == sorted(
        ["MakeFrames", "SumFrames", "MaxFrames", "MaxFrames", "Report"]
    )
    assert report.task("MakeFrames").resumed and report.task("SumFrames").resumed
    assert not report.task("MaxFrames").resumed and report.task("MaxFrames").attempts == 2
    assert sum_path.read_bytes() == sum_bytes
    assert report_of(make_spec(tmp_path))["sum"] == 10.0


def flaky_spec(tmp_path) -> RunSpec:
    return RunSpec(
        recipe_run_id=21,
        workflow="tests.airflow.workflows_for_airflow:flaky",
        scratch_dir=tmp_path / "scratch",
        configuration={"attempts_file": str(tmp_path / "attempts.txt")},
    )


def test_a_task_failing_once_succeeds_with_one_retry(tmp_path):
    spec = flaky_spec(tmp_path)
    report = AirflowExecutor(retries={"FlakyOnce": 1}, retry_delay=timedelta(0)).run(spec)
    assert (tmp_path / "attempts.txt").read_text() == "2"
    assert report.task("FlakyOnce").attempts == 2 and report.task("FlakyOnce").status == "succeeded"
    with Scratch(spec.scratch_dir) as s:
        # The first attempt's partial output was removed before the retry: one file, from attempt 2.
        assert s.read_json(s.find_one("AFTER")) == {"flaky_values": [2.0]}


def test_without_retries_the_same_task_fails(tmp_path):
    with pytest.raises(TaskFailed) as info:
        AirflowExecutor(retries=0).run(flaky_spec(tmp_path))
    assert info.value.task_name == "FlakyOnce"
    assert "ConnectionError" in info.value.error
    assert (tmp_path / "attempts.txt").read_text() == "1"


def test_pool_is_created_and_tasks_carry_pool_and_priority(tmp_path):
    from airflow.models.dagrun import DagRun
    from airflow.models.pool import Pool

    spec = make_spec(tmp_path).model_copy(update={"recipe_run_id": 31})
    AirflowExecutor(pool="dkist_test_pool", pool_slots=3, priority_weight=9).run(spec)
    assert Pool.get_pool("dkist_test_pool").slots == 3
    run = max(DagRun.find(dag_id=default_dag_id(spec)), key=lambda r: r.start_date)
    instances = run.get_task_instances()
    assert len(instances) == 4
    assert {(ti.pool, ti.priority_weight, str(ti.state)) for ti in instances} == {
        ("dkist_test_pool", 9, "success")
    }
    # An existing pool keeps the size an operator gave it.
    AirflowExecutor(pool="dkist_test_pool", pool_slots=8).run(spec)
    assert Pool.get_pool("dkist_test_pool").slots == 3


def test_triggered_conf_runs_another_recipe_run_of_the_same_workflow(tmp_path):
    built_for = make_spec(tmp_path / "a")
    other = make_spec(tmp_path / "b").model_copy(update={"recipe_run_id": 41})
    dag = workflow_dag(built_for, dag_id="diamond_template", retry_delay=timedelta(0))
    register_dag(dag)
    run = dag.test(run_conf={RUN_SPEC_PARAM: other.to_json()})
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    assert report_of(other)["sum"] == 10.0
    assert not built_for.scratch_dir.exists()


def test_a_triggered_spec_for_another_workflow_is_refused(tmp_path):
    dag = workflow_dag(make_spec(tmp_path / "a"), dag_id="diamond_guard", retry_delay=timedelta(0))
    register_dag(dag)
    wrong = make_spec(tmp_path / "b").model_copy(
        update={"workflow": "tests.framework.workflows_for_tests:barrier", "workflow_version": None}
    )
    run = dag.test(run_conf={RUN_SPEC_PARAM: wrong.to_json()})
    assert str(run.state) in ("failed", "DagRunState.FAILED")
    assert not (tmp_path / "b" / "scratch").exists()  # nothing ran


def test_reruns_reuse_unchanged_tasks_as_an_airflow_dag(tmp_path):
    """The same fingerprints decide inside Airflow tasks: a changed parameter reruns its branch."""
    from ..framework.test_reruns import ALL, fresh, ran, results, spec_for

    scratch, ledger_path = tmp_path / "scratch", tmp_path / "ledger"
    AirflowExecutor().run(spec_for(scratch, ledger_path))
    assert sorted(ran(ledger_path)) == sorted(ALL)
    ledger_path.unlink()
    report = AirflowExecutor().run(spec_for(scratch, ledger_path))
    assert ran(ledger_path) == [] and report.reused == ALL
    report = AirflowExecutor().run(spec_for(scratch, ledger_path, max_clip=2.5))
    assert sorted(ran(ledger_path)) == ["ClippedMax", "Report"]
    assert report.task("ClippedMax").reason == "parameter max_clip changed (3.0 -> 2.5)"
    assert results(scratch) == fresh(tmp_path, max_clip=2.5)
    ledger_path.unlink()
    AirflowExecutor().run(spec_for(scratch, ledger_path, max_clip=2.5), rerun="all")
    assert sorted(ran(ledger_path)) == sorted(ALL)
