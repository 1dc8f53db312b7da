# SPDX-License-Identifier: MIT
"""Decoding: one group from its payloads, and the one loop every reader of frames uses.

``decode_frames`` (the API), ``verify`` and ``info`` (report.py) and
``tune`` all come through here, so a rule about what makes a group sound is
written once: the header is checked against the index, damage names its
group and frame, and ``conceal`` repeats the last good frame where asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from ..errors import CorruptError
from ..format.bitstream import ByteReader
from ..format.container import FcvReader
from ..format.group import INTER, INTRA, GroupHeader
from ..format.layout import Layout
from ..frames import Frame, VideoInfo
from .state import GroupState

__all__ = ["GroupDecoder", "read_group_header", "decode_group", "iter_group", "iter_frames"]


class GroupDecoder:
    """Decodes the frames of one group, in order, from their payloads."""

    def __init__(self, info: VideoInfo, header: GroupHeader, group: int, threads: int = 1):
        self.layout = Layout(info, header.log2_block, header.slices)
        if self.layout.n_slices != header.slices:
            raise CorruptError("slice count does not fit the frame size", group=group)
        self.state = GroupState(self.layout, header, threads, group)
        self.group = group

    def decode_frame(self, payload: bytes, index: int, pts: int | None) -> Frame:
        r = ByteReader(payload, "frame", group=self.group, frame=index)
        kind = r.u8("frame kind")
        if kind not in (INTRA, INTER):
            raise CorruptError("bad frame kind", group=self.group, frame=index)
        _, rec = self.state.code_frame(False, kind, index, reader=r)
        return self.layout.unflatten(rec, pts)


def read_group_header(reader: FcvReader, g: int) -> tuple[GroupHeader, Iterator]:
    """Group ``g``'s parsed header, checked against the index, and its frame payloads."""
    header_bytes, payloads = reader.read_group(g)
    header = GroupHeader.from_bytes(header_bytes, reader.info, g)
    entry = reader.groups[g]
    truncated = reader.damaged_index and header.frame_count > entry.frame_count
    if header.first_frame != entry.first_frame or (
            header.frame_count != entry.frame_count and not truncated):
        raise CorruptError("group header and index disagree on its frames", group=g)
    return header, payloads


def decode_group(info: VideoInfo, header: GroupHeader, payloads: Iterable[tuple],
                 group: int = 0, threads: int = 1,
                 stop: int | None = None) -> Iterator[tuple[int, Frame]]:
    """(frame index, frame) for each (index, pts, payload) until ``stop``."""
    decoder = GroupDecoder(info, header, group, threads)
    for index, pts, payload in payloads:
        if stop is not None and index >= stop:
            return
        yield index, decoder.decode_frame(payload, index, pts)


def iter_group(reader: FcvReader, g: int, threads: int = 1,
               stop: int | None = None) -> Iterator[tuple[int, Frame]]:
    """(frame index, frame) of group ``g`` of an open file, until ``stop``."""
    header, payloads = read_group_header(reader, g)
    yield from decode_group(reader.info, header, payloads, g, threads, stop)


def iter_frames(reader: FcvReader, start: int = 0, stop: int | None = None, *,
                threads: int = 1, conceal: bool = False,
                on_damage: Callable[[int, str], None] | None = None) -> Iterator[Frame]:
    """Decoded frames [start, stop) of an open file, reading only the groups needed.

    Damage raises ``CorruptError`` naming the group and frame. With ``conceal``,
    a damaged frame and the rest of its group (which predict from it) repeat
    the last good frame instead, each reported through ``on_damage(frame,
    reason)``, and decoding goes on with the next group.
    """
    info = reader.info
    last: Frame | None = None
    for g, entry in enumerate(reader.groups):
        end = entry.first_frame + entry.frame_count
        if stop is not None:
            end = min(end, stop)
        if end <= start:
            continue
        if entry.first_frame >= end:
            break
        pending = entry.first_frame  # the next frame to come out of this group
        try:
            for index, frame in iter_group(reader, g, threads, end):
                last, pending = frame, index + 1
                if index >= start:
                    yield frame
        except CorruptError as exc:
            if not conceal:
                raise
            yield from _concealed(info, last, pending, end, start, str(exc), on_damage)
            last = last or _grey(info)
    expected = info.frame_count or 0
    if reader.damaged_index and reader.frame_count < expected \
            and (stop is None or stop > reader.frame_count):
        reason = f"file is truncated or damaged after {reader.frame_count} of {expected} frames"
        if not conceal:
            raise CorruptError(reason, group=len(reader.groups), frame=reader.frame_count)
        yield from _concealed(info, last, reader.frame_count,
                              expected if stop is None else min(stop, expected), start,
                              reason, on_damage)


def _grey(info: VideoInfo) -> Frame:
    fmt = info.format
    return Frame([np.full(shape, (fmt.max_value + 1) // 2, fmt.dtype)
                  for shape in info.plane_shapes()], 0)


def _concealed(info: VideoInfo, last: Frame | None, first: int, end: int, start: int,
               reason: str, on_damage) -> Iterator[Frame]:
    """Frames [first, end) replaced by the last good one (grey if none yet)."""
    base = last or _grey(info)
    step = max(1, round(1 / (info.frame_rate * info.time_base)))
    for k in range(first, end):
        if on_damage:
            on_damage(k, reason)
        if k >= start:
            pts = None if base.pts is None else base.pts + step * (k - first + 1)
            yield Frame([p.copy() for p in base.planes], pts)
