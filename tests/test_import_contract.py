"""DESIGN.md's layers are a checked contract: import-linter, with the contracts in pyproject.toml.

The first test is the contract on the code as it is; the second shows that the contract
bites: a copy of the package with one forbidden import added (lazily, inside a function,
which counts like any other import) fails it, naming the import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = {
    "dkist_processing_core": ROOT / "dkist_processing_core",
    "dkist_processing_visp": ROOT / "instruments" / "visp" / "dkist_processing_visp",
    "dkist_processing_vbi": ROOT / "instruments" / "vbi" / "dkist_processing_vbi",
}


def lint_imports(cwd: Path, pythonpath: list[Path]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_of_project(tmp_path: Path) -> Path:
    for name, source in PACKAGES.items():
        shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_code_keeps_the_layer_contract():
    result = lint_imports(ROOT, [ROOT, *(p.parent for p in PACKAGES.values())])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        ("framework/task.py", "dkist_processing_core.datacenter.store", "framework knows nothing"),
        ("calibration/dark/task.py", "dkist_processing_core.datacenter", "calibration knows"),
        ("datacenter/operations/status.py", "rich.console", "only the command line"),
        (
            "datacenter/products/catalog/collect.py",
            "dkist_processing_core.calibration.quality.metrics",
            "the data center uses",
        ),
    ],
)
def test_a_forbidden_import_breaks_the_contract(tmp_path, module, forbidden, contract):
    project = copy_of_project(tmp_path)
    path = project / "dkist_processing_core" / module
    path.write_text(
        path.read_text() + f"\n\ndef _lazy_forbidden():\n    import {forbidden}  # noqa: F401\n"
    )
    result = lint_imports(project, [project])
    assert result.returncode != 0
    assert contract in result.stdout
    assert forbidden.split(".")[0] in result.stdout
    assert "BROKEN" in result.stdout
