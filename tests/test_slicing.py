# SPDX-License-Identifier: MIT
"""Slice starts: the cut the encoder chooses, and files cut unevenly decoding exactly."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

import framecodec
from framecodec.coding.decoder import read_group_header
from framecodec.encoder import motion, slicing
from framecodec.format.layout import FlatFrames, Layout
from helpers import FAST, assert_frames_equal, moving_pattern, write_clip


@pytest.mark.parametrize("seed", range(4))
def test_cut_is_the_least_busiest_slice(seed):
    """Against every possible cut: the largest slice's work is the least there is."""
    rng = np.random.default_rng(seed)
    for _ in range(60):
        rows = int(rng.integers(1, 11))
        parts = int(rng.integers(1, rows + 1))
        work = rng.integers(0, 9, rows).astype(float) * (rng.random() < 0.9)
        starts = slicing.min_max_cut(work, parts)
        assert starts[0] == 0 and len(starts) == parts and starts[-1] < rows
        assert all(b > a for a, b in zip(starts, starts[1:]))

        def busiest(cut):
            return max(work[a:b].sum() for a, b in zip(cut, list(cut[1:]) + [rows]))

        best = min(busiest([0, *c]) for c in itertools.combinations(range(1, rows), parts - 1))
        assert busiest(starts) == pytest.approx(best)


def _still_lower_half(count=5):
    """Moving texture in the upper half of the frame, a still picture in the lower."""
    info, frames = moving_pattern("yuv420p", 64, 128, count)
    for frame in frames[1:]:
        for p, plane in enumerate(frame.planes):
            half = plane.shape[0] // 2
            plane[half:] = frames[0].planes[p][half:]
    return info, frames


def test_a_still_lower_half_gets_the_longer_slice():
    info, frames = _still_lower_half()
    settings = dataclasses.replace(FAST, slices=2)
    layout = Layout(info, settings.log2_block, 2)
    src = FlatFrames(layout, frames)
    mvs, intra = motion.estimate(layout, src, settings)
    starts = slicing.balanced_starts(layout, src, mvs, intra, 0, settings.refs)
    # the even cut is at 4: the busy upper half gets fewer rows, the still lower half more
    assert layout.nby == 8 and starts[0] == 0 and starts[1] < 4


def test_evenly_busy_frames_keep_the_even_cut():
    """Noise everywhere, new in every frame: no cut is lighter than the even one."""
    info, frames = moving_pattern("yuv420p", 64, 128, 4)
    rng = np.random.default_rng(5)
    for frame in frames:
        for plane in frame.planes:
            plane[...] = rng.integers(0, 256, plane.shape)
    settings = dataclasses.replace(FAST, slices=3)
    layout = Layout(info, settings.log2_block, 3)
    src = FlatFrames(layout, frames)
    mvs, intra = motion.estimate(layout, src, settings)
    assert slicing.balanced_starts(layout, src, mvs, intra, 0, settings.refs) == [0, 2, 5]


def test_uneven_slices_decode_exactly_on_any_thread_count(tmp_path):
    info, frames = _still_lower_half()
    clip = write_clip(tmp_path / "still.mkv", info, frames)
    out = tmp_path / "still.fcv"
    framecodec.encode(clip, out, settings=dataclasses.replace(FAST, slices=3), threads=1)
    with framecodec.open(out) as reader:
        header, _ = read_group_header(reader, 0)
    assert header.slices == 3 and header.slice_starts != (0, 2, 5)  # not the even cut
    for threads in (1, 2, 3):
        assert_frames_equal(list(framecodec.decode_frames(out, threads=threads)), frames)


@pytest.mark.parametrize("threads, n", [(1, 4), (2, 1), (2, 6), (3, 2), (8, 5)])
def test_slices_map_runs_each_slice_once_in_order(threads, n):
    """Every slice runs exactly once and its result lands in its place, on any
    number of threads (the caller among them)."""
    import threading
    from framecodec.coding.state import _map_slices
    calls, lock = [], threading.Lock()

    def fn(s):
        with lock:
            calls.append(s)
        return s * 10

    assert _map_slices(fn, n, threads) == [s * 10 for s in range(n)]
    assert sorted(calls) == list(range(n))


def test_slices_map_raises_a_slice_error_after_every_slice_is_done():
    """A failing slice's error reaches the caller, and only once no other slice
    is still running (they write into the frame being decoded)."""
    import time
    from framecodec.coding.state import _map_slices
    done = []

    def fn(s):
        if s == 1:
            raise ValueError("slice 1 is damaged")
        time.sleep(0.01)
        done.append(s)

    for threads in (1, 2, 4):
        done.clear()
        with pytest.raises(ValueError, match="slice 1"):
            _map_slices(fn, 6, threads)
        assert sorted(done) == ([0] if threads == 1 else [0, 2, 3, 4, 5])


def test_decision_estimate_reads_the_formula_from_its_table():
    """1 decision for a zero, 2 + 2 log2 |v| otherwise (to 1/1024), for every 16-bit
    magnitude; a coded sample's cost, 1 + DECISION_COST of them, is whole in 1/UNITS."""
    from framecodec.encoder.slicing import DECISION_COST, UNITS, _costs_table, _decisions_table
    magnitude = np.arange(1 << 16)
    expected = np.where(magnitude == 0, 1.0, 2.0 + 2.0 * np.round(
        1024.0 * np.log2(np.maximum(magnitude, 1))) / 1024.0)
    assert np.array_equal(_decisions_table(), expected)
    assert _costs_table().dtype == np.int64
    exact = UNITS * (1.0 + DECISION_COST * expected)
    assert np.abs(_costs_table() - exact).max() < 1e-6  # whole (0.15 itself is not in binary)


@pytest.mark.parametrize("fmt, bound", [("yuv420p", 0), ("yuv420p", 2), ("gray", 1),
                                        ("yuv444p16le", 0), ("yuv422p", 7)])
def test_unit_row_work_matches_the_whole_plane_estimate(fmt, bound):
    """The kernels' integer work per unit row equals naive.py's numpy estimate in
    coded samples, over intra and inter frames (random motion, skipped units)."""
    import naive
    from framecodec.kernels.motion import MAX_REFS
    info, frames = moving_pattern(fmt, 53, 37, 5)
    rng = np.random.default_rng(bound)
    settings = dataclasses.replace(FAST, max_error=bound)
    layout = Layout(info, settings.log2_block, 2)
    src = FlatFrames(layout, frames)
    mvs, intra = motion.estimate(layout, src, settings)
    mvs = [m.copy() for m in mvs]
    mvs[3][:, :2] = rng.integers(-40, 41, mvs[3][:, :2].shape)  # random vectors
    mvs[3][:, 2] = rng.integers(0, 3, len(mvs[3]))  # and references
    intra = [True, False, True, False, False]
    work = slicing.unit_row_work(layout, src, mvs, intra, bound, MAX_REFS)
    want = naive.unit_row_work(layout, src, mvs, intra, bound, MAX_REFS)
    assert work.dtype == np.int64 and work.shape == want.shape
    np.testing.assert_allclose(work / slicing.UNITS, want, rtol=1e-12)
