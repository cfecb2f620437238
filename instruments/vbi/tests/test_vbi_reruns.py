"""The VBI workflow re-run in a notebook: only what a change affects runs again.

Changing the L1 quantisation reruns the L1 writing and the products made from L1 frames,
and reuses every calibration step before it; editing one raw observe frame reruns the
parsing and the science calibration that read it, and what follows, but not the darks and
gains. Either way the L1 frames equal those of a fresh run with the same inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from dkist_processing_vbi import DEFAULT_PARAMETER_VALUES

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.framework import LocalExecutor, Scratch
from dkist_processing_core.simulate import simulate_vbi, single_filter
from dkist_processing_core.simulate.runs import run_spec_for

pytestmark = pytest.mark.slow

PER_FILE_KEYWORDS = {"FILE_ID", "DATE", "CHECKSUM"}
CALIBRATION = ["VbiParseInputData", "DarkCalibration", "ImagerGainCalibration"]


def l1_frames(scratch_dir) -> dict[str, tuple[np.ndarray, list]]:
    """L1 file name -> (data, header cards but the per-file ones)."""
    frames = {}
    with Scratch(scratch_dir) as s:
        for path in s.find(t.OUTPUT, t.L1):
            with fits.open(path) as hdul:
                cards = [
                    (c.keyword, str(c.value))
                    for c in hdul[1].header.cards
                    if c.keyword not in PER_FILE_KEYWORDS
                ]
                frames[path.name] = (hdul[1].data.copy(), cards)
    return frames


def assert_same_l1(a_dir, b_dir) -> None:
    a, b = l1_frames(a_dir), l1_frames(b_dir)
    assert a.keys() == b.keys() and a
    for name in a:
        np.testing.assert_array_equal(a[name][0], b[name][0], err_msg=name)
        assert a[name][1] == b[name][1], name


def spec(observation, scratch, **parameters):
    return run_spec_for(
        observation,
        "vbi:l1_calibration",
        scratch,
        {**DEFAULT_PARAMETER_VALUES, **parameters},
        recipe_run_id=5,
    )


@pytest.fixture
def observation(tmp_path):
    return simulate_vbi(
        tmp_path / "summit", seed=4, size=(64, 64), mosaic=(2, 2), **single_filter(1)
    )


def test_a_changed_quantisation_reruns_l1_writing_and_what_follows(observation, tmp_path):
    LocalExecutor().run(spec(observation, tmp_path / "notebook"))
    again = LocalExecutor().run(spec(observation, tmp_path / "notebook"))
    assert again.ran == {}  # nothing changed, nothing runs

    report = LocalExecutor().run(spec(observation, tmp_path / "notebook", l1_quantize_level=8.0))
    assert {*CALIBRATION, "ImagerScienceCalibration"} <= set(report.reused)
    assert report.ran["VbiWriteL1Frames"] == "parameter l1_quantize_level changed (16.0 -> 8.0)"
    for product in ("AssembleQualityReport", "MakeBrowseMovie"):
        assert report.ran[product].startswith("inputs changed"), report.summary()

    LocalExecutor().run(spec(observation, tmp_path / "fresh", l1_quantize_level=8.0))
    assert_same_l1(tmp_path / "notebook", tmp_path / "fresh")


def test_an_edited_raw_frame_reruns_its_readers_only(observation, tmp_path):
    LocalExecutor().run(spec(observation, tmp_path / "notebook"))
    # A raw observe frame is replaced by a corrected one (valid FITS, new checksums).
    path = observation.path_of(observation.select("OBSERVE")[0])
    with fits.open(path) as hdul:
        hdus = fits.HDUList([h.copy() for h in hdul])
    hdus[-1].data = (hdus[-1].data * 0.9).astype(hdus[-1].data.dtype)
    hdus.writeto(path, overwrite=True, checksum=True)

    report = LocalExecutor().run(spec(observation, tmp_path / "notebook"))
    assert "VbiParseInputData" in report.ran and "inputs changed" in report.ran["VbiParseInputData"]
    assert {"DarkCalibration", "ImagerGainCalibration"} <= set(report.reused), report.summary()
    assert "ImagerScienceCalibration" in report.ran and "VbiWriteL1Frames" in report.ran

    LocalExecutor().run(spec(observation, tmp_path / "fresh"))
    assert_same_l1(tmp_path / "notebook", tmp_path / "fresh")
