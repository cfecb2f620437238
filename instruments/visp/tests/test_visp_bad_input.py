"""Bad input stops the ViSP workflow with an error naming the file and the problem.

Every case also checks that what earlier tasks wrote is still there, byte for byte.
"""

from __future__ import annotations

import shutil

import pytest
from dkist_processing_visp import DEFAULT_PARAMETER_VALUES

from dkist_processing_core.calibration import keywords as kw
from dkist_processing_core.calibration import tags as t
from dkist_processing_core.framework import InputDataset, LocalExecutor, Scratch, TaskFailed
from dkist_processing_core.simulate import SimulatedObservation, simulate_visp
from dkist_processing_core.simulate.faults import (
    remove_keyword,
    set_keyword,
    truncate_file,
    wrong_shape,
)
from dkist_processing_core.simulate.runs import run_spec_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return simulate_visp(tmp_path_factory.mktemp("pristine") / "summit", seed=7)


@pytest.fixture
def observation(pristine, tmp_path) -> SimulatedObservation:
    """A private copy of the observation that a test may damage."""
    shutil.copytree(pristine.root, tmp_path / "summit")
    return SimulatedObservation.load(tmp_path / "summit")


def fail(observation, tmp_path, *, input_dataset=None) -> TaskFailed:
    spec = run_spec_for(
        observation, "visp:l1_calibration", tmp_path / "scratch", DEFAULT_PARAMETER_VALUES
    )
    if input_dataset is not None:
        spec = spec.model_copy(update={"input_dataset": InputDataset.model_validate(input_dataset)})
    with pytest.raises(TaskFailed) as info:
        LocalExecutor().run(spec)
    return info.value


def stored(tmp_path) -> dict:
    """Every file in the scratch and its bytes."""
    with Scratch(tmp_path / "scratch") as scratch:
        return {p: p.read_bytes() for p in scratch.find(t.INTERMEDIATE)}


def first(observation, kind, **filters):
    return observation.path_of(observation.select(kind, **filters)[0])


def test_truncated_file(observation, tmp_path):
    bad = truncate_file(first(observation, "OBSERVE"))
    error = fail(observation, tmp_path)
    assert error.task_name == "VispParseInputData"
    assert str(bad) in str(error) and "truncated" in str(error)


def test_missing_keyword(observation, tmp_path):
    bad = remove_keyword(first(observation, "SOLAR_GAIN"), kw.EXPOSURE_TIME_MS)
    error = fail(observation, tmp_path)
    assert f"{bad}: required keyword {kw.EXPOSURE_TIME_MS} is missing" in str(error)


def test_mistyped_keyword(observation, tmp_path):
    bad = set_keyword(first(observation, "POLCAL"), kw.VISP_CURRENT_STATE, "third")
    error = fail(observation, tmp_path)
    assert f"{bad}: keyword {kw.VISP_CURRENT_STATE} = 'third' is not a valid int" in str(error)


def test_frame_of_the_wrong_shape(observation, tmp_path):
    bad = wrong_shape(first(observation, "OBSERVE", spatial_step=3))
    error = fail(observation, tmp_path)
    assert f"{bad}: frame shape: NAXIS2, NAXIS1 = (63, 127); expected (64, 128)" in str(error)


def test_exposure_time_with_no_matching_dark(observation, tmp_path):
    observe_exposure = observation.truth.observe_exposure_ms
    document = observation.input_dataset_document()
    document["frames"] = [
        f
        for f, r in zip(document["frames"], observation.frames)
        if not (r.task_type == "DARK" and r.exposure_time_ms == observe_exposure)
    ]
    error = fail(observation, tmp_path, input_dataset=document)
    # Refused at the door, before any calibration: each frame without a dark is named.
    assert error.task_name == "VispParseInputData"
    assert (
        f"calibration setup: {kw.EXPOSURE_TIME_MS} = {float(observe_exposure)!r}; expected an "
        "exposure time of the dark frames"
    ) in str(error)
    assert "OBSERVE frames need a dark of their own exposure time" in str(error)


def test_polcal_sequence_that_cannot_constrain_the_fit(observation, tmp_path):
    # Without the states that have the retarder in the beam the unit's retardance (and the
    # retarder's transmission) cannot be fitted: the error names them.
    document = observation.input_dataset_document()
    document["frames"] = [
        f
        for f, r in zip(document["frames"], observation.frames)
        if not (r.task_type == "POLCAL" and r.retarder_angle_deg is not None)
    ]
    error = fail(observation, tmp_path, input_dataset=document)
    assert error.task_name == "PolarimetricCalibration"
    assert "cannot determine the calibration-unit parameter(s) retardance_deg" in str(error)
    assert "no state has the retarder in the beam" in str(error)
    # The darks and gains made before the failure are kept as they were.
    before = stored(tmp_path)
    assert len(before) >= 5
    with pytest.raises(TaskFailed):  # the same run again fails the same way ...
        LocalExecutor().run(
            run_spec_for(
                observation, "visp:l1_calibration", tmp_path / "scratch", DEFAULT_PARAMETER_VALUES
            ).model_copy(update={"input_dataset": InputDataset.model_validate(document)})
        )
    assert stored(tmp_path) == before  # ... and nothing already stored was lost or rewritten
