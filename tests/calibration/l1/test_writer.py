"""The L1 writer: standard tile-compressed FITS that astropy reads back within the quantisation
step, with valid checksums, written atomically."""

import numpy as np
import pytest
from astropy.io import fits
from dkist_header_validator import spec214_validator

from dkist_processing_core.calibration.l1 import writer
from dkist_processing_core.calibration.l1.header import build_l1_header
from dkist_processing_core.calibration.l1.writer import (
    expected_max_error,
    fits_random_sequence,
    write_l1_frame,
    write_l1_frames_parallel,
)

from .conftest import raw_header, visp_frame


def scene(shape, seed=0):
    """A spectrum-like frame: smooth structure, an absorption line, Gaussian noise sigma=3."""
    rng = np.random.default_rng(seed)
    ny, nx = shape[-2:]
    y = np.arange(ny)[:, None]
    x = np.arange(nx)[None, :]
    base = 1000 + 80 * np.sin(x / 17.0) - 600 * np.exp(-0.5 * ((y - ny / 2) / 4.0) ** 2)
    return (base + rng.normal(0, 3, (ny, nx))).astype(np.float32).reshape(shape)


def read_back(path):
    with fits.open(path, checksum=True) as hdul:
        hdul.verify("exception")
        assert isinstance(hdul[1], fits.CompImageHDU)
        data = hdul[1].data.astype(np.float64)
        header = hdul[1].header.copy()
    with fits.open(path, disable_image_compression=True) as raw:
        scales = np.array(raw[1].data["ZSCALE"])
        tile_rows = raw[1].header["ZTILE2"]
        for key in ("ZQUANTIZ", "ZDITHER0", "ZCMPTYPE"):  # table keys, hidden in the image view
            header[key] = raw[1].header[key]
    return data, header, scales, tile_rows


def assert_within_quantisation(data, original, scales, tile_rows):
    # Tolerance: a reader restores (I - r + 0.5) * ZSCALE + ZZERO; the dither r makes the error
    # at most ZSCALE/2 (half a step) per pixel, plus half a float32 ulp of the value because the
    # reader returns float32.
    original = original.astype(np.float64).reshape(original.shape[-2:])
    data = data.reshape(original.shape)
    bound = expected_max_error(scales, tile_rows, original.shape)
    bound = bound + np.spacing(np.abs(original).astype(np.float32)) / 2
    finite = np.isfinite(original)
    assert np.all(np.abs(data[finite] - original[finite]) <= bound[finite])
    assert np.array_equal(np.isnan(data), ~finite)


def test_dither_sequence_is_the_standard_one():
    r = fits_random_sequence()
    # values of the Park-Miller sequence from seed 1: 16807/m, 282475249/m (cfitsio)
    assert r[0] == np.float32(16807 / 2147483647) and r[1] == np.float32(282475249 / 2147483647)
    assert r.dtype == np.float32 and r.size == 10000


@pytest.mark.parametrize("shape", [(200, 300), (1, 130, 77), (5, 4000)])
def test_round_trip_within_quantisation_step(tmp_path, shape):
    data = scene(shape)
    if shape == (200, 300):
        data[3, 5] = np.nan
        data[150:, :] = 42.0  # constant tiles: zero noise estimate
    path = write_l1_frame(tmp_path / "f.fits", data, fits.Header({"EXTNAME": "OBSERVATION"}))
    out, header, scales, tile_rows = read_back(path)
    assert out.shape == data.shape and header["ZQUANTIZ"] == "SUBTRACTIVE_DITHER_1"
    assert_within_quantisation(out, data, scales, tile_rows)
    # q = 16: step ~ sigma / 16 = 3/16 where the noise is the Gaussian sigma = 3
    if shape != (200, 300):
        assert np.median(scales) == pytest.approx(3 / 16, rel=0.15)


def test_same_file_content_as_astropy_reader_expects(tmp_path):
    """Our file and astropy's own writer: both decode within their step; steps agree."""
    data = scene((256, 512), seed=5)
    ours = write_l1_frame(tmp_path / "ours.fits", data, fits.Header())
    ref = writer.write_l1_frame_astropy(tmp_path / "ref.fits", data, fits.Header())
    a, _, scales, rows = read_back(ours)
    _, _, ref_scales, _ = read_back(ref)
    assert_within_quantisation(a, data, scales, rows)
    # both estimate the same noise (different estimators): steps agree within 15 %
    assert np.median(scales) == pytest.approx(np.median(ref_scales), rel=0.15)


def test_l1_file_passes_spec214_and_framevol(tmp_path, provenance):
    data = scene((1, 50, 60))
    header = build_l1_header(raw_header("visp", (50, 60)), data, provenance, visp_frame())
    path = write_l1_frame(tmp_path / header["FILENAME"], data, header)
    spec214_validator.validate(path, extra=False)
    _, out_header, _, _ = read_back(path)
    assert out_header["FRAMEVOL"] == pytest.approx(path.stat().st_size / 1e6, abs=1e-6)
    assert out_header["RRUNID"] == 4711 and "DKPC TASK 1 DarkCalibration" in str(
        out_header["HISTORY"]
    )


def test_corrupted_byte_fails_checksum(tmp_path):
    path = write_l1_frame(tmp_path / "f.fits", scene((64, 64)), fits.Header())
    raw = bytearray(path.read_bytes())
    raw[-3000] ^= 0x01  # a byte in the heap of the compressed data
    path.write_bytes(bytes(raw))
    with pytest.warns(Warning, match="[Cc]hecksum"), fits.open(path, checksum=True) as hdul:
        hdul[1].data  # noqa: B018 - reading triggers verification
    with fits.open(path, checksum=True, disable_image_compression=True) as hdul:
        assert not hdul[1].verify_datasum()


def test_interrupted_write_leaves_no_file_and_keeps_previous(tmp_path, monkeypatch):
    target = tmp_path / "frame.fits"
    new_target = tmp_path / "new.fits"
    write_l1_frame(target, scene((64, 64)), fits.Header())
    before = target.read_bytes()

    calls = {"n": 0}

    class Interrupted(RuntimeError):
        pass

    real_compress = writer.compress_frame

    def compress_then_fail(*args, **kwargs):
        frame = real_compress(*args, **kwargs)
        good = frame.parts[0]

        # second part raises while being written: simulate a crash mid-file
        def parts():
            yield good
            calls["n"] += 1
            raise Interrupted("disk went away")

        frame.parts = parts()
        return frame

    monkeypatch.setattr(writer, "compress_frame", compress_then_fail)
    for path in (target, new_target):
        with pytest.raises(Interrupted):
            write_l1_frame(path, scene((64, 64), seed=9), fits.Header())
    assert calls["n"] == 2
    assert target.read_bytes() == before  # previous file intact
    assert not new_target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["frame.fits"]  # no temp file left


def test_bad_input_is_rejected(tmp_path):
    with pytest.raises(TypeError, match="float32"):
        write_l1_frame(tmp_path / "f.fits", np.zeros((4, 4)), fits.Header())
    with pytest.raises(ValueError, match="ZDITHER0"):
        write_l1_frame(
            tmp_path / "f.fits", np.zeros((4, 8), np.float32), fits.Header(), dither_seed=0
        )


@pytest.mark.slow
def test_many_frames_over_two_processes(tmp_path):
    jobs = []
    for i in range(4):
        data = scene((128, 256), seed=i)
        np.save(tmp_path / f"a{i}.npy", data)
        jobs.append((tmp_path / f"a{i}.npy", fits.Header({"FRAMENUM": i}), tmp_path / f"{i}.fits"))
    results = write_l1_frames_parallel(jobs, processes=2)
    assert [r[0] for r in results] == [str(tmp_path / f"{i}.fits") for i in range(4)]
    for i in range(4):
        out, header, scales, rows = read_back(tmp_path / f"{i}.fits")
        assert header["FRAMENUM"] == i and header["ZDITHER0"] == 1 + i
        assert_within_quantisation(out, np.load(tmp_path / f"a{i}.npy"), scales, rows)
