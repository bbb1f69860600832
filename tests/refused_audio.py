"""An Ogg Vorbis file FFmpeg refuses and libvorbis plays, built the way such files occur.

FFmpeg's Ogg demuxer (libavformat/oggparsevorbis.c, `vorbis_header`) rejects an identification
header whose packet is not exactly 30 bytes (`if (os->psize != 30) return AVERROR_INVALIDDATA`),
so opening fails with "Header processing failed: Invalid data found when processing input".
libvorbis (`_vorbis_unpack_info`) reads the fields it needs up to the framing bit and ignores
trailing bytes, so libsndfile, players and every other libvorbis reader decode the file. Here
the first page's packet gets padding bytes, with its lacing value and page CRC rewritten.
"""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import soundfile


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        value = byte << 24
        for _ in range(8):
            value = ((value << 1) ^ 0x04C11DB7) if value & 0x80000000 else value << 1
        table.append(value & 0xFFFFFFFF)
    return table


_TABLE = _crc_table()


def ogg_crc(page: bytes) -> int:
    """The Ogg page checksum (CRC-32, polynomial 0x04C11DB7, no reflection, zero start)."""
    crc = 0
    for byte in page:
        crc = ((crc << 8) ^ _TABLE[((crc >> 24) & 0xFF) ^ byte]) & 0xFFFFFFFF
    return crc


def pad_identification_header(data: bytes, pad: int = 2) -> bytes:
    """The Ogg Vorbis stream with `pad` zero bytes after its 30-byte identification header."""
    assert data[:4] == b"OggS" and data[26] == 1, "expected the id header alone on page 0"
    size = 27 + 1 + data[27]
    body = data[28:size] + b"\0" * pad
    page = bytearray(data[:26]) + bytes([1, len(body)]) + body
    page[22:26] = b"\0\0\0\0"
    page[22:26] = struct.pack("<I", ogg_crc(bytes(page)))
    return bytes(page) + data[size:]


def write_refused_vorbis(path: Path, samples: np.ndarray, rate: int) -> Path:
    """(channels, n) float32 as Ogg Vorbis that PyAV cannot open and libsndfile decodes;
    asserts both, so a future FFmpeg that accepts the file fails the test loudly."""
    plain = path.with_name(f".{path.stem}-plain.ogg")
    soundfile.write(plain, samples.T, rate, format="OGG", subtype="VORBIS")
    path.write_bytes(pad_identification_header(plain.read_bytes()))
    plain.unlink()
    try:
        with av.open(str(path)):
            pass
    except av.InvalidDataError:
        pass
    else:
        raise AssertionError(f"PyAV {av.__version__} opens {path}: the test file no longer tests")
    assert soundfile.info(str(path)).frames == samples.shape[1]
    return path
