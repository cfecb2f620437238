"""Fast bytes of a raw SPEC-0122 frame: a fixed header template with per-frame values.

astropy's Header/HDU machinery costs ~15 ms per frame on this machine, which would dominate a
simulation of thousands of small frames. A raw frame is always the same layout (one primary HDU,
uint16 data stored as int16 with BZERO=32768), so we format the header cards ourselves and compute
DATASUM/CHECKSUM with the FITS ones'-complement algorithm (FITS standard, appendix J; the encoding
follows astropy.io.fits). Tests check the output against astropy's reader and checksum verifier.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from astropy.io import fits

BLOCK = 2880
CARD = 80


def _format_value(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return f"{'T' if value else 'F':>20}"
    if isinstance(value, int | np.integer):
        return f"{int(value):>20}"
    if isinstance(value, float | np.floating):
        text = repr(float(value)).upper()
        if "E" in text and "." not in text:
            text = text.replace("E", ".0E")
        elif "." not in text and "E" not in text:
            text += ".0"
        if len(text) > 20:
            text = f"{float(value):.15G}"
            if "." not in text and "E" not in text:
                text += ".0"
        return f"{text:>20}"
    text = str(value).replace("'", "''")
    quoted = "'" + f"{text:<8}" + "'"
    return f"{quoted:<20}"


def format_card(key: str, value: Any) -> str:
    """One 80-character FITS card ``KEY     = value``."""
    card = f"{key:<8}= {_format_value(value)}"
    if len(card) > CARD:
        raise ValueError(f"value of {key} is too long for one FITS card: {value!r}")
    return card.ljust(CARD)


def ones_complement_sum(buffer: bytes | np.ndarray, sum32: int = 0) -> int:
    """32-bit ones'-complement sum of big-endian words (FITS checksum arithmetic)."""
    words = np.frombuffer(buffer, dtype=">u4")
    total = int(sum32) + int(words.sum(dtype=np.uint64))
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


_EXCLUDE = frozenset((0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x40, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F, 0x60))


def encode_checksum(value: int) -> str:
    """ASCII encoding of a 32-bit checksum value (16 characters)."""
    asc = [0] * 16
    for i in range(4):
        byte = (value >> ((3 - i) * 8)) & 0xFF
        quotient, remainder = byte // 4 + ord("0"), byte % 4
        ch = [quotient + remainder, quotient, quotient, quotient]
        check = True
        while check:
            check = False
            for j in (0, 2):
                if ch[j] in _EXCLUDE or ch[j + 1] in _EXCLUDE:
                    ch[j] += 1
                    ch[j + 1] -= 1
                    check = True
        for j in range(4):
            asc[4 * j + i] = ch[j]
    return bytes(asc[(i + 15) % 16] for i in range(16)).decode("ascii")


class RawFrameTemplate:
    """Header template for uint16 frames of one shape; ``to_bytes`` makes a complete FITS file."""

    def __init__(self, header: fits.Header):
        header = header.copy()
        for key in ("CHECKSUM", "DATASUM"):
            header.remove(key, ignore_missing=True)
        if header.get("BITPIX") != 16 or header.get("BZERO") != 32768:
            raise ValueError("raw frame template must be for uint16 data (BITPIX=16, BZERO=32768)")
        self.cards: list[str] = [card.image for card in header.cards]
        self.index: dict[str, int] = {card.keyword: i for i, card in enumerate(header.cards)}
        self.shape = tuple(header[f"NAXIS{i}"] for i in range(header["NAXIS"], 0, -1))
        self._header = header

    @property
    def header(self) -> fits.Header:
        return self._header.copy()

    def header_with(self, keys: dict[str, Any]) -> fits.Header:
        header = self.header
        for key, value in keys.items():
            header[key] = value
        return header

    def to_bytes(self, keys: dict[str, Any], data: np.ndarray) -> bytes:
        """FITS bytes for ``data`` (uint16, shaped like the template) with ``keys`` set."""
        if data.dtype != np.uint16 or data.size != int(np.prod(self.shape)):
            raise ValueError(
                f"data must be uint16 of shape {self.shape}, got {data.dtype} {data.shape}"
            )
        cards = list(self.cards)
        for key, value in keys.items():
            card = format_card(key, value)
            if key in self.index:
                cards[self.index[key]] = card
            else:
                cards.append(card)
        # int16 with BZERO=32768 has the bit pattern of uint16 with the top bit flipped.
        payload = (data.reshape(-1) ^ np.uint16(0x8000)).astype(">u2").tobytes()
        payload += b"\0" * (-len(payload) % BLOCK)
        datasum = ones_complement_sum(payload)
        cards.append(format_card("CHECKSUM", "0" * 16))
        cards.append(format_card("DATASUM", str(datasum)))
        header = "".join(cards) + "END".ljust(CARD)
        header += " " * (-len(header) % BLOCK)
        header_bytes = header.encode("ascii")
        checksum = ones_complement_sum(header_bytes, datasum)
        checksum_card = format_card("CHECKSUM", encode_checksum(~checksum & 0xFFFFFFFF))
        position = len(cards) - 2
        header_bytes = (
            header_bytes[: position * CARD]
            + checksum_card.encode("ascii")
            + header_bytes[(position + 1) * CARD :]
        )
        return header_bytes + payload
