"""Pure calibration kernels at real size, each reported as a ratio to a numpy copy of the same
bytes measured in the same run (``benchmark.extra_info``): a ratio of 1 means memory-bound at
the speed of a plain copy. No wall-clock assertions."""

import time

import numpy as np
import pytest

from dkist_processing_core.calibration.science.algorithm import (
    dark_gain_correct,
    demodulate,
    reciprocal_gain,
)

N = 4096


def _copy_seconds(n_bytes: int, repeats: int = 5) -> float:
    """Best time of a numpy copy of ``n_bytes`` into a preallocated buffer (the machine's limit)."""
    source = np.ones(n_bytes // 4, dtype=np.float32)
    target = np.empty_like(source)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    return best


def _report(benchmark, n_bytes: int) -> None:
    copy = _copy_seconds(n_bytes)
    benchmark.extra_info["bytes_touched"] = n_bytes
    benchmark.extra_info["numpy_copy_s"] = copy
    benchmark.extra_info["ratio_to_copy"] = benchmark.stats.stats.min / copy


@pytest.fixture(scope="module")
def frame_4k():
    rng = np.random.default_rng(0)
    raw = rng.integers(1000, 30000, (N, N)).astype(np.uint16)
    dark = rng.normal(1500, 5, (N, N)).astype(np.float32)
    inv_gain = reciprocal_gain(rng.uniform(0.9, 1.1, (N, N)))
    return raw, dark, inv_gain, np.empty((N, N), np.float32)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_dark_gain_correct_4k(benchmark, frame_4k, engine):
    raw, dark, inv_gain, out = frame_4k
    dark_gain_correct(raw, dark, inv_gain, out=out, engine=engine)  # compile / warm up
    benchmark(dark_gain_correct, raw, dark, inv_gain, out=out, engine=engine)
    # bytes read + written: raw (2) + dark (4) + inverse gain (4) + out (4) per pixel
    _report(benchmark, N * N * 14)


@pytest.fixture(scope="module")
def modulated_10():
    rng = np.random.default_rng(1)
    n_mod = 10
    return (
        rng.normal(size=(n_mod, 2048, N)).astype(np.float32),
        rng.normal(size=(4, n_mod)).astype(np.float32),
        np.empty((4, 2048, N), np.float32),
    )


def test_demodulate_10_states_one_matrix(benchmark, modulated_10):
    """10 states of a 2048x4096 half frame (2560x1000-class spectrograph: ~2x the pixels)."""
    modulated, matrix, out = modulated_10
    benchmark(demodulate, modulated, matrix, out=out)
    _report(benchmark, modulated.nbytes + out.nbytes)


@pytest.mark.parametrize("engine", ["numba", "einsum"])
def test_demodulate_10_states_per_pixel(benchmark, engine):
    """Per-pixel (4 x 10) matrices, planar; 1024x4096 to keep the matrices at 640 MB."""
    rng = np.random.default_rng(2)
    modulated = rng.normal(size=(10, 1024, N)).astype(np.float32)
    matrices = rng.normal(size=(4, 10, 1024, N)).astype(np.float32)
    out = np.empty((4, 1024, N), np.float32)
    demodulate(modulated, matrices, out=out, engine=engine)
    benchmark.pedantic(
        demodulate, args=(modulated, matrices), kwargs={"out": out, "engine": engine}, rounds=3
    )
    _report(benchmark, modulated.nbytes + matrices.nbytes + out.nbytes)
