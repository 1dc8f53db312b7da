# SPDX-License-Identifier: MIT
"""Decoding: one group from its payloads, and the one loop every reader of frames uses.

``decode_frames`` (the API), ``verify`` and ``info`` (report.py) and
``tune`` all come through here, so a rule about what makes a group sound is
written once: the header is checked against the index, a group's working
memory against the limit before anything is allocated (budget.py), each
decoded frame against its stored MD5, damage names its group and frame, and
``conceal`` repeats the last good frame where asked.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ..errors import CorruptError
from ..format import fixity
from ..format.bitstream import ByteReader
from ..format.container import LIMITS, FcvReader, FrameRecord
from ..format.differences import from_differences
from ..format.group import INTER, INTRA, GroupHeader
from ..format.layout import Layout
from ..frames import Frame, VideoInfo
from . import budget
from .frame_threads import Deferred, FrameThreads, StartedFrame
from .state import FrameWork, GroupState

__all__ = ["GroupDecoder", "read_group_header", "decode_group", "iter_group", "iter_frames",
           "check_frame"]


Mismatch = Callable[[int, int], None]  # (group, frame) whose MD5 differs


class GroupDecoder:
    """Decodes the frames of one group, in order, from their payloads.

    The group's working memory is checked against ``max_memory`` (None: the
    default share, budget.py) before its state is allocated. On several threads,
    where the group's slices allow it (state.py), each slice compensates what it
    reads itself and ``decode`` starts a frame before it hands out the one before
    (frame_threads.py).
    """

    def __init__(self, info: VideoInfo, header: GroupHeader, group: int, threads: int = 1,
                 max_memory: int | None = None):
        self.layout = Layout(info, header.log2_block, header.slices, list(header.slice_starts))
        budget.check_memory(self.layout, header, group, threads, max_memory)
        self.state = GroupState(self.layout, header, threads, group, in_place=True)
        self.group = group
        self._threads: FrameThreads | None = None  # while ``decode`` runs on frame threads

    def defer(self, fn: Callable[..., Any], *args) -> Deferred | Future:
        """``fn(*args)`` (a frame's MD5) on another thread: while frames decode on
        frame threads, on one that has no slice ready (frame_threads.py), else on
        the process's hashing thread; ``.result()`` gives it."""
        if self._threads is not None:
            return self._threads.defer(fn, *args)
        return _hasher().submit(fn, *args)

    def decode(self, records: Iterable[FrameRecord]) -> Iterator[tuple[FrameRecord, Frame]]:
        """(record, decoded frame) for each record, in the order given (the coding
        order). A frame that fails to decode raises once the frames before it are out."""
        if not self.state.in_place:
            for record in records:
                yield record, self.decode_frame(record.payload, record.index, record.pts)
            return
        threads = self._threads = FrameThreads(self.state.threads)
        records = iter(records)
        pending = None  # (record, started frame) decoding, not yet handed out
        try:
            while True:
                try:  # reading the next record, or starting its frame, may fail
                    record = next(records, None)
                    started = None if record is None \
                        else (record, threads.start(self._start(record)))
                except BaseException:
                    if pending is not None:  # the frame before comes out first
                        yield self._finish(threads, *pending)
                    raise
                if pending is not None:
                    yield self._finish(threads, *pending)
                if started is None:
                    return
                pending = started
        finally:
            self._threads = None
            threads.close()

    def decode_frame(self, payload: bytes, index: int, pts: int | None) -> Frame:
        kind, r = self._kind(payload, index)
        _, shown, _ = self.state.code_frame(False, kind, index, reader=r)
        return self._frame(shown, pts)

    def _kind(self, payload: bytes, index: int) -> tuple[int, ByteReader]:
        r = ByteReader(payload, "frame", group=self.group, frame=index)
        kind = r.u8("frame kind")
        if kind not in (INTRA, INTER):
            raise CorruptError("bad frame kind", group=self.group, frame=index)
        return kind, r

    def _start(self, record: FrameRecord) -> FrameWork:
        kind, r = self._kind(record.payload, record.index)
        return self.state.start_decode(kind, record.index, r)

    def _finish(self, threads: FrameThreads, record: FrameRecord,
                started: StartedFrame) -> tuple[FrameRecord, Frame]:
        threads.finish(started)
        return record, self._frame(started.work.shown, record.pts)

    def _frame(self, rec: np.ndarray, pts: int | None) -> Frame:
        frame = self.layout.unflatten(rec, pts)  # new arrays: rec stays the reference
        if self.state.header.dictionary.differences:
            from_differences(frame.planes, self.layout.max_value)
        return frame


def check_frame(layout: Layout, coded: budget.CodedSamples, record: FrameRecord,
                group: int) -> None:
    """The structure of a frame payload, without decoding it: its kind, and lengths
    no shorter than the least its samples (intra, ``coded``: the group's counter)
    or blocks (inter) code to."""
    r = ByteReader(record.payload, "frame", group=group, frame=record.index)
    kind = r.u8("frame kind")
    if kind not in (INTRA, INTER):
        raise CorruptError("bad frame kind", group=group, frame=record.index)
    if kind == INTER:
        budget.check_motion(len(r.vblob("motion")), layout, group, record.index)
        return
    lengths = [r.uvar("slice length") for _ in range(layout.n_slices - 1)]
    if sum(lengths) > r.remaining:
        raise CorruptError("slice lengths run past the end of the frame", group=group,
                           frame=record.index)
    budget.check_lengths(lengths + [r.remaining - sum(lengths)],
                         coded(None), group, record.index)


def _mismatch(group: int, frame: int) -> None:
    raise CorruptError("decoded frame does not match its stored MD5 (undetected damage or a "
                       "decoder fault)", group=group, frame=frame)


def read_group_header(reader: FcvReader, g: int) -> tuple[GroupHeader, Iterator]:
    """Group ``g``'s parsed header, checked against the index, and its frame payloads
    (the first checked against the frame size before the header is parsed)."""
    header_bytes, payloads = reader.read_group(g)
    first = next(payloads, None)
    if first is not None:
        info = reader.info
        budget.check_first_frame(info.width, info.height, first.payload, g, first.index)
        payloads = itertools.chain([first], payloads)
    header = GroupHeader.from_bytes(header_bytes, reader.info, g, reader.header.version)
    entry = reader.groups[g]
    truncated = reader.damaged_index and header.frame_count > entry.frame_count
    if header.first_frame != entry.first_frame or (
            header.frame_count != entry.frame_count and not truncated):
        raise CorruptError("group header and index disagree on its frames", group=g)
    return header, payloads


def decode_group(info: VideoInfo, header: GroupHeader, records: Iterable[FrameRecord],
                 group: int = 0, threads: int = 1, stop: int | None = None, *,
                 layout: int = fixity.PLANAR, on_mismatch: Mismatch | None = None,
                 max_memory: int | None = None) -> Iterator[tuple[int, Frame]]:
    """(frame index, frame) for each record until ``stop``. A record with an MD5
    is checked against its decoded frame in hash ``layout``; a mismatch raises
    CorruptError, or is reported to ``on_mismatch`` and decoding goes on.

    On several threads a frame's MD5 is computed while the next frame decodes
    (hashing releases the GIL; ``GroupDecoder.defer``), and the frame comes out
    once it is checked: one frame later, in the same order, a mismatch still
    reported before any damage found in a later frame."""
    decoder = GroupDecoder(info, header, group, threads, max_memory)
    deferred = threads > 1
    held = None  # the frame decoded last, its MD5 being computed: (record, frame, digest)

    def release():
        record, frame, digest = held
        if digest is not None:
            frame.md5 = digest.result() if deferred else digest
            if frame.md5 != record.md5:
                (on_mismatch or _mismatch)(group, record.index)
        return record.index, frame

    frames = _in_display_order(decoder, header, records, stop)
    while True:
        try:
            record, frame = next(frames, (None, None))
        except CorruptError:
            if held is not None:
                yield release()
                held = None
            raise
        if record is None:
            break
        frame.duration = record.duration
        digest = None
        if record.md5 is not None:
            digest = decoder.defer(fixity.frame_md5, frame.planes, info.format, layout) \
                if deferred else fixity.frame_md5(frame.planes, info.format, layout)
        if held is not None:
            yield release()
        held = (record, frame, digest)
        if not deferred:
            yield release()
            held = None
    if held is not None:
        yield release()


def _in_display_order(decoder: GroupDecoder, header: GroupHeader,
                      records: Iterable[FrameRecord],
                      stop: int | None) -> Iterator[tuple[FrameRecord, Frame]]:
    """(record, decoded frame) in display order until ``stop``, decoding in the
    group's coding order (5.3): a two-sided group's odd frame comes out after the
    even one that follows it, which is held meanwhile (and decoded even at ``stop``
    when the frame before it needs it). Records come in display order; a record
    read ahead waits here, so a group whose frames end early (a truncated file)
    gives the frames before the first one it lacks."""
    end = min(header.frame_count if stop is None else stop - header.first_frame,
              len(header.order))
    if end <= 0:
        return
    place = {t: i for i, t in enumerate(header.order)}
    order = header.order[:max(place[t] for t in range(end)) + 1]  # what [0, end) needs
    places: list[int] = []  # those of the records handed to the decoder, in order
    held: dict[int, tuple[FrameRecord, Frame]] = {}  # decoded, not yet given out
    shown = 0  # the next frame to give out
    for record, frame in decoder.decode(_in_coding_order(records, order, places)):
        held[places.pop(0)] = record, frame
        while shown in held and shown < end:
            yield held.pop(shown)
            shown += 1


def _in_coding_order(records: Iterable[FrameRecord], order: list[int],
                     places: list[int]) -> Iterator[FrameRecord]:
    """The records of the frames at ``order``'s places in the group, in that order,
    until one is missing; each one's place is appended to ``places``."""
    records = enumerate(records)  # the group's frames, from its first
    read: dict[int, FrameRecord] = {}  # read, not yet handed on: by place in the group
    for t in order:
        while t not in read:
            place, record = next(records, (None, None))
            if record is None:
                return
            read[place] = record
        places.append(t)
        yield read.pop(t)


_HASHER: list[ThreadPoolExecutor] = []


def _hasher() -> ThreadPoolExecutor:
    """One thread for frame MD5s, kept for the process (a frame is too short to start one)."""
    if not _HASHER:
        _HASHER.append(ThreadPoolExecutor(1, thread_name_prefix="framecodec-md5"))
    return _HASHER[0]


def iter_group(reader: FcvReader, g: int, threads: int = 1, stop: int | None = None, *,
               on_mismatch: Mismatch | None = None,
               max_memory: int | None = None) -> Iterator[tuple[int, Frame]]:
    """(frame index, frame) of group ``g`` of an open file, until ``stop``."""
    header, records = read_group_header(reader, g)
    yield from decode_group(reader.info, header, records, g, threads, stop,
                            layout=reader.header.hash_layout, on_mismatch=on_mismatch,
                            max_memory=max_memory)


def iter_frames(reader: FcvReader, start: int = 0, stop: int | None = None, *,
                threads: int = 1, conceal: bool = False,
                on_damage: Callable[[int, str], None] | None = None,
                max_memory: int | None = None) -> Iterator[Frame]:
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
            for index, frame in iter_group(reader, g, threads, end, max_memory=max_memory):
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
        # the count is the header's word alone: conceal at most a group's worth past the end
        end = min(expected, reader.frame_count + LIMITS.max_group_frames)
        yield from _concealed(info, last, reader.frame_count,
                              end if stop is None else min(stop, end), start, reason, on_damage)


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
