"""Finding workflows: instruments register through an entry point.

An instrument package (ours under ``instruments/`` or one from elsewhere)
declares in its packaging metadata::

    [options.entry_points]
    dkist_processing_core.instruments =
        visp = dkist_processing_visp:INSTRUMENT

pointing at an :class:`Instrument`. A recipe run names its workflow as
``"<instrument>:<workflow name>"``; tests and notebooks may also use an import
path ``"package.module:attribute"``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from .errors import ExpectedError
from .workflow import Workflow

ENTRY_POINT_GROUP = "dkist_processing_core.instruments"


class WorkflowNotFound(LookupError, ExpectedError):
    """An unknown instrument, workflow or version; the message names what exists."""


@dataclass
class Instrument:
    """An instrument package: its name, package version and workflows."""

    name: str
    version: str
    workflows: list[Workflow] = field(default_factory=list)
    description: str = ""
    package: str = ""
    # Parameter values a notebook, the demo or a new data center starts from.
    default_parameter_values: dict[str, Any] = field(default_factory=dict)

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


def resolve_workflow(reference: str, version: str | None = None) -> Workflow:
    """The workflow named by ``reference``; its version must equal ``version`` if given."""
    if ":" not in reference:
        raise WorkflowNotFound(
            f"workflow reference {reference!r} must be '<instrument>:<workflow>' "
            "or 'package.module:attribute'"
        )
    left, right = reference.split(":", 1)
    registered = instruments()
    if left in registered:
        workflow = registered[left].workflow(right)
    else:
        try:
            module = importlib.import_module(left)
        except ImportError as e:
            raise WorkflowNotFound(
                f"{left!r} is neither an installed instrument ({sorted(registered)}) "
                f"nor an importable module: {e}"
            ) from e
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
