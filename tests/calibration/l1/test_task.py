"""The L1 task on a simulated VBI observation: one writer process or two give the same frames."""

import numpy as np
import pytest
from astropy.io import fits
from dkist_header_validator import spec214_validator

from dkist_processing_core.framework import LocalExecutor, ParameterValue, RunSpec
from dkist_processing_core.simulate import simulate_vbi, single_filter

pytest.importorskip("dkist_processing_vbi")


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
