"""Cost per frame of building a SPEC-0214 L1 header: cached (default) vs the full library path.

Run: ``.venv/bin/python -m pytest benchmarks/bench_l1_header.py --benchmark-only -s``

The frames of a simulated VBI observation (observe frames, small arrays so that the header, not
the statistics of the array, is measured) get their headers built with ``build_l1_header``
(``cache=True``) and with ``cache=False``, which calls ``dkist_header_validator``'s translation,
``dkist_fits_specifications``' formatter and the SPEC-0214 validator for every frame. Both runs
start warm (schemas loaded, one header of the kind built), so the figures are per-frame costs.
``extra_info`` reports ms per frame of both and their ratio.
"""

import time

import numpy as np
import pytest

from dkist_processing_core.calibration.l1.header import (
    DatasetAxis,
    L1FrameDescription,
    L1Provenance,
    build_l1_header,
)
from dkist_processing_core.simulate import VbiConfig, iter_vbi_frames

N_FRAMES = 32


@pytest.fixture(scope="module")
def frames():
    config = VbiConfig(size=(32, 32), n_dark_frames=1, n_gain_frames=1, n_frames_per_tile=8)
    raws = [f.header for f in iter_vbi_frames(config) if f.record.task_type == "OBSERVE"]
    rng = np.random.default_rng(0)
    axes = [
        DatasetAxis(physical_type="SPATIAL", pixel_name="x", world_name="lon", unit="arcsec",
                    length=32),
        DatasetAxis(physical_type="SPATIAL", pixel_name="y", world_name="lat", unit="arcsec",
                    length=32),
        DatasetAxis(physical_type="TEMPORAL", pixel_name="frame", world_name="time", unit="s",
                    length=len(raws)),
    ]  # fmt: skip
    keys = {"VBINMOSC": 1, "VBICMOSC": 1, "VBICRI": 2000.0, "VBICRMSC": 0.015, "VBICRLEN": 16}
    out = []
    for i, raw in enumerate(raws[:N_FRAMES]):
        frame = L1FrameDescription(
            dataset_axes=axes, dataset_index=[i], wavelength_range_nm=(430.0, 431.0),
            instrument_keys=keys,
        )  # fmt: skip
        out.append((raw, rng.normal(2000, 30, (32, 32)).astype(np.float32), frame))
    return out


@pytest.fixture(scope="module")
def provenance():
    return L1Provenance(
        recipe_run_id=1, recipe_id=1, recipe_instance_id=1, input_dataset_observe_id=1,
        workflow_name="l1_calibration", workflow_version="1.0.0", calibration_version="1.0.0",
        dataset_id="DBENCH", product_id="L1-DBENCH", info_url="https://example.org/i",
        head_url="https://example.org/h", cal_url="https://example.org/c",
    )  # fmt: skip


def _per_frame_s(frames, provenance, cache: bool) -> float:
    build_l1_header(*frames[0][:2], provenance, frames[0][2], cache=cache)  # warm
    t0 = time.perf_counter()
    for raw, data, frame in frames:
        build_l1_header(raw, data, provenance, frame, cache=cache)
    return (time.perf_counter() - t0) / len(frames)


def test_l1_header_per_frame(benchmark, frames, provenance):
    full = _per_frame_s(frames, provenance, cache=False)
    cached = benchmark.pedantic(
        _per_frame_s, args=(frames, provenance, True), rounds=3, iterations=1
    )
    benchmark.extra_info["frames"] = len(frames)
    benchmark.extra_info["full_ms_per_frame"] = round(full * 1e3, 2)
    benchmark.extra_info["cached_ms_per_frame"] = round(cached * 1e3, 2)
    benchmark.extra_info["speedup"] = round(full / cached, 1)
    print(dict(benchmark.extra_info))
