"""The cached (fast) L1 header path makes the same headers as the full, uncached one.

``build_l1_header`` caches what depends only on the specification and a header's set of keys
(translation plan, key order and section comments, validation schema, formatted cards). These
tests build the headers of simulated ViSP and VBI frame sequences both ways and require the
FITS header bytes to be identical, except the keys that are new for every header by design
(``FILE_ID``, a random id, and ``DATE``, the time the header was made). Every header must also
pass the full SPEC-0214 validation, and a bad header must still be rejected once the caches are
warm.
"""

import numpy as np
import pytest
from dkist_header_validator import spec214_validator

from dkist_processing_core.calibration.l1.header import L1HeaderError, build_l1_header
from dkist_processing_core.simulate import VbiConfig, VispConfig, iter_vbi_frames, iter_visp_frames

from .conftest import vbi_frame, visp_frame

PER_FRAME_KEYS = ("FILE_ID", "DATE")


def header_bytes(header) -> bytes:
    header = header.copy()
    for key in PER_FRAME_KEYS:
        header[key] = "per-frame"
    return header.tostring().encode()


def observe_headers(frames, n):
    out = [f.header for f in frames if f.record.task_type == "OBSERVE"]
    assert len(out) >= n
    return out[:n]


@pytest.fixture(scope="module")
def visp_sequence():
    config = VispConfig(size=(16, 24), n_scan_steps=2, n_modulator_states=4, n_dark_frames=1,
                        n_lamp_gain_repeats=1, n_solar_gain_repeats=1)  # fmt: skip
    return observe_headers(iter_visp_frames(config), 6)


@pytest.fixture(scope="module")
def vbi_sequence():
    config = VbiConfig(size=(16, 16), n_dark_frames=1, n_gain_frames=1, n_frames_per_tile=2)
    return observe_headers(iter_vbi_frames(config), 8)


def test_visp_sequence_fast_equals_full(provenance, visp_sequence):
    rng = np.random.default_rng(5)
    n = 0
    for i, raw in enumerate(visp_sequence):
        for stokes in "IQUV":
            data = rng.normal(100, 5, (1, 16, 24)).astype(np.float32)
            frame = visp_frame(16, 24, stokes=stokes).model_copy(
                update={"polarimetric_noise": 1e-3 * (i + 1), "polarimetric_sensitivity": 2e-3}
            )
            fast = build_l1_header(raw, data, provenance, frame)
            full = build_l1_header(raw, data, provenance, frame, cache=False)
            assert header_bytes(fast) == header_bytes(full), f"frame {i} Stokes {stokes}"
            spec214_validator.validate(fast, extra=False)
            n += 1
    assert n == 24


def test_vbi_sequence_fast_equals_full(provenance, vbi_sequence):
    rng = np.random.default_rng(6)
    dates = set()
    for i, raw in enumerate(vbi_sequence):
        data = rng.normal(2000, 30, (16, 16)).astype(np.float32)
        frame = vbi_frame(16).model_copy(update={"dataset_index": [i % 10]})
        fast = build_l1_header(raw, data, provenance, frame)
        full = build_l1_header(raw, data, provenance, frame, cache=False)
        assert header_bytes(fast) == header_bytes(full), f"frame {i}"
        spec214_validator.validate(fast, extra=False)
        dates.add(fast["DATE-BEG"])
    assert len(dates) == len(vbi_sequence)  # a sequence of frames, not one frame repeated


def test_bad_value_rejected_with_warm_caches(provenance, vbi_sequence):
    data = np.random.default_rng(7).normal(2000, 30, (16, 16)).astype(np.float32)
    good = vbi_frame(16)
    build_l1_header(vbi_sequence[0], data, provenance, good)  # warms every cache
    keys = {**good.instrument_keys, "VBICRLEN": "sixteen"}  # must be an int
    bad = good.model_copy(update={"instrument_keys": keys})
    with pytest.raises(L1HeaderError, match="VBICRLEN"):
        build_l1_header(vbi_sequence[1], data, provenance, bad)


def test_missing_conditionally_required_key_rejected_with_warm_caches(provenance, visp_sequence):
    raw = visp_sequence[0].copy()
    raw["VISP_006"] = "observe_polarimetric"  # VSPPOLMD: POL_NOIS and POL_SENS required
    data = np.random.default_rng(8).normal(100, 5, (1, 16, 24)).astype(np.float32)
    polarimetric = visp_frame(16, 24).model_copy(
        update={"polarimetric_noise": 1e-3, "polarimetric_sensitivity": 2e-3}
    )
    build_l1_header(raw, data, provenance, polarimetric)
    intensity_only = visp_sequence[1].copy()
    intensity_only["VISP_006"] = "observe_intensity"  # same keys, POL_NOIS not required
    build_l1_header(intensity_only, data, provenance, visp_frame(16, 24))
    with pytest.raises(L1HeaderError, match="POL_NOIS"):
        build_l1_header(raw, data, provenance, visp_frame(16, 24))


def test_observer_values_of_a_block_equal_one_time_computations():
    from dkist_processing_core.calibration.l1 import header as h

    h._OBSERVER.clear()
    start = "2024-05-02T17:00:00"
    first = h._observer_velocity_and_solar_radius(start)  # computes the block of 64 seconds
    assert len(h._OBSERVER) == h.OBSERVER_BLOCK_SECONDS
    # Exact equality: the block is a vectorised form of the same arithmetic, element by element.
    for date in (start, "2024-05-02T17:00:17", "2024-05-02T17:01:03"):
        assert h._OBSERVER[date] == h._observer_velocity_and_solar_radius_at([date])[0]
    # Plausible values: |v_r| < 1 km/s (Earth's orbit is nearly circular), R_sun ~ 950 arcsec
    assert abs(first[0]) < 1000.0 and 940.0 < first[1] < 960.0
