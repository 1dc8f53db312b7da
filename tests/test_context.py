# SPDX-License-Identifier: MIT
"""Contexts and the per-row coding loop against oracles written from FORMAT.md 6.5.

tests/naive.py computes every feature with 2-D planes and named neighbours,
and codes a slice sample by sample in plain Python (network, prediction,
context, residual, binarisation, range coder); the kernels must agree bit
for bit: features, bases, coded bytes, reconstruction and adapted models.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from numba import njit

import naive
from framecodec.format.layout import Layout
from framecodec.format.model import IntNet
from framecodec.frames import VideoInfo
from framecodec.kernels import framecoder as fc
from framecodec.kernels import mixer as mx
from framecodec.kernels import palette as pk
from framecodec.kernels import rangecoder as rc
from framecodec.kernels.context import MAX_ROW_FEATURES, MAX_SEQ, _row_features, _sequential, \
    n_row_features, n_sequential
from framecodec.kernels.symbols import SET_SIZE


@njit
def _all_features(rec, ref, err, geom, p, ys, inter, near, bd, feats, seqs, bases):
    off, w, h = geom[p, 0], geom[p, 1], geom[p, 2]
    row = np.zeros((MAX_ROW_FEATURES, w), np.int32)
    half = np.int64(1) << (bd - 1)
    k = 0
    for y in range(ys, h):
        _row_features(rec, ref, err, geom, p, y, ys, inter, row)
        for x in range(w):
            i = off + y * w + x
            feats[:, k] = row[:, x]
            bases[k], seqs[0, k], seqs[1, k], seqs[2, k] = _sequential(rec, ref, i, x, y, w,
                                                                       ys, half, inter, near)
            k += 1


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p", "yuv410p", "yuv440p", "yuv422p"])
@pytest.mark.parametrize("inter", [False, True])
@pytest.mark.parametrize("near", [0, 2])
@pytest.mark.parametrize("size", [(13, 11), (2, 9), (1, 7)])
def test_features_match_the_oracle(pix_fmt, inter, near, size):
    """Planes one or two samples wide too: each feature row is exactly the plane's
    width here, so a write past it fails when the tests run without the JIT
    (test_layering.py) - the deep fuzzer once found one (NWW of a 1-wide plane)."""
    rng = np.random.default_rng(len(pix_fmt) + 2 * inter + near)
    layout = Layout(VideoInfo(*size, pix_fmt, Fraction(25), Fraction(1, 25)), 2, 1)
    rec = rng.integers(0, 256, layout.size).astype(np.uint16)
    ref = rng.integers(0, 256, layout.size).astype(np.uint16)
    err = rng.integers(-40, 40, layout.size).astype(np.int64)
    planes = [naive.Planes(a, layout.geom) for a in (rec, ref, err)]
    for p in range(layout.n_planes):
        w, h = int(layout.geom[p, 1]), int(layout.geom[p, 2])
        for ys in (0, min(2, h - 1)):
            n = (h - ys) * w
            feats = np.zeros((MAX_ROW_FEATURES, n), np.int32)
            seqs, bases = np.zeros((MAX_SEQ, n), np.int64), np.zeros(n, np.int64)
            _all_features(rec, ref, err, layout.geom, p, ys, inter, near, 8, feats, seqs, bases)
            k = 0
            for y in range(ys, h):
                for x in range(w):
                    want = naive.row_features(*planes, p, x, y, ys, inter)
                    assert len(want) == n_row_features(inter, p)
                    assert feats[:len(want), k].tolist() == want, (p, y, x)
                    base, seq = naive.base_and_sequential(planes[0][p], planes[1][p], x, y, ys,
                                                          128, inter, near)
                    assert len(seq) == n_sequential(inter)
                    assert bases[k] == base and seqs[:len(seq), k].tolist() == seq, (p, y, x)
                    k += 1


def _network(rng, n_in, n_seq, thresholds):
    n_out = 2 + 2 * n_seq
    w3 = rng.integers(-300, 300, (6, n_out))
    w3[:, 0] *= 20  # centres move, scales spread over the contexts
    return IntNet.build(rng.integers(-20, 21, (n_in, 8)), rng.integers(-500, 500, 8), 4,
                        rng.integers(-20, 21, (8, 6)), rng.integers(-500, 500, 6), 6,
                        w3, rng.integers(-200, 200, n_out), rng.integers(2, 9, n_out),
                        thresholds)


@pytest.mark.parametrize("pix_fmt, log2_block", [
    ("gray", 3), ("yuv420p", 3),
    ("yuv410p", 2), ("yuv411p", 2),  # units narrower than a chroma sample (FORMAT.md 5.2)
])
@pytest.mark.parametrize("inter", [False, True])
@pytest.mark.parametrize("near, pull", [(0, 0), (2, 0), (2, 2)])
@pytest.mark.parametrize("levels, fine, mixing", [
    (1, False, False), (4, False, False), (1, True, False), (4, True, False),
    (1, False, True), (4, True, True)])
def test_slice_coding_matches_the_oracle(pix_fmt, log2_block, inter, near, pull, levels, fine,
                                         mixing):
    """One slice coded by the kernel and by the sample-by-sample oracle: same bytes,
    with the activity contexts of format 2.3 (4 levels) and without (1), with the
    eighths and neighbours' signs of 2.6 (``fine``) and without, with the mixing of
    2.7 and without, with the pull of 2.10 (the samples shown apart) and without."""
    rng = np.random.default_rng(7 * inter + near + len(pix_fmt))
    layout = Layout(VideoInfo(19, 14, pix_fmt, Fraction(25), Fraction(1, 25)), log2_block, 1)
    ref = rng.integers(0, 256, layout.size).astype(np.uint16)
    src = np.clip(ref.astype(np.int64) + rng.integers(-6, 7, layout.size), 0, 255)
    src = src.astype(np.uint16)
    skip = (rng.random(layout.nux * layout.nuy) < 0.3).astype(np.uint8) if inter else \
        np.zeros(1, np.uint8)
    nets = [_network(rng, n_row_features(inter, p), n_sequential(inter), [-40, 0, 25, 60])
            for p in range(layout.n_planes)]
    flats = [n.flat for n in nets]
    offsets = np.cumsum([0] + [f.shape[0] for f in flats]).astype(np.int64)
    probs = rc.new_probs((layout.n_planes, fc.SAMPLE_CONTEXTS))
    mx.start_mixers(probs, fc.MIXERS)
    rec = np.zeros(layout.size, np.uint16)
    shown = np.zeros(layout.size, np.uint16) if pull else rec
    err = np.zeros(layout.size, np.int64)
    pal_probs = rc.new_probs((1, pk.PALETTE_CONTEXTS))
    none = np.zeros(1, np.int32)

    def run(st, buf):
        fc._code_slice(True, src, rec, ref, err, layout.geom, layout.n_planes, 0,
                       layout.info.height, inter, skip, layout.log2_unit, layout.nux,
                       np.concatenate(flats), offsets, probs, 8, near, levels, fine, mixing,
                       mx.network_table(near), st, buf,
                       np.full(layout.n_planes, -1, np.int64), np.zeros((1, 10), np.int64),
                       np.zeros(4, np.int64), np.zeros((1, pk.N_PATTERNS, pk.N_CAND), np.int64),
                       none, none.copy(), none.copy(), pal_probs, np.zeros((1, 0), np.int32),
                       pull, shown)

    data = rc.encode_substream(run, 64, [probs, pal_probs])
    oracle = naive.NaiveRangeEncoder()
    oracle_probs = [rc.new_probs(fc.SAMPLE_CONTEXTS).astype(np.int64)
                    for _ in range(layout.n_planes)]
    for models in oracle_probs:  # the mixers' start weights, FORMAT.md 5.3
        models[5184:, 0], models[5184:, 1] = 26214, 39322
    want_shown = naive.Planes(np.zeros(layout.size, np.int64), layout.geom)
    want = naive.encode_slice(oracle, naive.Planes(src, layout.geom),
                              naive.Planes(ref, layout.geom), layout.geom, nets, oracle_probs, 0,
                              layout.info.height, inter, skip, layout.log2_unit, layout.nux, 8,
                              near, levels, fine, mixing, pull, want_shown)
    assert data == oracle.finish()
    assert all(np.array_equal(a, b) for a, b in zip(naive.Planes(rec, layout.geom).planes,
                                                    want.planes))
    assert all(np.array_equal(probs[p], oracle_probs[p]) for p in range(layout.n_planes))
    assert all(np.array_equal(a, b) for a, b in zip(naive.Planes(shown, layout.geom).planes,
                                                    want_shown.planes))
    if near and not inter:  # (the test's skips copy references beyond the bound)
        # every sample shown within the bound, the pulled ones within the pull of it
        assert np.abs(shown.astype(np.int64) - src).max() <= near
        assert np.abs(shown.astype(np.int64) - rec).max() == pull
    if near == 0 and not inter:  # (skipped inter samples copy the reference instead)
        assert np.array_equal(rec, src)
    assert SET_SIZE == 37


def test_mixer_tables_match_the_spec_oracle():
    """squash, stretch and the network table of the kernels (mixer.py) against the
    oracle's, written from FORMAT.md 6.5.6, for every entry."""
    assert [mx.squash(x) for x in range(-2100, 2100)] == \
        [naive.squash(x) for x in range(-2100, 2100)]
    assert mx.STRETCH.tolist() == naive.STRETCH
    for near in (0, 1, 3):
        table = mx.network_table(near)
        for ls in range(mx.LS_MIN - 3, mx.LS_MAX + 4, 7):
            for f in range(16):
                row = mx._network_index(ls, f)
                assert tuple(table[row]) == naive.network_probs(near, ls, f - 8 + 16 * 5)
    # a zero is likelier the nearer the centre lies to the prediction and the narrower
    # the logistic; a negative residual likelier with the centre below the prediction
    zero = mx.network_table(0)[:, mx.ZERO].reshape(mx.LS_SPAN, 16)
    assert zero[0, 8] > zero[100, 8] > zero[200, 8]
    assert zero[60, 8] > zero[60, 0]
    sign = mx.network_table(0)[:, mx.SIGN].reshape(mx.LS_SPAN, 16)
    assert sign[60, 1] > 0 > sign[60, 15]
