# SPDX-License-Identifier: MIT
"""Frame threads: a slice starts once the slices it reads of the frame before are
done. What it waits for is checked against what compensation reads; the
scheduler against the order it promises; decoding against one thread."""

from __future__ import annotations

import dataclasses
import threading
import time
import weakref

import numpy as np
import pytest

import framecodec
from framecodec.coding.decoder import GroupDecoder, decode_group, read_group_header
from framecodec.coding.frame_threads import FrameThreads
from framecodec.coding.state import FrameWork, previous_frame_waits, reach_margin
from framecodec.errors import CorruptError
from framecodec.format.container import FcvReader
from framecodec.format.layout import Layout
from framecodec.frames import VideoInfo
from framecodec.kernels import motion as mo
from helpers import FAST, SAMPLE, assert_frames_equal, moving_pattern, write_clip
from test_palette import screen_clip

LAYOUTS = [  # (pixel format, width, height, log2 block, slice starts)
    ("yuv420p", 176, 144, 4, [0, 2, 5, 7]),
    ("yuv420p", 96, 132, 3, [0, 3, 5, 8, 14]),  # 8-row blocks, a partial last block row
    ("yuv444p", 64, 96, 4, [0, 2, 4]),
    ("yuv410p", 64, 128, 4, [0, 2, 4, 6]),  # chroma a quarter of the height
    ("gray", 48, 80, 2, [0, 4, 9, 15]),  # 4-row blocks
]


def _field(layout: Layout, rng: np.random.Generator, spread: int) -> np.ndarray:
    """A random motion field reading back 0 to 2, a third of it bi-predicted, with
    vertical vectors up to ``spread`` quarter samples and some at the limit; a
    ``spread`` of None: one vector, half a sample off whole block rows, so that
    the interpolation taps reach a block row beyond each displaced block."""
    n = layout.nbx * layout.nby
    shift = (4 << layout.log2_block) * rng.integers(-3, 4) + rng.choice([-2, 2])

    def dy(count):
        if spread is None:
            return np.full(count, shift)
        return rng.integers(-spread, spread + 1, count)

    mv = np.zeros((n, mo.MV_FIELDS), np.int64)
    mv[:, mo.MVX] = rng.integers(-9, 10, n)
    mv[:, mo.MVY] = dy(n)
    mv[:, mo.REF] = rng.integers(0, 3, n)
    two = rng.random(n) < 0.3
    mv[two, mo.MVX2] = rng.integers(-9, 10, two.sum())
    mv[two, mo.MVY2] = dy(two.sum())
    mv[two, mo.REF2] = rng.integers(1, 4, two.sum())
    edge = rng.random(n) < (0 if spread is None else 0.05)
    mv[edge, mo.MVY] = rng.choice([-mo.MV_MAX, mo.MV_MAX], edge.sum())
    return mv


def _reads_beyond_waits(layout: Layout, mv: np.ndarray, margin: int,
                        rng: np.random.Generator) -> bool:
    """Whether compensating some slice's reach reads a row of the frame before that
    its waits leave out: the frame before with every row outside the waited
    slices replaced changes the compensation."""
    n_planes = layout.n_planes
    before = rng.integers(0, layout.max_value + 1, layout.size).astype(np.uint16)
    older = rng.integers(0, layout.max_value + 1, (2, layout.size)).astype(np.uint16)
    for s, (first, last) in enumerate(previous_frame_waits(layout, mv, margin)):
        changed = rng.integers(0, layout.max_value + 1, layout.size).astype(np.uint16)
        lo, hi = layout.slice_blocks[first], layout.slice_blocks[last + 1]
        for p in range(n_planes):
            off, w, h, _, sy = (int(v) for v in layout.geom[p, :5])
            rows = np.arange(h) >> (layout.log2_block - sy)
            keep = np.repeat((rows >= lo) & (rows < hi), w)
            changed[off:off + h * w][keep] = before[off:off + h * w][keep]
        by0, by1 = layout.slice_reach(s)
        outs = []
        for prev in (before, changed):
            out = np.zeros(layout.size, np.uint16)
            mo._compensate(np.stack([prev, older[0], older[1]]), layout.geom, n_planes, mv,
                           layout.log2_block, layout.nbx, layout.max_value, out, by0, by1)
            outs.append(out)
        if not np.array_equal(*outs):
            return True
    return False


@pytest.mark.parametrize("pix_fmt, width, height, log2b, starts", LAYOUTS)
def test_waits_cover_every_row_compensation_reads(pix_fmt, width, height, log2b, starts):
    """Oracle: the compensation itself. With the rows a slice does not wait for
    replaced, its reach compensates the same; with no margin it would not."""
    layout = Layout(VideoInfo(width, height, pix_fmt), log2b, len(starts), starts)
    rng = np.random.default_rng(7)
    for spread in (0, 6, 40, 4 * height, None, None):
        for _ in range(6):
            assert not _reads_beyond_waits(layout, _field(layout, rng, spread),
                                           reach_margin(layout), rng)
    fields = [_field(layout, rng, None) for _ in range(6)]
    assert any(_reads_beyond_waits(layout, mv, 0, rng) for mv in fields)


def test_still_frame_waits_for_its_neighbours_only():
    layout = Layout(VideoInfo(176, 144, "yuv420p"), 4, 4, [0, 2, 5, 7])
    mv = np.zeros((layout.nbx * layout.nby, mo.MV_FIELDS), np.int64)
    assert previous_frame_waits(layout, mv, reach_margin(layout)) == [
        (0, 1), (0, 2), (1, 3), (2, 3)]
    mv[:, mo.REF] = 1  # reading only an older frame: each slice waits for its models
    assert previous_frame_waits(layout, mv, reach_margin(layout)) == [
        (0, 0), (1, 1), (2, 2), (3, 3)]
    mv[:, mo.REF2] = 1  # ... and a second prediction from the frame before
    mv[:, mo.MVY2] = 4 * 144
    assert previous_frame_waits(layout, mv, reach_margin(layout))[0] == (0, 3)


class _Recorder:
    """Fake frames whose units (slice, plane group) log when they start and end,
    some slowly."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events: list[tuple[str, int, int, int]] = []

    def work(self, t: int, waits, slow=(), fail=None, groups: int = 1) -> FrameWork:
        def decode(s: int, g: int) -> None:
            with self.lock:
                self.events.append(("start", t, s, g))
            time.sleep(0.05 if s in slow else 0.002)
            if s == fail:
                raise CorruptError("slice data is damaged", group=0, frame=t)
            with self.lock:
                self.events.append(("end", t, s, g))
        return FrameWork(decode, waits, groups, np.zeros(1))

    def at(self, what: str, t: int, s: int, g: int = 0) -> int:
        return self.events.index((what, t, s, g))


@pytest.mark.parametrize("threads", [2, 3, 4])
def test_slices_start_after_what_they_wait_for_and_overlap_frames(threads):
    rec = _Recorder()
    waits = [(0, 1), (0, 2), (1, 3), (2, 3)]
    pool = FrameThreads(threads)
    try:
        started = [pool.start(rec.work(0, waits, slow={3}))]
        for t in range(1, 5):
            started.append(pool.start(rec.work(t, waits, slow={3} if t % 2 == 0 else {0})))
            pool.finish(started[t - 1])
        pool.finish(started[-1])
    finally:
        pool.close()
    for t in range(1, 5):
        for s, (first, last) in enumerate(waits):
            assert all(rec.at("end", t - 1, k) < rec.at("start", t, s)
                       for k in range(first, last + 1))
    # frame 0's slow last slice did not hold up frame 1's first, which reads slices 0-1
    assert rec.at("start", 1, 0) < rec.at("end", 0, 3)
    assert len(rec.events) == 2 * 5 * 4  # every slice once


def test_plane_groups_wait_for_their_slice_and_their_group_of_the_frame_before():
    """Two slices on two threads, each in two plane groups: a frame's plane 0 starts
    once plane 0 of the frame before is done in both slices, before that frame's
    slow slice has done its second group."""
    rec = _Recorder()
    waits = [(0, 1), (0, 1)]
    pool = FrameThreads(2)
    try:
        f0 = pool.start(rec.work(0, waits, slow={1}, groups=2))
        f1 = pool.start(rec.work(1, waits, groups=2))
        pool.finish(f0)
        pool.finish(f1)
    finally:
        pool.close()
    for t in (0, 1):
        for s in (0, 1):
            assert rec.at("end", t, s, 0) < rec.at("start", t, s, 1)
    for s in (0, 1):
        for g in (0, 1):
            assert all(rec.at("end", 0, k, g) < rec.at("start", 1, s, g) for k in (0, 1))
    assert rec.at("start", 1, 0, 0) < rec.at("end", 0, 1, 1)
    assert len(rec.events) == 2 * 2 * 2 * 2


def test_deferred_calls_run_when_a_thread_is_idle_or_when_asked_for():
    pool = FrameThreads(2)
    try:
        calls = [pool.defer(lambda k: (threading.current_thread().name, k * k), k)
                 for k in range(4)]
        assert [c.result()[1] for c in calls] == [0, 1, 4, 9]
        failing = pool.defer(lambda: 1 // 0)
        with pytest.raises(ZeroDivisionError):
            failing.result()
    finally:
        pool.close()
    busy = FrameThreads(1)  # no helper: a call not taken runs on the thread asking, and
    planes = np.zeros(1 << 20, np.uint8)  # lets go of its arguments though still queued
    held = weakref.ref(planes)
    queued = busy.defer(lambda a: a.size, planes)
    del planes
    assert queued.result() == 1 << 20 and held() is None
    busy.close()
    stopped = FrameThreads(1)
    late = stopped.defer(lambda: threading.current_thread().name)
    stopped.close()
    assert late.result() == threading.current_thread().name


def test_a_failed_slice_raises_for_its_frame_after_the_frames_before():
    rec = _Recorder()
    waits = [(0, 1), (0, 2), (1, 2)]
    pool = FrameThreads(2)
    try:
        f0 = pool.start(rec.work(0, waits))
        f1 = pool.start(rec.work(1, waits, fail=1))
        pool.finish(f0)
        pool.start(rec.work(2, waits))  # every slice of it reads frame 1's slice 1
        with pytest.raises(CorruptError, match="slice data is damaged.*frame 1"):
            pool.finish(f1)
    finally:
        pool.close()  # frame 2 abandoned: the helpers stop all the same
    assert not any(t == 2 for _, t, _, _ in rec.events)


@pytest.fixture(scope="module")
def four_slices(tmp_path_factory):
    """The sample in four slices, in two-sided order and in display order."""
    paths = {}
    for order in ("display", "two-sided"):
        path = tmp_path_factory.mktemp("ft") / f"{order}.fcv"
        framecodec.encode(SAMPLE, path, settings=FAST.replace(slices=4, order=order),
                          frames=(0, 9), group_size=9)
        paths[order] = path
    return paths


@pytest.mark.parametrize("order", ["display", "two-sided"])
def test_frame_threads_decode_as_one_thread(four_slices, order):
    path = four_slices[order]
    one = list(framecodec.decode_frames(path, threads=1))
    assert len(one) == 9
    for threads in (2, 3, 4):  # 4: a frame's four slices at once, frame after frame
        assert_frames_equal(list(framecodec.decode_frames(path, threads=threads)), one)
        assert_frames_equal(list(framecodec.decode_frames(path, frames=(2, 5),
                                                          threads=threads)), one[2:5])


@pytest.mark.parametrize("order", ["display", "two-sided"])
def test_frame_threads_damage_reported_as_on_one_thread(four_slices, order):
    """A frame whose slice data is damaged: the frames before it come out, then the
    same error as on one thread; a group cut short gives the frames it has."""
    with FcvReader(four_slices[order]) as reader:
        info, hashes = reader.info, reader.header.hash_layout
        header, records = read_group_header(reader, 0)
        records = list(records)
    assert header.slices == 4 and GroupDecoder(info, header, 0, 2).state.frame_threads
    four = GroupDecoder(info, header, 0, 4).state  # a thread a slice: frame threads still
    assert four.in_place and four.frame_threads and four.plane_groups == [(0, 1), (1, 3)]
    payload = bytearray(records[5].payload)
    payload[-3] ^= 0x5A  # in frame 5's last slice
    damaged = records[:5] + [dataclasses.replace(records[5], payload=bytes(payload))] \
        + records[6:]
    results = []
    for threads in (1, 2, 4):
        got, error = [], None
        try:
            for index, frame in decode_group(info, header, damaged, 0, threads,
                                             layout=hashes):
                got.append((index, frame))
        except CorruptError as exc:
            error = str(exc)
        results.append((got, error))
        truncated = list(decode_group(info, header, records[:6], 0, threads, layout=hashes))
        assert [i for i, _ in truncated] == list(range(6 if order == "display" else 5))
    (one, error_one), *others = results
    assert error_one is not None
    for got, error in others:
        assert error == error_one and [i for i, _ in got] == [i for i, _ in one]
        assert_frames_equal([f for _, f in got], [f for _, f in one])


@pytest.mark.parametrize("order", ["display", "two-sided"])
def test_frame_threads_put_out_the_frames_before_a_damaged_chunk(tmp_path, four_slices, order):
    """A frame chunk that fails its CRC is read while the frame before decodes: that
    frame still comes out before the error, as on one thread."""
    path = four_slices[order]
    with FcvReader(path) as reader:
        _, records = read_group_header(reader, 0)
        payload = list(records)[6].payload
    data = bytearray(path.read_bytes())
    at = bytes(data).index(payload) + len(payload) // 2
    data[at] ^= 0x01
    bad = tmp_path / "bad.fcv"
    bad.write_bytes(bytes(data))
    results = []
    for threads in (1, 2, 4):
        got = []
        with pytest.raises(CorruptError) as error:
            for frame in framecodec.decode_frames(bad, threads=threads):
                got.append(frame)
        results.append((got, str(error.value)))
    (one, error_one), *others = results
    assert len(one) == (6 if order == "display" else 5)
    for got, error in others:
        assert error == error_one
        assert_frames_equal(got, one)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p", "gray"])
def test_two_slices_decode_on_plane_groups_as_one_thread(tmp_path, pix_fmt):
    """Two slices, each a unit per plane group (one for gray), on 2 to 4 threads."""
    info, frames = moving_pattern(pix_fmt, 96, 80, count=6)
    src = write_clip(tmp_path / "c.mkv", info, frames)
    out = tmp_path / "c.fcv"
    framecodec.encode(src, out, settings=FAST.replace(slices=2))
    with FcvReader(out) as reader:
        header, _ = read_group_header(reader, 0)
        state = GroupDecoder(reader.info, header, 0, 2).state
    assert header.slices == 2 and state.frame_threads
    assert len(state.plane_groups) == (1 if pix_fmt == "gray" else 2)
    one = list(framecodec.decode_frames(out, threads=1))
    assert_frames_equal(one, frames)
    for threads in (2, 3, 4):
        assert_frames_equal(list(framecodec.decode_frames(out, threads=threads)), one)


@pytest.mark.parametrize("pix_fmt", ["gbrp", "yuv420p"])
def test_frame_threads_decode_palettes_as_one_thread(tmp_path, pix_fmt):
    """Each slice compensates its reach's palette indices, and their colours, itself."""
    info, frames = screen_clip(pix_fmt, colours=12, width=80, height=128, count=6)
    src = write_clip(tmp_path / "p.mkv", info, frames)
    out = tmp_path / "p.fcv"
    framecodec.encode(src, out, settings=FAST.replace(slices=4, palette="on"))
    with FcvReader(out) as reader:
        header, _ = read_group_header(reader, 0)
        state = GroupDecoder(reader.info, header, 0, 2).state
    assert state.pal.count and state.frame_threads
    one = list(framecodec.decode_frames(out, threads=1))
    assert_frames_equal(one, frames)
    for threads in (2, 3, 4):
        assert_frames_equal(list(framecodec.decode_frames(out, threads=threads)), one)
