"""The CLI's one error path, as a user meets it: ``dkist-processing`` run as its own process.

Every expected failure ends in a few lines starting with ``error:`` that name the file,
field or value, a non-zero exit code (2: the command line or configuration; 1: the
command ran and failed) and no traceback; ``--debug`` (or ``DKIST_PROCESSING_DEBUG=1``)
shows the traceback as well. Commands that only read never create a store.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from dkist_processing_core import __version__
from dkist_processing_core.cli.errors import CONFIGURATION_ERRORS
from dkist_processing_core.cli.main import register_datacenter
from dkist_processing_core.datacenter.planning import recipes
from dkist_processing_core.datacenter.store import (
    SQLITE_FILE_NAME,
    alembic_config,
    open_store,
    upgrade,
)
from dkist_processing_core.datacenter.store.models import Proposal

SCRIPT = Path(sys.executable).parent / "dkist-processing"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "dkist_processing_core.cli"]
PASSWORD = "s3cret-Pa55"
UNREACHABLE = f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/x"

CYCLIC_WORKFLOW = """
from dkist_processing_core.framework import Task, Workflow


class A(Task):
    writes = (("A",),)


class B(Task):
    reads = (("A",),)
    writes = (("B",),)


def cyclic():
    workflow = Workflow("cyc", "1")
    workflow.add(A, upstreams=["B"])
    workflow.add(B, upstreams=["A"])
    return workflow


def broken():
    raise ZeroDivisionError("a bug, not a user error")
"""


def cli(*args: str, env: dict | None = None, cwd: Path | None = None):
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DKIST_PROCESSING_DATABASE_URL", "DKIST_PROCESSING_DEBUG")
    }
    environment.update(COLUMNS="200", **(env or {}))
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, env=environment, cwd=cwd, timeout=300
    )


def assert_error(result, *named: str, code: int = 1) -> str:
    """Exit ``code``, stderr starts with ``error:`` and names each of ``named``, no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert result.stderr.startswith("error: "), output
    assert "Traceback" not in output, output
    for name in named:
        assert name in result.stderr, (name, output)
    return result.stderr


@pytest.fixture
def modules(tmp_path):
    """A folder on PYTHONPATH with a module whose workflow has a cycle."""
    (tmp_path / "cyclic_workflows.py").write_text(CYCLIC_WORKFLOW)
    return {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}


def spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(text)
    return path


def valid_spec(tmp_path: Path, **changes) -> str:
    spec = {"recipe_run_id": 1, "workflow": "visp:l1_calibration", "scratch_dir": str(tmp_path)}
    return json.dumps({**spec, **changes})


# --- run: a run spec --------------------------------------------------------------------------


def test_run_with_a_malformed_spec(tmp_path):
    path = spec_file(tmp_path, '{"recipe_run_id": 1,')
    assert_error(cli("run", str(path)), str(path), "not JSON")


def test_run_with_a_binary_spec_file(tmp_path):
    path = tmp_path / "spec.json"
    path.write_bytes(b"\xb5\x00\xff" + os.urandom(64))
    assert_error(cli("run", str(path)), str(path), "not UTF-8 text")


def test_run_with_an_ill_typed_spec_names_each_field(tmp_path):
    path = spec_file(
        tmp_path,
        valid_spec(
            tmp_path, recipe_run_id="x", parameters=[{"id": "one", "name": "t", "value": 1}]
        ),
    )
    err = assert_error(cli("run", str(path)), str(path), "2 invalid fields")
    assert re.search(r"recipe_run_id: .*integer.*'x'", err)
    assert re.search(r"parameters\.0\.id: .*integer.*'one'", err)


def test_run_with_an_unknown_workflow(tmp_path):
    path = spec_file(tmp_path, valid_spec(tmp_path, workflow="visp:no_such_workflow"))
    assert_error(cli("run", str(path)), str(path), "'no_such_workflow'", "l1_calibration")


def test_run_with_a_workflow_cycle_and_debug_shows_the_traceback(tmp_path, modules):
    path = spec_file(tmp_path, valid_spec(tmp_path, workflow="cyclic_workflows:cyclic"))
    assert_error(cli("run", str(path), env=modules), str(path), "cycle: ")
    debug = cli("--debug", "run", str(path), env=modules)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "WorkflowValidationError" in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-2].startswith("error: ")  # the error line last
    assert not (tmp_path / "journal.sqlite").exists()  # nothing ran


def test_run_with_a_missing_spec_file_is_a_usage_error(tmp_path):
    assert_error(cli("run", str(tmp_path / "nowhere.json")), "nowhere.json", code=2)


# --- candidates frames: a frame arrivals file -------------------------------------------------


def test_frames_with_a_malformed_arrivals_file(tmp_path):
    arrivals = tmp_path / "arrivals.json"
    arrivals.write_text('[{"frame_id": "f1", ')
    result = cli("candidates", "frames", str(arrivals), "--workdir", str(tmp_path))
    assert_error(result, str(arrivals), "not JSON")


def test_frames_with_a_missing_field_names_the_entry_and_the_field(tmp_path):
    arrivals = tmp_path / "arrivals.json"
    arrivals.write_text(
        json.dumps(
            [
                {"frame_id": "f1", "op_run_id": "op1", "frame_kind": "dark"},
                {"frame_id": "f2", "frame_kind": "dark"},
            ]
        )
    )
    result = cli("candidates", "frames", str(arrivals), "--workdir", str(tmp_path))
    assert_error(result, str(arrivals), "entry 2 of 2", "missing field 'op_run_id'")


# --- configuration ----------------------------------------------------------------------------


def test_cron_with_an_smtp_server_without_port_stops_before_anything_runs(tmp_path):
    result = cli("cron", "--smtp", "mail.example.org", "--workdir", str(tmp_path))
    assert_error(result, "'mail.example.org'", "HOST:PORT", code=2)
    assert list(tmp_path.iterdir()) == []  # no store, no outbox, no scratch


def test_an_smtp_server_without_port_in_the_environment_names_the_variable(tmp_path):
    result = cli("publish", "--workdir", str(tmp_path), env={"DKIST_PROCESSING_SMTP": "mailhost"})
    assert_error(result, "DKIST_PROCESSING_SMTP 'mailhost'", "HOST:PORT", code=2)


def test_run_with_an_unknown_executor_names_the_choices(tmp_path):
    path = spec_file(tmp_path, valid_spec(tmp_path))
    result = cli("run", str(path), "--executor", "spark")
    assert_error(result, "'--executor'", "'spark' is not one of 'local', 'dask'", code=2)


def test_a_corrupted_sqlite_file(tmp_path):
    (tmp_path / SQLITE_FILE_NAME).write_bytes(os.urandom(8192))
    result = cli("status", "--workdir", str(tmp_path))
    assert_error(result, str(tmp_path / SQLITE_FILE_NAME), "not a database")


def test_an_unreachable_database_never_prints_the_password(tmp_path):
    result = cli("runs", "list", "--database-url", UNREACHABLE)
    assert_error(result, "127.0.0.1", "u:***@")
    debug = cli(
        "runs",
        "list",
        env={"DKIST_PROCESSING_DEBUG": "1", "DKIST_PROCESSING_DATABASE_URL": UNREACHABLE},
    )
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert PASSWORD not in result.stdout + result.stderr + debug.stdout + debug.stderr


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{PASSWORD}@db.example.org:port/x",
        f"postgresql//u:{PASSWORD}@db.example.org/x",
    ],
)
def test_a_malformed_database_url(url):
    result = cli("status", "--database-url", url)
    assert_error(result, "database URL", "sqlite:///PATH", code=2)
    assert PASSWORD not in result.stdout + result.stderr


def test_a_database_url_of_an_unsupported_database():
    result = cli("status", "--database-url", f"mysql://u:{PASSWORD}@db.example.org/x")
    assert_error(
        result, "'mysql://u:***@db.example.org/x'", "'mysql' database is not supported",
        "sqlite:///PATH", code=2,
    )  # fmt: skip
    assert PASSWORD not in result.stdout + result.stderr


def test_a_malformed_database_url_in_the_environment_names_the_variable(tmp_path):
    url = f"postgresql://u:{PASSWORD}@db.example.org:port/x"
    result = cli("status", env={"DKIST_PROCESSING_DATABASE_URL": url})
    assert_error(result, "DKIST_PROCESSING_DATABASE_URL: database URL", "cannot be parsed", code=2)
    assert PASSWORD not in result.stdout + result.stderr


def test_a_truncated_sqlite_file(tmp_path):
    open_store(workdir=tmp_path).dispose()
    path = tmp_path / SQLITE_FILE_NAME
    os.truncate(path, path.stat().st_size // 2)
    assert_error(cli("status", "--workdir", str(tmp_path)), str(path), "malformed")


def _revision(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def test_a_store_made_by_a_newer_version_is_named_and_left_as_it_is(tmp_path):
    open_store(workdir=tmp_path).dispose()
    path = tmp_path / SQLITE_FILE_NAME
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    for command in (["status"], ["db", "upgrade"], ["runs", "list"]):
        result = cli(*command, "--workdir", str(tmp_path))
        assert_error(
            result, str(path), "schema revision '9999_from_the_future'", "does not know",
            f"dkist-processing-core {__version__}", "newer version",
        )  # fmt: skip
    assert _revision(path) == "9999_from_the_future"


def test_a_store_behind_the_code_is_migrated_and_keeps_its_rows(tmp_path):
    path = tmp_path / SQLITE_FILE_NAME
    upgrade(f"sqlite:///{path}", "0003")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO proposal (id, principal_investigator, priority) VALUES ('pid_1_2', 'A. Person', 0)"
        )
    result = cli("status", "--workdir", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert _revision(path) == ScriptDirectory.from_config(alembic_config()).get_current_head()
    with open_store(workdir=tmp_path).session() as s:
        assert s.get(Proposal, "pid_1_2").principal_investigator == "A. Person"


def test_a_parameter_value_of_the_wrong_type_names_the_parameter(tmp_path):
    with open_store(workdir=tmp_path).session() as s:
        recipes.create_instrument(s, "testinst", "")
        recipes.create_parameter(s, "testinst", "threshold", "float", "")
    add_value = ["recipes", "add-value", "testinst", "threshold", "--valid-from", "2024-01-01"]
    wrong_type = cli(*add_value[:4], '"high"', *add_value[4:], "--workdir", str(tmp_path))
    assert_error(wrong_type, "'threshold'", "'high'", "expected float")
    not_json = cli(*add_value[:4], "high", *add_value[4:], "--workdir", str(tmp_path))
    assert_error(not_json, "threshold", "'high'", "not JSON", code=2)


def test_usage_errors_use_the_same_style():
    assert_error(cli("no-such-command"), "No such command 'no-such-command'", code=2)
    assert_error(cli("runs", "boost", "1", "high"), "'boost'", "usage:", code=2)


def test_an_unexpected_error_says_where_the_traceback_is(tmp_path, modules):
    result = cli("workflows", "show", "cyclic_workflows:broken", env=modules)
    err = assert_error(result, "unexpected ZeroDivisionError: a bug, not a user error", "--debug")
    log = Path(re.search(r"the full traceback is in (\S+)", err).group(1))
    try:
        assert "Traceback" in log.read_text() and "ZeroDivisionError" in log.read_text()
    finally:
        log.unlink()


# --- a folder without a store -----------------------------------------------------------------


def test_status_in_a_folder_without_a_store_says_so_and_creates_none(tmp_path):
    result = cli("status", "--workdir", str(tmp_path))
    assert_error(
        result,
        f"no metadata store in {tmp_path}",
        f"create one with: dkist-processing db upgrade --workdir {tmp_path}",
        code=2,
    )
    assert list(tmp_path.iterdir()) == []


READ_ONLY = [
    ["status", "--json"],
    ["recipes", "list"],
    ["runs", "list"],
    ["tickets", "list", "--all"],
    ["datasets", "list"],
    ["datasets", "show", "DS_1"],
    ["datasets", "find", "--workflow", "l1_calibration"],
    ["reprocess", "find", "--older-than-workflow", "l1_calibration==2.0"],
    ["reprocess", "pending"],
    ["reprocess", "status"],
]


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_commands_that_only_read_never_create_a_store(tmp_path, monkeypatch, command):
    monkeypatch.delenv("DKIST_PROCESSING_DATABASE_URL", raising=False)
    app = typer.Typer()
    register_datacenter(app)
    result = CliRunner().invoke(app, [*command, "--workdir", str(tmp_path / "empty")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: no metadata store in "), result.output
    assert not (tmp_path / "empty").exists()


# --- version ----------------------------------------------------------------------------------


def test_version_names_the_package_and_the_instruments():
    result = cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"dkist-processing-core {__version__}\n")
    assert re.search(r"instrument visp \S+", result.stdout)


def test_configuration_errors_exist_where_the_cli_expects_them():
    import importlib

    for name in CONFIGURATION_ERRORS:
        module, _, cls = name.rpartition(".")
        assert issubclass(getattr(importlib.import_module(module), cls), Exception)
