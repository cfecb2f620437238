"""Finding workflows: instruments register through an entry point.

An instrument package (ours under ``instruments/`` or one from elsewhere)
declares in its packaging metadata::

    [options.entry_points]
    dkist_processing_core.instruments =
        visp = dkist_processing_visp:INSTRUMENT

pointing at an :class:`Instrument`. A recipe run names its workflow as
``"<instrument>:<workflow name>"``; tests and notebooks may also use an import
path ``"package.module:attribute"``.

The instrument package names its own documentation and source addresses
(:attr:`Instrument.docs_url`, :attr:`Instrument.source_url`): the L1 headers'
links (``INFO_URL``, ``CAL_URL``) and the documentation site's workflow pages
are made from them.
"""

from __future__ import annotations

import importlib
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from . import links
from .errors import ExpectedError
from .workflow import Workflow

ENTRY_POINT_GROUP = "dkist_processing_core.instruments"


class WorkflowNotFound(LookupError, ExpectedError):
    """An unknown instrument, workflow or version; the message names what exists."""


#: The fields a :attr:`Instrument.source_url` template may use.
SOURCE_URL_FIELDS = frozenset({"name", "version"})


@dataclass
class Instrument:
    """An instrument package: its name, package version and workflows, and where its
    documentation and source code are.

    ``docs_url`` is the base address of the documentation site that has this
    instrument's workflow pages, at the paths of :func:`.links.workflow_doc_path`
    (the site of this library builds them for every installed instrument); empty:
    this library's site (:func:`.links.docs_base_url`).

    ``source_url`` is the address of the instrument package's source code at one
    version: a template with the fields ``{version}`` (a workflow version) and
    ``{name}`` (the instrument's name), or a function of the version; empty: not
    known (an L1 header then links the workflow's documentation page instead).
    """

    name: str
    version: str
    workflows: list[Workflow] = field(default_factory=list)
    description: str = ""
    package: str = ""
    # Parameter values a notebook, the demo or a new data center starts from.
    default_parameter_values: dict[str, Any] = field(default_factory=dict)
    docs_url: str = ""
    source_url: str | Callable[[str], str] = ""

    def __post_init__(self) -> None:
        if isinstance(self.source_url, str):
            parsed = string.Formatter().parse(self.source_url)
            fields = {f for _, f, _, _ in parsed if f is not None}
            if not fields <= SOURCE_URL_FIELDS:
                raise ValueError(
                    f"instrument {self.name!r}: source_url {self.source_url!r} uses "
                    f"{sorted(fields - SOURCE_URL_FIELDS)}; a template may only use "
                    f"{sorted(SOURCE_URL_FIELDS)}"
                )
        elif not callable(self.source_url):
            raise TypeError(
                f"instrument {self.name!r}: source_url must be a template string or a function "
                f"of the version, not {type(self.source_url).__name__}"
            )

    @property
    def package_name(self) -> str:
        """The distribution name of the instrument package (``package``, else the convention)."""
        return self.package or f"dkist-processing-{self.name}"

    def workflow_doc_url(self, workflow: str, version: str) -> str:
        """The documentation page of a workflow version of this instrument (``INFO_URL``)."""
        base = self.docs_url.rstrip("/") or links.docs_base_url()
        return f"{base}/{links.workflow_doc_path(self.name, workflow, version)}.html"

    def source_url_at(self, version: str) -> str | None:
        """The source code of this instrument package at a workflow version (``CAL_URL``);
        None if the package does not say where its source is."""
        if callable(self.source_url):
            return self.source_url(version)
        if self.source_url:
            return self.source_url.format(name=self.name, version=version)
        return None

    def workflow(self, name: str) -> Workflow:
        for wf in self.workflows:
            if wf.name == name:
                return wf
        raise WorkflowNotFound(
            f"instrument {self.name!r} has no workflow {name!r}; "
            f"it has {[w.name for w in self.workflows]}"
        )


@cache
def instruments() -> dict[str, Instrument]:
    """Every installed instrument, by name."""
    found: dict[str, Instrument] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        instrument = ep.load()
        if not isinstance(instrument, Instrument):
            raise TypeError(f"entry point {ep.name} = {ep.value} is not an Instrument")
        found[instrument.name] = instrument
    return found


@cache
def installed_instrument(name: str) -> Instrument | None:
    """The installed instrument ``name``, or ``None``.

    Only the entry point of that name is loaded (an instrument's entry point
    is named like the instrument): loading one instrument imports its
    workflows and everything their tasks import, seconds that a process
    running another instrument's workflow need not pay. An instrument whose
    entry point has another name is still found, by loading them all.
    """
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        found = ep.load()
        if not isinstance(found, Instrument):
            raise TypeError(f"entry point {ep.name} = {ep.value} is not an Instrument")
        if found.name == name:
            return found
    return instruments().get(name)


def _named_entry_point(name: str) -> bool:
    return bool(entry_points(group=ENTRY_POINT_GROUP, name=name))


def resolve_workflow(reference: str, version: str | None = None) -> Workflow:
    """The workflow named by ``reference``; its version must equal ``version`` if given."""
    if ":" not in reference:
        raise WorkflowNotFound(
            f"workflow reference {reference!r} must be '<instrument>:<workflow>' "
            "or 'package.module:attribute'"
        )
    left, right = reference.split(":", 1)
    # An instrument by its entry point's name first, then a module path; only when neither
    # is found are all instruments loaded (their names for the message, or one whose entry
    # point is named otherwise).
    found = installed_instrument(left) if _named_entry_point(left) else None
    module = None
    if found is None:
        try:
            module = importlib.import_module(left)
        except ImportError as e:
            found = instruments().get(left)
            if found is None:
                raise WorkflowNotFound(
                    f"{left!r} is neither an installed instrument ({sorted(instruments())}) "
                    f"nor an importable module: {e}"
                ) from e
    if found is not None:
        workflow = found.workflow(right)
    else:
        workflow = module
        for part in right.split("."):
            try:
                workflow = getattr(workflow, part)
            except AttributeError:
                raise WorkflowNotFound(f"module {left!r} has no attribute {right!r}") from None
        if callable(workflow) and not isinstance(workflow, Workflow):
            workflow = workflow()
        if not isinstance(workflow, Workflow):
            raise WorkflowNotFound(f"{reference!r} is not a Workflow but {type(workflow)}")
    if version is not None and workflow.version != version:
        raise WorkflowNotFound(
            f"workflow {reference!r} is at version {workflow.version}, "
            f"but version {version} was asked for"
        )
    return workflow
