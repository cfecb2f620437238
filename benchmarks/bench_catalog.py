"""Throughput of checksum verification (the catalog) and browse-movie encoding (a product task).

Reported as ratios to yardsticks measured in the same run (``extra_info``):
- checksum verification rate (GB/s) of compressed 4k float32 L1 frames vs.
  MEASUREMENTS.md's 2.5 GB/s and vs. sha256 of the same bytes (hashlib) now;
- browse-movie frames per second (compose + H.264 veryfast), with
  MEASUREMENTS.md's 1024x1024 figure (100 frames in 1.2 s: 83 frames/s) as yardstick.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest
from astropy.io import fits

from dkist_processing_core.calibration.movie.algorithm import write_browse_movie
from dkist_processing_core.datacenter.products.catalog.checksums import verify_frames

MEASURED_CHECKSUM_GBPS = 2.5
MEASURED_MOVIE_FPS = 100 / 1.2


@pytest.fixture(scope="module")
def big_frames(tmp_path_factory):
    """Four 4096x4096 float32 frames, RICE_1 compressed, with CHECKSUM/DATASUM."""
    folder = tmp_path_factory.mktemp("bigframes")
    rng = np.random.default_rng(0)
    data = (1000 + rng.normal(0, 5, (4096, 4096))).astype(np.float32)
    paths = []
    for i in range(4):
        header = fits.Header(
            {"DSETID": "BENCH", "INSTRUME": "VISP", "DATE-BEG": f"2024-01-01T00:00:0{i}"}
        )
        hdul = fits.HDUList(
            [fits.PrimaryHDU(), fits.CompImageHDU(data, header, compression_type="RICE_1")]
        )
        path = folder / f"frame_{i}.fits"
        hdul.writeto(path, checksum=True)
        paths.append(path)
    return paths


def test_checksum_verification_rate(benchmark, big_frames):
    total = sum(p.stat().st_size for p in big_frames)
    for p in big_frames:  # warm the page cache so both sides read from memory
        p.read_bytes()
    benchmark.pedantic(verify_frames, args=(big_frames,), rounds=5, iterations=1)
    verify_gbps = total / benchmark.stats.stats.min / 1e9
    start = time.perf_counter()
    for _ in range(3):
        for p in big_frames:
            hashlib.sha256(p.read_bytes()).digest()
    sha_gbps = 3 * total / (time.perf_counter() - start) / 1e9
    benchmark.extra_info.update(
        bytes=total,
        verify_gbps=round(verify_gbps, 3),
        sha256_gbps=round(sha_gbps, 3),
        ratio_to_measured_2p5_gbps=round(verify_gbps / MEASURED_CHECKSUM_GBPS, 3),
        ratio_to_sha256_same_run=round(verify_gbps / sha_gbps, 3),
    )


def test_browse_movie_frame_rate(benchmark, tmp_path_factory):
    from dkist_processing_core.simulate.l1_dataset import write_simulated_l1_dataset

    ds = write_simulated_l1_dataset(
        tmp_path_factory.mktemp("movie") / "frames",
        n_maps=4,
        n_steps=5,
        polarimetric=False,
        detector_shape=(512, 1024),
    )
    out = tmp_path_factory.mktemp("movieout")
    result = benchmark.pedantic(
        write_browse_movie,
        args=(ds.frame_paths, out / "m.mp4", out / "p.png"),
        kwargs={"min_panel_height": 512},
        rounds=3,
        iterations=1,
    )
    fps = result.frame_count / benchmark.stats.stats.min
    benchmark.extra_info.update(
        movie_frames=result.frame_count,
        size=f"{result.width}x{result.height}",
        frames_per_s=round(fps, 2),
        ratio_to_measured_1k_veryfast=round(fps / MEASURED_MOVIE_FPS, 3),
    )
