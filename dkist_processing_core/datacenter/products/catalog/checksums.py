"""Integrity of frames and objects: FITS CHECKSUM/DATASUM and sha256.

FITS checksums (the FITS standard's appendix J, "ones' complement" 32-bit sums)
are written into every HDU header by the L1 writer: ``DATASUM`` covers the data
unit, ``CHECKSUM`` is chosen so the sum over header plus data is ``-0``. A frame
is accepted only if every HDU carries both cards and both verify, and the file
ends exactly where its last HDU says it ends. Anything else - a flipped bit, a
truncated copy, a missing card - raises :class:`FrameIntegrityError` naming the
file, the HDU and what was expected.

sha256 is used for the object inventory and the distribution manifest because
recipients can check it with ordinary tools (``sha256sum -c``).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits

__all__ = [
    "FrameIntegrityError",
    "VerifiedFrame",
    "sha256_file",
    "verify_fits_checksums",
    "verify_frames",
]

FITS_BLOCK = 2880
_HASH_CHUNK = 8 * 1024 * 1024


class FrameIntegrityError(ValueError):
    """A frame failed its integrity check; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class VerifiedFrame:
    """A frame whose FITS checksums verified: its size and per-HDU DATASUM values."""

    path: Path
    size_bytes: int
    datasums: tuple[str, ...]


def verify_fits_checksums(path: str | Path) -> VerifiedFrame:
    """Verify CHECKSUM and DATASUM of every HDU of one FITS file.

    Raises :class:`FrameIntegrityError` if the file cannot be read as FITS, is not
    a whole number of 2880-byte blocks, is shorter or longer than its HDUs
    declare, lacks a CHECKSUM or DATASUM card in any HDU, or if any sum fails.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise FrameIntegrityError(path, f"cannot be read ({e.strerror})") from e
    if size == 0 or size % FITS_BLOCK:
        raise FrameIntegrityError(
            path, f"size {size} bytes is not a positive multiple of the FITS block ({FITS_BLOCK})"
        )
    datasums = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # disable_image_compression: see the on-disk binary-table HDUs (whose
            # headers carry the sums of the bytes on disk) and skip decompression.
            with fits.open(
                path, checksum=True, memmap=False, disable_image_compression=True
            ) as hdul:
                end = 0
                hdul.readall()
                for index, hdu in enumerate(hdul):
                    header = hdu.header
                    for card in ("CHECKSUM", "DATASUM"):
                        if card not in header:
                            raise FrameIntegrityError(
                                path, f"HDU {index} has no {card} card (every HDU must carry one)"
                            )
                    datasums.append(str(header["DATASUM"]))
                    end = max(end, hdu._data_offset + _padded(hdu._data_size))
        except FrameIntegrityError:
            raise
        except Exception as e:  # astropy raises many kinds on a damaged file
            raise FrameIntegrityError(
                path, f"is not readable as FITS ({type(e).__name__}: {e})"
            ) from e
    failures = [str(w.message).strip() for w in caught if "verification failed" in str(w.message)]
    if failures:
        raise FrameIntegrityError(path, "; ".join(failures) + " (file tampered with or damaged)")
    truncation = [str(w.message).strip() for w in caught if "truncated" in str(w.message)]
    if truncation or end != size:
        raise FrameIntegrityError(
            path,
            f"file is {size} bytes but its readable HDUs end at byte {end}: truncated "
            "(an HDU runs past the end of the file) or bytes appended"
            + (f": {truncation[0]}" if truncation else ""),
        )
    return VerifiedFrame(path=path, size_bytes=size, datasums=tuple(datasums))


def _padded(n: int) -> int:
    return -(-n // FITS_BLOCK) * FITS_BLOCK


def verify_frames(paths: Iterable[str | Path]) -> list[VerifiedFrame]:
    """Verify every frame; raise one :class:`FrameIntegrityError` naming all bad files.

    All frames are checked (not just up to the first failure) so that an operator
    sees every damaged file at once.
    """
    verified, errors = [], []
    for path in paths:
        try:
            verified.append(verify_fits_checksums(path))
        except FrameIntegrityError as e:
            errors.append(e)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        first = errors[0]
        detail = "\n".join(str(e) for e in errors)
        raise FrameIntegrityError(
            first.path, f"and {len(errors) - 1} more frames failed:\n{detail}"
        )
    return verified


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 8 MiB chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        buffer = bytearray(_HASH_CHUNK)
        view = memoryview(buffer)
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def file_size(path: str | Path) -> int:
    """Size of a file in bytes."""
    return os.stat(path).st_size
