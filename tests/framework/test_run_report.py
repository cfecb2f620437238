"""The run report: written into the run's scratch when a run ends, with the code versions."""

import importlib.metadata
import json

import numpy as np
import pytest

from dkist_processing_core.framework import (
    LocalExecutor,
    ParameterValue,
    RunSpec,
    Task,
    TaskFailed,
    Workflow,
    code_versions,
    read_run_report,
)
from dkist_processing_core.framework.executors.base import RUN_REPORT_NAME

WORKFLOW = "tests.framework.workflows_for_tests:diamond"


def make_spec(tmp_path, **configuration) -> RunSpec:
    return RunSpec(
        recipe_run_id=7,
        workflow=WORKFLOW,
        scratch_dir=tmp_path / "scratch",
        configuration={"ledger": str(tmp_path / "ledger.txt"), **configuration},
        parameters=[ParameterValue(id=11, name="frame_count", value=5)],
    )


def test_a_finished_run_leaves_its_report_as_json_in_the_scratch(tmp_path):
    spec = make_spec(tmp_path)
    report = LocalExecutor().run(spec)
    path = spec.scratch_dir / RUN_REPORT_NAME
    written = json.loads(path.read_text())
    assert written == json.loads(report.model_dump_json())
    assert read_run_report(spec.scratch_dir) == report
    # no temporary file of the atomic write is left beside it
    assert [p.name for p in spec.scratch_dir.iterdir() if RUN_REPORT_NAME in p.name] == [
        RUN_REPORT_NAME
    ]


def test_the_report_records_the_installed_version_of_every_library(tmp_path):
    report = LocalExecutor().run(make_spec(tmp_path))
    versions = report.code_versions
    # this package and what it requires, as importlib.metadata knows them
    assert versions["dkist-processing-core"] == importlib.metadata.version("dkist-processing-core")
    for library in ("numpy", "astropy", "asdf", "dkist-fits-specifications"):
        assert versions[library] == importlib.metadata.version(library), library
    assert versions["numpy"] == np.__version__


def test_a_failed_run_leaves_its_report_too(tmp_path):
    spec = make_spec(tmp_path, fail_in="MaxFrames")
    with pytest.raises(TaskFailed):
        LocalExecutor().run(spec)
    report = read_run_report(spec.scratch_dir)
    assert report.status == "failed" and report.failed_task == "MaxFrames"


def test_a_missing_report_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=RUN_REPORT_NAME):
        read_run_report(tmp_path)
    (tmp_path / RUN_REPORT_NAME).write_text("{not json")
    with pytest.raises(ValueError, match="not a run report"):
        read_run_report(tmp_path)


class UsesDkistInventory(Task):
    """Declares a library beyond what its package requires."""

    libraries = ("dkist_inventory", "no-such-distribution-anywhere")

    def run(self) -> None:
        pass


def test_libraries_a_task_declares_are_recorded_by_their_normal_name():
    workflow = Workflow("declares", "1")
    workflow.add(UsesDkistInventory)
    versions = code_versions(workflow)
    assert versions["dkist-inventory"] == importlib.metadata.version("dkist-inventory")
    assert versions["no-such-distribution-anywhere"] == "not installed"
