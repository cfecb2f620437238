"""Write Level 1 frames as standard FITS tile-compressed images (RICE_1, quantised float32).

DKIST distributes L1 frames as an empty primary HDU followed by a tile-compressed image
(FITS standard section 10, "tiled image compression"): the float32 image is cut into tiles,
each tile is quantised to integers and Rice-coded, and the codes are stored in the heap of a
binary table, one row per tile. astropy writes such a file in ~1 s for a 4096x4096 frame, three
quarters of which is quantisation in C under the GIL. This module writes the *same* standard
format, with the same quantisation, itself with numba kernels in a fraction of that time:

Quantisation (per tile, FITS standard 10.2: cfitsio's ``fits_quantize_float``, as astropy calls it)
    Each tile is quantised exactly as astropy's ``CompImageHDU`` has cfitsio do it, so ZSCALE,
    ZZERO and every quantised integer are the same as astropy's for the same tiling, ``q`` and
    ``ZDITHER0``, and a reader restores the same values from our file as from astropy's:

    * the tile's pixels, in row order, form one row (astropy passes the tile as ``nx * ny`` by
      1), NaN pixels replaced by the tile minimum (astropy's filling; all-NaN: 0);
    * noise (``FnNoise5_float``): over all windows of 9 consecutive pixels, the median
      absolute 2nd, 3rd and 5th order differences ``|x5 - x7|``, ``|2 x5 - x3 - x7|``,
      ``|6 x5 - 4 x3 - 4 x7 + x1 + x9|`` (formed in float32, windows with 3 resp. 5 equal
      middle values skipped, lower median), times 1.0483579, 0.6052697, 0.1772048; the noise
      is the smallest non-zero of the three, 3rd-order first;
    * ``ZSCALE = noise / q`` (q = ``quantize_level`` as a C float; q < 0 gives
      ``ZSCALE = -q``); ``ZZERO`` = the tile minimum rounded to a multiple of ZSCALE,
      ``(long long)(min / ZSCALE + 0.5) * ZSCALE`` (the centre of the range if it exceeds the
      int32 levels; ``min + 2147483637 ZSCALE`` for SUBTRACTIVE_DITHER_2);
    * ``I = NINT((x - ZZERO) / ZSCALE + r - 0.5)`` (half away from zero), ``r`` the standard
      dither sequence (the 10000 uniform numbers of the Park-Miller generator,
      ``fits_init_randoms``), starting for tile t (0-based) at ``int(r[(t + ZDITHER0 - 1) mod
      10000] * 500)``. A reader restores ``x' = (I - r + 0.5) * ZSCALE + ZZERO``, so
      ``|x' - x| <= ZSCALE / 2``. NaN pixels are stored as ZBLANK; with
      ``SUBTRACTIVE_DITHER_2``, pixels exactly 0.0 as ZERO_VALUE (restored as 0.0).
    * A tile cfitsio does not quantise (noise 0: constant or all-NaN, fewer than 9 pixels, a
      single pixel, or a range beyond the int32 levels) is stored losslessly as GZIP_1 of its
      float32 pixels in the ``GZIP_COMPRESSED_DATA`` column, with ZSCALE = ZZERO = 0, as
      astropy and cfitsio do.

    cfitsio's own writer (fpack; ``nullcheck`` on, tile rows kept as rows) differs from
    astropy's use in two details, which we follow astropy in: it takes the median of per-row
    medians, and it skips NaN in the noise estimate and then offsets ZZERO to near
    NULL_VALUE. The medians are exact order statistics found in linear time (a histogram of
    the top 16 bits of the float32 differences, then sorting the one bin that holds the
    median), so the whole frame's noise estimate is not subsampled.

Rice coding (``RICE_1``, BLOCKSIZE 32, BYTEPIX 4, as cfitsio's ``fits_rcomp``)
    Differences of consecutive integers are mapped to unsigned (zig-zag) and coded in blocks of
    32 with the split ``fs`` chosen from the block's mean; blocks of zeros and high-entropy blocks
    have their own codes.

The file: primary HDU (no data) + ``BINTABLE`` with ``ZIMAGE = T``, columns
``COMPRESSED_DATA``, ``GZIP_COMPRESSED_DATA`` (``1PB``), ``ZSCALE``, ``ZZERO`` (``1D``),
``NOISEBIT`` (ZNAME3/ZVAL3) = q, the image header keys carried
over, ``FRAMEVOL`` set to the real size of the file, and FITS ``CHECKSUM``/``DATASUM`` on both
HDUs. The file is written atomically (temp file beside the target, fsync, rename).

Any standard reader (astropy, cfitsio/funpack) decompresses it.
"""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numba
import numpy as np
from astropy.io import fits

from dkist_processing_core.framework.atomic import atomic_write

__all__ = [
    "CompressedFrame",
    "L1WriteTimings",
    "compress_frame",
    "default_tile_rows",
    "expected_max_error",
    "fits_random_sequence",
    "warm_up_writer",
    "write_l1_frame",
    "write_l1_frame_astropy",
    "write_l1_frame_from_fits",
    "write_l1_frames_parallel",
]

BLOCK = 2880
N_RANDOM = 10000
RICE_BLOCKSIZE = 32
NULL_VALUE = -2147483647  # cfitsio's integer for undefined (NaN) pixels
ZBLANK = -2147483648  # NaN pixels of a quantised tile (astropy's value; cfitsio's is NULL_VALUE)
ZERO_VALUE = -2147483646  # SUBTRACTIVE_DITHER_2: the integer of pixels exactly 0.0
N_RESERVED_VALUES = 10  # integers from NULL_VALUE up that no quantised pixel may take
SUBTRACTIVE_DITHER_1 = 1
SUBTRACTIVE_DITHER_2 = 2
QUANTIZE_METHODS = {SUBTRACTIVE_DITHER_1: "SUBTRACTIVE_DITHER_1", 2: "SUBTRACTIVE_DITHER_2"}
_F2 = np.float32(2.0)  # float32 constants: cfitsio forms the differences in float
_F4 = np.float32(4.0)
_F6 = np.float32(6.0)
_FLT_MAX = np.float32(np.finfo(np.float32).max)
_ZBLANK = np.int32(ZBLANK)
_ZERO_VALUE = np.int32(ZERO_VALUE)
_HIST_BINS = 1 << 16  # counts of the top 16 bits of a float32 (median selection)
_SHIFT = np.uint32(16)
#: Keys of the image header that describe the image HDU's structure; in the compressed table
#: they are replaced by their Z-counterparts (or dropped, for checksums of the image HDU).
_IMAGE_STRUCTURE_KEYS = {
    "SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "PCOUNT", "GCOUNT", "BZERO", "BSCALE",
    "CHECKSUM", "DATASUM", "BLANK", "ZIMAGE", "ZTENSION", "ZBITPIX", "ZNAXIS", "ZPCOUNT",
    "ZGCOUNT", "ZCMPTYPE", "ZQUANTIZ", "ZDITHER0", "ZBLANK", "THEAP", "TFIELDS",
}  # fmt: skip


def fits_random_sequence() -> np.ndarray:
    """The 10000 dither values of the FITS tiled image compression convention.

    Park-Miller minimal standard generator (a = 16807, m = 2^31 - 1, seed 1), each value stored
    as a single-precision float, exactly as cfitsio's ``fits_init_randoms``; the 10000th seed must
    be 1043618065.
    """
    a, m = 16807.0, 2147483647.0
    seed = 1.0
    out = np.empty(N_RANDOM, dtype=np.float32)
    for i in range(N_RANDOM):
        temp = a * seed
        seed = temp - m * int(temp / m)
        out[i] = seed / m
    if int(seed) != 1043618065:  # the convention's own self-check
        raise RuntimeError("FITS dither random sequence does not match the standard")
    return out


_RANDOMS = fits_random_sequence()


# ---------------------------------------------------------------------------------------------
# numba kernels
# ---------------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _bin_of_kth(hist, k):  # pragma: no cover - compiled
    """(bin holding the k-th smallest counted value, how many values lie in lower bins)."""
    below = 0
    b = 0
    while below + hist[b] <= k:
        below += hist[b]
        b += 1
    return b, below


@numba.njit(cache=True, nogil=True)
def _kth_of(values, n, k, hist, cand):  # pragma: no cover - compiled
    """The ``k``-th smallest (0-based) of the non-negative float32 ``values[:n]``.

    ``hist`` counts the top 16 bits of the values (their uint32 bit patterns order like the
    values): the bin holding the k-th value is found from the counts, one pass collects that
    bin's few values and only
    those are sorted. Exact: the same order statistic as cfitsio's ``quick_select_float``.
    """
    below = 0
    b = 0
    while below + hist[b] <= k:
        below += hist[b]
        b += 1
    bits = values[:n].view(np.uint32)
    key = np.uint32(b)
    m = 0
    for i0 in range(0, n, 64):  # a vectorised count skips the blocks without any
        block = bits[i0 : i0 + 64]
        c = 0
        for j in range(block.size):
            c += np.int32((block[j] >> _SHIFT) == key)
        if c > 0:
            for j in range(block.size):
                if (block[j] >> _SHIFT) == key:
                    cand[m] = values[i0 + j]
                    m += 1
    return np.sort(cand[:m])[k - below]


@numba.njit(cache=True, nogil=True)
def _tile_noise(x, n, sub, general, d2, d3, d5, hist, cand):  # pragma: no cover - compiled
    """cfitsio ``FnNoise5_float`` on ``x[:n]`` taken as one row: (noise2, noise3, noise5).

    Median absolute 2nd, 3rd and 5th order differences of consecutive pixels, skipping runs
    of equal values (3 equal for the 2nd order, 5 equal for the others), times 1.0483579,
    0.6052697 and 0.1772048. NaN pixels count as ``sub`` (the tile minimum), as astropy's
    ``CompImageHDU`` fills them before calling cfitsio. The differences are formed in float32
    in cfitsio's order, and the medians are the lower middle element, so the estimates are
    cfitsio's to the bit. Quirk kept: the 2nd-order median is taken over as many entries as
    the 3rd-order one, the missing ones being zero (cfitsio's calloc'd buffer). Without NaN
    and runs of 3 equal values (``general`` False) nothing is skipped and the differences are formed
    by a vectorised loop.
    """
    if n < 9:
        return 0.0, 0.0, 0.0
    hist[:] = 0
    h2 = hist[0]
    h3 = hist[1]
    h5 = hist[2]
    b2 = d2.view(np.uint32)
    b3 = d3.view(np.uint32)
    b5 = d5.view(np.uint32)
    if not general:
        # no NaN and no two equal neighbours: no run is skipped, every window counts
        m = n - 8
        for i in range(m):
            d2[i] = abs(x[i + 4] - x[i + 6])
            d3[i] = abs(_F2 * x[i + 4] - x[i + 2] - x[i + 6])
            d5[i] = abs(_F6 * x[i + 4] - _F4 * x[i + 2] - _F4 * x[i + 6] + x[i] + x[i + 8])
        for i in range(m):
            h2[b2[i] >> _SHIFT] += 1
            h3[b3[i] >> _SHIFT] += 1
            h5[b5[i] >> _SHIFT] += 1
        n2 = m
        n3 = m
    else:
        v1 = x[0] if x[0] == x[0] else sub
        v2 = x[1] if x[1] == x[1] else sub
        v3 = x[2] if x[2] == x[2] else sub
        v4 = x[3] if x[3] == x[3] else sub
        v5 = x[4] if x[4] == x[4] else sub
        v6 = x[5] if x[5] == x[5] else sub
        v7 = x[6] if x[6] == x[6] else sub
        v8 = x[7] if x[7] == x[7] else sub
        n2 = 0
        n3 = 0
        for i in range(8, n):
            v9 = x[i]
            if v9 != v9:
                v9 = sub
            if not (v5 == v6 and v6 == v7):
                d2[n2] = abs(v5 - v7)
                h2[b2[n2] >> 16] += 1
                n2 += 1
            if not (v3 == v4 and v4 == v5 and v5 == v6 and v6 == v7):
                d3[n3] = abs(_F2 * v5 - v3 - v7)
                d5[n3] = abs(_F6 * v5 - _F4 * v3 - _F4 * v7 + v1 + v9)
                h3[b3[n3] >> 16] += 1
                h5[b5[n3] >> 16] += 1
                n3 += 1
            v1 = v2
            v2 = v3
            v3 = v4
            v4 = v5
            v5 = v6
            v6 = v7
            v7 = v8
            v8 = v9
    noise2 = 0.0
    noise3 = 0.0
    noise5 = 0.0
    if n3 == 1:
        if n2 == 1:
            noise2 = float(d2[0])
        noise3 = float(d3[0])
        noise5 = float(d5[0])
    elif n3 > 1:
        for j in range(n2, n3):
            d2[j] = 0.0
        h2[0] += n3 - n2
        k = (n3 - 1) // 2
        if n2 > 1:
            noise2 = float(_kth_of(d2, n3, k, h2, cand))
        noise3 = float(_kth_of(d3, n3, k, h3, cand))
        noise5 = float(_kth_of(d5, n3, k, h5, cand))
    return 1.0483579 * noise2, 0.6052697 * noise3, 0.1772048 * noise5


@numba.njit(cache=True, nogil=True)
def _quantise_tile(x, n, scale, zero, method, randoms, iseed, out):  # pragma: no cover
    """cfitsio's dithered quantisation of ``x[:n]`` into ``out`` (int32).

    ``I = NINT((x - ZZERO) / ZSCALE + r - 0.5)`` with cfitsio's NINT (half away from zero) and
    ``r`` running through the 10000 dither values from ``int(r[iseed] * 500)``, jumping to a
    new start ``int(r[iseed + 1] * 500)`` at the end of the sequence. NaN gives ZBLANK; with
    SUBTRACTIVE_DITHER_2 an exact 0.0 gives ZERO_VALUE (restored as exactly 0.0).
    """
    nextrand = int(randoms[iseed] * 500.0)
    k = 0
    while k < n:
        seg = min(n - k, N_RANDOM - nextrand)
        xs = x[k : k + seg]
        rs = randoms[nextrand : nextrand + seg]
        qs = out[k : k + seg]
        # NINT(t) = (int)(t + copysign(0.5, t)): branch-free, so the loop vectorises
        if method == SUBTRACTIVE_DITHER_2:
            for j in range(seg):
                v = xs[j]
                t = (np.float64(v) - zero) / scale + np.float64(rs[j]) - 0.5
                q = np.int32(t + np.copysign(0.5, t))
                q = _ZERO_VALUE if v == 0.0 else q
                qs[j] = q if v == v else _ZBLANK
        else:
            for j in range(seg):
                v = xs[j]
                t = (np.float64(v) - zero) / scale + np.float64(rs[j]) - 0.5
                q = np.int32(t + np.copysign(0.5, t))
                qs[j] = q if v == v else _ZBLANK
        k += seg
        nextrand += seg
        if nextrand == N_RANDOM:
            iseed += 1
            if iseed == N_RANDOM:
                iseed = 0
            nextrand = int(randoms[iseed] * 500.0)


@numba.njit(cache=True, nogil=True)
def _tile_scale_zero(x, n, qlevel, method, d2, d3, d5, hist, cand):  # pragma: no cover
    """cfitsio ``fits_quantize_float`` minus the loop: (ok, ZSCALE, ZZERO, has NaN).

    ``ok`` is False where cfitsio declines to quantise (a single pixel; zero noise, e.g. a
    constant tile or one of fewer than 9 pixels; a range beyond the int32 levels): such tiles
    are stored losslessly (GZIP_1). ``qlevel`` is cfitsio's float: > 0 gives
    ZSCALE = noise / qlevel, 0 gives noise / 4, < 0 gives ZSCALE = -qlevel.
    """
    lo = _FLT_MAX
    hi = -_FLT_MAX
    nnan = 0
    nruns = 0
    for i in range(n):
        v = x[i]
        if v < lo:
            lo = v
        if v > hi:
            hi = v
        nnan += v != v
    for i in range(n - 2):  # runs of 3 equal values: the only windows cfitsio skips
        nruns += (x[i] == x[i + 1]) & (x[i + 1] == x[i + 2])
    if nnan == n:  # astropy sets an all-NaN tile to 0 before quantising
        lo = np.float32(0.0)
        hi = np.float32(0.0)
    if n <= 1:
        return False, 0.0, 0.0, nnan > 0
    if qlevel >= 0.0:
        general = nnan > 0 or nruns > 0
        noise2, noise3, noise5 = _tile_noise(x, n, lo, general, d2, d3, d5, hist, cand)
        stdev = noise3
        if noise2 != 0.0 and noise2 < stdev:
            stdev = noise2
        if noise5 != 0.0 and noise5 < stdev:
            stdev = noise5
        scale = stdev / 4.0 if qlevel == 0.0 else stdev / qlevel
        if scale == 0.0:
            return False, 0.0, 0.0, nnan > 0
    else:
        scale = -qlevel
    levels = float(hi - lo) / scale  # the range is a float32 difference in cfitsio
    if levels > 2.0 * 2147483647.0 - N_RESERVED_VALUES:
        return False, 0.0, 0.0, nnan > 0
    if method == SUBTRACTIVE_DITHER_2:
        zero = float(lo) - scale * float(NULL_VALUE + N_RESERVED_VALUES)
    elif levels < 2147483647.0 - N_RESERVED_VALUES:
        zero = np.int64(float(lo) / scale + 0.5) * scale  # C cast: toward zero
    else:
        zero = float(lo + hi) / 2.0
    return True, scale, zero, nnan > 0


@numba.njit(cache=True, nogil=True, inline="always")
def _put(out, pos, acc, nacc):  # pragma: no cover - compiled
    """Flush whole 32-bit words of pending bits (big-endian); return (pos, nacc)."""
    while nacc >= 32:
        nacc -= 32
        w = acc >> np.uint64(nacc)
        out[pos] = (w >> np.uint64(24)) & np.uint64(0xFF)
        out[pos + 1] = (w >> np.uint64(16)) & np.uint64(0xFF)
        out[pos + 2] = (w >> np.uint64(8)) & np.uint64(0xFF)
        out[pos + 3] = w & np.uint64(0xFF)
        pos += 4
    return pos, nacc


@numba.njit(cache=True, nogil=True)
def _rice_encode(a, n, out, pos):  # pragma: no cover - compiled
    """Rice-code ``a[:n]`` (int32) into ``out`` starting at byte ``pos``; return the end byte.

    cfitsio ``fits_rcomp``: BYTEPIX 4 (fsbits 5, fsmax 25, bbits 32), BLOCKSIZE 32. Bits are
    collected in a 64-bit accumulator (fewer than 32 pending between codes) and written out a
    32-bit word at a time; the tail is padded with zero bits to a byte.
    """
    fsbits = 5
    fsmax = 25
    first = np.uint32(a[0] & 0xFFFFFFFF)
    out[pos] = (first >> 24) & 0xFF
    out[pos + 1] = (first >> 16) & 0xFF
    out[pos + 2] = (first >> 8) & 0xFF
    out[pos + 3] = first & 0xFF
    pos += 4
    acc = np.uint64(0)
    nacc = 0
    lastpix = np.int64(a[0])
    diff = np.empty(RICE_BLOCKSIZE, dtype=np.uint32)
    i = 0
    while i < n:
        thisblock = min(RICE_BLOCKSIZE, n - i)
        pixelsum = 0.0
        for j in range(thisblock):
            nextpix = np.int64(a[i + j])
            # C: int pdiff = nextpix - lastpix (wraps modulo 2^32), then zig-zag to unsigned.
            # Exact in int64 (numba widens uint32 arithmetic to 64 bits, so no uint32 tricks).
            pdiff = ((nextpix - lastpix + 2147483648) & 0xFFFFFFFF) - 2147483648
            d = 2 * pdiff if pdiff >= 0 else -2 * pdiff - 1
            diff[j] = np.uint32(d)
            pixelsum += float(d)
            lastpix = nextpix
        dpsum = (pixelsum - (thisblock // 2) - 1) / thisblock
        if dpsum < 0:
            dpsum = 0.0
        psum = np.uint32(dpsum) >> np.uint32(1)
        fs = 0
        while psum > 0:
            psum >>= np.uint32(1)
            fs += 1
        if fs >= fsmax:
            acc = (acc << np.uint64(fsbits)) | np.uint64(fsmax + 1)
            nacc += fsbits
            pos, nacc = _put(out, pos, acc, nacc)
            for j in range(thisblock):
                acc = (acc << np.uint64(32)) | np.uint64(diff[j])
                nacc += 32
                pos, nacc = _put(out, pos, acc, nacc)
        elif fs == 0 and pixelsum == 0.0:
            acc = acc << np.uint64(fsbits)
            nacc += fsbits
            pos, nacc = _put(out, pos, acc, nacc)
        else:
            acc = (acc << np.uint64(fsbits)) | np.uint64(fs + 1)
            nacc += fsbits
            pos, nacc = _put(out, pos, acc, nacc)
            fsmask = np.uint32((1 << fs) - 1)
            one = np.uint32(1) << np.uint32(fs)
            for j in range(thisblock):
                v = diff[j]
                top = int(v >> np.uint32(fs))
                # code: `top` zeros, a one, then the low fs bits
                while top >= 32:  # rare long runs of zeros
                    acc = acc << np.uint64(32)
                    nacc += 32
                    pos, nacc = _put(out, pos, acc, nacc)
                    top -= 32
                width = top + 1 + fs  # <= 31 + 1 + 24 = 56; nacc < 32 -> may exceed 64: split
                if nacc + width > 64:
                    acc = acc << np.uint64(top)
                    nacc += top
                    pos, nacc = _put(out, pos, acc, nacc)
                    width -= top
                acc = (acc << np.uint64(width)) | np.uint64(one | (v & fsmask))
                nacc += width
                pos, nacc = _put(out, pos, acc, nacc)
        i += thisblock
    # remaining bits: whole bytes, then the last partial byte padded with zeros
    while nacc >= 8:
        nacc -= 8
        out[pos] = (acc >> np.uint64(nacc)) & np.uint64(0xFF)
        pos += 1
    if nacc > 0:
        out[pos] = (acc << np.uint64(8 - nacc)) & np.uint64(0xFF)
        pos += 1
    return pos


@numba.njit(cache=True, nogil=True)
def _compress_tiles(
    image,
    tile_rows,
    qlevel,
    method,
    dither_seed,
    randoms,
    heap,
    offsets,
    sizes,
    scales,
    zeros,
    quantised,
    qbuf,
    d2,
    d3,
    d5,
    hist,
    cand,
):  # pragma: no cover - compiled
    """Quantise and Rice-code every tile of a 2-D image (tiles of ``tile_rows`` full rows).

    A tile cfitsio would not quantise gets ``quantised[t] = False``, size 0 and ZSCALE = ZZERO
    = 0; the caller stores it losslessly. Returns (heap bytes used, any NaN quantised).
    """
    ny, nx = image.shape
    ntiles = (ny + tile_rows - 1) // tile_rows
    flat_image = image.ravel()
    pos = 0
    any_blank = False
    for t in range(ntiles):
        r0 = t * tile_rows
        r1 = min(ny, r0 + tile_rows)
        npix = (r1 - r0) * nx
        x = flat_image[r0 * nx : r1 * nx]
        ok, scale, zero, has_nan = _tile_scale_zero(x, npix, qlevel, method, d2, d3, d5, hist, cand)
        offsets[t] = 0
        sizes[t] = 0
        scales[t] = scale
        zeros[t] = zero
        quantised[t] = ok
        if not ok:
            continue
        any_blank = any_blank or has_nan
        iseed = (t + dither_seed - 1) % N_RANDOM
        _quantise_tile(x, npix, scale, zero, method, randoms, iseed, qbuf)
        offsets[t] = pos
        end = _rice_encode(qbuf, npix, heap, pos)
        sizes[t] = end - pos
        pos = end
    return pos, any_blank


@numba.njit(cache=True, nogil=True)
def _ones_complement_sum(words):  # pragma: no cover - compiled
    """32-bit ones-complement sum of big-endian words (FITS checksum, Appendix J)."""
    s = np.uint64(0)
    for w in words:
        s += np.uint64(
            ((w & 0xFF) << 24)
            | ((w >> 8) & 0xFF) << 16
            | ((w >> 16) & 0xFF) << 8
            | (w >> 24) & 0xFF
        )
    while s >> np.uint64(32):
        s = (s & np.uint64(0xFFFFFFFF)) + (s >> np.uint64(32))
    return s


def _checksum(buffer: bytes | np.ndarray, initial: int = 0) -> int:
    arr = np.frombuffer(buffer, dtype=np.uint8)
    if arr.size % 4:
        raise ValueError("checksummed FITS blocks are a multiple of 4 bytes")
    s = int(_ones_complement_sum(arr.view(np.uint32))) + initial
    while s >> 32:
        s = (s & 0xFFFFFFFF) + (s >> 32)
    return s


_EXCLUDE = (0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x40, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F, 0x60)


def _encode_checksum(value: int) -> str:
    """ASCII encoding of a 32-bit checksum (FITS standard Appendix J)."""
    asc = [0] * 16
    for i in range(4):
        byte = (value >> (24 - 8 * i)) & 0xFF
        quotient, remainder = byte // 4 + ord("0"), byte % 4
        ch = [quotient + remainder, quotient, quotient, quotient]
        check = True
        while check:
            check = False
            for x in _EXCLUDE:
                for j in (0, 2):
                    if ch[j] == x or ch[j + 1] == x:
                        ch[j] += 1
                        ch[j + 1] -= 1
                        check = True
        for j in range(4):
            asc[4 * j + i] = ch[j]
    return bytes(asc[15:] + asc[:15]).decode("ascii")


def _header_bytes(header: fits.Header) -> bytes:
    return header.tostring().encode("ascii")


def _seal(header: fits.Header, datasum: int) -> bytes:
    """Set DATASUM and CHECKSUM (so the HDU sums to -0) and return the header bytes."""
    header["DATASUM"] = (str(datasum), "data unit checksum")
    header["CHECKSUM"] = ("0" * 16, "HDU checksum")
    raw = _header_bytes(header)
    total = _checksum(raw, datasum)
    header["CHECKSUM"] = (_encode_checksum(~total & 0xFFFFFFFF), "HDU checksum")
    return _header_bytes(header)


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
@dataclass
class L1WriteTimings:
    """Seconds spent in each step of one frame write."""

    compress_s: float = 0.0  # noise estimate + quantise + Rice code (one numba pass per tile)
    table_s: float = 0.0  # binary table, headers, checksums
    write_s: float = 0.0  # write + fsync + rename
    total_s: float = 0.0
    file_bytes: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class CompressedFrame:
    """The bytes of a complete L1 FITS file, ready to be written."""

    parts: list  # buffers to write in order
    nbytes: int
    scales: np.ndarray
    zeros: np.ndarray
    tile_rows: int


def default_tile_rows(shape: Sequence[int]) -> int:
    """Rows of full width per tile: 64, or fewer for small images (at least one tile)."""
    return max(1, min(64, int(shape[-2]) if len(shape) >= 2 else 1))


def compress_frame(
    data: np.ndarray,
    header: fits.Header,
    *,
    quantize_level: float = 16.0,
    dither_seed: int = 1,
    tile_rows: int | None = None,
    timings: L1WriteTimings | None = None,
    quantize_method: int = SUBTRACTIVE_DITHER_1,
) -> CompressedFrame:
    """Quantise, Rice-code and lay out one L1 frame as FITS bytes (primary + compressed image).

    ``data`` is the float32 calibrated array (2-D, or 3-D with a leading length-1 axis such as a
    slit spectrograph's dummy raster axis). ``header`` is its SPEC-0214 header (from
    :func:`~dkist_processing_core.calibration.l1.header.build_l1_header`); structural keys are
    replaced. ``dither_seed`` is ``ZDITHER0`` (1..10000). ``quantize_level`` is cfitsio's
    ``q`` (> 0: ZSCALE = noise / q; < 0: ZSCALE = -q for every tile; 0, lossless, is not
    supported). ``quantize_method`` is 1 (``SUBTRACTIVE_DITHER_1``) or 2
    (``SUBTRACTIVE_DITHER_2``, which keeps pixels that are exactly 0.0 exact).
    """
    t0 = time.perf_counter()
    if data.dtype.newbyteorder("=") != np.float32:
        raise TypeError(f"L1 frames are float32; got {data.dtype}")
    data = data.astype(np.float32, copy=False)  # native byte order for the kernels
    if data.ndim > 2 and any(n != 1 for n in data.shape[:-2]):
        raise ValueError(
            f"only a 2-D image (plus length-1 leading axes) is supported, got {data.shape}"
        )
    image = np.ascontiguousarray(data.reshape(data.shape[-2:]) if data.ndim > 2 else data)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {data.shape}")
    if not 1 <= dither_seed <= N_RANDOM:
        raise ValueError(f"dither_seed (ZDITHER0) must be in 1..{N_RANDOM}, got {dither_seed}")
    if quantize_method not in QUANTIZE_METHODS:
        raise ValueError(
            f"quantize_method (ZQUANTIZ) must be 1 (SUBTRACTIVE_DITHER_1) or 2 "
            f"(SUBTRACTIVE_DITHER_2), got {quantize_method}"
        )
    # cfitsio takes q as a C float; 0 would mean lossless (no ZSCALE column), not supported
    qlevel = float(np.float32(quantize_level))
    if qlevel == 0.0 or not np.isfinite(qlevel):
        raise ValueError(
            f"quantize_level (NOISEBIT) must be finite and non-zero, got {quantize_level}"
        )
    ny, nx = image.shape
    tile_rows = tile_rows or default_tile_rows(image.shape)
    ntiles = (ny + tile_rows - 1) // tile_rows
    # worst case Rice output: 4 + per block (5 bits + 32*32 bits), rounded up
    cap = ntiles * (8 + 4 * tile_rows * nx + (tile_rows * nx // RICE_BLOCKSIZE + 1))
    heap = np.empty(cap, dtype=np.uint8)
    offsets = np.empty(ntiles, dtype=np.int64)
    sizes = np.empty(ntiles, dtype=np.int64)
    scales = np.empty(ntiles, dtype=np.float64)
    zeros = np.empty(ntiles, dtype=np.float64)
    quantised = np.empty(ntiles, dtype=np.bool_)
    npix = tile_rows * nx
    qbuf = np.empty(npix, dtype=np.int32)
    diffs = np.empty((3, npix), dtype=np.float32)  # noise estimate scratch
    hist = np.empty((3, _HIST_BINS), dtype=np.int32)
    cand = np.empty(npix, dtype=np.float32)
    heap_size, any_blank = _compress_tiles(
        image, tile_rows, qlevel, quantize_method, dither_seed, _RANDOMS, heap, offsets, sizes,
        scales, zeros, quantised, qbuf, diffs[0], diffs[1], diffs[2], hist, cand,
    )  # fmt: skip
    # Tiles cfitsio does not quantise (constant, all-NaN, < 9 pixels): lossless, GZIP_1 of the
    # big-endian float32 pixels in the GZIP_COMPRESSED_DATA column, as astropy/cfitsio do.
    gzip_sizes = np.zeros(ntiles, dtype=np.int64)
    gzip_offsets = np.zeros(ntiles, dtype=np.int64)
    gzip_parts = []
    gzip_end = heap_size
    for t in np.flatnonzero(~quantised):
        pixels = image[t * tile_rows : (t + 1) * tile_rows].astype(">f4").tobytes()
        blob = gzip.compress(pixels, mtime=0)
        gzip_parts.append(blob)
        gzip_sizes[t] = len(blob)
        gzip_offsets[t] = gzip_end
        gzip_end += len(blob)
    t1 = time.perf_counter()

    # Binary table, one row per tile: COMPRESSED_DATA and GZIP_COMPRESSED_DATA descriptors
    # (nelem int32, offset int32), ZSCALE, ZZERO (astropy's and cfitsio's layout).
    row_dtype = np.dtype(
        [("n", ">i4"), ("off", ">i4"), ("gn", ">i4"), ("goff", ">i4"),
         ("ZSCALE", ">f8"), ("ZZERO", ">f8")]
    )  # fmt: skip
    table = np.empty(ntiles, dtype=row_dtype)
    table["n"] = sizes
    table["off"] = offsets
    table["gn"] = gzip_sizes
    table["goff"] = gzip_offsets
    table["ZSCALE"] = scales
    table["ZZERO"] = zeros
    table_bytes = table.tobytes()
    data_size = len(table_bytes) + gzip_end
    pad = (-data_size) % BLOCK
    ext_data = np.empty(data_size + pad, dtype=np.uint8)
    ext_data[: len(table_bytes)] = np.frombuffer(table_bytes, dtype=np.uint8)
    start = len(table_bytes)
    ext_data[start : start + heap_size] = heap[:heap_size]
    start += heap_size
    for blob in gzip_parts:
        ext_data[start : start + len(blob)] = np.frombuffer(blob, dtype=np.uint8)
        start += len(blob)
    ext_data[data_size:] = 0
    heap_size = gzip_end

    # Primary HDU: no data.
    primary = fits.Header()
    primary["SIMPLE"] = (True, "conforms to FITS standard")
    primary["BITPIX"] = (8, "array data type")
    primary["NAXIS"] = (0, "number of array dimensions")
    primary["EXTEND"] = True

    ext = fits.Header()
    ext["XTENSION"] = ("BINTABLE", "binary table extension")
    ext["BITPIX"] = (8, "array data type")
    ext["NAXIS"] = (2, "number of array dimensions")
    ext["NAXIS1"] = (row_dtype.itemsize, "width of table in bytes")
    ext["NAXIS2"] = (ntiles, "number of rows in table")
    ext["PCOUNT"] = (heap_size, "number of group parameters")
    ext["GCOUNT"] = (1, "number of groups")
    ext["TFIELDS"] = (4, "number of fields in each row")
    ext["TTYPE1"] = "COMPRESSED_DATA"
    ext["TFORM1"] = f"1PB({int(sizes.max()) if ntiles else 0})"
    ext["TTYPE2"] = "GZIP_COMPRESSED_DATA"
    ext["TFORM2"] = f"1PB({int(gzip_sizes.max()) if ntiles else 0})"
    ext["TTYPE3"] = "ZSCALE"
    ext["TFORM3"] = "1D"
    ext["TTYPE4"] = "ZZERO"
    ext["TFORM4"] = "1D"
    ext["ZIMAGE"] = (True, "extension contains compressed image")
    ext["ZTENSION"] = ("IMAGE", "Image extension")
    ext["ZBITPIX"] = (-32, "array data type")
    ext["ZNAXIS"] = (data.ndim, "number of array dimensions")
    for n, length in enumerate(data.shape[::-1], start=1):
        ext[f"ZNAXIS{n}"] = length
    ext["ZPCOUNT"] = (0, "number of parameters")
    ext["ZGCOUNT"] = (1, "number of groups")
    ext["ZTILE1"] = (nx, "size of tiles to be compressed")
    ext["ZTILE2"] = (tile_rows, "size of tiles to be compressed")
    for n in range(3, data.ndim + 1):
        ext[f"ZTILE{n}"] = (1, "size of tiles to be compressed")
    ext["ZCMPTYPE"] = ("RICE_1", "compression algorithm")
    ext["ZNAME1"] = ("BLOCKSIZE", "compression block size")
    ext["ZVAL1"] = (RICE_BLOCKSIZE, "pixels per block")
    ext["ZNAME2"] = ("BYTEPIX", "bytes per pixel (1, 2, 4, or 8)")
    ext["ZVAL2"] = (4, "bytes per pixel (1, 2, 4, or 8)")
    ext["ZNAME3"] = ("NOISEBIT", "floating point quantization level")
    ext["ZVAL3"] = (qlevel, "floating point quantization level")
    ext["ZQUANTIZ"] = (QUANTIZE_METHODS[quantize_method], "Pixel Quantization Algorithm")
    ext["ZDITHER0"] = (dither_seed, "dithering offset when quantizing floats")
    if any_blank:
        ext["ZBLANK"] = (ZBLANK, "null value in the quantised integer array")
    for card in header.cards:
        key = card.keyword
        if key in _IMAGE_STRUCTURE_KEYS or key.startswith(
            ("NAXIS", "ZNAXIS", "ZTILE", "ZNAME", "ZVAL", "TTYPE", "TFORM")
        ):
            continue
        ext.append(card, end=True)

    datasum = _checksum(ext_data)
    primary_bytes = _seal(primary, 0)
    # FRAMEVOL: size of the file in MB (1e6 bytes). The header length in blocks does not depend
    # on the value (the card already exists), so we can set it before sealing.
    ext["DATASUM"] = (str(datasum), "data unit checksum")
    ext["CHECKSUM"] = ("0" * 16, "HDU checksum")
    if "FRAMEVOL" in ext:
        header_len = len(_header_bytes(ext))
        nbytes = len(primary_bytes) + header_len + len(ext_data)
        ext["FRAMEVOL"] = round(nbytes / 1e6, 6)
    ext_header = _seal(ext, datasum)
    nbytes = len(primary_bytes) + len(ext_header) + len(ext_data)
    if timings is not None:
        timings.compress_s = t1 - t0
        timings.table_s = time.perf_counter() - t1
        timings.file_bytes = nbytes
    return CompressedFrame(
        parts=[primary_bytes, ext_header, ext_data],
        nbytes=nbytes,
        scales=scales,
        zeros=zeros,
        tile_rows=tile_rows,
    )


def write_l1_frame(
    path: str | os.PathLike,
    data: np.ndarray,
    header: fits.Header,
    *,
    quantize_level: float = 16.0,
    dither_seed: int = 1,
    tile_rows: int | None = None,
    timings: L1WriteTimings | None = None,
    quantize_method: int = SUBTRACTIVE_DITHER_1,
) -> Path:
    """Write one L1 frame atomically as a RICE_1 tile-compressed FITS file; return the path.

    See :func:`compress_frame` for the parameters; the maximum error of a pixel after reading
    back is half the ``ZSCALE`` of its tile (dither) — ``ZSCALE`` ~ noise / ``quantize_level``.
    """
    t0 = time.perf_counter()
    frame = compress_frame(
        data, header, quantize_level=quantize_level, dither_seed=dither_seed,
        tile_rows=tile_rows, timings=timings, quantize_method=quantize_method,
    )  # fmt: skip
    t1 = time.perf_counter()
    path = Path(path)
    with atomic_write(path) as f:
        for part in frame.parts:
            f.write(part)
    if timings is not None:
        timings.write_s = time.perf_counter() - t1
        timings.total_s = time.perf_counter() - t0
    return path


def write_l1_frame_astropy(
    path: str | os.PathLike,
    data: np.ndarray,
    header: fits.Header,
    *,
    quantize_level: float = 16.0,
    dither_seed: int = 1,
    tile_rows: int | None = None,
    quantize_method: int = SUBTRACTIVE_DITHER_1,
) -> Path:
    """The reference: the same file written with astropy's standard writer (slow, ~1 s / 4k)."""
    tile_rows = tile_rows or default_tile_rows(data.shape)
    tile_shape = (*([1] * (data.ndim - 2)), tile_rows, data.shape[-1])
    hdu = fits.CompImageHDU(
        data=data, header=header, compression_type="RICE_1", tile_shape=tile_shape,
        quantize_level=quantize_level, quantize_method=quantize_method,
        dither_seed=dither_seed,
    )  # fmt: skip
    path = Path(path)
    with atomic_write(path) as f:
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(f, checksum=True)
    return path


# ---------------------------------------------------------------------------------------------
# many frames over processes
# ---------------------------------------------------------------------------------------------
def _write_from_npy(job: tuple[str, str, str, float, int]) -> tuple[str, int]:
    """Worker: (array .npy path, header as FITS text, target path, q, seed) -> (path, bytes)."""
    array_path, header_text, target, quantize_level, dither_seed = job
    data = np.load(array_path, mmap_mode="r")
    header = fits.Header.fromstring(header_text)
    path = write_l1_frame(
        target, np.asarray(data), header, quantize_level=quantize_level, dither_seed=dither_seed
    )
    return str(path), path.stat().st_size


def write_l1_frame_from_fits(job: tuple[str, str, str, float, int]) -> tuple[str, int]:
    """Worker: (calibrated FITS path, header as FITS text, target path, q, seed) -> (path, bytes).

    The worker reads the calibrated array from its FITS file itself (as ``Scratch.read_fits``
    does), so only paths and header text cross the process boundary and no copy of the array is
    written for it.
    """
    from dkist_processing_core.framework.scratch import Scratch

    source, header_text, target, quantize_level, dither_seed = job
    data, _ = Scratch.read_fits(source)
    header = fits.Header.fromstring(header_text)
    path = write_l1_frame(
        target, data, header, quantize_level=quantize_level, dither_seed=dither_seed
    )
    return str(path), path.stat().st_size


def warm_up_writer() -> None:
    """Compile or load the numba kernels once per writer process (a process pool initializer)."""
    compress_frame(np.zeros((8, 64), np.float32), fits.Header())


_warm_up = warm_up_writer  # older name


def write_l1_frames_parallel(
    jobs: Iterable[tuple[str | os.PathLike, fits.Header | str, str | os.PathLike]],
    *,
    processes: int = 2,
    quantize_level: float = 16.0,
    start_method: str = "forkserver",
    executor: ProcessPoolExecutor | None = None,
) -> list[tuple[str, int]]:
    """Write many L1 frames over ``processes`` worker processes.

    Each job is ``(array_path, header, target_path)``: the calibrated float32 array saved as
    ``.npy`` (memory-mapped by the worker, nothing pickled but the path), the header (sent as its
    FITS text, a plain ``str``) and where to write. The dither seed of frame i is
    ``1 + i mod 10000``. Returns ``(target, file size)`` in job order.
    """
    payload = []
    for i, (array_path, header, target) in enumerate(jobs):
        text = header.tostring() if isinstance(header, fits.Header) else str(header)
        payload.append(
            (str(array_path), text, str(target), float(quantize_level), 1 + i % N_RANDOM)
        )
    if executor is not None:
        return list(executor.map(_write_from_npy, payload))
    with ProcessPoolExecutor(
        max_workers=processes, mp_context=get_context(start_method), initializer=_warm_up
    ) as pool:
        return list(pool.map(_write_from_npy, payload))


def expected_max_error(scales: np.ndarray, tile_rows: int, shape: Sequence[int]) -> np.ndarray:
    """Per-pixel bound of the read-back error, ZSCALE/2 of the pixel's tile, as an image."""
    ny, nx = shape[-2:]
    per_row = np.repeat(scales, tile_rows)[:ny] / 2
    return np.broadcast_to(per_row[:, None], (ny, nx))
