# SPDX-License-Identifier: MIT
"""The colour dictionary: palette coding of few-colour content, exact and bounded."""

from __future__ import annotations

import numpy as np
import pytest

import framecodec
from framecodec.encoder import palettes
from framecodec.encoder.analysis import analyse_group
from framecodec.format import dictionary as dic
from framecodec import report
from framecodec.format.bitstream import ByteReader
from framecodec.encoder.settings import EncodeSettings
from framecodec.errors import CorruptError
from framecodec.frames import Frame, VideoInfo
from framecodec.kernels import palette as pk
from framecodec.kernels import rangecoder as rc
from framecodec.pixfmt import by_name
import naive
from helpers import ROOT, assert_frames_equal, max_abs_error, read_frames, write_clip

FAST_PAL = EncodeSettings(hidden=(8, 8), train_steps=40, train_samples=6000, refs=2)


def screen_clip(pix_fmt: str, colours: int = 16, width: int = 96, height: int = 64,
                count: int = 5, seed: int = 0):
    """Flat rectangles and typed 'text' in exactly ``colours`` colours, scrolling."""
    rng = np.random.default_rng(seed)
    fmt = by_name(pix_fmt)
    palette = rng.integers(0, fmt.max_value + 1, (colours, 4))
    canvas = np.arange(height * width).reshape(height, width) % colours  # all colours present
    for _ in range(30):
        y, x = rng.integers(0, height - 4), rng.integers(0, width - 4)
        canvas[y:y + rng.integers(2, 20), x:x + rng.integers(2, 40)] = rng.integers(0, colours)
    frames = []
    for t in range(count):
        c = np.roll(canvas, t, axis=0)
        c[5:11, 10:14 + 4 * t] = rng.integers(0, colours, (6, 4 + 4 * t))
        colour = palette[c]
        planes = []
        for p, (h, w) in enumerate(fmt.plane_shapes(width, height)):
            step_y, step_x = height // h, width // w
            planes.append(colour[::step_y, ::step_x, p][:h, :w].astype(fmt.dtype))
        frames.append(Frame(planes, t))
    return VideoInfo(width, height, pix_fmt), frames


def encode(tmp_path, frames, info, mode, max_error=0, name="c"):
    src = write_clip(tmp_path / f"{name}.mkv", info, frames)
    out = tmp_path / f"{name}_{mode}.fcv"
    result = framecodec.encode(src, out, max_error=max_error,
                               settings=FAST_PAL.replace(palette=mode))
    return result, list(framecodec.decode_frames(out)), report.describe(out)


@pytest.mark.parametrize("pix_fmt", ["gbrp", "yuv444p", "yuv420p", "gray"])
def test_k_colour_content_round_trips_through_palettes(tmp_path, pix_fmt):
    info, frames = screen_clip(pix_fmt, colours=16)
    on, decoded, described = encode(tmp_path, frames, info, "on")
    assert_frames_equal(decoded, frames)
    assert all(g["dictionary_entries"] > 0 for g in described["groups"])
    off, decoded_off, _ = encode(tmp_path, frames, info, "off")
    assert_frames_equal(decoded_off, frames)
    assert on.bytes < off.bytes  # the palette pays on this content
    auto, _, _ = encode(tmp_path, frames, info, "auto")
    assert auto.bytes == min(on.bytes, off.bytes)


def test_exactly_k_colours(tmp_path):
    info, frames = screen_clip("gbrp", colours=16)
    fit = palettes.fit_palette([f.planes for f in frames], (0, 1, 2), 256, 0)
    assert fit is not None and len(fit.entries) == 16
    assert palettes.fit_palette([f.planes for f in frames], (0, 1, 2), 15, 0) is None


def test_palette_merging_keeps_the_bound(tmp_path):
    info, frames = screen_clip("yuv444p", colours=12)
    noisy = [Frame([np.clip(p.astype(int) + np.random.default_rng(t).integers(-2, 3, p.shape),
                            0, 255).astype(np.uint8) for p in f.planes], f.pts)
             for t, f in enumerate(frames)]
    result, decoded, described = encode(tmp_path, noisy, info, "on", max_error=2, name="n")
    assert max_abs_error(decoded, noisy) <= 2
    assert all(0 < g["dictionary_entries"] <= 256 for g in described["groups"])


def test_natural_clip_does_not_grow_with_auto(tmp_path):
    info, frames = read_frames(
        framecodec_corpus("camera_carphone_176x144.mkv"), 0, 3)
    off, _, _ = encode(tmp_path, frames, info, "off", name="nat")
    auto, _, described = encode(tmp_path, frames, info, "auto", name="nat")
    assert auto.bytes <= off.bytes * 1.005
    assert all(g["dictionary_entries"] == 0 for g in described["groups"])


def framecodec_corpus(name):
    from helpers import corpus_clip
    return corpus_clip(name)


def test_dictionary_record_round_trip_and_validation():
    fmt = by_name("yuv420p")
    entries = np.array([[1, 2], [1, 9], [40, 3]], np.uint16)
    d = dic.ColorDictionary([dic.Palette((1, 2), entries)], 3)
    back = dic.ColorDictionary.from_bytes(d.to_bytes(), fmt)
    assert np.array_equal(back.palettes[0].entries, entries) and back.palettes[0].planes == (1, 2)
    assert dic.ColorDictionary.from_bytes(dic.ColorDictionary.identity(3).to_bytes(), fmt) \
        .is_identity
    bad = bytearray(d.to_bytes())
    bad[3] = 0b011  # planes 0 and 1 do not share a geometry in 4:2:0
    with pytest.raises(CorruptError):
        dic.ColorDictionary.from_bytes(bytes(bad), fmt)
    assert dic.plane_sets(fmt) == [(0,), (1, 2)]
    assert dic.plane_sets(by_name("gbrp")) == [(0, 1, 2)]


def test_palette_network_table_is_integer_and_bounded():
    net = dic.PaletteNet(np.arange(12 * 4).reshape(12, 4) % 7 - 3, np.arange(4), 1,
                         (np.arange(20).reshape(4, 5) - 10) * 5, np.zeros(5, np.int64), 2)
    lut = net.lut()
    assert lut.shape == (pk.N_PATTERNS, pk.N_CAND) and lut.dtype == np.int64
    assert lut.min() >= 0 and lut.max() < pk.N_LEVELS
    again = dic.PaletteNet.from_reader(ByteReader(net.to_bytes()))
    assert np.array_equal(again.lut(), lut)


def test_targets_keep_palettes_exact(tmp_path):
    """A PSNR target searches bounds down to 0: merged palettes would break them."""
    info, frames = screen_clip("yuv444p", colours=12)
    noisy = [Frame([np.clip(p.astype(int) + np.random.default_rng(t).integers(-3, 4, p.shape),
                            0, 255).astype(np.uint8) for p in f.planes], f.pts)
             for t, f in enumerate(frames)]
    src = write_clip(tmp_path / "n.mkv", info, noisy)
    out = tmp_path / "t.fcv"
    result = framecodec.encode(src, out, target_psnr=60.0, settings=FAST_PAL.replace(palette="on"))
    decoded = list(framecodec.decode_frames(out))
    for group, err in zip(result.groups_report, [max_abs_error(decoded, noisy)]):
        assert err <= group.bound
    with pytest.raises(ValueError, match="merge only within"):
        analyse_group(info, frames, FAST_PAL, palette_near=2)


@pytest.mark.parametrize("near, max_entries", [(0, 700), (0, 600), (1, 300), (2, 40), (3, 12)])
def test_fit_palette_matches_the_slow_reference(near, max_entries):
    rng = np.random.default_rng(7 + near)
    base = rng.integers(0, 256, (48, 3))  # few colours, some close to each other
    frames = []
    for t in range(3):
        pick = base[rng.integers(0, len(base) - 8 * t, (24, 20))]
        noisy = np.clip(pick + rng.integers(-1, 2, pick.shape) * (t > 0), 0, 255)
        frames.append([noisy[..., c].astype(np.uint8) for c in range(3)])
    fit = palettes.fit_palette(frames, (0, 1, 2), max_entries, near)
    expected = naive.fit_palette(frames, (0, 1, 2), max_entries, near)
    if expected is None:
        assert fit is None
        return
    entries, owner = expected
    assert fit is not None and fit.entries.tolist() == [list(e) for e in entries]
    for f in frames:
        colours = np.stack([p.ravel() for p in f], 1).tolist()
        assert fit.indices(f).tolist() == [owner[tuple(c)] for c in colours]


@pytest.mark.parametrize("near", [0, 1])
def test_fit_palette_of_mostly_still_frames_matches_the_slow_reference(near):
    """Frames after the first are counted where they change: colours appear,
    vanish from a frame and come back, and some frames do not change at all."""
    rng = np.random.default_rng(11)
    base = rng.integers(0, 256, (40, 3))
    picture = base[rng.integers(0, 12, (30, 26))]
    frames = []
    for t in range(7):
        if t in (2, 5):  # a still frame
            pass
        elif t == 4:  # the colours of frame 1's patch come back
            picture[3:9, 4:10] = base[rng.integers(12, 20, (6, 6))]
        else:
            y, x = rng.integers(0, 24, 2)
            picture[y:y + 6, x:x + 5] = base[rng.integers(0, 12 + 4 * t, (6, 5))]
        frames.append([picture[..., c].astype(np.uint8).copy() for c in range(3)])
    fit = palettes.fit_palette(frames, (0, 1, 2), 64, near)
    entries, owner = naive.fit_palette(frames, (0, 1, 2), 64, near)
    assert fit is not None and fit.entries.tolist() == [list(e) for e in entries]
    for f in frames:
        colours = np.stack([p.ravel() for p in f], 1).tolist()
        assert fit.indices(f).tolist() == [owner[tuple(c)] for c in colours]
    assert palettes.fit_palette(frames, (0, 1, 2), len(entries) - 1, 0) is None


def test_a_gif_with_thousands_of_colours_is_coded_as_indices(tmp_path):
    """The GIF animation of samples/ has about 3,600 colours in a group: its
    dithered samples are costly one by one, its colours repeat exactly."""
    src = ROOT / "samples" / "rgb_cvjoint_320x240.mkv"
    sizes = {}
    for mode in ("auto", "off"):
        out = tmp_path / f"cvjoint_{mode}.fcv"
        framecodec.encode(src, out, frames=(0, 4), settings=FAST_PAL.replace(palette=mode))
        sizes[mode] = out.stat().st_size
        if mode == "auto":
            entries = [g["dictionary_entries"] for g in report.describe(out)["groups"]]
            assert entries and all(e > 256 for e in entries)
            assert_frames_equal(list(framecodec.decode_frames(out)), read_frames(src, 0, 4)[1])
    assert sizes["auto"] < 0.75 * sizes["off"]


def test_chroma_pairs_keep_the_small_palette_limit():
    info, frames = screen_clip("yuv420p", colours=700, count=2)
    fits = palettes.fit_palettes(info, frames, FAST_PAL, 0)
    assert [fit.planes for fit in fits] == []  # over 32 luma values, over 256 chroma pairs
    info, frames = screen_clip("yuv444p", colours=700, count=2)
    (fit,) = palettes.fit_palettes(info, frames, FAST_PAL, 0)
    assert fit.planes == (0, 1, 2) and len(fit.entries) > 600


def test_escape_bits_counts_colours_no_neighbour_or_previous_frame_has():
    rng = np.random.default_rng(3)
    frames = [[rng.integers(0, 6, (9, 11)).astype(np.uint8) * 40 for _ in range(3)]
              for _ in range(3)]
    frames[2] = [p.copy() for p in frames[1]]  # repeats the previous frame: no escapes
    fit = palettes.fit_palette(frames, (0, 1, 2), 65536, 0)
    bits = (len(fit.entries) - 1).bit_length() - 4
    assert bits >= 2  # dozens of colours
    colour = [np.stack(f, -1).tolist() for f in frames]
    expected = 0
    for t in (0, 1):
        g = colour[t]
        for y in range(9):
            for x in range(11):
                near = [g[y][x - 1] if x else None, g[y - 1][x] if y else None,
                        g[y - 1][x - 1] if x and y else None,
                        g[y - 1][x + 1] if y and x < 10 else None,
                        colour[t - 1][y][x] if t else None]
                expected += g[y][x] not in near
    assert palettes.escape_bits(fit, frames) == expected * bits
    first = palettes.escape_bits(fit, frames[:1])  # stopping after the frame that reaches it
    assert 0 < first < expected * bits and palettes.escape_bits(fit, frames, first) == first


@pytest.mark.parametrize("recent_size, n_entries", [(0, 300), (pk.RECENT_SIZE, 300),
                                                     (pk.RECENT_SIZE, 100)])
def test_index_coding_matches_the_format_document(recent_size, n_entries):
    """Two frames of one slice, intra then inter, sharing models and the recency
    list: the kernel's bytes are those of naive.encode_indices, and decode back."""
    rng = np.random.default_rng(5)
    w, h = 23, 14
    n_bits = (n_entries - 1).bit_length()
    lut = rng.integers(0, pk.N_LEVELS, (pk.N_PATTERNS, pk.N_CAND)).astype(np.int64)
    first = np.sort(rng.integers(0, 40, (h, w)), axis=1).ravel()  # runs of a few colours
    jumps = rng.random(h * w) < 0.1
    first[jumps] = rng.integers(0, n_entries, np.count_nonzero(jumps))  # and any other
    frames = [first, None]
    frames[1] = np.where(rng.random(h * w) < 0.6, frames[0], rng.integers(0, 60, h * w))
    skips = [np.zeros(1, np.uint8), (rng.random(((h + 1) // 2) * ((w + 1) // 2)) < 0.3)
             .astype(np.uint8)]
    probs = rc.new_probs(pk.PALETTE_CONTEXTS)
    recent = np.full(recent_size, -1, np.int32)
    oracle_probs = probs.astype(np.int64)
    oracle_recent = [-1] * recent_size
    cand, avail = np.zeros(pk.N_CAND, np.int64), np.zeros(pk.N_CAND, np.bool_)
    streams, ref = [], np.zeros(h * w, np.int32)
    for t, (src, skip) in enumerate(zip(frames, skips)):
        src = src.astype(np.int32)
        idx = np.zeros(h * w, np.int32)
        data = rc.encode_substream(
            lambda st, buf: pk._code_index_rows(True, src, idx, ref, w, 0, h, t == 1, skip, 0, 0,
                                                1, (w + 1) // 2, lut, n_entries, n_bits, probs,
                                                recent, st, buf, cand, avail),
            64, [probs, recent])
        oracle = naive.NaiveRangeEncoder()
        want = naive.encode_indices(oracle, src, ref, w, 0, h, t == 1, skip, lut, n_bits,
                                    oracle_probs, oracle_recent)
        assert data == oracle.finish() and np.array_equal(idx, want)
        assert recent.tolist() == oracle_recent and np.array_equal(probs, oracle_probs)
        streams.append((data, idx.copy()))
        ref = idx.copy()
    used = probs[[pk.RECENT_FLAG, pk.RECENT_RANK], 0] != rc.PROB_ONE // 2
    assert used.tolist() == [recent_size > 0 and n_entries > pk.RECENT_SIZE] * 2
    # the decoder, from fresh state, gets the same indices back
    probs[:] = rc.new_probs(pk.PALETTE_CONTEXTS)
    recent[:] = -1
    ref = np.zeros(h * w, np.int32)
    for t, ((data, want), skip) in enumerate(zip(streams, skips)):
        dec = rc.RangeDecoder(data, "indices")
        idx = np.zeros(h * w, np.int32)
        pk._code_index_rows(False, np.zeros(1, np.int32), idx, ref, w, 0, h, t == 1, skip, 0, 0,
                            1, (w + 1) // 2, lut, n_entries, n_bits, probs, recent, dec.st,
                            dec.buf, cand, avail)
        dec.check_complete()
        assert np.array_equal(idx, want)
        ref = idx


def test_auto_skips_a_palette_whose_escapes_alone_cost_more(monkeypatch):
    """The message-board screencast (4:4:4) has thousands of anti-aliased colours: they
    fit a palette, but escapes alone would cost more than the plain coding, so auto
    codes it without one and never trains a palette network. The first frame's colours
    already show it: the group's colours are never counted (fit_palette is not called)."""
    from framecodec.encoder import analysis, modelfit

    info, frames = read_frames(framecodec_corpus("screen_gnome-message-board_274x268.mkv"), 0, 10)
    settings = EncodeSettings()  # trained as by default: tiny training codes far larger
    fits = palettes.fit_palettes(info, frames, settings, 0)
    assert [fit.planes for fit in fits] == [(0, 1, 2)] and len(fits[0].entries) > 10000
    planes_of = [f.planes for f in frames]
    first = palettes.first_frame_colours(planes_of, (0, 1, 2))
    assert 0 < palettes.index_bits(first) <= palettes.index_bits(len(fits[0].entries))

    def refuse(*args, **kwargs):
        raise AssertionError("a palette was fitted or trained")

    monkeypatch.setattr(modelfit, "fit_palette_nets", refuse)
    monkeypatch.setattr(palettes, "fit_palette", refuse)
    chosen = analysis.analyse_group(info, frames, settings)
    assert not chosen.dictionary.palettes
    size = len(chosen.trial[1].header_bytes) + sum(len(p) for p in chosen.trial[1].frames)
    escapes = palettes.escape_bits(fits[0], planes_of)
    assert escapes >= 8 * size
    # the bound the skip used: the escapes at the first frame's colour count
    assert palettes.index_bits(first) * palettes.escape_count(planes_of, (0, 1, 2)) >= 8 * size


@pytest.mark.parametrize("seed", range(4))
def test_first_frame_colours_bound_a_lossless_palette(seed):
    """The skip's premise: a lossless palette has at least the first frame's colours."""
    rng = np.random.default_rng(seed)
    frames = [[rng.integers(0, 3 + seed, (7, 9)).astype(np.uint8) * 30 for _ in range(3)]
              for _ in range(4)]
    fit = palettes.fit_palette(frames, (0, 1, 2), 65536, 0)
    first = palettes.first_frame_colours(frames, (0, 1, 2))
    assert first == len({tuple(c) for c in np.stack(frames[0], -1).reshape(-1, 3).tolist()})
    assert first <= len(fit.entries)
