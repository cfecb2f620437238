"""The README's Python example runs as written, in a fresh process and an empty folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.slow


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_readme_example_runs_as_written(tmp_path):
    blocks = python_blocks(README.read_text())
    assert blocks, "the README has no Python example"
    example = blocks[0]
    assert "report.dataset()" in example and ".plot()" in example
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "succeeded" in done.stdout and "VBI Dataset" in done.stdout
    assert (tmp_path / "tile.png").stat().st_size > 10_000
