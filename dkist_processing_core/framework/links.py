"""Where a workflow version's documentation and source code live: the one URL scheme.

L1 headers carry these links (INFO_URL, CAL_URL, ...) and the documentation site
is built so that each link resolves to a page of that exact workflow version.
Both use the functions here, so the scheme is defined once.

Each instrument package names its own documentation site and source address
(:class:`~.registry.Instrument` ``docs_url`` and ``source_url``); this module
fixes the page paths within a documentation site. This library's own site
(task pages, and the workflow pages of an instrument that names no site) comes
from the environment (a site can host its own docs and code) and defaults to the
project's public one.
"""

from __future__ import annotations

import os
import re

DOCS_BASE_ENV = "DKIST_PROCESSING_DOCS_URL"
SOURCE_BASE_ENV = "DKIST_PROCESSING_SOURCE_URL"
DEFAULT_DOCS_BASE = "https://dkist-processing-core.readthedocs.io/en/latest"
DEFAULT_SOURCE_BASE = "https://github.com/DKISTDC/dkist-processing-core"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-").lower()


def docs_base_url() -> str:
    """The base address of this library's documentation site."""
    return os.environ.get(DOCS_BASE_ENV, DEFAULT_DOCS_BASE).rstrip("/")


def source_base_url() -> str:
    """The address of this library's source repository."""
    return os.environ.get(SOURCE_BASE_ENV, DEFAULT_SOURCE_BASE).rstrip("/")


def workflow_doc_path(instrument: str, workflow: str, version: str) -> str:
    """The page of a workflow version, relative to the documentation root (no suffix)."""
    return f"workflows/{_slug(instrument)}/{_slug(workflow)}-v{_slug(version)}"


def _installed(instrument: str):
    """The installed instrument of that name; one that is not installed names no addresses."""
    from .registry import Instrument, installed_instrument

    return installed_instrument(instrument) or Instrument(name=instrument, version="")


def workflow_doc_url(instrument: str, workflow: str, version: str) -> str:
    """The documentation page of a workflow version, in the documentation site its instrument
    package names (see ``Instrument.workflow_doc_url``)."""
    return _installed(instrument).workflow_doc_url(workflow, version)


def workflow_source_url(instrument: str, version: str) -> str | None:
    """The source code of the instrument package at exactly that version, as the package names
    it; None if the package does not say where its source is (see ``Instrument.source_url_at``)."""
    return _installed(instrument).source_url_at(version)


def task_doc_path(task: type) -> str:
    """The page of a task class, relative to the documentation root (no suffix)."""
    return f"tasks/{task.__module__}.{task.__qualname__}"


def task_doc_url(task: type) -> str:
    return f"{docs_base_url()}/{task_doc_path(task)}.html"


def library_source_url(version: str) -> str:
    return f"{source_base_url()}/tree/v{version}"
