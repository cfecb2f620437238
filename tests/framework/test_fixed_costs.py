"""What a process pays before its first task: only the instrument it runs is loaded, and the
distribution of a task module that no distribution installed is not searched for."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _fresh_python(code: str) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_resolving_an_instruments_workflow_loads_that_instrument_only():
    seen = _fresh_python(
        "import json, sys\n"
        "from dkist_processing_core.framework import resolve_workflow\n"
        "wf = resolve_workflow('vbi:l1_calibration')\n"
        "print(json.dumps({'name': wf.name, 'visp': 'dkist_processing_visp' in sys.modules}))"
    )
    assert seen == {"name": "l1_calibration", "visp": False}


def test_a_module_path_and_an_unknown_name_still_resolve_or_name_the_instruments():
    seen = _fresh_python(
        "import json\n"
        "from dkist_processing_core.framework import WorkflowNotFound, resolve_workflow\n"
        "wf = resolve_workflow('tests.framework.workflows_for_tests:diamond')\n"
        "try:\n"
        "    resolve_workflow('no_such_instrument:x')\n"
        "except WorkflowNotFound as e:\n"
        "    message = str(e)\n"
        "print(json.dumps({'name': wf.name, 'message': message}))"
    )
    assert seen["name"]
    assert "'vbi'" in seen["message"] and "'visp'" in seen["message"]


def test_a_task_module_outside_site_packages_skips_the_distribution_search():
    seen = _fresh_python(
        "import json\n"
        "from dkist_processing_core.framework import libraries\n"
        "print(json.dumps({\n"
        "    'tests': libraries.distributions_of('tests'),\n"
        "    'yaml': libraries.distributions_of('yaml'),\n"
        "    'core': libraries.distributions_of('dkist_processing_core'),\n"
        "}))"
    )
    assert seen == {"tests": [], "yaml": ["PyYAML"], "core": ["dkist-processing-core"]}
