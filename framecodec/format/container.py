# SPDX-License-Identifier: MIT
"""The .fcv container: signature, CRC-checked chunks, an index for random access.

    file   = SIGNATURE, HEAD, { GRUP, FRAM* }, [ auds, audm* ], INDX, TAIL
    chunk  = tag (4 ASCII bytes) | u32 length | payload | u32 CRC-32(tag + payload)

Each frame chunk carries its frame's timing and, when the stream header says
so, the MD5 of the frame (fixity.py), so a frame can be checked on its own.

A tag whose first letter is upper case is *critical*: a reader that does not
know it must stop. Lower case marks an *ancillary* chunk that may be skipped.
docs/FORMAT.md is the normative description; this module is one reading of it.

Reads never trust a length field: a chunk longer than what is left of the
file, or than the limit for its kind, is reported as damage before anything
is allocated.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import numpy as np

from ..errors import CorruptError, FormatError
from ..frames import ColorInfo, VideoInfo
from ..pixfmt import by_code, by_name
from . import fixity
from .bitstream import ByteReader, ByteWriter

__all__ = ["SIGNATURE", "FORMAT_VERSION", "FcvWriter", "FcvReader", "GroupEntry", "AudioInfo",
           "FrameRecord", "StreamHeader", "LIMITS", "FRAME_PREFIX_MAX"]

SIGNATURE = b"\x8bFCV\r\n\x1a\n"
FORMAT_VERSION = (2, 10)
CHUNK_OVERHEAD = 4 + 4 + 4  # tag, length, CRC
_TAIL_SIZE = CHUNK_OVERHEAD + 8
# FRAM prefix: group, frame, pts, duration (at most 10 bytes each) and the MD5
FRAME_PREFIX_MAX = 4 * 10 + fixity.MD5_SIZE
# The smallest GRUP chunk (fixed fields, identity dictionary, a 1-byte model record) and
# FRAM chunk (one-byte prefix fields and kind; the MD5 adds 16): index entries closer
# together than their chunks can be are damage (FORMAT.md 2.4).
MIN_GROUP_CHUNK = CHUNK_OVERHEAD + 18 + 4 + 3 + 4 + 1
MIN_FRAME_CHUNK = CHUNK_OVERHEAD + 4 + 1


@dataclass(frozen=True)
class Limits:
    """What a reader accepts before allocating anything (docs/FORMAT.md, "Limits")."""

    max_dimension: int = 16384
    max_samples_per_frame: int = 1 << 28
    max_frames: int = (1 << 31) - 1
    max_group_frames: int = 65535
    max_groups: int = 1 << 20
    max_header_chunk: int = 1 << 16
    max_group_chunk: int = 1 << 24


LIMITS = Limits()


@dataclass(frozen=True)
class GroupEntry:
    """One index entry: where a group's GRUP chunk starts and which frames it holds."""

    offset: int
    first_frame: int
    frame_count: int


_AUDIO_PIECE = 1 << 22


@dataclass(frozen=True)
class AudioInfo:
    """The source's audio, stored as a Matroska file of its original packets; only
    packets starting in [start, end) seconds belong to the coded frames."""

    codec: str
    start: float
    end: float
    size: int


def _crc(tag: bytes, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(tag)) & 0xFFFFFFFF


def _chunk(tag: bytes, payload: bytes) -> bytes:
    return tag + struct.pack("<I", len(payload)) + payload + struct.pack("<I", _crc(tag, payload))


def encode_stream_header(info: VideoInfo, frame_count: int, group_count: int,
                         max_error: int, fixity_kind: int = fixity.FIXITY_NONE,
                         layout: int = fixity.PLANAR) -> bytes:
    fmt = info.format
    w = ByteWriter().u16(FORMAT_VERSION[0]).u16(FORMAT_VERSION[1])
    w.u32(info.width).u32(info.height).u8(fmt.code).u8(fmt.bit_depth)
    w.u32(info.frame_rate.numerator).u32(info.frame_rate.denominator)
    w.u32(info.time_base.numerator).u32(info.time_base.denominator)
    w.u32(frame_count).u32(group_count).u16(max_error)
    c = info.color
    w.u8(c.color_range).u8(c.matrix).u8(c.primaries).u8(c.transfer)
    w.u32(info.sample_aspect.numerator).u32(info.sample_aspect.denominator)
    w.u16(info.rotation % 360)
    source = info.source_format.encode("ascii", "replace")[:255]
    w.u8(fixity_kind).u8(layout).i64(info.start_time).u8(len(source)).raw(source)
    return w.getvalue()


@dataclass(frozen=True)
class StreamHeader:
    info: VideoInfo
    group_count: int
    max_error: int
    version: tuple[int, int]
    fixity_kind: int = fixity.FIXITY_NONE
    hash_layout: int = fixity.PLANAR

    @property
    def hashed(self) -> bool:
        """Whether every frame chunk carries its frame's MD5."""
        return self.fixity_kind != fixity.FIXITY_NONE


def decode_stream_header(payload: bytes) -> StreamHeader:
    r = ByteReader(payload, "stream header")
    major, minor = r.u16("version"), r.u16("version")
    if major == 0:
        raise FormatError("file format version 0 does not exist; the file is damaged")
    if major > FORMAT_VERSION[0]:
        raise FormatError(f"file format version {major}.{minor} is newer than this framecodec "
                          f"reads ({FORMAT_VERSION[0]}.x); upgrade framecodec")
    if major < FORMAT_VERSION[0]:
        raise FormatError(f"file format version {major}.{minor} comes from a development build "
                          f"of framecodec and is no longer read (this one reads "
                          f"{FORMAT_VERSION[0]}.x); encode the source again")
    width, height = r.u32("width"), r.u32("height")
    code, depth = r.u8("pixel format"), r.u8("bit depth")
    fmt = by_code(code)
    if fmt is None or fmt.bit_depth != depth:
        raise FormatError(f"unknown pixel format code {code} (bit depth {depth})")
    if not (1 <= width <= LIMITS.max_dimension and 1 <= height <= LIMITS.max_dimension) \
            or fmt.samples_per_frame(width, height) > LIMITS.max_samples_per_frame:
        raise FormatError(f"frame size {width}x{height} is beyond this reader's limits")
    rate = _fraction(r.u32("frame rate"), r.u32("frame rate"), "frame rate")
    time_base = _fraction(r.u32("time base"), r.u32("time base"), "time base")
    frame_count, group_count, max_error = r.u32("frame count"), r.u32("group count"), \
        r.u16("max error")
    color = ColorInfo(r.u8("colour"), r.u8("colour"), r.u8("colour"), r.u8("colour"))
    sar_num, sar_den = r.u32("aspect"), r.u32("aspect")
    rotation = r.u16("rotation")
    kind, layout = r.u8("fixity"), r.u8("hash layout")
    if kind not in (fixity.FIXITY_NONE, fixity.FIXITY_SOURCE, fixity.FIXITY_DECODED) \
            or not fixity.layout_fits(layout, fmt):
        raise FormatError(f"stream header has an unknown fixity kind {kind} or hash layout "
                          f"{layout} for {fmt.name}")
    start = r.i64("start time")
    source = r.raw(r.u8("source format length"), "source format").decode("ascii", "replace")
    # later minor versions may append fields: ignore what follows
    info = VideoInfo(width, height, fmt.name, rate, time_base, frame_count, color,
                     Fraction(sar_num, sar_den) if sar_den else Fraction(0), rotation,
                     source_format=source, start_time=start)
    return StreamHeader(info, group_count, max_error, (major, minor), kind, layout)


def _fraction(num: int, den: int, what: str) -> Fraction:
    if num == 0 or den == 0:
        raise FormatError(f"stream header has a zero {what}")
    return Fraction(num, den)


# ------------------------------------------------------------------ writing


@dataclass(frozen=True)
class FrameRecord:
    """One frame chunk: its index in the file, timing (``time_base`` units;
    ``duration`` 0 when unknown), MD5 (None in a file without hashes) and payload."""

    index: int
    pts: int | None
    payload: bytes
    duration: int = 0
    md5: bytes | None = None


class FcvWriter:
    """Writes a .fcv file group by group; ``close`` adds the index and final counts.

    With ``hashes``, every frame must come with its MD5 in ``layout``
    (fixity.py); ``close`` records whether they are the source's (every group
    lossless) or only the decoded frames' (some group has a bound).
    """

    def __init__(self, fileobj: BinaryIO, info: VideoInfo, max_error: int, *,
                 hashes: bool = False, layout: int = fixity.PLANAR):
        self._f = fileobj
        self._info = info
        self._max_error = max_error
        self._hashes = hashes
        self._layout = layout if hashes else fixity.PLANAR
        self._bounded = False
        self._groups: list[GroupEntry] = []
        self._frames = 0
        self._f.write(SIGNATURE)
        self._head_at = self._f.tell()
        self._f.write(_chunk(b"HEAD", self._stream_header()))

    def _stream_header(self) -> bytes:
        kind = fixity.FIXITY_NONE if not self._hashes else \
            fixity.FIXITY_DECODED if self._bounded else fixity.FIXITY_SOURCE
        return encode_stream_header(self._info, self._frames, len(self._groups),
                                    self._max_error, kind, self._layout)

    @property
    def frames_written(self) -> int:
        return self._frames

    @property
    def groups_written(self) -> int:
        return len(self._groups)

    def write_group(self, header: bytes, frames: list[FrameRecord],
                    max_error: int | None = None) -> None:
        """``frames`` in order (their ``index`` is ignored: frames are numbered as
        written); ``max_error`` the group's bound (the stream header records the largest)."""
        if max_error is not None:
            self._max_error = max(self._max_error, max_error)
            self._bounded = self._bounded or max_error > 0
        index = len(self._groups)
        self._groups.append(GroupEntry(self._f.tell(), self._frames, len(frames)))
        self._f.write(_chunk(b"GRUP", struct.pack("<I", index) + header))
        for frame in frames:
            meta = ByteWriter().uvar(index).uvar(self._frames).svar(frame.pts or 0)
            meta.uvar(max(frame.duration, 0))
            if self._hashes:
                if frame.md5 is None or len(frame.md5) != fixity.MD5_SIZE:
                    raise ValueError(f"frame {self._frames} has no MD5 to write")
                meta.raw(frame.md5)
            self._f.write(_chunk(b"FRAM", meta.getvalue() + frame.payload))
            self._frames += 1

    def write_audio(self, codec: str, start: float, end: float, data: bytes) -> None:
        """The audio record: an ``auds`` chunk, then the Matroska bytes in ``audm`` pieces."""
        self._audio_at = self._f.tell()
        name = codec.encode("ascii", "replace")[:255]
        head = ByteWriter().u16(1).i64(round(start * 1e6)).i64(round(end * 1e6) if end < 1e15
                                                               else -1)
        self._f.write(_chunk(b"auds", head.u64(len(data)).u8(len(name)).raw(name).getvalue()))
        for at in range(0, len(data), _AUDIO_PIECE):
            self._f.write(_chunk(b"audm", data[at:at + _AUDIO_PIECE]))

    _audio_at = 0

    def close(self) -> None:
        index = ByteWriter().u32(len(self._groups))
        for g in self._groups:
            index.u64(g.offset).u32(g.first_frame).u32(g.frame_count)
        index.u64(self._audio_at)
        at = self._f.tell()
        self._f.write(_chunk(b"INDX", index.getvalue()))
        self._f.write(_chunk(b"TAIL", struct.pack("<Q", at)))
        end = self._f.tell()
        self._f.seek(self._head_at)
        self._f.write(_chunk(b"HEAD", self._stream_header()))
        self._f.seek(end)
        self._f.flush()


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class Chunk:
    tag: bytes
    offset: int
    payload: bytes

    @property
    def end(self) -> int:
        """Offset of the next chunk."""
        return self.offset + CHUNK_OVERHEAD + len(self.payload)


class FcvReader:
    """Random access to a .fcv file: stream header, group index, groups' chunks."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        try:
            self._f = open(self.path, "rb")
        except IsADirectoryError:
            raise FormatError(f"{self.path} is a directory, not a .fcv file") from None
        except OSError as exc:
            raise FormatError(f"cannot open {self.path}: {exc.strerror}") from None
        try:
            self.size = os.fstat(self._f.fileno()).st_size
            if self._f.read(len(SIGNATURE)) != SIGNATURE:
                raise FormatError(f"{self.path} is not a .fcv file (bad signature)")
            head = self._read_chunk(len(SIGNATURE), LIMITS.max_header_chunk)
            if head.tag != b"HEAD":
                raise CorruptError("first chunk is not the stream header", offset=head.offset)
            self.header = decode_stream_header(head.payload)
            self._first_group_at = head.end
            self.groups = self._read_index()
        except BaseException:
            self._f.close()
            raise

    @property
    def info(self) -> VideoInfo:
        return self.header.info

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> FcvReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read_chunk(self, offset: int, limit: int) -> Chunk:
        if offset + CHUNK_OVERHEAD > self.size:
            raise CorruptError("file ends inside a chunk header (truncated)", offset=offset)
        self._f.seek(offset)
        head = self._f.read(8)
        tag, length = head[:4], struct.unpack("<I", head[4:])[0]
        if not all(65 <= b <= 90 or 97 <= b <= 122 for b in tag):
            raise CorruptError("damaged chunk tag", offset=offset)
        if length > limit or offset + CHUNK_OVERHEAD + length > self.size:
            raise CorruptError(f"chunk {tag.decode('ascii')} length {length} runs past "
                               f"the end of the file or the format's limits", offset=offset)
        payload = self._f.read(length)
        (crc,) = struct.unpack("<I", self._f.read(4))
        if crc != _crc(tag, payload):
            raise CorruptError(f"chunk {tag.decode('ascii')} fails its CRC check", offset=offset)
        return Chunk(tag, offset, payload)

    def _chunk_limit(self) -> int:
        return LIMITS.max_group_chunk + 4 * self.info.samples_per_frame + 65536

    def _read_index(self) -> list[GroupEntry]:
        """Groups from the INDX chunk the TAIL points to, or by scanning if they are damaged."""
        try:
            tail = self._read_chunk(self.size - _TAIL_SIZE, 8)
            if tail.tag != b"TAIL" or len(tail.payload) != 8:
                raise CorruptError("no TAIL chunk at the end")
            (at,) = struct.unpack("<Q", tail.payload)
            index = self._read_chunk(at, 4 + 16 * LIMITS.max_groups + 8)
            if index.tag != b"INDX":
                raise CorruptError("TAIL does not point at the index")
            return self._parse_index(index.payload, at)
        except CorruptError:
            return self._scan_groups()

    def _parse_index(self, payload: bytes, index_at: int) -> list[GroupEntry]:
        """The entries, checked as a whole before any is made an object: frame numbers
        that follow on, counts in range, and offsets that increase by at least the
        size of the chunks each group holds (so a small file cannot claim many groups)."""
        r = ByteReader(payload, "index")
        count = r.u32("group count")
        if r.remaining != count * 16 + 8:
            raise CorruptError("index size does not match its group count")
        entries = np.frombuffer(r.raw(16 * count, "entries"), np.dtype(
            [("offset", "<u8"), ("first", "<u4"), ("count", "<u4")]))
        counts = entries["count"].astype(np.int64)
        firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        ends = np.append(entries["offset"][1:].astype(np.int64), index_at)
        least = MIN_GROUP_CHUNK + counts * (MIN_FRAME_CHUNK + self.header.hashed * 16)
        if count and (not np.array_equal(entries["first"], firsts)
                      or counts.min() < 1 or counts.max() > LIMITS.max_group_frames
                      or int(entries["offset"][0]) < self._first_group_at
                      or int(entries["offset"].max()) >= self.size
                      or (ends - entries["offset"].astype(np.int64) < least).any()):
            raise CorruptError("index entries are inconsistent")
        self.audio_offset = r.u64("audio offset")
        if self.audio_offset >= self.size:
            raise CorruptError("index points audio past the end of the file")
        return [GroupEntry(int(o), int(f), int(c)) for o, f, c in entries.tolist()]

    audio_offset = 0

    def audio(self) -> tuple[AudioInfo, bytes] | None:
        """The stored audio, or None; damage in it raises CorruptError."""
        if not self.audio_offset:
            return None
        head = self._read_chunk(self.audio_offset, 1024)
        r = ByteReader(head.payload, "audio header")
        if head.tag != b"auds" or r.u16("version") != 1:
            raise CorruptError("audio record missing or of an unknown version",
                               offset=head.offset)
        start, end, size = r.i64("start"), r.i64("end"), r.u64("size")
        codec = r.raw(r.u8("codec length"), "codec").decode("ascii", "replace")
        if size > self.size or (end >= 0 and end < start):
            raise CorruptError("audio record header is inconsistent", offset=head.offset)
        parts, offset, got = [], head.end, 0
        while got < size:
            piece = self._read_chunk(offset, _AUDIO_PIECE)
            if piece.tag != b"audm":
                raise CorruptError("audio record ends early", offset=offset)
            parts.append(piece.payload)
            got += len(piece.payload)
            offset = piece.end
        if got != size:
            raise CorruptError("audio record size does not match its pieces")
        info = AudioInfo(codec, start / 1e6, end / 1e6 if end >= 0 else float("inf"), size)
        return info, b"".join(parts)

    def _scan_groups(self) -> list[GroupEntry]:
        """Rebuild the index by walking the chunks (damaged or truncated files)."""
        groups: list[GroupEntry] = []
        offset, frames = self._first_group_at, 0
        while offset + CHUNK_OVERHEAD <= self.size:
            try:
                chunk = self._read_chunk(offset, self._chunk_limit())
            except CorruptError:
                break
            if chunk.tag == b"GRUP":
                groups.append(GroupEntry(offset, frames, 0))
            elif chunk.tag == b"FRAM" and groups:
                last = groups[-1]
                groups[-1] = GroupEntry(last.offset, last.first_frame, last.frame_count + 1)
                frames += 1
            elif chunk.tag == b"auds":
                self.audio_offset = offset
            elif chunk.tag in (b"INDX", b"TAIL"):
                break
            elif chunk.tag[:1].isupper() and chunk.tag not in (b"GRUP", b"FRAM"):
                break  # an unknown critical chunk: nothing after it can be trusted
            offset = chunk.end
        self.damaged_index = True
        return [g for g in groups if g.frame_count > 0]

    damaged_index = False

    @property
    def frame_count(self) -> int:
        return sum(g.frame_count for g in self.groups)

    def group_of_frame(self, frame: int) -> int:
        for i, g in enumerate(self.groups):
            if g.first_frame <= frame < g.first_frame + g.frame_count:
                return i
        raise IndexError(frame)

    def read_group(self, index: int) -> tuple[bytes, Iterator[FrameRecord]]:
        """The group's header bytes and an iterator of its frames' records.

        Chunks are read lazily, so a damaged frame is reported when reached.
        """
        entry = self.groups[index]
        chunk = self._read_chunk_in_group(entry.offset, index, None)
        if chunk.tag != b"GRUP" or len(chunk.payload) < 4 \
                or struct.unpack_from("<I", chunk.payload)[0] != index:
            raise CorruptError("index does not point at this group's header", group=index)
        return chunk.payload[4:], self._iter_frames(index, entry, chunk)

    def _read_chunk_in_group(self, offset: int, group: int, frame: int | None) -> Chunk:
        try:
            return self._read_chunk(offset, self._chunk_limit())
        except CorruptError as exc:
            raise CorruptError(str(exc).split(" (")[0], group=group, frame=frame,
                               offset=offset) from None

    def _iter_frames(self, index: int, entry: GroupEntry, head: Chunk):
        offset = head.end
        n = 0
        while n < entry.frame_count:
            frame = entry.first_frame + n
            chunk = self._read_chunk_in_group(offset, index, frame)
            offset = chunk.end
            if chunk.tag[:1].islower():
                continue  # ancillary: not ours to read here
            if chunk.tag != b"FRAM":
                raise CorruptError("expected a frame chunk", group=index, frame=frame,
                                   offset=chunk.offset)
            r = ByteReader(chunk.payload, "frame chunk", group=index, frame=frame)
            g, f, pts = r.uvar("group"), r.uvar("frame"), r.svar("pts")
            duration = r.uvar("duration")
            md5 = r.raw(fixity.MD5_SIZE, "MD5") if self.header.hashed else None
            if g != index or f != frame:
                raise CorruptError("frame chunk out of place", group=index, frame=frame,
                                   offset=chunk.offset)
            yield FrameRecord(frame, pts, r.raw(r.remaining, "frame"), duration, md5)
            n += 1

    def frame_pts(self, frame: int) -> int:
        """The pts of one frame (reads its group's chunks up to it, decodes nothing)."""
        g = self.group_of_frame(frame)
        _, frames = self.read_group(g)
        for record in frames:
            if record.index == frame:
                return record.pts
        raise CorruptError("frame missing from its group", group=g, frame=frame)

    def iter_chunks(self) -> Iterator[Chunk]:
        """Every chunk after the stream header, in file order (for verify/info)."""
        offset = self._first_group_at
        while offset < self.size:
            chunk = self._read_chunk(offset, self._chunk_limit())
            yield chunk
            offset = chunk.end
