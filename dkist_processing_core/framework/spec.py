"""The run contract: everything an engine and a run's tasks need to run one recipe run.

A :class:`RunSpec` is plain JSON (it crosses process boundaries to Dask workers
and Airflow tasks, and is stored beside the run), never a pickled object. It
holds, typed, the two documents the planner hands to a run:

- the :class:`InputDataset`: the exact frames (where each is, its id, the OP run
  it belongs to and its kind) and the parameter values of the run;
- the :class:`RunProvenance`: the ids of what the run was planned from (recipe,
  recipe instance, input dataset parts, proposal, dataset, product) and whether a
  person influenced it.

Tasks read both through :class:`~.context.RunContext` as typed attributes. The
words are generic: the framework knows no telescope and no data center; a
planner (the data center, a notebook, a test) fills them in.
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


class InputFrame(BaseModel):
    """One frame of an input dataset: where it is and what it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    frame_id: str = Field(description="the frame's id (object key), unique in the archive")
    op_run_id: str = Field(description="the Observing Program run the frame belongs to")
    frame_kind: str = Field(description="the kind of OP run (e.g. observe, calibration)")
    path: str | None = Field(None, description="where the frame can be read; None: not known")
    supplied: dict[str, Any] = Field(
        default_factory=dict,
        description="what the frame's header cannot tell, by name, given with the input dataset "
        "(the names a workflow reads are on its parse task's page, e.g. calibration_unit_step)",
    )


class InputDataset(BaseModel):
    """The exact frames and parameter values a run processes.

    ``input_dataset_id`` is the planner's id of the input dataset (0 when there is
    none, e.g. in a notebook). ``parameter_values`` are the values the input
    dataset was assembled with (the run's values are :attr:`RunSpec.parameters`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_dataset_id: int = 0
    frames: list[InputFrame] = Field(default_factory=list)
    parameter_values: list[ParameterValue] = Field(default_factory=list)
    # The OP runs the frames must come from: the observe OP run and the calibration OP runs
    # of the processing candidate (None / empty where the planner does not say, e.g. a notebook).
    observe_op_run_id: str | None = None
    calibration_op_run_ids: list[str] = Field(default_factory=list)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> InputDataset:
        return cls.model_validate_json(text)


class RunProvenance(BaseModel):
    """What a run was planned from, as the planner assigned it.

    A field a planner does not have is ``None`` (a run outside a data center has no
    recipe); the products say how they record a missing id. The recipe run id is
    :attr:`RunSpec.recipe_run_id`, and the instrument package and code versions
    are those of the code that runs, so neither is repeated here.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    recipe_id: int | None = Field(None, description="the recipe the run was made from")
    recipe_instance_id: int | None = Field(None, description="the recipe instance of the run")
    input_dataset_observe_id: int | None = Field(
        None, description="the observe part of the input dataset"
    )
    input_dataset_calibration_id: int | None = Field(
        None, description="the calibration part of the input dataset"
    )
    input_dataset_parameters_id: int | None = Field(
        None, description="the parameters part of the input dataset"
    )
    proposal_id: str | None = Field(None, description="the proposal of the observation")
    dataset_id: str | None = Field(
        None, description="the dataset the run's products belong to (kept when reprocessed)"
    )
    product_id: str | None = Field(
        None, description="the product the dataset is a version of (kept when reprocessed)"
    )
    manual_processing: bool = Field(
        False, description="a person influenced the run (manual by definition or by exception)"
    )

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> RunProvenance:
        return cls.model_validate_json(text)


class RunSpec(BaseModel):
    """What to run, where, and with which configuration, parameter values, input dataset
    and provenance.

    ``workflow`` is ``"<instrument>:<workflow name>"`` (resolved through the
    instrument entry points) or ``"package.module:attribute"`` (an import path).
    ``workflow_version``, when given, must equal the resolved workflow's
    version, and ``task_order``, when given (the order the run was planned with),
    the resolved workflow's task order: a run never silently executes another plan.
    """

    recipe_run_id: int
    workflow: str
    workflow_version: str | None = None
    task_order: list[str] | None = None
    scratch_dir: Path
    configuration: dict[str, Any] = Field(default_factory=dict)
    parameters: list[ParameterValue] = Field(default_factory=list)
    input_dataset: InputDataset = Field(default_factory=InputDataset)
    provenance: RunProvenance = Field(default_factory=RunProvenance)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        return cls.model_validate_json(text)
