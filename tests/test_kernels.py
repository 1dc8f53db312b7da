# SPDX-License-Identifier: MIT
"""Kernels against their slow oracles (tests/naive.py): bit-exact, not approximately."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from numba import config as numba_config, njit

from framecodec.kernels import _jit, blockcost, mlp_pairs, motion, rangecoder as rc, search
from framecodec.kernels.mlp import COEF_FRAC, HEADER, MAX_HIDDEN, _mlp_rows
from framecodec.kernels.symbols import SET_SIZE, _dec_signed, _enc_signed
from framecodec.format.model import N_RECORD_CLASSES, IntNet
from framecodec.errors import CorruptError
from framecodec.format.records import RecordReader, RecordWriter
import naive


def test_jit_options_are_safe():
    assert _jit.JIT_OPTIONS["cache"] is True
    assert _jit.JIT_OPTIONS["fastmath"] is False
    assert "parallel" not in _jit.JIT_OPTIONS


@njit
def _encode_values(values, sign_ctx, max_exp, probs, st, buf):
    rc._enc_init(st)
    for i in range(values.shape[0]):
        _enc_signed(st, buf, probs, (i % 3) * SET_SIZE, values[i], sign_ctx[i], max_exp)
    return rc._enc_flush(st, buf)


@njit
def _decode_values(n, sign_ctx, max_exp, probs, st, buf, out):
    rc._dec_init(st, buf)
    for i in range(n):
        out[i] = _dec_signed(st, buf, probs, (i % 3) * SET_SIZE, sign_ctx[i], max_exp)


@pytest.mark.parametrize("warm_up,rates", [(True, rc.PLAIN), (True, rc.LONG), (False, rc.PLAIN)])
@pytest.mark.parametrize("scale", [0.3, 4.0, 60.0])
def test_range_coder_matches_oracle_and_round_trips(scale, warm_up, rates):
    """Models that warm up (format 2.5) at either rates, and models of earlier files,
    which start warmed."""
    rng = np.random.default_rng(int(scale * 10))
    values = np.clip(np.round(rng.laplace(0, scale, 3000)), -255, 255).astype(np.int64)
    values[::97] = 255  # the largest magnitude: full exponent, truncated unary
    sign_ctx = rng.integers(0, 4, values.size)
    probs = rc.new_probs(3 * SET_SIZE, warm_up, rates)
    st, buf = rc.new_state(), np.zeros(values.size * 4 + 64, np.uint8)
    n = _encode_values(values, sign_ctx, 8, probs, st, buf)
    oracle = naive.NaiveRangeEncoder()
    oracle_probs = rc.new_probs(3 * SET_SIZE, warm_up, rates).astype(np.int64)
    for i, v in enumerate(values):
        oracle.signed(oracle_probs, (i % 3) * SET_SIZE, int(v), int(sign_ctx[i]), 8)
    stored = bytes(buf[1:n])
    assert buf[0] == 0 and stored == oracle.finish()
    assert np.array_equal(probs, oracle_probs)
    out = np.zeros_like(values)
    st = rc.new_state()
    _decode_values(values.size, sign_ctx, 8, rc.new_probs(3 * SET_SIZE, warm_up, rates), st,
                   np.frombuffer(stored, np.uint8).copy(), out)
    assert np.array_equal(out, values)
    assert st[rc.OVERREAD] <= 4  # the flush drops at most 4 trailing zero bytes


@pytest.mark.parametrize("warm_up,rates", [(True, rc.PLAIN), (True, rc.LONG), (False, rc.PLAIN)])
def test_model_probability_stays_within_its_bounds(warm_up, rates):
    """FORMAT.md 6.1: from a fresh model, whatever the bits, the probability stays in
    [71, 65465], the count stops at WARMED and the rates never change."""
    oracle = naive.NaiveRangeEncoder()
    rng = np.random.default_rng(3)
    runs = [np.ones(1500, int), np.zeros(1500, int), rng.integers(0, 2, 600),
            np.r_[np.ones(70, int), np.zeros(1500, int)], np.r_[np.zeros(5, int), np.ones(1500, int)]]
    for bits in runs:
        probs = rc.new_probs(1, warm_up, rates).astype(np.int64)
        low = high = 32768
        for i, bit in enumerate(bits):
            oracle.bit(probs, 0, int(bit))
            p = (probs[0, 0] + probs[0, 1]) >> 1
            low, high = min(low, p), max(high, p)
            assert probs[0, 2] == (min(i + 1, rc.WARMED) if warm_up else rc.WARMED)
            assert probs[0, 3] == rates[0] | rates[1] << 4
        assert 71 <= low and high <= 65465
    assert rc.new_probs(1, True, rc.LONG)[0].tolist() == [32768, 32768, 0, 5 | 9 << 4]
    assert rc._WARM_SHIFT[rc.WARMED] >= max(rc.SLOW_SHIFT, rc.LONG_SLOW_SHIFT)  # warmed


def test_encoder_reports_overflow_instead_of_writing_past_its_buffer():
    values = np.full(500, 200, np.int64)
    st, buf = rc.new_state(), np.zeros(16, np.uint8)
    n = _encode_values(values, np.zeros(500, np.int64), 8, rc.new_probs(3 * SET_SIZE), st, buf)
    assert st[rc.OVERFLOW] == 1 and n == 16


def test_truncated_stream_reads_zeros_and_counts_them():
    rng = np.random.default_rng(1)
    values = rng.integers(-50, 50, 400)
    sign_ctx = np.zeros(400, np.int64)
    st, buf = rc.new_state(), np.zeros(4096, np.uint8)
    n = _encode_values(values, sign_ctx, 8, rc.new_probs(3 * SET_SIZE), st, buf)
    out = np.zeros_like(values)
    st = rc.new_state()
    _decode_values(400, sign_ctx, 8, rc.new_probs(3 * SET_SIZE), st, buf[1: n // 2].copy(), out)
    assert st[rc.OVERREAD] > 4


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 40])
def test_short_streams_flush_to_few_bytes_and_round_trip(count):
    rng = np.random.default_rng(count)
    for _ in range(20):
        values = rng.integers(-3, 4, count)
        sign_ctx = np.zeros(count, np.int64)
        st, buf = rc.new_state(), np.zeros(4096, np.uint8)
        n = _encode_values(values, sign_ctx, 8, rc.new_probs(3 * SET_SIZE), st, buf)
        stored = bytes(buf[1:n])
        assert buf[0] == 0 and len(stored) <= (0 if count == 0 else 1 + count)
        out = np.zeros_like(values)
        dst = rc.new_state()
        _decode_values(count, sign_ctx, 8, rc.new_probs(3 * SET_SIZE), dst,
                       np.frombuffer(stored, np.uint8).copy(), out)
        assert np.array_equal(out, values) and dst[rc.OVERREAD] <= 4


def random_net(rng, n_in=8, h1=12, h2=6):
    w1 = rng.integers(-127, 128, (n_in, h1))
    w2 = rng.integers(-127, 128, (h1, h2)) if h2 else None
    w3 = rng.integers(-32767, 32768, (h2 or h1, 6))
    return IntNet.build(w1, rng.integers(-9999, 9999, h1), 5,
                        w2, rng.integers(-9999, 9999, h2) if h2 else None, 6,
                        w3, rng.integers(-9999, 9999, 6), rng.integers(1, 20, 6), [-20, 3, 40])


@pytest.mark.parametrize("h2", [0, 6])
def test_mlp_kernel_matches_oracles(h2):
    rng = np.random.default_rng(h2)
    net = random_net(rng, h2=h2)
    feats = rng.integers(-1 << 17, 1 << 17, (net.n_in, 57)).astype(np.int32)
    feats[:, :5] = rng.integers(-300, 300, (net.n_in, 5))
    h1 = np.zeros((MAX_HIDDEN, 57), np.int16)
    h2a = np.zeros((MAX_HIDDEN, 57), np.int16)
    out = np.zeros((6, 57), np.int32)
    _mlp_rows(net.flat, feats, 57, h1, h2a, out, np.zeros(57, np.int64), np.zeros((4, 57), np.int32))
    want = naive.mlp_outputs(net.flat, feats.T)
    assert np.array_equal(out.T, want)
    assert np.array_equal(net.outputs(feats.T), want)


# mlp_pairs emits vector instructions: there is no plain-Python version to run without
# the JIT (the coder then keeps mlp.py's kernel, SIMD being False)
compiled_only = pytest.mark.skipif(numba_config.DISABLE_JIT, reason="LLVM intrinsics")


def _pair_network_outputs(kernel, flat, feats, cols=None):
    """Outputs of ``mlp_pairs`` (``kernel``: its ``mlp_rows`` or a recompiled copy) for the
    columns ``cols`` of ``feats`` (every column when None); None when a value does not
    fit 16 bits."""
    n_in, width = feats.shape
    n = width if cols is None else len(cols)
    stride = 2 * (width + mlp_pairs.LANES)
    packed = np.zeros(mlp_pairs.PACKED_WORDS, np.int32)
    mlp_pairs.pack(flat, packed)
    pairs = np.zeros((3, 32 * stride), np.int16)
    pairs[:] = 12345  # stale values beyond a row's end must not matter
    out = np.zeros((8, width + mlp_pairs.LANES), np.int64)
    full = np.zeros((12, width), np.int32)
    full[:n_in] = feats
    index = np.arange(width) if cols is None else np.asarray(cols, np.int64)
    if not mlp_pairs.pack_row(full, index, n, cols is None, n_in, pairs[0], stride,
                              np.zeros((2, width), np.int32)):
        return None
    kernel(packed, pairs[0], n, pairs[1], pairs[2], out, stride)
    return out[:2 + 2 * int(flat[3]), :n].T


@compiled_only
@pytest.mark.parametrize("seed", range(6))
def test_pair_network_matches_oracle(seed):
    """Any shape (odd inputs, units not a multiple of four, one or two hidden layers,
    rows not a multiple of a tile), the largest weights and 16-bit features."""
    rng = np.random.default_rng(seed)
    for _ in range(8):
        n_in = int(rng.integers(1, 13))
        h1 = int(rng.integers(1, 65))
        h2 = int(rng.choice([0, int(rng.integers(1, 65))]))
        n_seq = int(rng.choice([2, 3]))
        extreme = rng.random() < 0.5
        w = (lambda lim, shape: rng.choice([-lim, lim], shape)) if extreme else \
            (lambda lim, shape: rng.integers(-lim, lim + 1, shape))
        n_out = 2 + 2 * n_seq
        net = IntNet.build(w(127, (n_in, h1)), rng.integers(-(1 << 30) + 1, 1 << 30, h1),
                           int(rng.integers(0, 16)),
                           w(127, (h1, h2)) if h2 else None,
                           rng.integers(-(1 << 30) + 1, 1 << 30, h2) if h2 else None,
                           int(rng.integers(0, 16)), w(32767, (h2 or h1, n_out)),
                           rng.integers(-(1 << 30) + 1, 1 << 30, n_out),
                           rng.integers(0, 24, n_out), [-20, 3, 40])
        width = int(rng.integers(1, 90))
        feats = (rng.choice([-32767, 32767], (n_in, width)) if extreme else
                 rng.integers(-32767, 32768, (n_in, width))).astype(np.int32)
        want = naive.mlp_outputs(net.flat, feats.T)
        assert np.array_equal(_pair_network_outputs(mlp_pairs.mlp_rows, net.flat, feats), want)
        cols = np.sort(rng.choice(width, int(rng.integers(1, width + 1)), replace=False))
        assert np.array_equal(_pair_network_outputs(mlp_pairs.mlp_rows, net.flat, feats, cols),
                              want[cols])


@compiled_only
def test_pair_network_portable_code_matches_oracle(monkeypatch):
    """The plain-IR pair products (CPUs without AVX2) give the same integers."""
    monkeypatch.setattr(mlp_pairs, "SIMD", not mlp_pairs.SIMD)
    portable = njit(mlp_pairs.mlp_rows.py_func)  # compiled now, with the other code path
    rng = np.random.default_rng(7)
    net = random_net(rng, n_in=11, h1=13, h2=6)
    feats = rng.integers(-32767, 32768, (11, 37)).astype(np.int32)
    assert np.array_equal(_pair_network_outputs(portable, net.flat, feats),
                          naive.mlp_outputs(net.flat, feats.T))


@compiled_only
@pytest.mark.skipif(_jit.VECTOR_BITS < 512, reason="this machine runs the 256-bit kernel")
def test_pair_network_256_bit_code_matches_oracle(tmp_path):
    """On an AVX-512 machine, the AVX2 kernel other CPUs run is checked too: in a
    process that asks for 256-bit vectors (the width is fixed when kernels load)."""
    env = {**os.environ, _jit.VECTOR_ENV: "256", "NUMBA_CACHE_DIR": str(tmp_path)}
    check = ("from framecodec.kernels import mlp_pairs; "
             "assert mlp_pairs.LANES == 8 and mlp_pairs.SIMD, mlp_pairs.LANES")
    assert subprocess.run([sys.executable, "-c", check], env=env).returncode == 0
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          f"{__file__}::test_pair_network_matches_oracle"],
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:]


@compiled_only
def test_pair_network_refuses_features_beyond_16_bits():
    rng = np.random.default_rng(3)
    net = random_net(rng)
    feats = rng.integers(-300, 300, (net.n_in, 20)).astype(np.int32)
    feats[2, 7] = 1 << 15
    assert _pair_network_outputs(mlp_pairs.mlp_rows, net.flat, feats) is None
    feats[2, 7] = -(1 << 15) + 1
    assert np.array_equal(_pair_network_outputs(mlp_pairs.mlp_rows, net.flat, feats),
                          naive.mlp_outputs(net.flat, feats.T))


def _net_record(net) -> bytes:
    rec = RecordWriter(N_RECORD_CLASSES)
    net.write(rec)
    return rec.getvalue()


def test_network_record_round_trip_and_validation():
    rng = np.random.default_rng(3)
    net = random_net(rng)
    data = _net_record(net)
    rec = RecordReader(data, N_RECORD_CLASSES, "net")
    again = IntNet.read(rec)
    rec.finish()
    assert np.array_equal(again.flat, net.flat)
    feats, seqs = rng.integers(-50, 50, (10, 8)), rng.integers(-50, 50, (10, 2))
    mu, ls = net.predict(feats, seqs)
    for k, out in enumerate(naive.mlp_outputs(net.flat, feats)):  # FORMAT.md 6.5.3
        s = [int(v) for v in seqs[k]]
        assert mu[k] == int(out[0]) + ((int(out[2]) * s[0] + int(out[3]) * s[1]) >> COEF_FRAC)
        assert ls[k] == int(out[1]) + ((int(out[4]) * abs(s[0]) + int(out[5]) * abs(s[1]))
                                       >> COEF_FRAC)
    assert net.buckets(np.array([-21, -20, 2, 3, 39, 40, 10 ** 6])).tolist() == \
        [0, 1, 1, 2, 2, 3, 3]  # thresholds [-20, 3, 40]: a log-scale reaching one counts it
    header = net.flat[:HEADER].copy()
    header[0] = 40  # more inputs than the kernels accept
    wide = RecordWriter(N_RECORD_CLASSES).ints(1, 8, header).getvalue()
    with pytest.raises(CorruptError, match="shape"):
        IntNet.read(RecordReader(wide, N_RECORD_CLASSES, "net"))
    with pytest.raises(CorruptError):  # a record cut short
        IntNet.read(RecordReader(data[: len(data) // 2], N_RECORD_CLASSES, "net"))
    rec = RecordReader(data + b"\x5a" * 8, N_RECORD_CLASSES, "net")
    IntNet.read(rec)
    with pytest.raises(CorruptError):  # bytes after the record
        rec.finish()
    assert COEF_FRAC == 8 and HEADER == 16


def _two_planes(h0, w0, sub):
    """A plane of h0 x w0 samples and one subsampled by ``sub`` (x, y shifts): their
    shapes, sizes and kernel geometry (offset, width, height, shifts)."""
    sx, sy = sub
    shapes = [(h0, w0), (-(-h0 >> sy), -(-w0 >> sx))]
    sizes = [h * w for h, w in shapes]
    geom = np.array([[0, w0, h0, 0, 0, 0], [sizes[0], shapes[1][1], shapes[1][0], sx, sy, 0]],
                    np.int64)
    return shapes, sizes, geom


@pytest.mark.parametrize("maxval", [1023, 65535])
@pytest.mark.parametrize("bi", [False, True])
@pytest.mark.parametrize("sub", [(0, 0), (1, 1), (1, 0), (2, 2)])
def test_motion_compensation_matches_oracle(sub, bi, maxval):
    """Every sample as the oracle interpolates it; with ``bi``, a third of the blocks
    average two predictions from two reference frames, rounding up (format 2.9).
    16-bit pictures of extreme samples reach the largest sums the int32 rows hold."""
    rng = np.random.default_rng(5)
    h0, w0 = 24, 40
    shapes, sizes, geom = _two_planes(h0, w0, sub)
    prevs = (rng.choice([0, maxval], (2, sum(sizes))) if maxval > 1023 else
             rng.integers(0, maxval + 1, (2, sum(sizes)))).astype(np.uint16)
    nbx, nby = -(-w0 // 8), -(-h0 // 8)
    mv = np.zeros((nbx * nby, motion.MV_FIELDS), np.int64)
    mv[:, [motion.MVX, motion.MVY, motion.MVX2, motion.MVY2]] = rng.integers(
        -40, 40, (nbx * nby, 4))
    mv[::2, :2] &= ~7  # every other block moved by whole samples (copied, in every plane)
    mv[:, motion.REF] = rng.integers(0, 2, nbx * nby)
    if bi:
        mv[::3, motion.REF2] = 2 - mv[::3, motion.REF]  # the other frame, + 1
    out = np.zeros_like(prevs[0])
    # in two calls of disjoint block rows, as slices compensate (last rows first)
    motion._compensate(prevs, geom, 2, mv, 3, nbx, maxval, out, 1, nby)
    motion._compensate(prevs, geom, 2, mv, 3, nbx, maxval, out, 0, 1)
    for p, (h, w) in enumerate(shapes):
        got = out[geom[p, 0]:geom[p, 0] + h * w].reshape(h, w)
        lbx, lby = 3 - geom[p, 3], 3 - geom[p, 4]

        def predict(k, x, y, ref, mvx, mvy):
            plane = prevs[ref, geom[p, 0]:geom[p, 0] + h * w].reshape(h, w)
            if p == 0 or sub == (0, 0):
                return naive.h264_qpel(plane, x, y, int(mv[k, mvx]), int(mv[k, mvy]), maxval)
            return naive.bilinear(plane, x, y, int(mv[k, mvx]), int(mv[k, mvy]),
                                  2 + int(geom[p, 3]), 2 + int(geom[p, 4]))

        for y in range(h):
            for x in range(w):
                k = (y >> lby) * nbx + (x >> lbx)
                want = predict(k, x, y, mv[k, motion.REF], motion.MVX, motion.MVY)
                if mv[k, motion.REF2]:
                    second = predict(k, x, y, mv[k, motion.REF2] - 1, motion.MVX2, motion.MVY2)
                    want = (want + second + 1) >> 1
                assert got[y, x] == want, (p, y, x)


def test_bi_prediction_cost_matches_its_sample_by_sample_oracle():
    """The row-sliced cost of an averaged pair of predictions equals the cost computed
    sample by sample through clamped look-ups, inside the picture and at its edges."""
    rng = np.random.default_rng(3)
    w, h = 64, 48
    for trial in range(200):
        pictures = rng.integers(0, 256, (3, h * w)).astype(np.uint16)
        planes = np.zeros((2, 4, h * w), np.uint16)
        for r in range(2):
            search._half_planes(pictures[r], w, h, 255, planes[r])
        x0, y0 = 16 * rng.integers(0, 4), 16 * rng.integers(0, 3)
        ax, ay, bx, by = (int(v) for v in rng.integers(-40, 40, 4))
        smooth = bool(trial % 2)
        got = blockcost._bi_cost(pictures[2], planes[0], planes[1], w, h, x0, y0, 16, ax, ay, bx,
                              by, 1 << 60, smooth)
        want = 0
        for y in range(y0, min(y0 + 16, h)):
            row, left = 0, 0
            for x in range(x0, min(x0 + 16, w)):
                a = naive.h264_qpel(pictures[0].reshape(h, w), x, y, ax, ay, 255)
                b = naive.h264_qpel(pictures[1].reshape(h, w), x, y, bx, by, 255)
                d = int(pictures[2][y * w + x]) - ((a + b + 1) >> 1)
                row += abs(d) + (abs(d - left) if smooth else abs(d))
                left = d
            want += row >> 1
        inside = (min(x0 + (ax >> 2), x0 + (bx >> 2)) >= 3 and max(ax, bx) // 4 + x0 + 20 <= w
                  and min(y0 + (ay >> 2), y0 + (by >> 2)) >= 3
                  and max(ay, by) // 4 + y0 + 20 <= h)
        if inside:  # the oracle clamps taps, the search positions: equal inside only
            assert got == want, (trial, got, want)
        edge = blockcost._edge_bi_cost(pictures[2], planes[0], planes[1], w, h, x0, y0,
                                    min(x0 + 16, w), min(y0 + 16, h), ax, ay, bx, by, 1 << 60,
                                    smooth)
        assert got == edge, trial


def test_half_sample_lookup_matches_interpolation_inside_the_picture():
    rng = np.random.default_rng(11)
    h, w = 12, 16
    prev = rng.integers(0, 1024, h * w).astype(np.uint16)
    planes = np.zeros((4, h * w), np.uint16)
    search._half_planes(prev, w, h, 1023, planes)
    plane = prev.reshape(h, w)
    for yq in range(0, 4 * (h - 1)):
        for xq in range(0, 4 * (w - 1)):
            want = naive.h264_qpel(plane, 0, 0, xq, yq, 1023)
            assert blockcost._qpel_lookup(planes, w, h, xq, yq) == want, (xq, yq)


@pytest.mark.parametrize("maxval", [255, 65535])
def test_half_planes_match_interpolation_everywhere(maxval):
    """Every sample of the four planes, edges and pictures narrower than the filter
    included, equals H.264's interpolation with clamped taps; 16-bit pictures of
    extreme values reach the largest sums the int32 passes hold."""
    rng = np.random.default_rng(5)
    for h, w in [(1, 1), (1, 7), (5, 2), (3, 3), (9, 13), (17, 40)]:
        for extreme in (False, True):
            prev = (rng.choice([0, maxval], h * w) if extreme else
                    rng.integers(0, maxval + 1, h * w)).astype(np.uint16)
            planes = np.zeros((4, h * w), np.uint16)
            search._half_planes(prev, w, h, maxval, planes)
            plane = prev.reshape(h, w)
            for k, (fx, fy) in enumerate([(0, 0), (2, 0), (0, 2), (2, 2)]):
                want = [naive.h264_qpel(plane, x, y, fx, fy, maxval)
                        for y in range(h) for x in range(w)]
                assert planes[k].tolist() == want, (h, w, k)


def test_intra_cost_is_the_median_predictors_residual_sum():
    rng = np.random.default_rng(9)
    for h, w in [(1, 5), (4, 1), (2, 2), (23, 31)]:
        for maxval in (255, 65535):
            cur = rng.integers(0, maxval + 1, h * w).astype(np.uint16)
            p = cur.reshape(h, w).astype(np.int64)
            a, b, c = p[1:, :-1], p[:-1, 1:], p[:-1, :-1]
            med = np.where(c >= np.maximum(a, b), np.minimum(a, b),
                           np.where(c <= np.minimum(a, b), np.maximum(a, b), a + b - c))
            assert search._intra_cost(cur, w, h) == np.abs(p[1:, 1:] - med).sum()


@pytest.mark.parametrize("sub", [(0, 0), (1, 1), (1, 0), (2, 2)])
@pytest.mark.parametrize("log2b", [1, 2, 3])
def test_skip_map_matches_its_definition(sub, log2b):
    """A block skips where every sample of every plane whose plane-0 position's top
    left lies in it is within ``near`` of the reference; chroma columns wider than a
    block (4:1:0, blocks of two samples) belong to the block of their left edge."""
    rng = np.random.default_rng(log2b + 3 * sub[0] + sub[1])
    h0, w0 = 19, 27
    shapes, sizes, geom = _two_planes(h0, w0, sub)
    nbx, nby = -(-w0 >> log2b), -(-h0 >> log2b)
    for near in (0, 2):
        ref = rng.integers(8, 248, sum(sizes))
        src = ref + rng.integers(-near, near + 1, ref.size)
        moved = rng.choice(ref.size, 4, replace=False)  # most blocks still, some not
        src[moved] = ref[moved] + near + 1
        ref, src = ref.astype(np.uint16), src.astype(np.uint16)
        want = np.ones(nbx * nby, np.uint8)
        for p, (h, w) in enumerate(shapes):
            off, _, _, px, py, _ = geom[p]
            for y in range(h):
                for x in range(w):
                    if abs(int(src[off + y * w + x]) - int(ref[off + y * w + x])) > near:
                        want[((y << py) >> log2b) * nbx + ((x << px) >> log2b)] = 0
        got = np.zeros(nbx * nby, np.uint8)
        motion._skip_map(src, ref, geom, 2, log2b, nbx, nby, near, got)
        assert np.array_equal(got, want)
        assert 0 < want.sum() < want.size


def _plain_block_cost(cur, planes, w, h, x0, y0, bs, mvx, mvy, smooth):
    """Half of each row's sum of |d| + |d - d_left| (d_left 0 at the row's start;
    |d| + |d| when not ``smooth``: the SAD) over the looked-up prediction's residuals d."""
    total = 0
    for y in range(y0, min(y0 + bs, h)):
        row, last = 0, 0
        for x in range(x0, min(x0 + bs, w)):
            d = int(cur[y * w + x]) - int(blockcost._qpel_lookup(planes, w, h, 4 * x + mvx,
                                                              4 * y + mvy))
            row += abs(d) + (abs(d - last) if smooth else abs(d))
            last = d
        total += row // 2
    return total


@pytest.mark.parametrize("bs", [8, blockcost.ROW])
@pytest.mark.parametrize("smooth", [True, False])
def test_block_cost_matches_the_plain_sum(smooth, bs):
    """The row-sliced block cost equals the plain sum over the block of the
    looked-up prediction, at every quarter phase, inside the picture and reaching
    out of it, for whole and partial blocks (rows of ``blockcost.ROW`` samples
    take a loop of their own); past ``limit`` it stops above it."""
    rng = np.random.default_rng(12)
    h, w = 21 * bs // 8, 30 * bs // 8
    prev = rng.integers(0, 1024, h * w).astype(np.uint16)
    cur = rng.integers(0, 1024, h * w).astype(np.uint16)
    planes = np.zeros((4, h * w), np.uint16)
    search._half_planes(prev, w, h, 1023, planes)
    for x0, y0 in ((bs, bs), (0, 0), (3 * bs, 2 * bs), (2 * bs, 0)):
        for mvy in range(-13, 14, 3):
            for mvx in range(-14, 15, 2):
                want = _plain_block_cost(cur, planes, w, h, x0, y0, bs, mvx, mvy, smooth)
                got = blockcost._block_cost(cur, planes, w, h, x0, y0, bs, mvx, mvy, 1 << 60,
                                            smooth)
                assert got == want, (x0, y0, mvx, mvy)
                if want > 100:
                    assert blockcost._block_cost(cur, planes, w, h, x0, y0, bs, mvx, mvy, 100,
                                                 smooth) > 100


def test_block_cost_prefers_the_smooth_residual():
    """Of two references leaving the same SAD, the one whose residual is a constant
    offset (a brightness change the network predicts from the neighbours'
    residuals) costs less than the one leaving noise."""
    rng = np.random.default_rng(5)
    h, w = 16, 16
    cur = rng.integers(100, 900, h * w).astype(np.uint16)
    noise = rng.choice([-6, 6], h * w)
    offset = (cur.astype(np.int64) + 6).astype(np.uint16)
    noisy = (cur.astype(np.int64) + noise).astype(np.uint16)
    costs = []
    for ref in (offset, noisy):
        planes = np.zeros((4, h * w), np.uint16)
        search._half_planes(ref, w, h, 1023, planes)
        sad = int(np.abs(cur.astype(np.int64) - ref).sum())
        assert sad == 6 * h * w
        assert blockcost._block_cost(cur, planes, w, h, 0, 0, 16, 0, 0, 1 << 60, False) == sad
        costs.append(blockcost._block_cost(cur, planes, w, h, 0, 0, 16, 0, 0, 1 << 60, True))
    assert costs[0] < costs[1]


@pytest.mark.parametrize("w, h, log2b, radius", [(48, 40, 4, 16), (37, 29, 3, 8), (20, 12, 4, 48)])
def test_coarse_search_matches_the_full_search(w, h, log2b, radius):
    """Padded reference and early exits choose what the plain full search chooses
    (edges, partial blocks and a radius wider than the picture included)."""
    rng = np.random.default_rng(w * h)
    prev = rng.integers(0, 256, (h + 8, w + 8)).astype(np.uint16)
    cur = np.roll(prev, (2, -3), (0, 1))[:h, :w].copy()
    prev = prev[:h, :w].copy()
    nbx, nby = -(-w >> log2b), -(-h >> log2b)
    want = naive.coarse_search(cur.ravel(), prev.ravel(), w, h, log2b, nbx, nby, radius)
    for hints in _coarse_hints(nbx * nby, rng):
        got = np.zeros((nbx * nby, 2), np.int64)
        search._coarse_search(cur.ravel(), prev.ravel(), w, h, log2b, nbx, nby, radius, hints,
                              got, 1)
        assert (got == want).all()


def _coarse_hints(n_blocks, rng):
    """Hint fields for the coarse search: none, random ones (some beyond the radius,
    some not on the coarse grid), and the pan both coarse tests move by."""
    yield np.zeros((n_blocks, motion.MV_FIELDS), np.int64)
    yield rng.integers(-200, 200, (n_blocks, motion.MV_FIELDS))
    yield np.tile(np.array([[12, -8, 0, 0, 0, 0]], np.int64), (n_blocks, 1))


@pytest.mark.parametrize("noise", [0, 1, 3])
def test_coarse_search_of_nearly_still_blocks_matches_the_full_search(noise):
    """Blocks whose still position costs little try only the positions near it whose
    vector costs less: the same choices as trying every one (ties included)."""
    rng = np.random.default_rng(noise)
    w, h, log2b, radius = 64, 48, 4, 32
    prev = (rng.integers(0, 4, (h, w)) * 60).astype(np.uint16)  # flat areas repeat
    cur = prev.copy()
    cur[:16] += rng.integers(0, noise + 1, (16, w)).astype(np.uint16)  # a little change
    cur[32:] = np.roll(prev, 1, 1)[32:]  # a moved band
    nbx, nby = -(-w >> log2b), -(-h >> log2b)
    want = naive.coarse_search(cur.ravel(), prev.ravel(), w, h, log2b, nbx, nby, radius)
    for hints in _coarse_hints(nbx * nby, rng):
        got = np.zeros((nbx * nby, 2), np.int64)
        search._coarse_search(cur.ravel(), prev.ravel(), w, h, log2b, nbx, nby, radius, hints,
                              got, 1)
        assert (got == want).all()


@pytest.mark.parametrize("smooth", [True, False])
def test_motion_estimation_finds_a_pan(smooth):
    rng = np.random.default_rng(7)
    big = rng.integers(0, 256, (80, 100)).astype(np.float64)
    for _ in range(3):  # a smooth texture, as pictures are
        big = (big + np.roll(big, 1, 0) + np.roll(big, 1, 1)) / 3
    big = big.astype(np.uint16)
    prev = big[10:74, 10:90].copy()
    cur = big[13:77, 8:88].copy()  # content moved up 3 and right 2: cur(y,x) = prev(y+3, x-2)
    h, w = cur.shape
    nbx, nby = w // 16, h // 16
    mv = np.zeros((nbx * nby, motion.MV_FIELDS), np.int64)
    planes = np.zeros((1, 4, h * w), np.uint16)
    search._half_planes(prev.ravel(), w, h, 255, planes[0])
    search._estimate(cur.ravel(), planes, np.zeros(1, np.int64), 1, np.ones(1, np.int64), False,
                     w, h, 4, nbx, nby, 8, 4, smooth, 1, 1, mv.copy(), mv, 1)
    inner = mv.reshape(nby, nbx, motion.MV_FIELDS)[1:-1, 1:-1]
    assert (inner[..., 0] == -8).all() and (inner[..., 1] == 12).all()


@pytest.mark.parametrize("first_matches", [False, True])
def test_motion_estimation_takes_an_exact_match_in_an_older_reference(first_matches):
    """A picture alternating with another (a screen recording's blink) matches its
    second reference exactly: every block takes it, still, at the least cost a
    block can have there, although the first reference is searched for a cost no
    higher only. Where the first reference matches too, it wins (it costs less)."""
    rng = np.random.default_rng(11)
    h, w, lam = 48, 64, 3
    shown, other = rng.integers(0, 256, (2, h * w)).astype(np.uint16)
    planes = np.zeros((2, 4, h * w), np.uint16)
    search._half_planes(shown if first_matches else other, w, h, 255, planes[0])  # newest
    search._half_planes(shown, w, h, 255, planes[1])
    nbx, nby = w // 16, h // 16
    mv = np.zeros((nbx * nby, motion.MV_FIELDS), np.int64)
    total = search._estimate(shown, planes, np.arange(2), 2, np.array([1, 2]), False, w, h, 4,
                             nbx, nby, 16, lam, True, 1, 1, mv.copy(), mv, 1)
    ref = 0 if first_matches else 1
    assert (mv[:, :3] == [0, 0, ref]).all()
    assert total == nbx * nby * (lam * 2 * ref + lam * 2 * blockcost._mv_bits(0))


@pytest.mark.parametrize("fractional", [0, 1])
def test_exact_reference_takes_a_fractional_predicted_vector_in_the_nearest_reference(fractional):
    """A half-sample predicted vector that leaves no residual in the nearest
    reference is taken there at the least cost when ``fractional`` (lossless and
    bound 1); not in an older reference, and not when it leaves a residual."""
    rng = np.random.default_rng(5)
    h, w, lam, bs = 32, 48, 3, 16
    prev = rng.integers(0, 256, h * w).astype(np.uint16)
    planes = np.zeros((2, 4, h * w), np.uint16)
    search._half_planes(prev, w, h, 255, planes[0])
    search._half_planes(rng.integers(0, 256, h * w).astype(np.uint16), w, h, 255, planes[1])
    cur = planes[0, 1].copy()  # prev half a sample to the right: vector (2, 0)
    least = lam * 2 * blockcost._mv_bits(0)
    big = np.int64(1) << 62
    for near, order, want in ((0, np.arange(2), 0), (1, np.array([1, 0]), 1)):
        got = search._exact_reference(cur, planes, order, 2, near, fractional, w, h, 16, 16,
                                      bs, 2, 0, 64, lam, True)
        assert got == ((want, least + lam * 2 * want) if fractional else (-1, big))
    # the nearest reference (slot 1, all noise) does not match: not taken anywhere
    got = search._exact_reference(cur, planes, np.array([1, 0]), 2, 0, fractional, w, h, 16,
                                  16, bs, 2, 0, 64, lam, True)
    assert got == (-1, big)
    # a vector that leaves a residual is not taken
    got = search._exact_reference(cur, planes, np.arange(2), 2, 0, fractional, w, h, 16, 16,
                                  bs, 1, 0, 64, lam, True)
    assert got == (-1, big)


@pytest.mark.parametrize("bi", [False, True])
@pytest.mark.parametrize("size", [(1, 1), (3, 2), (5, 4)])
def test_motion_substream_round_trips_unit_skips(size, bi):
    """Vectors, references and per-unit skips (odd unit grids included) come back;
    in a two-sided group (``bi``) second references and vectors too, the decoder's
    earlier field (which the decoder reuses) not leaking into blocks without them."""
    from framecodec.kernels import framecoder as fc
    nbx, nby = size
    rng = np.random.default_rng(nbx * 10 + nby)
    for nux, nuy in ((2 * nbx, 2 * nby), (2 * nbx - 1, 2 * nby - 1)):
        for n_refs in (1, 2, 3):
            mv = np.zeros((nbx * nby, motion.MV_FIELDS), np.int64)
            mv[:, [0, 1, 3, 4]] = rng.integers(-40, 41, (nbx * nby, 4))
            mv[:, motion.REF] = rng.integers(0, n_refs, nbx * nby)
            if bi and n_refs > 1:
                second = (mv[:, motion.REF] + rng.integers(1, n_refs, nbx * nby)) % n_refs
                mv[:, motion.REF2] = np.where(rng.random(nbx * nby) < 0.5, second + 1, 0)
            mv[mv[:, motion.REF2] == 0, 3:] = 0
            skip = (rng.random(nux * nuy) < rng.random()).astype(np.uint8)
            probs = rc.new_probs(fc.MOTION_CONTEXTS)
            data = rc.encode_substream(lambda st, buf: fc._code_motion(
                True, mv, skip, nbx, nby, nux, nuy, n_refs, bi, probs, st, buf), 16, [probs])
            got_mv = rng.integers(-9, 9, mv.shape)  # what the previous frame left
            got_skip = np.zeros_like(skip)
            coder = rc.RangeDecoder(data, "motion")
            fc._code_motion(False, got_mv, got_skip, nbx, nby, nux, nuy, n_refs, bi,
                            rc.new_probs(fc.MOTION_CONTEXTS), coder.st, coder.buf)
            assert np.array_equal(got_mv, mv) and np.array_equal(got_skip, skip)
            coder.check_complete(used_up=True)


def test_integer_network_products_are_exact_in_either_arithmetic():
    """IntNet's products go through float64 only where every sum stays below 2**53."""
    from framecodec.format.model import _int_matmul
    rng = np.random.default_rng(3)
    for peak in (2 ** 17, 2 ** 40):  # the float64 path, then the int64 one
        a = rng.integers(-peak, peak, (200, 12), dtype=np.int64)
        b = rng.integers(-32767, 32767, (12, 16), dtype=np.int64)
        a[0, :] = peak - 1
        b[:, 0] = 32766  # a full-size sum
        got = _int_matmul(a, b)
        assert got.dtype == np.int64 and np.array_equal(got, a @ b)
