"""The versions of the code a workflow runs: its own packages and the libraries they use.

:func:`code_versions` answers, from the installed distributions' metadata
(:mod:`importlib.metadata`), which version of every library a workflow's run
used:

* the distributions that provide the workflow's task classes (this package, the
  instrument package; a task defined in a test or notebook adds none);
* what those distributions require to be installed (their ``Requires-Dist``
  entries that belong to no optional extra: numpy, astropy, asdf,
  dkist-fits-specifications, ...);
* the libraries each task declares it uses beyond those (``Task.libraries``,
  for example ``dkist-inventory`` for the dataset inventory).

Names are normalised as the packaging specifications say (lower case, runs of
``-``, ``_``, ``.`` as one ``-``); a declared library that is not installed is
recorded as ``"not installed"``. The executors put the result in the run
report (:class:`~dkist_processing_core.framework.executors.base.RunReport`).
"""

from __future__ import annotations

import importlib.util
import os
import re
import site
import sysconfig
from functools import cache
from importlib.metadata import PackageNotFoundError, packages_distributions, requires, version

__all__ = [
    "NOT_INSTALLED",
    "code_versions",
    "distribution_version",
    "distributions_of",
    "normalise",
]

NOT_INSTALLED = "not installed"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_OWN_PACKAGE = __name__.split(".")[0]


def normalise(name: str) -> str:
    """A distribution name in its normal form: ``Dkist_Inventory`` -> ``dkist-inventory``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def distribution_version(name: str) -> str:
    """The installed version of distribution ``name``, or :data:`NOT_INSTALLED`."""
    try:
        return version(name)
    except PackageNotFoundError:
        return NOT_INSTALLED


@cache
def _distributions_of_modules() -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) for k, v in packages_distributions().items()}


@cache
def _site_folders() -> tuple[str, ...]:
    folders = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    folders.update(getattr(site, "getsitepackages", list)())
    if site.ENABLE_USER_SITE:
        folders.add(site.getusersitepackages())
    return tuple(os.path.realpath(f) + os.sep for f in folders if f)


def _in_site_folder(module: str) -> bool:
    """Whether top-level ``module`` is imported from an installation folder (site-packages)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):  # __main__ of a notebook or script has no spec
        return False
    if spec is None:
        return False
    where = spec.origin if spec.origin not in (None, "namespace") else None
    if where is None and spec.submodule_search_locations:
        where = next(iter(spec.submodule_search_locations), None)
    if where is None or where in ("built-in", "frozen"):
        return False
    return os.path.realpath(where).startswith(_site_folders())


def distributions_of(module: str) -> tuple[str, ...]:
    """The distributions that provide top-level module ``module``.

    A distribution named like its module (``dkist_processing_core`` ->
    ``dkist-processing-core``) is found directly; otherwise, for a module
    imported from an installation folder (site-packages), every installed
    distribution's file list is searched once (seconds, so cached). A module
    imported from elsewhere (a test, a notebook, a benchmark, a folder on
    ``PYTHONPATH``) is provided by no distribution, so that search is skipped;
    an editable install must then be named like its module to be found.
    """
    if distribution_version(normalise(module)) != NOT_INSTALLED:
        return (normalise(module),)
    if not _in_site_folder(module):
        return ()
    return _distributions_of_modules().get(module, ())


def _required(distribution: str) -> set[str]:
    """What a distribution requires outside its optional extras (names only)."""
    try:
        entries = requires(distribution) or []
    except PackageNotFoundError:
        return set()
    names = set()
    for entry in entries:
        requirement, _, marker = entry.partition(";")
        if "extra" in marker:
            continue
        match = _NAME.match(requirement)
        if match:
            names.add(normalise(match.group(1)))
    return names


def code_versions(workflow) -> dict[str, str]:
    """Versions of every library ``workflow``'s tasks use, by normalised name (sorted)."""
    top_modules = {_OWN_PACKAGE} | {n.task.__module__.split(".")[0] for n in workflow.nodes}
    packages = {normalise(d) for module in top_modules for d in distributions_of(module)}
    names = set(packages)
    for package in packages:
        names |= _required(package)
    for node in workflow.nodes:
        names |= {normalise(n) for n in getattr(node.task, "libraries", ())}
    return {name: distribution_version(name) for name in sorted(names)}
