"""The L1 task on a simulated VBI observation: one writer process or two give the same frames."""

import numpy as np
import pytest
from astropy.io import fits
from dkist_header_validator import spec214_validator

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.framework import (
    LocalExecutor,
    ParameterValue,
    RunSpec,
    Scratch,
    TaskFailed,
)
from dkist_processing_core.simulate import simulate_vbi, single_filter
from dkist_processing_core.simulate.faults import deliver_twice, same_observation_time
from dkist_processing_core.simulate.runs import run_spec_for

dkist_processing_vbi = pytest.importorskip("dkist_processing_vbi")
VBI_PARAMETERS = dkist_processing_vbi.DEFAULT_PARAMETER_VALUES


def run_vbi(sim, scratch, processes: int):
    import dkist_processing_vbi

    values = dkist_processing_vbi.DEFAULT_PARAMETER_VALUES
    spec = RunSpec(
        recipe_run_id=1,
        workflow="vbi:l1_calibration",
        scratch_dir=scratch,
        configuration={"l1_write_processes": processes},
        parameters=[
            ParameterValue(id=i, name=k, value=v) for i, (k, v) in enumerate(values.items(), 1)
        ],
        input_dataset=sim.input_dataset_document(),
    )
    assert LocalExecutor().run(spec).status == "succeeded"
    return sorted((scratch / "VbiWriteL1Frames").glob("*_L1.fits"))


@pytest.mark.slow
def test_one_and_two_writer_processes_write_the_same_frames(tmp_path):
    sim = simulate_vbi(
        tmp_path / "sim", seed=4, size=(32, 32), n_frames_per_tile=1, **single_filter(1)
    )
    one = run_vbi(sim, tmp_path / "one", 1)
    two = run_vbi(sim, tmp_path / "two", 2)
    assert [p.name for p in one] == [p.name for p in two]
    assert len(one) == 4  # 2x2 mosaic tiles, one frame each, one filter
    for a, b in zip(one, two):
        # Same data and same dither seed per frame: the decompressed arrays are identical.
        assert np.array_equal(fits.getdata(a, 1), fits.getdata(b, 1), equal_nan=True)
        spec214_validator.validate(b, extra=False)
        with fits.open(b, checksum=True) as hdul:
            assert hdul[1].header["FRAMEVOL"] > 0


def _small_vbi(root):
    return simulate_vbi(
        root, seed=4, size=(32, 32), n_frames_per_tile=1, n_dark_frames=2, n_gain_frames=2,
        **single_filter(1),
    )  # fmt: skip


def _run_expecting_conflict(spec):
    with pytest.raises(TaskFailed) as failed:
        LocalExecutor().run(spec)
    assert failed.value.task_name == "VbiWriteL1Frames"
    return failed.value.error


@pytest.mark.slow
def test_two_raw_frames_of_one_observation_time_are_refused_naming_both(tmp_path):
    sim = _small_vbi(tmp_path / "sim")
    first, second = (sim.path_of(r) for r in sim.select("OBSERVE")[:2])
    same_observation_time(second, like=first)
    spec = run_spec_for(sim, "vbi:l1_calibration", tmp_path / "scratch", VBI_PARAMETERS)
    error = _run_expecting_conflict(spec)
    assert error.startswith("L1FrameConflict: two calibrated frames would be written as one L1")
    # Both calibrated frames are named, each with the raw frame it was made from.
    assert f"(made from {first})" in error and f"(made from {second})" in error
    assert "DATE-OBS" in error
    with Scratch(spec.scratch_dir) as s:
        made_from = {s.source_of(s.source_of(p)) for p in s.find(t.OUTPUT, t.L1)}
    # The L1 file both frames want holds the first one written, complete, never replaced.
    assert len(made_from & {str(first), str(second)}) == 1


@pytest.mark.slow
def test_one_frame_delivered_under_a_second_frame_id_is_refused_at_the_door(tmp_path):
    # Caught before any calibration by the input validation (same content checksum), so the
    # L1 writer's own guard (above) is never reached; both files are named.
    sim = _small_vbi(tmp_path / "sim")
    record = sim.select("OBSERVE")[0]
    document = deliver_twice(sim.input_dataset_document(), sim.frame_id(record), "again/1")
    spec = run_spec_for(sim, "vbi:l1_calibration", tmp_path / "scratch", VBI_PARAMETERS)
    spec = spec.model_copy(update={"input_dataset": document})
    with pytest.raises(TaskFailed) as failed:
        LocalExecutor().run(spec)
    assert failed.value.task_name == "VbiParseInputData"
    error = failed.value.error
    copy = next(f["path"] for f in document["frames"] if f["frame_id"] == "again/1")
    assert f"{copy}: duplicate content" in error
    assert f"{sim.path_of(record)} holds the same data" in error
    with Scratch(spec.scratch_dir) as s:
        assert s.find(t.OUTPUT, t.L1) == []  # nothing was calibrated
