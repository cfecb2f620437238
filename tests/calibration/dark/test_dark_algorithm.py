"""Average darks against the simulator's known dark level (bias + dark current x exposure time)."""

import numpy as np
import pytest

from dkist_processing_core.calibration.dark.algorithm import (
    average_dark,
    average_darks_by_exposure_time,
    dark_for_exposure_time,
)
from dkist_processing_core.simulate import read_frame


def _predicted_sigma_of_mean(truth, exposure_time, n_frames):
    # Per frame: read noise + shot noise of the dark current (+ 1/12 count^2 quantisation).
    variance = truth.read_noise**2 + truth.dark_current * exposure_time + 1 / 12
    return np.sqrt(variance / n_frames)


def test_average_dark_per_exposure_time_matches_truth(visp, visp_calibration):
    truth = visp.truth
    assert sorted(visp_calibration.darks) == truth.dark_exposure_times_ms
    for t, dark in visp_calibration.darks.items():
        n = len(visp.select("DARK", exposure_time_ms=t))
        expected = truth.dark(t)
        error = dark - expected
        sigma = _predicted_sigma_of_mean(truth, t, n)
        # Target: within 0.5% of the dark level (bias ~1500 counts) at every pixel.
        assert np.max(np.abs(error / expected)) < 0.005
        # And consistent with noise: the error is photon/read noise of n frames, nothing more.
        z = error / sigma
        assert abs(z.mean()) < 0.1  # no bias (tolerance: 8192 pixels -> 0.011 sigma, x10)
        assert 0.9 < z.std() < 1.1
        assert np.max(np.abs(z)) < 5.5


def test_sigma_rejection_removes_cosmic_rays(visp):
    records = visp.select("DARK", exposure_time_ms=visp.truth.observe_exposure_ms)
    frames = [read_frame(visp.path_of(r))[1] for r in records]
    hit = (slice(10, 12), slice(20, 23))
    frames[3][hit] += 5000.0  # cosmic ray in one frame
    plain = average_dark(frames)
    rejected = average_dark(frames, rejection_sigma=3.0)
    expected = visp.truth.dark(visp.truth.observe_exposure_ms)
    assert np.all(plain[hit] - expected[hit] > 200)  # the hit biases a plain mean by 5000/n
    assert np.max(np.abs(rejected[hit] - expected[hit])) < 10  # ~ few sigma of 4 counts noise
    # Elsewhere rejection changes little: at most a few noise sigma
    assert np.median(np.abs(rejected - plain)) < 0.5


def test_sigma_rejection_refuses_one_shot_iterator(visp):
    records = visp.select("DARK")[:5]
    with pytest.raises(TypeError, match="twice"):
        average_dark((read_frame(visp.path_of(r))[1] for r in records), rejection_sigma=3)


def test_streaming_mean_does_not_accept_mixed_shapes():
    with pytest.raises(ValueError, match=r"frame 2 has shape \(3, 3\)"):
        average_dark(iter([np.zeros((2, 2)), np.zeros((3, 3))]))


def test_dark_interpolated_between_exposure_times(visp, visp_calibration):
    darks = dict(visp_calibration.darks)
    times = sorted(darks)
    middle = times[1]
    others = {t: darks[t] for t in times if t != middle}
    interpolated = dark_for_exposure_time(others, middle, allow_interpolation=True)
    expected = visp.truth.dark(middle)
    # Linear model is exact for the simulator; the error is the noise of the two averages.
    assert np.sqrt(np.mean((interpolated - expected) ** 2)) < 3.0
    with pytest.raises(KeyError, match=r"no dark for exposure time 6.0 ms; darks exist for"):
        dark_for_exposure_time(others, middle)


def test_darks_grouped_from_one_stream_in_any_order(visp):
    records = visp.select("DARK")[::-1]
    darks = average_darks_by_exposure_time(
        (r.exposure_time_ms, read_frame(visp.path_of(r))[1]) for r in records
    )
    for t, dark in darks.items():
        assert np.max(np.abs(dark / visp.truth.dark(t) - 1)) < 0.005
