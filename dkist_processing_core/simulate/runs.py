"""Running a workflow on a simulated observation, as a notebook would (no data center)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..framework import ParameterValue, RunSpec
from .observation import SimulatedObservation


def run_spec_for(
    observation: SimulatedObservation,
    workflow: str,
    scratch_dir: Path | str,
    parameter_values: Mapping[str, Any],
    *,
    recipe_run_id: int = 1,
    configuration: Mapping[str, Any] | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> RunSpec:
    """A run spec for ``workflow`` over every frame of ``observation``.

    Parameter values get ids 1, 2, ... in the order given (the data center assigns real ids).
    """
    return RunSpec(
        recipe_run_id=recipe_run_id,
        workflow=workflow,
        scratch_dir=Path(scratch_dir),
        configuration=dict(configuration or {}),
        parameters=[
            ParameterValue(id=i, name=name, value=value)
            for i, (name, value) in enumerate(parameter_values.items(), start=1)
        ],
        input_dataset=observation.input_dataset_document(),
        provenance=dict(provenance or {}),
    )
