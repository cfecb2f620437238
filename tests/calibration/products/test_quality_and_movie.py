import json

import imageio.v2 as iio2
import imageio.v3 as iio
import numpy as np
import pytest
from astropy.io import fits

from dkist_processing_core.calibration.l1.header import HISTORY_PREFIX, array_statistics
from dkist_processing_core.calibration.movie.algorithm import decimate, write_browse_movie
from dkist_processing_core.calibration.quality import (
    compute_quality_metrics,
    estimate_noise,
    write_quality_data,
    write_quality_report,
)
from dkist_processing_core.calibration.quality.metrics import (
    NOISE_ERROR_FACTOR,
    estimate_noise_with_error,
    noise_sample_blocks,
)

from .conftest import pdf_page_count


def test_noise_estimate_ignores_smooth_structure():
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:256, 0:256]
    scene = 1000 + 100 * np.sin(2 * np.pi * x / 64) * np.cos(2 * np.pi * y / 64)
    # MAD of 65k second differences: standard error ~1%; 3% covers it and the scene curvature.
    assert estimate_noise(scene + rng.normal(0, 3.0, scene.shape)) == pytest.approx(3.0, rel=0.03)


def test_quality_metrics_against_truth(l1_dataset):
    t = l1_dataset.truth
    m = compute_quality_metrics(l1_dataset.frame_paths, expected_frame_count=16)
    assert m.frame_count == 16 and m.frame_counts_by_stokes == {"I": 4, "Q": 4, "U": 4, "V": 4}
    # r0 only for AO-locked times, equal to the simulated series there.
    times, r0 = m.fried_parameter_series()
    locked = [r for r, lock in zip(t.fried_parameter_m, t.ao_locked) if lock]
    assert r0 == pytest.approx(locked) and len(times) == sum(t.ao_locked) == 3
    assert m.ao_locked_count == 12
    assert any("AO loop open for 4 of 16" in w for w in m.warnings)
    # Noise: 32x62 second differences per frame, MAD standard error ~3%; 12% tolerance
    # covers that at 3 sigma plus the scene's curvature (<1%) and quantisation (<1%).
    for f in m.frames:
        assert f.noise == pytest.approx(t.noise_sigma, rel=0.12)
    assert len(m.polarimetric) == 4
    for p in m.polarimetric:
        for x in "QUV":
            assert p.noise[x] == pytest.approx(t.noise_sigma / t.intensity, rel=0.12)
            assert p.sensitivity[x] == pytest.approx(t.noise_sigma / p.max_intensity, rel=0.12)


def test_quality_report_pdf_and_data(l1_dataset, tmp_path):
    m = compute_quality_metrics(l1_dataset.frame_paths, expected_frame_count=20)
    pdf = write_quality_report(m, tmp_path / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    pages = pdf_page_count(pdf)
    # Title + contents + warnings page, and one per plot metric (r0, light, noise,
    # pol noise, pol sensitivity) at most; the frame-count table shares a page.
    assert 3 <= pages <= 9
    assert b"Fried parameter" in pdf or b"Fried" in pdf
    paths = write_quality_data(m, tmp_path)
    data = json.loads(paths["quality_data"].read_text())
    assert data["frame_count"] == 16 and any(
        "16 frames in the dataset, 20 expected" in w for w in data["warnings"]
    )
    report = json.loads(paths["quality_report_data"].read_text())
    names = [r["name"] for r in report]
    assert names == [
        "Fried parameter",
        "Light level",
        "Noise",
        "Polarimetric noise",
        "Polarimetric sensitivity",
        "Frame counts",
    ]
    # The r0 plot has exactly the AO-locked points (3 times), in cm.
    series = report[0]["plot_data"]["series_data"]["r0"]
    assert len(series[0]) == 3 and series[1][0] == pytest.approx(
        100 * l1_dataset.truth.fried_parameter_m[0]
    )


def test_browse_movie_content(l1_dataset, tmp_path):
    movie = write_browse_movie(
        l1_dataset.frame_paths, tmp_path / "m.mp4", tmp_path / "p.png", min_panel_height=128
    )
    # 32x64 frames enlarged 4x to 128x256; four panels with 4-px gaps: 1036 -> 1040 wide.
    assert (movie.width, movie.height, movie.frame_count) == (1040, 128, 4)
    reader = iio2.get_reader(movie.movie_path, "ffmpeg")
    frames = [f for f in reader]
    assert reader.get_meta_data()["codec"] == "h264"
    assert len(frames) == 4 and all(f.shape == (128, 1040, 3) for f in frames)
    # First movie frame, Stokes I panel: the frame's data on the movie's grey scale.
    with fits.open(l1_dataset.frame_paths[0]) as hdul:
        image = hdul[1].data[0]
    grey = frames[0][:, :256, 0].astype(float)
    expected = np.repeat(np.repeat(image[::-1], 4, 0), 4, 1)
    # Linear relation between pixel values and grey levels (H.264 is lossy: r > 0.95).
    assert np.corrcoef(grey.ravel(), expected.ravel())[0, 1] > 0.95
    # Q panel (second) carries the Q frame (file index 4 = Stokes Q of measurement 0).
    with fits.open(l1_dataset.frame_paths[4]) as hdul:
        assert hdul[1].header["STOKES"] == "Q"
        q = np.repeat(np.repeat(hdul[1].data[0][::-1], 4, 0), 4, 1)
    assert np.corrcoef(frames[0][:, 260:516, 0].astype(float).ravel(), q.ravel())[0, 1] > 0.95
    preview = iio.imread(movie.preview_path)
    assert preview.shape == (128, 1040)  # 8-bit grey
    # The preview is the middle movie frame before encoding.
    middle = frames[len(frames) // 2][:, :, 0].astype(float)
    assert np.corrcoef(preview.astype(float).ravel(), middle.ravel())[0, 1] > 0.95


def test_noise_sample_blocks_are_tile_aligned_stratified_and_fixed():
    # Small frame: all rows.
    assert noise_sample_blocks(32, 64, block_rows=32) == [(0, 32)]
    blocks = noise_sample_blocks(4096, 4096, block_rows=64, sample_size=1 << 20)
    # ceil(2^20 / (64 * 4094)) = 5 blocks of one 64-row tile each, one per fifth of the frame.
    assert len(blocks) == 5 and all(r1 - r0 == 64 and r0 % 64 == 0 for r0, r1 in blocks)
    strata = [r0 * 5 // 4096 for r0, _ in blocks]
    assert strata == [0, 1, 2, 3, 4]
    assert blocks == noise_sample_blocks(4096, 4096, block_rows=64, sample_size=1 << 20)


def test_stated_noise_error_matches_the_spread_of_estimates():
    # White noise of sigma 3 on 400 independent 8x1024 images: the spread of the estimates
    # is the stated standard error (200 estimates: the spread itself is known to ~5 %).
    rng = np.random.default_rng(7)
    estimates, errors = [], []
    for _ in range(200):
        sigma, error, n = estimate_noise_with_error(rng.normal(100.0, 3.0, (8, 1024)))
        estimates.append(sigma)
        errors.append(error)
    assert n == 8 * 1022
    assert np.mean(errors) == pytest.approx(NOISE_ERROR_FACTOR * 3.0 / np.sqrt(n), rel=0.03)
    assert np.std(estimates) == pytest.approx(np.mean(errors), rel=0.2)


def _pipeline_frame(path, data, time):
    """A compressed L1-like frame with this pipeline's provenance and header statistics."""
    header = fits.Header()
    header["DATE-BEG"] = time
    header["DSETID"] = "DS1"
    header["INSTRUME"] = "VBI"
    header["STOKES"] = "I"
    for key, value in array_statistics(data).items():
        header[key] = value
    header.add_history(f"{HISTORY_PREFIX} TASK WriteL1Frames")
    hdu = fits.CompImageHDU(data, header, compression_type="RICE_1", tile_shape=(16, 512))
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


def test_quality_from_header_statistics_and_sampled_noise(tmp_path):
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:512, 0:512]
    scene = 1000 + 200 * np.sin(2 * np.pi * x / 128) * np.cos(2 * np.pi * y / 96)
    paths = [
        _pipeline_frame(
            tmp_path / f"f{i}.fits",
            (scene + rng.normal(0, 5.0, scene.shape)).astype(np.float32),
            f"2024-05-02T17:0{i}:00",
        )
        for i in range(3)
    ]
    m = compute_quality_metrics(paths, noise_sample_size=20_000)
    for path, f in zip(paths, m.frames):
        with fits.open(path) as hdul:
            header = hdul[1].header
            data = hdul[1].data
        # Mean, median and maximum are the writer's, not recomputed.
        assert f.statistics_from_header
        assert (f.mean, f.median, f.maximum) == (
            header["DATAMEAN"],
            header["DATAMEDN"],
            header["DATAMAX"],
        )
        # ceil(20000 / (16 * 510)) = 3 tiles of 16 rows.
        assert f.noise_sample_size == 3 * 16 * 510
        assert f.noise_error == pytest.approx(
            NOISE_ERROR_FACTOR * f.noise / np.sqrt(f.noise_sample_size)
        )
        # Within 4 stated standard errors (plus 1 % for scene curvature and quantisation) of
        # the truth, and of the estimate from every pixel.
        assert abs(f.noise - 5.0) < 4 * f.noise_error + 0.05
        assert abs(f.noise - estimate_noise(data)) < 4 * f.noise_error + 0.05
    report = json.loads(write_quality_data(m, tmp_path)["quality_report_data"].read_text())
    noise = next(r for r in report if r["name"] == "Noise")
    assert f"{3 * 16 * 510:,} to {3 * 16 * 510:,} second differences" in noise["statement"]


def test_decimate_is_an_area_average():
    image = np.arange(7 * 10, dtype=np.float32).reshape(7, 10)
    small = decimate(image, 3)
    assert small.shape == (2, 3)
    assert small[1, 2] == pytest.approx(image[3:6, 6:9].mean())
    assert decimate(image, 1) is image


def test_browse_movie_at_preview_size(l1_dataset, tmp_path):
    # Four 32x64 panels in at most 96 pixels: reduced 3x to 10x21 each; 4*21 + 3*4 = 96 wide.
    movie = write_browse_movie(
        l1_dataset.frame_paths, tmp_path / "m.mp4", tmp_path / "p.png", max_size=96
    )
    assert movie.reduction == 3 and (movie.width, movie.height) == (96, 16)
    reader = iio2.get_reader(movie.movie_path, "ffmpeg")
    assert all(f.shape == (16, 96, 3) for f in reader)
