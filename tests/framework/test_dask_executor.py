import os

import pytest

from dkist_processing_core.framework import RunSpec, Scratch, TaskFailed
from dkist_processing_core.framework.executors.dask import DaskExecutor, local_cluster

from .test_local_executor import make_spec, report_of

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    with (
        local_cluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_workflow_runs_on_a_real_cluster(client, tmp_path):
    spec = make_spec(tmp_path)
    report = DaskExecutor(client).run(spec)
    assert report.status == "succeeded"
    assert report_of(spec)["sum"] == 10.0 and report_of(spec)["max"] == 4.0
    assert report_of(spec)["pid"] != os.getpid()  # ran in a worker process


def test_independent_tasks_run_in_parallel(client, tmp_path):
    (tmp_path / "barrier").mkdir()
    spec = RunSpec(
        recipe_run_id=3,
        workflow="tests.framework.workflows_for_tests:barrier",
        scratch_dir=tmp_path / "scratch",
        configuration={"barrier": str(tmp_path / "barrier"), "barrier_timeout": 60},
    )
    # Left waits for Right's marker and Right for Left's: this completes only if both run at once.
    report = DaskExecutor(client).run(spec)
    assert report.status == "succeeded"


def test_failure_stops_downstream_and_resumes(client, tmp_path):
    with pytest.raises(TaskFailed) as info:
        DaskExecutor(client).run(make_spec(tmp_path, fail_in="SumFrames"))
    statuses = {t.name: t.status for t in info.value.report.tasks}
    assert statuses["SumFrames"] == "failed" and statuses["Report"] == "upstream_failed"
    assert info.value.task_name == "SumFrames"
    report = DaskExecutor(client).run(make_spec(tmp_path))
    assert report.task("MakeFrames").resumed
    with Scratch(tmp_path / "scratch") as s:
        assert s.count("REPORT") == 1


def test_reruns_reuse_unchanged_tasks_on_a_real_cluster(client, tmp_path):
    """The same fingerprints decide on the workers: a changed parameter reruns its branch."""
    from .test_reruns import ALL, fresh, ran, results, spec_for

    scratch, ledger = tmp_path / "scratch", tmp_path / "ledger"
    DaskExecutor(client).run(spec_for(scratch, ledger))
    assert sorted(ran(ledger)) == sorted(ALL)
    ledger.unlink()
    report = DaskExecutor(client).run(spec_for(scratch, ledger))
    assert ran(ledger) == [] and report.reused == ALL
    report = DaskExecutor(client).run(spec_for(scratch, ledger, max_clip=2.5))
    assert ran(ledger) == ["ClippedMax", "Report"]
    assert report.ran["ClippedMax"] == "parameter max_clip changed (3.0 -> 2.5)"
    assert results(scratch) == fresh(tmp_path, max_clip=2.5)
    report = DaskExecutor(client).run(spec_for(scratch, ledger, max_clip=2.5), rerun="all")
    assert set(report.ran) == set(ALL)
