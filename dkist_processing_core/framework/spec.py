"""The run specification: everything an engine needs to run one recipe run.

A :class:`RunSpec` is plain JSON (it crosses process boundaries to Dask workers
and Airflow tasks, and is stored beside the run), never a pickled object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ParameterValue(BaseModel):
    """One parameter value chosen for a run: its id in the metadata store, its name and value."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    value: Any


class RunSpec(BaseModel):
    """What to run, where, and with which configuration and parameter values.

    ``workflow`` is ``"<instrument>:<workflow name>"`` (resolved through the
    instrument entry points) or ``"package.module:attribute"`` (an import path).
    ``workflow_version``, when given, must equal the resolved workflow's
    version: a run never silently executes a different version than planned.
    """

    recipe_run_id: int
    workflow: str
    workflow_version: str | None = None
    scratch_dir: Path
    configuration: dict[str, Any] = Field(default_factory=dict)
    parameters: list[ParameterValue] = Field(default_factory=list)
    input_dataset: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        return cls.model_validate_json(text)
