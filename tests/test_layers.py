"""The layer rules of DESIGN.md that concern dataset products, checked on the source.

Every import statement of a module (at the top or inside a function, absolute or
relative) is read from its syntax tree:

* no module under ``dkist_processing_core/calibration`` imports the data center;
* the data center's catalog imports nothing of calibration but the typed products
  (:mod:`dkist_processing_core.calibration.outputs`) and the tag names
  (:mod:`dkist_processing_core.calibration.tags`): it never computes a product;
* the rest of the data center reaches calibration only through those same modules
  (a workflow it runs is found through the framework's registry).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dkist_processing_core

PACKAGE = Path(dkist_processing_core.__file__).parent
ROOT = "dkist_processing_core"
TYPED_PRODUCTS = {f"{ROOT}.calibration.outputs", f"{ROOT}.calibration.tags"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement in ``path`` names (``from a import b`` gives a.b too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names if alias.name != "*"}
    return found


def modules_under(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _calibration_imports(path: Path) -> set[str]:
    """The calibration modules ``path`` imports, beyond the typed products and tag names."""
    calibration = f"{ROOT}.calibration"
    return {
        m
        for m in imported_modules(path)
        if _within(m, calibration)
        and m != calibration  # ``from ...calibration import tags`` names the package too
        and not any(_within(m, allowed) for allowed in TYPED_PRODUCTS)
    }


@pytest.mark.parametrize("path", modules_under("calibration"), ids=module_name)
def test_calibration_does_not_import_the_data_center(path):
    reaching = sorted(m for m in imported_modules(path) if _within(m, f"{ROOT}.datacenter"))
    assert reaching == [], f"{module_name(path)} imports {reaching}"


@pytest.mark.parametrize("path", modules_under("datacenter"), ids=module_name)
def test_the_data_center_reads_only_typed_products_of_calibration(path):
    reaching = sorted(_calibration_imports(path))
    assert reaching == [], (
        f"{module_name(path)} imports {reaching}; the data center may use of calibration only "
        f"{sorted(TYPED_PRODUCTS)} (it moves, verifies, registers, packages and distributes "
        "what a workflow made and never computes a product)"
    )


def test_the_scan_sees_imports_inside_functions_and_relative_ones():
    # The checks above would pass vacuously if the scan missed an import form.
    probe = PACKAGE / "calibration" / "quality" / "task.py"
    assert f"{ROOT}.calibration.quality.metrics.compute_quality_metrics" in imported_modules(probe)
    package = PACKAGE / "datacenter" / "products" / "publish.py"
    assert f"{ROOT}.calibration.outputs" in imported_modules(package)
    source = PACKAGE / "calibration" / "asdf" / "algorithm.py"
    # asdf.algorithm imports dkist-inventory inside a function
    assert "dkist_inventory.asdf_generator" in imported_modules(source)
