"""The Airflow adapter module imports without Airflow, and the plain (no-Airflow) periodic pass.

The import is checked in a fresh interpreter in which ``import airflow`` fails,
whether or not Airflow happens to be installed where the suite runs.
"""

import json
import subprocess
import sys

import pytest

from dkist_processing_core.framework.executors.airflow import (
    airflow_key,
    datacenter_pass,
    resolve_callable,
)

_WITHOUT_AIRFLOW = """
import importlib.abc, json, sys

class NoAirflow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoAirflow())
from dkist_processing_core.framework import RunSpec
from dkist_processing_core.framework.executors import airflow as adapter
spec = RunSpec(recipe_run_id=1, workflow="tests.framework.workflows_for_tests:diamond",
               scratch_dir="/nonexistent")
try:
    adapter.workflow_dag(spec)
except ImportError as e:
    print(json.dumps({"imported": True, "error": str(e)}))
"""


def test_module_imports_without_airflow_and_says_what_to_install():
    out = subprocess.run(
        [sys.executable, "-c", _WITHOUT_AIRFLOW], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["imported"] is True
    assert "pip install 'dkist-processing-core[airflow]'" in result["error"]


CALLS: list[tuple[str, str]] = []


def readiness(*, database_url):
    CALLS.append(("readiness", database_url))
    return {"ready": 3}


def start_ready_runs(*, database_url):
    CALLS.append(("start_ready_runs", database_url))
    return {"started": 2}


def test_the_plain_pass_calls_readiness_then_start_ready_runs():
    CALLS.clear()
    result = datacenter_pass(
        f"{__name__}:readiness", f"{__name__}:start_ready_runs", database_url="sqlite:///x.db"
    )
    assert CALLS == [("readiness", "sqlite:///x.db"), ("start_ready_runs", "sqlite:///x.db")]
    assert result == ({"ready": 3}, {"started": 2})


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_colon", "must be an import path 'package.module:function'"),
        ("not_a_module_xyz:f", "cannot import module 'not_a_module_xyz'"),
        (f"{__name__}:missing", "has no attribute 'missing'"),
        (f"{__name__}:CALLS", "is not callable but list"),
    ],
)
def test_bad_import_paths_are_named(path, message):
    with pytest.raises(ValueError, match=message):
        resolve_callable(path)


def test_airflow_keys_keep_valid_characters_and_replace_the_rest():
    assert airflow_key("visp:l1 science/v2") == "visp_l1_science_v2"
    assert airflow_key("recipe_run_7.tests-x") == "recipe_run_7.tests-x"
