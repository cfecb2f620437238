"""Running an instrument's default workflow leaves the caller's process as it found it.

matplotlib backend, rcParams and style, open pyplot figures, logging configuration,
warnings filters, numpy error handling, working directory and stdout (nothing printed) (see ``caller_process.py``,
run in a fresh process whose matplotlib backend is ``pdf``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("caller_process.py")


@pytest.mark.parametrize("instrument", ["vbi", "visp"])
def test_the_default_workflow_leaves_the_callers_process_as_it_was(tmp_path, instrument):
    pytest.importorskip(f"dkist_processing_{instrument}")
    env = {**os.environ, "MPLBACKEND": "pdf"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), instrument, str(tmp_path)],
        capture_output=True, text=True, timeout=1800, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["status"] == "succeeded"
    assert lines[:-1] == [], "the workflow wrote on the caller's stdout"
    assert result["differences"] == {}
