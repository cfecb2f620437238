import pytest

from dkist_processing_core.datacenter.products.catalog.checksums import (
    FrameIntegrityError,
    sha256_file,
    verify_fits_checksums,
    verify_frames,
)


def test_valid_frames_verify(l1_dataset):
    verified = verify_frames(l1_dataset.frame_paths)
    assert len(verified) == len(l1_dataset.frame_paths) == 16
    assert all(len(v.datasums) == 2 for v in verified)  # primary + compressed image HDU


def test_flipped_data_bit_is_refused_naming_the_file(l1_copy):
    bad = l1_copy[3]
    data = bytearray(bad.read_bytes())
    data[-100] ^= 0x01  # inside the compressed data (the last block)
    bad.write_bytes(bytes(data))
    with pytest.raises(FrameIntegrityError, match="Datasum verification failed") as e:
        verify_frames(l1_copy)
    assert e.value.path == bad and bad.name in str(e.value)


def test_edited_header_value_is_refused(l1_copy):
    bad = l1_copy[0]
    data = bytearray(bad.read_bytes())
    i = data.find(b"ATMOS_R0=")
    data[i + 25 : i + 30] = b"9.999"
    bad.write_bytes(bytes(data))
    with pytest.raises(FrameIntegrityError, match="Checksum verification failed"):
        verify_fits_checksums(bad)


def test_truncated_frame_is_refused(l1_copy):
    bad = l1_copy[5]
    bad.write_bytes(bad.read_bytes()[:-2880])
    with pytest.raises(FrameIntegrityError, match="truncated"):
        verify_fits_checksums(bad)


def test_several_bad_frames_are_all_named(l1_copy):
    for p in l1_copy[:2]:
        p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(FrameIntegrityError) as e:
        verify_frames(l1_copy)
    assert l1_copy[0].name in str(e.value) and l1_copy[1].name in str(e.value)


def test_sha256_matches_hashlib(l1_dataset):
    import hashlib

    p = l1_dataset.frame_paths[0]
    assert sha256_file(p) == hashlib.sha256(p.read_bytes()).hexdigest()
