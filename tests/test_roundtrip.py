# SPDX-License-Identifier: MIT
"""encode -> decode: bit-exact at --max-error 0, within the bound otherwise."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import framecodec
from framecodec.coding.decoder import read_group_header
from framecodec.coding.state import _alternating_slices
from framecodec.format.container import FcvReader
from framecodec.format.layout import Layout
from framecodec.frames import VideoInfo
from helpers import (FAST, SAMPLE, assert_frames_equal, corpus_clip, max_abs_error,
                     moving_pattern, read_frames, write_clip)

CLIPS = [
    "camera_carphone_176x144.mkv",
    "camera_bikes_640x272.mp4",
    "animation_wannaworktogether_480x352.mp4",
    "screen_gnome-message-board_274x268.mkv",
    "synthetic_lebiniou-wave_320x180.mkv",
    "static_vtest-surveillance_768x576.mkv",
]


def round_trip(src, tmp_path, *, frames=None, max_error=0, settings=FAST, **kw):
    out = tmp_path / "clip.fcv"
    result = framecodec.encode(src, out, max_error=max_error, frames=frames, settings=settings,
                               overwrite=True, **kw)
    decoded = list(framecodec.decode_frames(out))
    return result, decoded


def test_sample_lossless_bit_exact(tmp_path):
    result, decoded = round_trip(SAMPLE, tmp_path, group_size=8)
    _, source = read_frames(SAMPLE)
    assert_frames_equal(decoded, source)
    assert result.frames == 30 and result.groups == 4 and result.max_error == 0
    assert [f.pts for f in decoded] == [f.pts for f in source]
    assert result.bytes < 0.6 * 30 * 176 * 144 * 1.5  # it compresses


@pytest.mark.parametrize("name", CLIPS)
def test_corpus_lossless_bit_exact(tmp_path, name):
    src = corpus_clip(name)
    _, source = read_frames(src, 0, 3)
    result, decoded = round_trip(src, tmp_path, frames=(0, 3))
    assert_frames_equal(decoded, source)
    assert result.psnr == float("inf")


@pytest.mark.parametrize("max_error", [0, 2])
def test_groups_of_one_frame_and_longer_in_one_file(tmp_path, max_error):
    """Groups of one frame code with one activity level, longer ones with four
    (FORMAT.md 6.5.4): both kinds in one file decode exactly / within the bound."""
    src = corpus_clip("camera_carphone_176x144.mkv")
    _, source = read_frames(src, 0, 4)
    result, decoded = round_trip(src, tmp_path, frames=(0, 4), max_error=max_error,
                                 group_size=3, min_group=1)
    assert result.groups == 2  # frames 0-2, then frame 3 alone
    assert max_abs_error(decoded, source) <= max_error


@pytest.mark.parametrize("max_error", [1, 2, 4])
@pytest.mark.parametrize("name", ["camera_carphone_176x144.mkv",
                                  "screen_gnome-message-board_274x268.mkv",
                                  "camera_bikes_640x272.mp4"])
def test_corpus_error_bound(tmp_path, name, max_error):
    src = corpus_clip(name)
    _, source = read_frames(src, 0, 3)
    result, decoded = round_trip(src, tmp_path, frames=(0, 3), max_error=max_error)
    err = max_abs_error(decoded, source)
    assert err <= max_error
    assert result.max_error == err
    assert err > 0  # the bound is used, not wasted


@pytest.mark.parametrize("pix_fmt, width, height", [
    ("gray", 40, 24), ("yuv422p", 48, 32), ("yuv444p", 37, 21), ("gbrp", 32, 32),
    ("yuv420p", 33, 17), ("yuv420p10le", 40, 24), ("gray16le", 24, 16),
    ("yuv420p", 1, 1), ("yuv420p", 2, 2), ("yuv444p", 3, 1),
])
@pytest.mark.parametrize("max_error", [0, 3])
def test_synthetic_formats(tmp_path, pix_fmt, width, height, max_error):
    info, frames = moving_pattern(pix_fmt, width, height, count=4)
    src = write_clip(tmp_path / "src.mkv", info, frames)
    result, decoded = round_trip(src, tmp_path, max_error=max_error, group_size=3)
    if max_error == 0:
        assert_frames_equal(decoded, frames)
    else:
        assert max_abs_error(decoded, frames) <= max_error
    assert [f.planes[0].dtype for f in decoded] == [f.planes[0].dtype for f in frames]


def test_random_access_matches_full_decode(tmp_path):
    out = tmp_path / "s.fcv"
    framecodec.encode(SAMPLE, out, settings=FAST, group_size=7, frames=(0, 20))
    full = list(framecodec.decode_frames(out))
    part = list(framecodec.decode_frames(out, frames=(9, 16)))
    assert_frames_equal(part, full[9:16])
    assert_frames_equal(list(framecodec.decode_frames(out, frames=(19, None))), full[19:])


def test_threads_and_cache_do_not_change_frames(tmp_path):
    settings = FAST.replace(slices=4)
    out = tmp_path / "s.fcv"
    framecodec.encode(SAMPLE, out, settings=settings, frames=(0, 6), group_size=6)
    one = list(framecodec.decode_frames(out, threads=1))
    two = list(framecodec.decode_frames(out, threads=2))
    again = list(framecodec.decode_frames(out, threads=2))
    assert_frames_equal(two, one)
    assert_frames_equal(again, one)


@pytest.mark.parametrize("max_error", [0, 2])
def test_slices_compensating_their_own_reach_decode_alike(tmp_path, max_error):
    """On threads, each slice compensates the block rows it reads (its own and
    one beyond each edge) into one of two alternating buffers: the frames are
    those of one thread, which compensates the whole frame first."""
    settings = FAST.replace(slices=4, max_error=max_error)
    out = tmp_path / "s.fcv"
    framecodec.encode(SAMPLE, out, settings=settings, frames=(0, 6), group_size=6)
    with FcvReader(out) as reader:
        header, _ = read_group_header(reader, 0)
        layout = Layout(reader.info, header.log2_block, header.slices, list(header.slice_starts))
    assert layout.n_slices == 4 and _alternating_slices(layout)
    one = list(framecodec.decode_frames(out, threads=1))
    for threads in (2, 3, 4):
        assert_frames_equal(list(framecodec.decode_frames(out, threads=threads)), one)
    source = read_frames(SAMPLE, 0, 6)[1]
    assert max_abs_error(one, source) <= max_error


def test_slices_alternate_buffers_only_when_two_apart_never_meet():
    """A middle slice of one block row lets its neighbours' reaches meet: those
    layouts compensate the whole frame first."""
    info = VideoInfo(176, 144, "yuv420p")
    assert _alternating_slices(Layout(info, 4, 3, [0, 2, 4]))
    assert not _alternating_slices(Layout(info, 4, 3, [0, 4, 5]))
    assert _alternating_slices(Layout(info, 4, 2, [0, 8]))  # no middle slice
    assert not _alternating_slices(Layout(info, 4, 1))
    assert Layout(info, 4, 3, [0, 4, 5]).slice_reach(1) == (3, 6)
    assert Layout(info, 4, 3, [0, 4, 5]).slice_reach(0) == (0, 5)
    assert Layout(info, 4, 3, [0, 4, 5]).slice_reach(2) == (4, 9)


def test_encoder_is_deterministic_and_thread_independent(tmp_path):
    settings = FAST.replace(slices=3)
    a, b = tmp_path / "a.fcv", tmp_path / "b.fcv"
    framecodec.encode(SAMPLE, a, settings=settings, frames=(0, 4), threads=1)
    framecodec.encode(SAMPLE, b, settings=settings, frames=(0, 4), threads=2)
    assert a.read_bytes() == b.read_bytes()


def test_parallel_jobs_give_the_same_file(tmp_path):
    """Groups in a process pool, threads shared out, or the machine's defaults:
    the same bytes as one job on one thread."""
    settings = FAST.replace(slices=2)
    paths = [tmp_path / f"{k}.fcv" for k in range(4)]
    framecodec.encode(SAMPLE, paths[0], settings=settings, frames=(0, 9), group_size=3, jobs=1,
                      threads=1)
    framecodec.encode(SAMPLE, paths[1], settings=settings, frames=(0, 9), group_size=3, jobs=2,
                      threads=2)
    framecodec.encode(SAMPLE, paths[2], settings=settings, frames=(0, 9), group_size=3, jobs=2,
                      threads=4)
    framecodec.encode(SAMPLE, paths[3], settings=settings, frames=(0, 9), group_size=3)
    assert all(p.read_bytes() == paths[0].read_bytes() for p in paths[1:])
    one = list(framecodec.decode_frames(paths[0], threads=1))
    assert_frames_equal(list(framecodec.decode_frames(paths[0])), one)  # default threads


def test_static_blocks_cost_about_a_bit(tmp_path):
    """A frame equal to its reference codes as skip flags: tiny frame chunks."""
    info, frames = moving_pattern("yuv420p", 64, 64, count=1)
    still = [dataclasses.replace(frames[0], pts=t) for t in range(5)]
    src = write_clip(tmp_path / "still.mkv", info, still)
    out = tmp_path / "still.fcv"
    framecodec.encode(src, out, settings=FAST)
    with FcvReader(out) as reader:
        _, payloads = reader.read_group(0)
        sizes = [len(r.payload) for r in payloads]
    assert all(size < 40 for size in sizes[1:]), sizes  # 16 blocks: a few bytes each frame
    assert_frames_equal(list(framecodec.decode_frames(out)), still)


def test_static_parts_of_a_changed_block_are_skipped(tmp_path):
    """A change inside one quarter of a block codes that quarter only (unit skips, 6.3)."""
    from fractions import Fraction

    from framecodec.format.bitstream import ByteReader
    from framecodec.encoder.analysis import analyse_group
    from framecodec.encoder.groupcoder import code_group
    from framecodec.frames import Frame, VideoInfo
    from framecodec.kernels import framecoder as fc
    from framecodec.kernels.motion import MV_FIELDS
    from framecodec.kernels import rangecoder as rc
    rng = np.random.default_rng(5)
    info = VideoInfo(64, 64, "yuv444p", Fraction(25), Fraction(1, 25))
    noise = [rng.integers(0, 256, (64, 64)).astype(np.uint8) for _ in range(3)]
    changed = [p.copy() for p in noise]
    for p in changed:
        p[20:24, 18:22] = rng.integers(0, 256, (4, 4))  # inside unit (2, 2) of block (1, 1)
    frames = [Frame(noise, 0), Frame(changed, 1)]
    settings = FAST.replace(search_range=0)
    coded = code_group(analyse_group(info, frames, settings), 0, 0, keep_reconstruction=True)
    assert_frames_equal(coded.reconstructed, frames)
    r = ByteReader(coded.frames[1])
    assert r.u8() == 1  # inter
    motion = rc.RangeDecoder(r.vblob(), "motion")
    skip, mv = np.zeros(64, np.uint8), np.zeros((16, MV_FIELDS), np.int64)
    fc._code_motion(False, mv, skip, 4, 4, 8, 8, 1, False, rc.new_probs(fc.MOTION_CONTEXTS),
                    motion.st, motion.buf)
    assert np.flatnonzero(skip == 0).tolist() == [2 * 8 + 2]
    assert len(coded.frames[1]) < 200  # ~48 noise samples, 8 bits each, and little else


@pytest.mark.parametrize("pix_fmt", ["yuv410p", "yuv411p"])
@pytest.mark.parametrize("max_error", [0, 2])
def test_quarter_chroma_with_4_sample_blocks(tmp_path, pix_fmt, max_error):
    """4:1:0 and 4:1:1 with 4-sample blocks: units (2 luma samples) are narrower than a
    chroma sample, which reaches its unit through its plane-0 position (FORMAT.md 5.2).
    Half the picture is still, so inter frames skip units next to coded ones."""
    info, frames = moving_pattern(pix_fmt, 37, 22, count=4)
    still = frames[0]
    for frame in frames[1:]:
        for p, plane in enumerate(frame.planes):
            plane[:, : plane.shape[1] // 2] = still.planes[p][:, : plane.shape[1] // 2]
    src = write_clip(tmp_path / "src.mkv", info, frames)
    settings = dataclasses.replace(FAST, block=4)
    result, decoded = round_trip(src, tmp_path, max_error=max_error, group_size=4,
                                 settings=settings)
    if max_error == 0:
        assert_frames_equal(decoded, frames)
    else:
        assert max_abs_error(decoded, frames) <= max_error
    assert result.groups == 1


def test_groups_shrink_to_bound_memory(tmp_path, monkeypatch):
    """A group is held in memory while it is coded: frames past MAX_GROUP_SAMPLES
    start a new group, whatever --max-group says."""
    from framecodec.encoder import grouping

    monkeypatch.setattr(grouping, "MAX_GROUP_SAMPLES", 2 * 176 * 144 * 3 // 2)
    out = tmp_path / "m.fcv"
    result = framecodec.encode(SAMPLE, out, settings=FAST, frames=(0, 6), jobs=1)
    assert result.groups == 3
    _, source = read_frames(SAMPLE, 0, 6)
    assert_frames_equal(list(framecodec.decode_frames(out)), source)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_coded_groups_frames_are_let_go_before_the_next_is_coded(monkeypatch, workers):
    """Memory holds one group (two with a pool: one in flight, one waiting), not the
    clip: once a group's result is handed on, nothing of the executor keeps its frames."""
    import gc
    import weakref

    from framecodec.encoder import jobs as jobs_module
    from framecodec.encoder.jobs import GroupJob, LocalExecutor

    info, frames = read_frames(SAMPLE, 0, 4)
    alive = []

    def make_jobs():
        for index in range(4):
            group = [dataclasses.replace(frames[index])]  # its own Frame, as a demuxer gives
            alive.append(weakref.ref(group[0]))
            yield GroupJob(index, index, group, 0, info, FAST)

    def fake_code_job(job):  # in this process: the pool path is tested by the roundtrips
        return job.index

    monkeypatch.setattr(jobs_module, "code_job", fake_code_job)
    monkeypatch.setattr(jobs_module, "ProcessPoolExecutor", _InlinePool)
    for index in LocalExecutor(workers, 2).run(make_jobs()):
        gc.collect()
        assert not any(ref() is not None for ref in alive[:index]), \
            f"a group before {index} is still held"


class _InlinePool:
    """ProcessPoolExecutor's shape, running each job at once (results as futures)."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        from concurrent.futures import Future

        future = Future()
        future.set_result(fn(*args))
        return future
