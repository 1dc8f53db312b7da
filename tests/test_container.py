# SPDX-License-Identifier: MIT
"""Damaged, truncated and foreign .fcv files give clear errors, never crashes."""

from __future__ import annotations

import struct
import zlib

import pytest

import framecodec
from framecodec.format.container import SIGNATURE, FcvReader
from framecodec.errors import CorruptError, FormatError
from helpers import FAST, SAMPLE


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    path = tmp_path_factory.mktemp("fcv") / "s.fcv"
    framecodec.encode(SAMPLE, path, settings=FAST, frames=(0, 6), group_size=3)
    return path.read_bytes()


def decode_all(path):
    return list(framecodec.decode_frames(path))


def chunks(data: bytes):
    """(tag, offset, length) of every chunk after the signature."""
    pos, out = len(SIGNATURE), []
    while pos < len(data):
        tag, length = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        out.append((tag, pos, length))
        pos += 12 + length
    return out


def test_structure(coded):
    tags = [t for t, _, _ in chunks(coded)]
    assert tags[0] == b"HEAD" and tags[-2:] == [b"INDX", b"TAIL"]
    assert tags.count(b"GRUP") == 2 and tags.count(b"FRAM") == 6


def test_bit_flip_in_frame_names_group_and_frame(tmp_path, coded):
    frame_chunks = [c for c in chunks(coded) if c[0] == b"FRAM"]
    _, offset, length = frame_chunks[4]  # group 1, frame 4
    data = bytearray(coded)
    data[offset + 12 + length // 2] ^= 0x10
    path = tmp_path / "flip.fcv"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptError, match=r"CRC.*group 1, frame 4"):
        decode_all(path)
    # frames before the damage still decode (random access to group 0)
    assert len(list(framecodec.decode_frames(path, frames=(0, 3)))) == 3


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_file(tmp_path, coded, keep):
    path = tmp_path / "cut.fcv"
    path.write_bytes(coded[: int(len(coded) * keep)])
    with pytest.raises(CorruptError):
        decode_all(path)


def test_truncation_inside_header(tmp_path, coded):
    path = tmp_path / "cut.fcv"
    path.write_bytes(coded[:20])
    with pytest.raises(FormatError):
        FcvReader(path)


def test_foreign_file(tmp_path):
    path = tmp_path / "x.fcv"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(100))
    with pytest.raises(FormatError, match="not a .fcv file"):
        FcvReader(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.fcv"
    path.write_bytes(b"")
    with pytest.raises(FormatError, match="not a .fcv file"):
        FcvReader(path)


def _rewrite_head(coded: bytes, patch) -> bytes:
    _, offset, length = chunks(coded)[0]
    payload = bytearray(coded[offset + 8: offset + 8 + length])
    patch(payload)
    crc = zlib.crc32(bytes(payload), zlib.crc32(b"HEAD")) & 0xFFFFFFFF
    return coded[:offset + 8] + bytes(payload) + struct.pack("<I", crc) \
        + coded[offset + 12 + length:]


def test_newer_version_is_refused(tmp_path, coded):
    path = tmp_path / "new.fcv"
    path.write_bytes(_rewrite_head(coded, lambda p: struct.pack_into("<H", p, 0, 9)))
    with pytest.raises(FormatError, match="newer"):
        FcvReader(path)


def test_absurd_dimensions_refused_before_allocation(tmp_path, coded):
    path = tmp_path / "huge.fcv"
    path.write_bytes(_rewrite_head(coded, lambda p: struct.pack_into("<II", p, 4, 100000,
                                                                       100000)))
    with pytest.raises(FormatError, match="100000x100000"):
        FcvReader(path)


def test_huge_length_field(tmp_path, coded):
    _, offset, _ = [c for c in chunks(coded) if c[0] == b"GRUP"][0]
    data = bytearray(coded)
    struct.pack_into("<I", data, offset + 4, 0xFFFFFFF0)
    path = tmp_path / "len.fcv"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptError, match="length"):
        decode_all(path)


def test_damaged_payload_with_valid_crc_is_caught(tmp_path, coded):
    """A frame payload rewritten (CRC recomputed) must fail cleanly or decode garbage
    of the right shape, never crash or hang."""
    _, offset, length = [c for c in chunks(coded) if c[0] == b"FRAM"][1]
    data = bytearray(coded)
    body = offset + 8
    for k in range(16, length, 7):
        data[body + k] ^= 0xA5
    crc = zlib.crc32(bytes(data[body:body + length]), zlib.crc32(b"FRAM")) & 0xFFFFFFFF
    struct.pack_into("<I", data, body + length, crc)
    path = tmp_path / "garbled.fcv"
    path.write_bytes(bytes(data))
    try:
        frames = decode_all(path)
    except CorruptError:
        return
    assert len(frames) == 6
