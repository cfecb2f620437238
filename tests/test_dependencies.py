"""The base install runs every default workflow to the end: every third-party module the
library imports is declared in ``install_requires`` (optional engine adapters aside, which
name their extra when it is missing)."""

from __future__ import annotations

import configparser
import importlib.metadata
import re
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
OWN = ("dkist_processing_core", "dkist_processing_visp", "dkist_processing_vbi")
# Engine adapters and their helpers, installed with an extra: (module prefix, allowed imports).
OPTIONAL = {
    "dkist_processing_core.framework.executors.airflow": {"airflow"},
    "dkist_processing_core.framework.executors.dask": {"distributed"},
    "dkist_processing_core.framework.parallel": {"distributed"},
    "dkist_processing_core.cli": {"distributed"},
}
SETUP_CFG = {
    "dkist_processing_core": ROOT / "setup.cfg",
    "dkist_processing_visp": ROOT / "instruments" / "visp" / "setup.cfg",
    "dkist_processing_vbi": ROOT / "instruments" / "vbi" / "setup.cfg",
}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(setup_cfg: Path) -> set[str]:
    config = configparser.ConfigParser()
    config.read(setup_cfg)
    lines = config["options"]["install_requires"].splitlines()
    names = {
        _normalise(re.split(r"[<>=!~\[; ]", line.strip())[0]) for line in lines if line.strip()
    }
    return names - {""}


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*OWN, include_external_packages=True, cache_dir=None)


def test_every_imported_library_is_a_declared_dependency(graph):
    distributions = importlib.metadata.packages_distributions()
    core = declared(SETUP_CFG["dkist_processing_core"])
    missing = []
    for module in sorted(graph.modules):
        top = module.split(".")[0]
        if top not in OWN:
            continue
        allowed = core | declared(SETUP_CFG[top])
        optional = set().union(*(v for k, v in OPTIONAL.items() if module.startswith(k)))
        for imported in graph.find_modules_directly_imported_by(module):
            name = imported.split(".")[0]
            if name in OWN or name in sys.stdlib_module_names or name in optional:
                continue
            providers = {_normalise(d) for d in distributions.get(name, [name])}
            if not providers & allowed:
                missing.append(f"{module} imports {name} ({', '.join(sorted(providers))})")
    assert not missing, "not in install_requires:\n" + "\n".join(missing)
