"""SPEC-0214 L1 headers: validity, provenance, r0/AO, errors."""

import numpy as np
import pytest
from dkist_header_validator import spec214_validator

from dkist_processing_core.calibration.l1.header import (
    L1HeaderError,
    array_statistics,
    build_l1_header,
    read_provenance_history,
)

from .conftest import raw_header, vbi_frame, visp_frame


@pytest.fixture
def visp_data():
    return np.random.default_rng(1).normal(100, 5, (1, 50, 60)).astype(np.float32)


@pytest.fixture
def vbi_data():
    return np.random.default_rng(2).normal(2000, 30, (64, 64)).astype(np.float32)


def test_visp_header_passes_spec214(provenance, visp_data):
    header = build_l1_header(raw_header("visp", (50, 60)), visp_data, provenance, visp_frame())
    spec214_validator.validate(header, extra=False)  # raises on any problem
    assert header["NAXIS"] == 3 and header["NAXIS1"] == 60 and header["NAXIS3"] == 1
    assert (header["DNAXIS"], header["DAAXES"], header["DEAXES"]) == (3, 2, 1)
    assert header["DTYPE2"] == "SPECTRAL" and header["DINDEX3"] == 0
    # WAVEMIN/MAX from the spectral WCS axis: 630.2 + (p - 25) * 0.001 nm for p = 1..50
    assert header["WAVEMIN"] == pytest.approx(630.2 - 24 * 0.001, abs=1e-9)
    assert header["WAVEMAX"] == pytest.approx(630.2 + 25 * 0.001, abs=1e-9)
    assert header["STOKES"] == "I" and header["PROCTYPE"] == "L1" and header["LEVEL"] == 1
    # DATE-END = DATE-BEG + XPOSURE (12.5 ms)
    assert header["DATE-BEG"] == "2024-05-01T18:00:00.000"
    assert header["DATE-END"] == "2024-05-01T18:00:00.013"  # isot at ms precision
    assert header["TELAPSE"] == pytest.approx(0.0125, abs=1e-9)


def test_vbi_header_passes_spec214(provenance, vbi_data):
    header = build_l1_header(raw_header("vbi", (64, 64)), vbi_data, provenance, vbi_frame())
    spec214_validator.validate(header, extra=False)
    assert header["NAXIS"] == 2 and header["WCSAXES"] == 2
    assert (header["WAVEMIN"], header["WAVEMAX"]) == (630.1, 630.3)
    assert header["DTYPE3"] == "TEMPORAL" and header["DINDEX3"] == 3


def test_polarimetric_visp_frame_per_stokes(provenance, visp_data):
    raw = raw_header("visp", (50, 60))
    raw["VISP_006"] = "observe_polarimetric"  # VSPPOLMD: makes POL_NOIS/POL_SENS required
    for stokes in "IQUV":
        frame = visp_frame(stokes=stokes).model_copy(
            update={"polarimetric_noise": 1e-3, "polarimetric_sensitivity": 2e-3}
        )
        header = build_l1_header(raw, visp_data, provenance, frame)
        assert header["STOKES"] == stokes and header["POL_NOIS"] == 1e-3
    with pytest.raises(L1HeaderError, match="POL_NOIS"):
        build_l1_header(raw, visp_data, provenance, visp_frame(stokes="Q"))


def test_provenance_keys_carry_the_given_values(provenance, visp_data):
    header = build_l1_header(raw_header("visp", (50, 60)), visp_data, provenance, visp_frame())
    expected = {
        "RRUNID": 4711, "RECIPEID": 12, "RINSTID": 34, "IDSOBSID": 101, "IDSCALID": 102,
        "IDSPARID": 103, "WKFLNAME": "l0_to_l1_visp", "WKFLVERS": "2.3.1", "CALVERS": "0.1.0",
        "MANPROCD": True, "DSETID": "DSABCD", "POINT_ID": "DSABCD", "PRODUCT": "L1-QWERT",
        "INFO_URL": "https://docs.example.org/visp/2.3.1/",
        "HEAD_URL": "https://docs.example.org/specs/214/",
        "CAL_URL": "https://code.example.org/visp/tree/2.3.1",
    }  # fmt: skip
    assert {k: header[k] for k in expected} == expected
    history = read_provenance_history(header)
    assert history["task_order"] == provenance.task_order
    assert history["parameter_values"] == provenance.parameter_values  # long value wraps cards
    assert history["library_versions"] == provenance.library_versions
    # the provenance record is plain JSON
    assert type(provenance).model_validate_json(provenance.model_dump_json()) == provenance


def test_r0_and_ao_lock_copied_from_raw(provenance, visp_data):
    header = build_l1_header(raw_header("visp", (50, 60)), visp_data, provenance, visp_frame())
    assert header["ATMOS_R0"] == 0.071 and header["AO_LOCK"] is True


def test_missing_r0_is_omitted(provenance, visp_data):
    raw = raw_header("visp", (50, 60))
    del raw["AO___001"]
    del raw["AO___002"]
    header = build_l1_header(raw, visp_data, provenance, visp_frame())
    assert "ATMOS_R0" not in header and "AO_LOCK" not in header  # expected, not required
    spec214_validator.validate(header, extra=False)


@pytest.mark.parametrize("keyword", ["DATE-OBS", "INSTRUME", "ID___002"])
def test_missing_required_raw_keyword_is_named(provenance, visp_data, keyword):
    raw = raw_header("visp", (50, 60))
    del raw[keyword]
    # ID___002 is SPEC-0122's file id, renamed FILE_ID in SPEC-0214
    with pytest.raises(L1HeaderError, match=keyword if keyword != "ID___002" else "FILE_ID"):
        build_l1_header(raw, visp_data, provenance, visp_frame(), source="raw_0001.fits")


def test_wrong_dataset_index_count_is_an_error(provenance, visp_data):
    frame = visp_frame().model_copy(update={"dataset_index": []})
    with pytest.raises(L1HeaderError, match="DEAXES=1"):
        build_l1_header(raw_header("visp", (50, 60)), visp_data, provenance, frame)


def test_statistics_against_numpy():
    rng = np.random.default_rng(3)
    data = rng.gamma(3.0, 2.0, (300, 500)).astype(np.float32)
    data[0, 0] = np.nan
    stats = array_statistics(data)
    finite = data[np.isfinite(data)].astype(np.float64)
    # exact statistics: float64 accumulation, agree to float64 round-off
    assert stats["DATAMIN"] == finite.min() and stats["DATAMAX"] == finite.max()
    assert stats["DATAMEAN"] == pytest.approx(finite.mean(), rel=1e-12)
    assert stats["DATARMS"] == pytest.approx(finite.std(), rel=1e-10)
    from scipy.stats import kurtosis, skew

    assert stats["DATASKEW"] == pytest.approx(skew(finite), rel=1e-8)
    assert stats["DATAKURT"] == pytest.approx(kurtosis(finite), rel=1e-8)
    # here the array (150k pixels) is smaller than the sample size: exact percentiles
    assert stats["DATAMEDN"] == pytest.approx(np.median(finite), rel=1e-12)
    assert stats["DATAP95"] == pytest.approx(np.percentile(finite, 95), rel=1e-12)


def test_statistics_subsampled_percentiles_are_close():
    # 2048x2048 > sample size: percentiles from a 1/16 subsample of n = 262144 pixels. The
    # standard error of the p-quantile of n samples is sqrt(p (1 - p) / n) / f(x_p), with f the
    # density (gamma(3, scale 2) here); allow 5 standard errors.
    from scipy.stats import gamma

    data = np.random.default_rng(4).gamma(3.0, 2.0, (2048, 2048)).astype(np.float32)
    stats = array_statistics(data)
    n = 2048 * 2048 // 16
    for p in (5, 25, 50, 75, 95):
        x_p = np.percentile(data, p)
        se = np.sqrt(p / 100 * (1 - p / 100) / n) / gamma.pdf(x_p, 3.0, scale=2.0)
        key = "DATAMEDN" if p == 50 else f"DATAP{p:02d}"
        assert abs(stats[key] - x_p) < 5 * se
