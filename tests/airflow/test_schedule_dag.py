"""The data center's periodic pass as a scheduled Airflow DAG: readiness, then start ready runs.

The two data-center functions here stand in for the real ones only in what they
are given (``database_url=``) and in order: each appends a row to the SQLite
database named by that URL, and the second refuses to run before the first.
"""

import sqlite3
from pathlib import Path

import pytest

from dkist_processing_core.framework.executors.airflow import datacenter_schedule_dag, register_dag

pytest.importorskip("airflow")
pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def _db(database_url: str) -> sqlite3.Connection:
    assert database_url.startswith("sqlite:///"), database_url
    conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS passes (step INTEGER PRIMARY KEY, name TEXT)")
    return conn


def mark_ready(*, database_url: str) -> int:
    with _db(database_url) as conn:
        conn.execute("INSERT INTO passes(name) VALUES ('readiness')")
    return 1


def start_runs(*, database_url: str) -> int:
    conn = _db(database_url)
    names = [r[0] for r in conn.execute("SELECT name FROM passes ORDER BY step")]
    if not names or names[-1] != "readiness":
        raise RuntimeError(f"start_ready_runs ran before readiness: {names}")
    conn.execute("INSERT INTO passes(name) VALUES ('start_ready_runs')")
    conn.close()
    return 0


def steps(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM passes ORDER BY step")]
    finally:
        conn.close()


def test_schedule_dag_calls_readiness_then_start_ready_runs(tmp_path):
    db = tmp_path / "metadata.sqlite"
    dag = datacenter_schedule_dag(
        "tests.airflow.test_schedule_dag:mark_ready",
        "tests.airflow.test_schedule_dag:start_runs",
        schedule="*/5 * * * *",
        database_url=f"sqlite:///{db}",
        dag_id="dkist_schedule_test",
    )
    assert dag.get_task("start_ready_runs").upstream_task_ids == {"readiness"}
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.timetable.expression == "*/5 * * * *"
    register_dag(dag)
    for _ in range(2):  # two passes of the "cron"
        run = dag.test()
        assert str(run.state) in ("success", "DagRunState.SUCCESS")
    assert steps(db) == ["readiness", "start_ready_runs"] * 2


def test_a_bad_import_path_is_named_when_the_dag_is_built():
    with pytest.raises(ValueError, match="has no attribute 'nope'"):
        datacenter_schedule_dag(
            "tests.airflow.test_schedule_dag:nope", "tests.airflow.test_schedule_dag:start_runs"
        )
