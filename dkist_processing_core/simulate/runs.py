"""Running a workflow on a simulated observation, as a notebook would (no data center)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..framework import ParameterValue, RunProvenance, RunSpec
from .observation import SimulatedObservation


def run_spec_for(
    observation: SimulatedObservation,
    workflow: str,
    scratch_dir: Path | str,
    parameter_values: Mapping[str, Any],
    *,
    recipe_run_id: int = 1,
    configuration: Mapping[str, Any] | None = None,
    provenance: RunProvenance | None = None,
) -> RunSpec:
    """A run spec for ``workflow`` over every frame of ``observation``.

    Parameter values get ids 1, 2, ... in the order given (the data center assigns real ids);
    they are the input dataset's parameter values too. ``provenance`` gives the ids a data
    center would assign (none by default).
    """
    parameters = [
        ParameterValue(id=i, name=name, value=value)
        for i, (name, value) in enumerate(parameter_values.items(), start=1)
    ]
    input_dataset = observation.input_dataset().model_copy(update={"parameter_values": parameters})
    return RunSpec(
        recipe_run_id=recipe_run_id,
        workflow=workflow,
        scratch_dir=Path(scratch_dir),
        configuration=dict(configuration or {}),
        parameters=parameters,
        input_dataset=input_dataset,
        provenance=provenance or RunProvenance(),
    )
