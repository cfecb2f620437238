"""The ``datasets`` and ``reprocess`` CLI groups end to end on a SQLite file."""

import json

import typer
from typer.testing import CliRunner

from dkist_processing_core.cli.main import register_datacenter as register
from dkist_processing_core.datacenter.clock import FixedClock
from dkist_processing_core.datacenter.store import open_store

from .datasets import process_datasets, register_run, release_v2, set_up_processing


def test_cli_find_reprocess_and_curate(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.delenv("DKIST_PROCESSING_DATABASE_URL", raising=False)
    from datetime import UTC, datetime

    clock = FixedClock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    scratch = tmp_path / "scratch"
    store = open_store(workdir=tmp_path)
    set_up_processing(store, clock, with_v2=False)
    old = process_datasets(store, clock, scratch, ["obs_a", "obs_b"])
    with store.session() as s:
        release_v2(s, clock)

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    db = ["--workdir", str(tmp_path)]

    def run(*args, code=0):
        result = runner.invoke(app, [*args, *db])
        assert result.exit_code == code, result.output
        return result.output

    listed = json.loads(run("datasets", "list", "--json"))
    assert sorted(v["dataset_id"] for v in listed) == ["DS_obs_a", "DS_obs_b"]
    found = json.loads(run("datasets", "find", "--input-frame", "obs_a_0002", "--json"))
    assert [v["version_id"] for v in found] == [old["obs_a"].version_id]
    assert (
        len(json.loads(run("datasets", "find", "--parameter-value", "threshold=2.5", "--json")))
        == 2
    )
    assert len(json.loads(run("datasets", "find", "--parameter-value", "1", "--json"))) == 2
    frames = json.loads(run("datasets", "find", "--workflow", "process==1.0", "--frames", "--json"))
    assert len(frames) == 6
    assert "NAME==VERSION" in run("datasets", "find", "--older-than-workflow", "process", code=1)
    shown = json.loads(run("datasets", "show", "DS_obs_a"))
    assert shown["versions"][0]["version_id"] == old["obs_a"].version_id
    assert "older than 2.0" in run("reprocess", "find", "--older-than-workflow", "process==2.0")

    versions = [old[op].version_id for op in ("obs_a", "obs_b")]
    out = run(
        "reprocess",
        "run",
        *[arg for v in versions for arg in ("--version", v)],
        "--workflow-version",
        "2.0",
        "--by",
        "dq",
        "--why",
        "new gain",
        "--batch",
        "gain-2.0",
    )
    assert "process@2.0" in out
    status = json.loads(run("status", "--json"))  # the waiting runs carry the marker
    marked = {
        r["reprocessing_of_version"]
        for c in status[0]["candidates"]
        for r in c["runs"]
        if r["reprocessing_batch"] == "gain-2.0"
    }
    assert marked == set(versions)
    assert "created:2" in run("reprocess", "status")
    assert "succeeded" in run("runs", "schedule", "--scratch-root", str(scratch), "--until-idle")
    [batch] = json.loads(run("reprocess", "status", "--json"))
    assert batch["runs_by_status"] == {"succeeded": 2}
    with store.session() as s:
        from sqlalchemy import select

        from dkist_processing_core.datacenter.reprocessing import reprocessing_runs
        from dkist_processing_core.datacenter.store.models import Reprocessing

        runs = {r.supersedes_version_id: r.recipe_run_id for r in s.scalars(select(Reprocessing))}
        assert set(reprocessing_runs(s, runs.values())) == set(runs.values())
    new = {
        v: register_run(store, clock, scratch, runs[v], ds).version_id
        for v, ds in zip(versions, ["DS_obs_a", "DS_obs_b"], strict=True)
    }
    pending = run("reprocess", "pending")
    assert all(v in pending for v in versions)
    run(
        "reprocess",
        "curate",
        "KEEP_BOTH",
        "--version",
        new[versions[0]],
        "--by",
        "cur",
        "--why",
        "both fine",
    )
    out = run(
        "reprocess",
        "curate",
        "DISCARD",
        "--version",
        versions[1],
        "--by",
        "cur",
        "--why",
        "bad gain",
    )
    assert "discarded" in out
    assert "already discarded" in run(
        "reprocess",
        "curate",
        "DISCARD",
        "--version",
        versions[1],
        "--by",
        "c",
        "--why",
        "w",
        code=1,
    )
    distributed = {v["version_id"] for v in json.loads(run("datasets", "list", "--json"))}
    assert distributed == {versions[0], new[versions[0]], new[versions[1]]}
    everything = json.loads(run("datasets", "list", "--include-discarded", "--json"))
    [gone] = [v for v in everything if v["version_id"] == versions[1]]
    assert gone["curation"]["why"] == "bad gain" and gone["distributed"] is False
    store.dispose()
