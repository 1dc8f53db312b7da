# SPDX-License-Identifier: MIT
"""The group's network on 16-bit rows, two inputs per 32-bit lane (x86 ``pmaddwd``).

Same integers as mlp.py's ``_mlp_rows`` (its oracle in the tests), 2-3x faster:
that kernel multiplies in 32-bit lanes, one product per lane, and the multiply
port is its bound. Here a row's inputs are *pair-interleaved* 16-bit samples,
row ``i2`` holding inputs 2*i2 and 2*i2 + 1 side by side for every column
(``xp[i2 * stride + 2c + b]``), and each weight pair is one 32-bit word, so a
single ``pmaddwd`` (``vpdpwssd`` with VNNI) forms two products per lane and
adds them: x[2i2] * w[2i2] + x[2i2+1] * w[2i2+1] for eight columns at once.

Exactness: hidden weights are 8-bit and output weights 16-bit, inputs 16-bit
(hidden units are at most HIDDEN_MAX, row features are checked to fit when
they are packed, ``pack_row``); a pair's sum fits int32 (at most
2 * 32767 * 32767 < 2**31 for the output layer, whose inputs are non-negative),
hidden sums are the same int32 sums as mlp.py's, and output sums are widened
to int64 per pair. So every result equals ``_mlp_rows``'s.

A kernel works on tiles of ``LANES`` columns: sixteen with AVX-512BW
(``vpmaddwd``/``vpdpwssd`` on 512 bits), eight with AVX2 (_jit.VECTOR_BITS).
Buffers hold ``LANES`` spare columns, since the last tile of a row reads and
writes past the row's end (values nothing uses). Without AVX2 (other CPUs,
NUMBA_CPU_NAME set, or numba's JIT disabled) ``SIMD`` is False and the coder
keeps ``_mlp_rows``.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._ir import array_data, int64_args, splat
from ._jit import VECTOR_BITS, inline, kernel
from .context import MAX_ROW_FEATURES
from .mlp import HEADER, HIDDEN_MAX, MAX_HIDDEN, MAX_OUT

SIMD = VECTOR_BITS >= 256
# columns per tile: one 32-bit lane each, two 16-bit inputs per lane
LANES = 16 if VECTOR_BITS >= 512 else 8
UNITS = 8  # hidden units per tile (each input load serves them all)
INT16_MAX = (1 << 15) - 1
_PMADD = "llvm.x86.avx512.pmaddw.d.512" if LANES == 16 else "llvm.x86.avx2.pmadd.wd"

_I16, _I32, _I64 = ir.IntType(16), ir.IntType(32), ir.IntType(64)
_PAIRS = ir.VectorType(_I16, 2 * LANES)  # a pair of 16-bit inputs per column of a tile
_SUMS = ir.VectorType(_I32, LANES)
_WIDE = ir.VectorType(_I64, LANES)
_UNITS16 = ir.VectorType(_I16, LANES)
_REPEAT_PAIR = ir.Constant(ir.VectorType(_I32, 2 * LANES), [k & 1 for k in range(2 * LANES)])
_ZIP = ir.Constant(ir.VectorType(_I32, 2 * LANES), [(k >> 1) + LANES * (k & 1)
                                                    for k in range(2 * LANES)])
_EVEN = ir.Constant(ir.VectorType(_I32, LANES), [2 * k for k in range(LANES)])
_ODD = ir.Constant(ir.VectorType(_I32, LANES), [2 * k + 1 for k in range(LANES)])


def _i64(value):
    return ir.Constant(_I64, value)


def _pair_products(builder, x, w):
    """Per lane k: x[2k] * w[2k] + x[2k+1] * w[2k+1] in int32."""
    if SIMD:
        fn = builder.module.globals.get(_PMADD)
        if fn is None:
            fn = ir.Function(builder.module, ir.FunctionType(_SUMS, [_PAIRS, _PAIRS]), _PMADD)
        return builder.call(fn, [x, w])
    # the same sums in plain IR (never reached by the coder without SIMD; kept valid)
    parts = [builder.sext(builder.shuffle_vector(v, v, m), _SUMS)
             for v in (x, w) for m in (_EVEN, _ODD)]
    return builder.add(builder.mul(parts[0], parts[2]), builder.mul(parts[1], parts[3]))


def _weight_pair(builder, words, at):
    """The 32-bit word ``words[at]`` (two 16-bit weights) repeated over the lanes."""
    pair = builder.bitcast(builder.load(builder.gep(words, [at])), ir.VectorType(_I16, 2))
    return builder.shuffle_vector(pair, pair, _REPEAT_PAIR)


def _load_pairs(builder, data, at):
    load = builder.load(builder.bitcast(builder.gep(data, [at]), _PAIRS.as_pointer()))
    load.align = 2
    return load


@intrinsic
def _hidden_tile(typingctx, xp, x_at, x_stride, n2, words, w_at, b_at, j0, shift, y, y_at,
                 y_stride):
    """Units j0 .. j0 + UNITS - 1 (j0 a multiple of UNITS) of one tile: their weights are
    ``words[w_at + u * n2 + i2]``, biases ``words[b_at + u]``, outputs
    clamp((sum + bias) >> shift, 0, HIDDEN_MAX) stored pair-interleaved in
    ``y`` rows j0 / 2 .. (j0 + UNITS) / 2 - 1 at ``y_at``."""
    sig = types.void(xp, x_at, x_stride, n2, words, w_at, b_at, j0, shift, y, y_at, y_stride)

    def codegen(context, builder, signature, args):
        xp_v, x_at, x_stride, n2, words_v, w_at, b_at, j0, shift, y_v, y_at, y_stride = \
            int64_args(context, builder, signature, args)
        arg = signature.args
        xp_p = array_data(context, builder, arg[0], xp_v)
        words_p = array_data(context, builder, arg[4], words_v)
        y_p = array_data(context, builder, arg[9], y_v)
        sums = []
        for u in range(UNITS):
            slot = cgutils.alloca_once(builder, _SUMS)
            b = builder.load(builder.gep(words_p, [builder.add(b_at, _i64(u))]))
            builder.store(splat(builder, b, _SUMS), slot)
            sums.append(slot)
        with cgutils.for_range(builder, n2) as loop:
            i2 = loop.index
            x = _load_pairs(builder, xp_p, builder.add(x_at, builder.mul(i2, x_stride)))
            for u in range(UNITS):
                w = _weight_pair(builder, words_p,
                                 builder.add(builder.add(w_at, builder.mul(_i64(u), n2)), i2))
                builder.store(builder.add(builder.load(sums[u]), _pair_products(builder, x, w)),
                              sums[u])
        bits = splat(builder, builder.trunc(shift, _I32), _SUMS)
        low = ir.Constant(_SUMS, [0] * LANES)
        high = ir.Constant(_SUMS, [HIDDEN_MAX] * LANES)
        units = []
        for u in range(UNITS):
            v = builder.ashr(builder.load(sums[u]), bits)
            v = builder.select(builder.icmp_signed("<", v, low), low, v)
            v = builder.select(builder.icmp_signed(">", v, high), high, v)
            units.append(builder.trunc(v, _UNITS16))
        for half in range(UNITS // 2):
            row = builder.add(builder.ashr(j0, _i64(1)), _i64(half))
            at = builder.add(y_at, builder.mul(row, y_stride))
            pairs = builder.shuffle_vector(units[2 * half], units[2 * half + 1], _ZIP)
            store = builder.store(pairs, builder.bitcast(builder.gep(y_p, [at]),
                                                         _PAIRS.as_pointer()))
            store.align = 2
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _output_tile(typingctx, xp, x_at, x_stride, n2, words, w_at, bias, shift, out, o_at):
    """One output of one tile: (sum + bias) >> shift in int64, each pair's int32
    sum widened before it is added; stored at ``out[o_at:o_at + LANES]``."""
    sig = types.void(xp, x_at, x_stride, n2, words, w_at, bias, shift, out, o_at)

    def codegen(context, builder, signature, args):
        xp_v, x_at, x_stride, n2, words_v, w_at, bias, shift, out_v, o_at = \
            int64_args(context, builder, signature, args)
        arg = signature.args
        xp_p = array_data(context, builder, arg[0], xp_v)
        words_p = array_data(context, builder, arg[4], words_v)
        out_p = array_data(context, builder, arg[8], out_v)
        total = cgutils.alloca_once(builder, _WIDE)
        builder.store(splat(builder, bias, _WIDE), total)
        with cgutils.for_range(builder, n2) as loop:
            i2 = loop.index
            x = _load_pairs(builder, xp_p, builder.add(x_at, builder.mul(i2, x_stride)))
            w = _weight_pair(builder, words_p, builder.add(w_at, i2))
            wide = builder.sext(_pair_products(builder, x, w), _WIDE)
            builder.store(builder.add(builder.load(total), wide), total)
        bits = splat(builder, shift, _WIDE)
        store = builder.store(builder.ashr(builder.load(total), bits),
                              builder.bitcast(builder.gep(out_p, [o_at]), _WIDE.as_pointer()))
        store.align = 8
        return context.get_dummy_value()

    return sig, codegen


# The packed network: int32 words, a header then the layers.
#   [0] n2 of the input layer (input pairs)  [1] n_h1 rounded up to UNITS  [2] n_h2
#   rounded up to UNITS (0: one hidden layer)  [3] n_out  [4] s1  [5] s2
#   [6] words of W1 at  [7] B1 at  [8] W2 at  [9] B2 at  [10] W3 at  [11] B3 at
#   [12 .. 12 + MAX_OUT) output shifts
# A hidden layer's words are [unit][input pair], its biases one per (padded) unit;
# the output layer's words [output][input pair]. Padded units and inputs weigh 0.
PACK_HEADER = 12 + MAX_OUT


# words of the largest packed network (MAX_HIDDEN is a multiple of UNITS)
PACKED_WORDS = (PACK_HEADER + MAX_HIDDEN * ((MAX_ROW_FEATURES + 1) // 2 + 1)
                + MAX_HIDDEN * (MAX_HIDDEN // 2 + 1) + MAX_OUT * (MAX_HIDDEN // 2 + 1))


@inline
def _pack_layer(net, pos, n_in, n2, n_out, n_out_padded, packed, at, slot):
    """A layer's weights W[i][j] (net[pos + i * n_out + j]) as words [j][i2], i2 < n2,
    of two 16-bit halves (inputs from n_in and units from n_out weigh 0), then its
    biases; their offsets go to ``packed[slot]`` and ``packed[slot + 1]``. Returns
    where the next layer goes in ``packed`` and in ``net``."""
    packed[slot] = at
    for j in range(n_out_padded):
        for i2 in range(n2):
            lo = np.int64(0)
            hi = np.int64(0)
            if j < n_out:
                if 2 * i2 < n_in:
                    lo = np.int64(net[pos + 2 * i2 * n_out + j])
                if 2 * i2 + 1 < n_in:
                    hi = np.int64(net[pos + (2 * i2 + 1) * n_out + j])
            word = (lo & 0xFFFF) | ((hi & 0xFFFF) << 16)
            packed[at + j * n2 + i2] = np.int32(word - (1 << 32) if word >= (1 << 31) else word)
    at += n_out_padded * n2
    pos += n_in * n_out
    packed[slot + 1] = at
    for j in range(n_out_padded):
        packed[at + j] = net[pos + j] if j < n_out else 0
    return at + n_out_padded, pos + n_out


@kernel
def pack(net, packed):
    """``packed`` (PACKED_WORDS) from the flat network of mlp.py (its layout above)."""
    n_in = net[0]
    n_h1 = net[1]
    n_h2 = net[2]
    n_out = 2 + 2 * net[3]
    h1p = (n_h1 + UNITS - 1) // UNITS * UNITS
    h2p = (n_h2 + UNITS - 1) // UNITS * UNITS
    packed[0] = (n_in + 1) >> 1
    packed[1] = h1p
    packed[2] = h2p
    packed[3] = n_out
    packed[4] = net[4]
    packed[5] = net[5]
    for k in range(MAX_OUT):
        packed[12 + k] = net[8 + k] if k < n_out else 0
    at, pos = _pack_layer(net, HEADER, n_in, (n_in + 1) >> 1, n_h1, h1p, packed, PACK_HEADER, 6)
    last, last_p = n_h1, h1p
    if n_h2 > 0:
        at, pos = _pack_layer(net, pos, n_h1, h1p >> 1, n_h2, h2p, packed, at, 8)
        last, last_p = n_h2, h2p
    # the output layer reads the padded units (their weights 0); outputs are not padded
    _pack_layer(net, pos, last, last_p >> 1, n_out, n_out, packed, at, 10)


@inline
def _interleave(a, b, n, dst):
    """dst[2k], dst[2k + 1] = a[k], b[k]; returns the largest |value|."""
    top = np.int32(0)
    for k in range(n):
        u = a[k]
        v = b[k]
        top = max(top, max(abs(u), abs(v)))
        dst[2 * k] = u
        dst[2 * k + 1] = v
    return top


@kernel
def pack_row(full, cols, n, dense, n_in, xp, stride, gathered):
    """Row features (int32 rows of ``full``; columns ``cols[:n]``, or the first n
    when ``dense``) into pair-interleaved 16-bit rows; False when a value does
    not fit 16 bits (the caller then takes ``_mlp_rows``). ``gathered``: int32
    scratch of two rows."""
    top = np.int32(0)
    for i2 in range((n_in + 1) >> 1):
        f = 2 * i2
        a = full[f]
        b = full[f + 1] if f + 1 < n_in else gathered[1]
        if f + 1 >= n_in:
            gathered[1, :n] = 0
        if not dense:
            ga = gathered[0]
            for k in range(n):
                ga[k] = a[cols[k]]
            a = ga
            if f + 1 < n_in:
                gb = gathered[1]
                for k in range(n):
                    gb[k] = b[cols[k]]
                b = gb
        top = max(top, _interleave(a, b, n, xp[i2 * stride:i2 * stride + 2 * n]))
    return top <= INT16_MAX


@kernel
def mlp_rows(packed, xp, n, h1, h2, out, stride):
    """Network outputs of the first n columns into ``out[:n_out, :n]`` (int64):
    ``_mlp_rows``'s values. ``xp``, ``h1``, ``h2``: pair-interleaved 16-bit rows
    of ``stride`` entries (inputs, first and second hidden layer); ``out`` rows
    have at least n + LANES columns."""
    n2 = np.int64(packed[0])
    h1p = np.int64(packed[1])
    h2p = np.int64(packed[2])
    n_out = np.int64(packed[3])
    o_stride = out.shape[1]
    flat_out = out.reshape(out.size)
    for c0 in range(0, n, LANES):
        at = 2 * c0
        for j0 in range(0, h1p, UNITS):
            _hidden_tile(xp, at, stride, n2, packed, packed[6] + j0 * n2, packed[7] + j0, j0,
                         packed[4], h1, at, stride)
        last, last_n2 = h1, h1p >> 1
        if h2p > 0:
            for j0 in range(0, h2p, UNITS):
                _hidden_tile(h1, at, stride, last_n2, packed, packed[8] + j0 * last_n2,
                             packed[9] + j0, j0, packed[5], h2, at, stride)
            last, last_n2 = h2, h2p >> 1
        for k in range(n_out):
            _output_tile(last, at, stride, last_n2, packed, packed[10] + k * last_n2,
                         packed[packed[11] + k], packed[12 + k], flat_out, k * o_stride + c0)
