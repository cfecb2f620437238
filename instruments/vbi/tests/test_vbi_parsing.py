"""VBI parsing reads time order from the exposure times, not from the frame-number keyword."""

from __future__ import annotations

from dkist_processing_vbi import DEFAULT_PARAMETER_VALUES

from dkist_processing_core.calibration import keywords as kw
from dkist_processing_core.calibration import tags as t
from dkist_processing_core.framework import Scratch, execute_task
from dkist_processing_core.simulate import simulate_vbi, single_filter
from dkist_processing_core.simulate.faults import set_keyword
from dkist_processing_core.simulate.runs import run_spec_for


def test_time_order_within_a_tile_follows_date_obs_not_the_frame_number(tmp_path):
    observation = simulate_vbi(
        tmp_path / "summit", seed=21, size=(16, 16), mosaic=(1, 2), n_dark_frames=2,
        n_gain_frames=2, n_frames_per_tile=3, **single_filter(1),
    )  # fmt: skip
    tile = observation.select("OBSERVE", spatial_step=1)
    assert len(tile) == 3
    # Frame numbers written against time: the last exposure says it is frame 1, and so on.
    for record in tile:
        set_keyword(observation.path_of(record), kw.VBI_CURRENT_FRAME, 3 - record.repeat)
    spec = run_spec_for(observation, "vbi:l1_calibration", tmp_path / "scratch",
                        DEFAULT_PARAMETER_VALUES)  # fmt: skip
    record = execute_task(spec, "VbiParseInputData")
    assert record.status == "succeeded", record.error
    with Scratch(tmp_path / "scratch") as scratch:
        for r in observation.select("OBSERVE"):
            tags = scratch.tags_of(observation.path_of(r))
            # REPEAT_k is the k-th exposure of the tile in time (simulated repeat r is 0-based).
            assert t.Repeat.of(tags) == r.repeat + 1, (r.date_obs, tags)
