"""Shared set-up of the bad-input corpus (see README.md in this folder).

A tiny observation is simulated once per test module; every case copies it, damages the
copy (with :mod:`dkist_processing_core.simulate.faults` or by editing the input dataset
document) and runs the workflow's parse task through the real executor (``execute_task``),
so the failure, its message and what it leaves in the scratch are what a run would have.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dkist_processing_vbi import DEFAULT_PARAMETER_VALUES as VBI_PARAMETERS
from dkist_processing_visp import DEFAULT_PARAMETER_VALUES as VISP_PARAMETERS

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.framework import RunSpec, Scratch, execute_task
from dkist_processing_core.framework.executors.base import load_workflow
from dkist_processing_core.simulate import SimulatedObservation, simulate_vbi, simulate_visp
from dkist_processing_core.simulate.runs import run_spec_for
from dkist_processing_core.simulate.vbi import single_filter

# Small enough that a parse of the whole observation takes a fraction of a second.
TINY_VBI = dict(
    seed=11, size=(32, 32), mosaic=(1, 2), n_dark_frames=2, n_gain_frames=2, **single_filter(1)
)
TINY_VISP = dict(
    seed=12, size=(8, 16), n_scan_steps=2, n_modulator_states=2,
    n_dark_frames=2, n_lamp_gain_repeats=1, n_solar_gain_repeats=1,
)  # fmt: skip


@dataclass
class Case:
    """One bad-input case: a private copy of an observation, its input dataset and scratch."""

    observation: SimulatedObservation
    pristine: SimulatedObservation
    workflow: str
    scratch_dir: Path
    parameters: dict[str, Any]
    input_dataset: dict[str, Any] = field(default_factory=dict)
    damaged: list[Path] = field(default_factory=list)  # frames a case changed on disk

    def path(self, task_type: str, index: int = 0, **filters) -> Path:
        """The ``index``-th raw frame of a task type (DARK, SOLAR_GAIN, OBSERVE, ...)."""
        return self.observation.path_of(self.observation.select(task_type, **filters)[index])

    def entry(self, path: Path) -> dict[str, Any]:
        """The input dataset's entry for the frame at ``path``."""
        return next(f for f in self.input_dataset["frames"] if f["path"] == str(path))

    def spec(self) -> RunSpec:
        spec = run_spec_for(self.observation, self.workflow, self.scratch_dir, self.parameters)
        # Validated, as a run spec read from JSON would be (model_copy would not validate).
        return RunSpec.model_validate({**spec.model_dump(), "input_dataset": self.input_dataset})

    @property
    def parse_task(self) -> str:
        return load_workflow(self.spec()).task_order[0]

    def parse(self):
        """Run the parse task (the door) through the executor; its journal record."""
        return execute_task(self.spec(), self.parse_task)

    def indexed(self) -> int:
        """How many raw frames the scratch has indexed."""
        with Scratch(self.scratch_dir) as scratch:
            return scratch.count(t.INPUT, t.FRAME)

    def fail(self) -> str:
        """The parse task's error; asserts the run failed and left no frame indexed."""
        record = self.parse()
        assert record.status == "failed", f"expected a failure, got {record.status}"
        assert self.indexed() == 0  # nothing half-indexed: the check runs before any write
        return record.error

    def restore(self, path: Path) -> None:
        """Put the pristine frame back at ``path`` (the cause removed)."""
        relative = Path(path).relative_to(self.observation.root)
        shutil.copyfile(self.pristine.root / relative, path)

    def succeed(self) -> None:
        """Run the parse task again: it succeeds and indexes every frame of the input dataset."""
        record = self.parse()
        assert record.status == "succeeded", record.error
        assert self.indexed() == len(self.input_dataset["frames"])


def make_case(pristine: SimulatedObservation, tmp_path: Path, workflow: str, parameters) -> Case:
    shutil.copytree(pristine.root, tmp_path / "summit")
    observation = SimulatedObservation.load(tmp_path / "summit")
    return Case(
        observation=observation,
        pristine=pristine,
        workflow=workflow,
        scratch_dir=tmp_path / "scratch",
        parameters=dict(parameters),
        input_dataset=copy.deepcopy(observation.input_dataset_document()),
    )


@pytest.fixture(scope="module")
def pristine_vbi(tmp_path_factory) -> SimulatedObservation:
    return simulate_vbi(tmp_path_factory.mktemp("vbi") / "summit", **TINY_VBI)


@pytest.fixture(scope="module")
def pristine_visp(tmp_path_factory) -> SimulatedObservation:
    return simulate_visp(tmp_path_factory.mktemp("visp") / "summit", **TINY_VISP)


@pytest.fixture
def vbi_case(pristine_vbi, tmp_path) -> Case:
    return make_case(pristine_vbi, tmp_path, "vbi:l1_calibration", VBI_PARAMETERS)


@pytest.fixture
def visp_case(pristine_visp, tmp_path) -> Case:
    return make_case(pristine_visp, tmp_path, "visp:l1_calibration", VISP_PARAMETERS)
