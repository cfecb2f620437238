"""Spectral shifts along the slit against the simulator's known slit tilt and curvature."""

import numpy as np
import pytest

from dkist_processing_core.calibration.geometric.algorithm import (
    correct_spectral_shifts,
    fit_shift_polynomial,
    measure_spectral_shifts,
)
from dkist_processing_core.simulate import VispConfig, VispModel


def test_measured_shifts_match_truth(visp, visp_calibration):
    truth = visp.truth.spectral_shifts
    measured = visp_calibration.spectral_shifts
    assert np.ptp(truth) > 1.0  # there is a real distortion to recover
    # 0.05 px: the solar gain average has ~5e5 counts per pixel; a noise-free frame gives
    # 1e-4 px (test below), so this bound is photon noise with a wide margin.
    assert np.max(np.abs(measured - truth)) < 0.05
    smooth = fit_shift_polynomial(measured, order=2)
    assert np.max(np.abs(smooth - truth)) < 0.01  # polynomial averages the noise of 64 rows


def test_noise_free_shifts_are_exact():
    model = VispModel(VispConfig(seed=9, slit_tilt_px=3.0, slit_curvature_px=-1.5))
    _ny, nx = model.config.shape
    x = np.arange(nx)[None, :] - model.spectral_shifts[:, None]
    image = model.line.profile(x) * model.solar_illumination[:, None]
    measured = measure_spectral_shifts(image)
    assert np.max(np.abs(measured - model.spectral_shifts)) < 1e-3


def test_correction_undoes_the_distortion():
    model = VispModel(VispConfig(seed=5))
    distorted = model.stokes_at_step(2, distorted=True)
    straight = model.stokes_at_step(2)
    corrected = correct_spectral_shifts(distorted, model.spectral_shifts)
    inner = slice(8, -8)  # edge columns are extrapolated (shifted in from outside the frame)
    error = corrected[0][:, inner] / straight[0][:, inner] - 1
    # Cubic-spline interpolation of a line ~3 px wide: errors well below photon noise (~0.3%)
    assert np.max(np.abs(error)) < 1e-3
    continuum = straight[0].max()
    assert np.max(np.abs(corrected[3] - straight[3])[:, inner]) < 1e-3 * continuum


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="2-D"):
        measure_spectral_shifts(np.ones((3, 4, 5)))
    with pytest.raises(ValueError, match="reference_row 99"):
        measure_spectral_shifts(np.ones((10, 64)), reference_row=99)
    with pytest.raises(ValueError, match="3 shifts given for an image with 4 rows"):
        correct_spectral_shifts(np.ones((4, 16)), np.zeros(3))


def test_a_shift_beyond_the_bound_is_an_error_never_used():
    from dkist_processing_core.calibration.geometric.algorithm import SpectralShiftOutOfRange

    # A distortion of 6 px between the ends of the slit with a search bound of 2 px.
    model = VispModel(VispConfig(seed=9, slit_tilt_px=6.0, slit_curvature_px=0.0))
    _ny, nx = model.config.shape
    x = np.arange(nx)[None, :] - model.spectral_shifts[:, None]
    image = model.line.profile(x) * model.solar_illumination[:, None]
    assert np.max(np.abs(model.spectral_shifts - model.spectral_shifts[_ny // 2])) > 2.5
    with pytest.raises(SpectralShiftOutOfRange, match=r"beyond max_shift = 2 px") as info:
        measure_spectral_shifts(image, max_shift=2.0)
    assert len(info.value.rows) > 0 and "row " in str(info.value)
    # Within a bound that covers it, the same frame is measured.
    measured = measure_spectral_shifts(image, max_shift=5.0)
    assert np.max(np.abs(measured - model.spectral_shifts)) < 1e-2


def test_a_frame_read_with_the_slit_along_the_columns_is_refused():
    # The case: a frame whose slit lies along the wavelength-axis the algorithm
    # assumes. Transposed, "rows" are wavelengths and every shift is meaningless: an error.
    from dkist_processing_core.calibration.geometric.algorithm import SpectralShiftOutOfRange

    model = VispModel(VispConfig(seed=5))
    _ny, nx = model.config.shape
    x = np.arange(nx)[None, :] - model.spectral_shifts[:, None]
    image = model.line.profile(x) * model.solar_illumination[:, None]
    with pytest.raises(SpectralShiftOutOfRange, match=r"beyond max_shift = 5 px"):
        measure_spectral_shifts(image.T.copy(), max_shift=5.0)
