"""The run context: what a task can reach while it runs."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ExpectedError
from .scratch import Scratch
from .spec import InputDataset, ParameterValue, RunProvenance, RunSpec


class ParameterError(KeyError, ExpectedError):
    """A parameter value that a task needs is not part of the run."""

    def __str__(self) -> str:  # KeyError quotes its message; say it plainly
        return str(self.args[0])


class ParameterValues(Mapping[str, Any]):
    """The parameter values of a run, by name, remembering which ones were used.

    The used values (with their ids) are part of a product's provenance.
    """

    def __init__(self, values: Iterable[ParameterValue] = ()):
        self._by_name: dict[str, ParameterValue] = {}
        for v in values:
            if v.name in self._by_name:
                raise ParameterError(f"parameter {v.name!r} is given twice for this run")
            self._by_name[v.name] = v
        self._used: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        return self.record(name).value

    def record(self, name: str) -> ParameterValue:
        try:
            record = self._by_name[name]
        except KeyError:
            raise ParameterError(
                f"parameter {name!r} has no value in this run; "
                f"the run has: {sorted(self._by_name) or 'none'}"
            ) from None
        self._used.add(name)
        return record

    def __iter__(self):
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def used(self) -> list[ParameterValue]:
        return [self._by_name[n] for n in sorted(self._used)]


@dataclass
class RunContext:
    """Everything a task reaches: ids, the "as run" configuration, parameter values,
    the tagged scratch, the input dataset, the run's provenance and a logger."""

    spec: RunSpec
    scratch: Scratch
    logger: logging.Logger | logging.LoggerAdapter
    workflow_name: str
    workflow_version: str
    task_order: list[str]
    instrument: str | None = None
    declared_parameters: tuple[str, ...] = ()  # every parameter the workflow's tasks declare
    parameters: ParameterValues = field(init=False)
    # Whether the task read the input dataset document (then it is part of its fingerprint).
    input_dataset_read: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.parameters = ParameterValues(self.spec.parameters)

    @property
    def recipe_run_id(self) -> int:
        return self.spec.recipe_run_id

    @property
    def configuration(self) -> dict[str, Any]:
        return self.spec.configuration

    @property
    def input_dataset(self) -> InputDataset:
        self.input_dataset_read = True
        return self.spec.input_dataset

    @property
    def provenance(self) -> RunProvenance:
        return self.spec.provenance
