"""Where a workflow version's documentation and source code live: the one URL scheme.

L1 headers carry these links (INFO_URL, CAL_URL, ...) and the documentation site
is built so that each link resolves to a page of that exact workflow version.
Both use the functions here, so the scheme is defined once.

The base addresses come from the environment (a site can host its own docs and
code) and default to the project's public ones.
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
    return os.environ.get(DOCS_BASE_ENV, DEFAULT_DOCS_BASE).rstrip("/")


def source_base_url() -> str:
    return os.environ.get(SOURCE_BASE_ENV, DEFAULT_SOURCE_BASE).rstrip("/")


def workflow_doc_path(instrument: str, workflow: str, version: str) -> str:
    """The page of a workflow version, relative to the documentation root (no suffix)."""
    return f"workflows/{_slug(instrument)}/{_slug(workflow)}-v{_slug(version)}"


def workflow_doc_url(instrument: str, workflow: str, version: str) -> str:
    return f"{docs_base_url()}/{workflow_doc_path(instrument, workflow, version)}.html"


def task_doc_path(task: type) -> str:
    """The page of a task class, relative to the documentation root (no suffix)."""
    return f"tasks/{task.__module__}.{task.__qualname__}"


def task_doc_url(task: type) -> str:
    return f"{docs_base_url()}/{task_doc_path(task)}.html"


def release_tag(instrument: str, version: str) -> str:
    """The source-control tag of an instrument package release."""
    return f"{_slug(instrument)}-v{version}"


def workflow_source_url(instrument: str, version: str) -> str:
    """The source code of the instrument package at exactly that release."""
    return f"{source_base_url()}/tree/{release_tag(instrument, version)}/instruments/{_slug(instrument)}"


def library_source_url(version: str) -> str:
    return f"{source_base_url()}/tree/v{version}"


def header_spec_url() -> str:
    """The documentation of the Level 1 header keywords (SPEC-0214) of the version in use."""
    from dkist_fits_specifications import __version__ as spec_version

    return (
        f"https://docs.dkist.nso.edu/projects/data-products/en/v{spec_version}/specs/spec-214.html"
    )
