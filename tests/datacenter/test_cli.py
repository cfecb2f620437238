"""The data-center CLI end to end on a SQLite file: recipe set-up to a ticket and the status view."""

import json

import typer
from typer.testing import CliRunner

from dkist_processing_core.cli.main import register_datacenter as register

from .scenario import WORKFLOW_IMPORT_PATH


def test_cli_from_recipe_to_ticket_and_status(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("DKIST_PROCESSING_DATABASE_URL", raising=False)
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    db = ["--workdir", str(tmp_path)]

    def run(*args):
        result = runner.invoke(app, [*args, *db])
        assert result.exit_code == 0, result.output
        return result.output

    run("db", "upgrade")
    run("recipes", "add-instrument", "testinst")
    run(
        "recipes",
        "add-workflow",
        "testinst",
        "calibrate",
        "1.0",
        "--import-path",
        WORKFLOW_IMPORT_PATH,
    )
    run("recipes", "add-parameter", "testinst", "threshold", "float")
    run("recipes", "add-value", "testinst", "threshold", "2.5", "--valid-from", "2024-01-01")
    run("recipes", "set-pool", "default", "2")
    run(
        "recipes",
        "add",
        "calibrate",
        "testinst",
        "calibrate",
        "1.0",
        "-p",
        "threshold",
        "--defaults",
        '{"fail_in": "Finish"}',
    )
    assert "calibrate" in run("recipes", "list")
    bad = runner.invoke(
        app,
        [
            "recipes",
            "add-value",
            "testinst",
            "threshold",
            '"high"',
            "--valid-from",
            "2025-01-01",
            *db,
        ],
    )
    assert bad.exit_code == 1 and "expected float" in bad.output
    run(
        "candidates",
        "add",
        "obs_1",
        "calibrate",
        "pid_1_1",
        "Dr. Sun",
        "2024-04-20T18:00:00",
        "-c",
        "dark_1",
    )
    run("candidates", "manifest", "obs_1", "2")
    run("candidates", "manifest", "dark_1", "1")
    arrivals = tmp_path / "arrivals.json"
    arrivals.write_text(
        json.dumps(
            [
                {"frame_id": f"f{i}", "op_run_id": op, "frame_kind": kind}
                for i, (op, kind) in enumerate(
                    [("obs_1", "observe"), ("obs_1", "observe"), ("dark_1", "dark")]
                )
            ]
        )
    )
    assert "3 new frames" in run("candidates", "frames", str(arrivals))
    assert "0 new frames" in run("candidates", "frames", str(arrivals))
    assert "1 candidates ready (0 by the back stop), 1 recipe runs created" in run(
        "readiness", "run"
    )
    assert "failed" in run("runs", "schedule", "--scratch-root", str(tmp_path / "scratch"))
    assert "manual_by_exception" in run("tickets", "list")
    status = json.loads(run("status", "--json"))
    [candidate] = status[0]["candidates"]
    assert (candidate["frames_received"], candidate["frames_expected"]) == (3, 3)
    assert candidate["status"] == "failed" and candidate["open_tickets"] == [1]
    assert "obs_1" in run("status")
    run("tickets", "adjust", "1", "--operator", "me", "--run-configuration", '{"fail_in": null}')
    assert "succeeded" in run("runs", "schedule", "--scratch-root", str(tmp_path / "scratch"))
    assert json.loads(run("status", "--json"))[0]["candidates"][0]["status"] == "succeeded"
