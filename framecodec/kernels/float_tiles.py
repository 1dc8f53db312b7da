# SPDX-License-Identifier: MIT
"""Training's layer sums on explicit float32 vectors, the outputs held in registers.

``training._accumulate`` adds ``w * x`` into an output row once per input,
so every product costs a load and a store of the output besides the
multiply and the add: in a training step of a 12-32-16-8 network, the
forward pass and the input gradients ran at about 8 multiply-adds a
nanosecond, bound by those stores. LLVM cannot keep the outputs in
registers across the inputs itself, since numba's arrays may alias. Here a
tile of ``LANES`` columns of up to eight outputs is loaded once into vector
registers, every input adds its products to it, and it is stored once.

The weight gradients are sums over the batch by halves (``training._dots``),
which went through memory level by level; ``_tree_dots`` evaluates the same
tree depth first with its partial sums in registers.

Each output element still receives ``+ w_k * x_k`` for k = 0, 1, ... in order,
and each tree the same additions of the same values, one IEEE float32
multiply or add at a time (no fused multiply-add: LLVM fuses only when told
to, and these instructions carry no fast-math flags), so the results are
training.py's plain loops' bit for bit (tested against numpy's float32), on
any vector width: a vector operation is its lanes' scalar operations. One
training step of a 12-32-16-8 network (1,024 rows) took 250 instead of 310
ns a row, of a 30-32-32-8 one 580 instead of 910; a lossless encode of the
corpus about a tenth less CPU time, a bound-2 encode a sixth less.
"""

from llvmlite import ir
from numba import config, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._ir import array_data, int64_args, splat
from ._jit import VECTOR_BITS, inline

# columns per tile; the vector type is legal IR on any CPU (LLVM splits it), and the
# numbers do not depend on it
LANES = 16 if VECTOR_BITS >= 512 else 8
# without the JIT (NUMBA_DISABLE_JIT) there is no IR: training keeps its plain loops
TILES = not config.DISABLE_JIT

_F32, _I32, _I64 = ir.FloatType(), ir.IntType(32), ir.IntType(64)
_ROW = ir.VectorType(_F32, LANES)


def _tile_sum(units: int):
    """An intrinsic adding the products of ``units`` outputs over one tile."""

    @intrinsic
    def tile(typingctx, outs, o_at, o_stride, sources, s_at, s_stride, weights, w_at, w_step,
             k_count):
        """outs[o_at + u * o_stride + c] += weights[w_at + u + k * w_step] *
        sources[s_at + k * s_stride + c] for u < units, c < LANES, k < k_count in order
        (flat float32 arrays)."""
        sig = types.void(outs, o_at, o_stride, sources, s_at, s_stride, weights, w_at, w_step,
                         k_count)

        def codegen(context, builder, signature, args):
            arg = signature.args
            (outs_v, o_at, o_stride, sources_v, s_at, s_stride, weights_v, w_at, w_step,
             k_count) = int64_args(context, builder, signature, args)
            o_p = array_data(context, builder, arg[0], outs_v)
            s_p = array_data(context, builder, arg[3], sources_v)
            w_p = array_data(context, builder, arg[6], weights_v)

            def row(base, at):
                return builder.bitcast(builder.gep(base, [at]), _ROW.as_pointer())

            rows, sums = [], []
            for u in range(units):
                at = row(o_p, builder.add(o_at, builder.mul(ir.Constant(_I64, u), o_stride)))
                load = builder.load(at)
                load.align = 4
                slot = cgutils.alloca_once(builder, _ROW)
                builder.store(load, slot)
                rows.append(at)
                sums.append(slot)
            with cgutils.for_range(builder, k_count) as loop:
                k = loop.index
                x = builder.load(row(s_p, builder.add(s_at, builder.mul(k, s_stride))))
                x.align = 4
                first = builder.add(w_at, builder.mul(k, w_step))
                for u in range(units):
                    w = builder.load(builder.gep(w_p, [builder.add(first, ir.Constant(_I64, u))]))
                    w = splat(builder, w, _ROW)
                    builder.store(builder.fadd(builder.load(sums[u]), builder.fmul(w, x)),
                                  sums[u])
            for u in range(units):
                store = builder.store(builder.load(sums[u]), rows[u])
                store.align = 4
            return context.get_dummy_value()

        return sig, codegen

    return tile


_SUM8, _SUM4, _SUM2, _SUM1 = (_tile_sum(u) for u in (8, 4, 2, 1))


@inline
def accumulate_tiles(outs, o0, m, sources, weights, w_at, w_step, k_count, n):
    """outs[o0 + i, c] += sum over k < k_count of weights[w_at + i + k * w_step]
    * sources[k, c] (k in order) for i < m and the columns c < n that fill whole
    tiles; returns how many columns that is (the caller does the rest). ``outs``
    and ``sources``: C-contiguous float32 rows."""
    o_stride = outs.shape[1]
    s_stride = sources.shape[1]
    flat_o = outs.reshape(outs.size)
    flat_s = sources.reshape(sources.size)
    whole = n - n % LANES
    for c0 in range(0, whole, LANES):
        i = 0
        while i + 8 <= m:
            _SUM8(flat_o, (o0 + i) * o_stride + c0, o_stride, flat_s, c0, s_stride, weights,
                  w_at + i, w_step, k_count)
            i += 8
        if i + 4 <= m:
            _SUM4(flat_o, (o0 + i) * o_stride + c0, o_stride, flat_s, c0, s_stride, weights,
                  w_at + i, w_step, k_count)
            i += 4
        if i + 2 <= m:
            _SUM2(flat_o, (o0 + i) * o_stride + c0, o_stride, flat_s, c0, s_stride, weights,
                  w_at + i, w_step, k_count)
            i += 2
        if i < m:
            _SUM1(flat_o, (o0 + i) * o_stride + c0, o_stride, flat_s, c0, s_stride, weights,
                  w_at + i, w_step, k_count)
    return whole


def _tree_dots(units: int, blocks: int):
    """An intrinsic for ``units`` weight gradients over a span of 2 * blocks tiles.

    ``training._dots`` sums ``x[r] * d[r]`` over the span by halves: first
    ``x[r] * d[r] + x[r + half] * d[r + half]``, then ``p[r] += p[r + h]`` for h =
    half / 2 ... 1. Taken tile by tile, the levels with h >= LANES add whole
    tiles and the last ones add lanes of one tile, so the same tree can be
    evaluated depth first in registers: the same additions of the same values.
    """

    @intrinsic
    def dots(typingctx, xs, x_at, x_stride, d, d_at, grad, g_at, g_step):
        """grad[g_at + u * g_step] = the tree sum of xs[x_at + u * x_stride + r]
        * d[d_at + r] over r < 2 * blocks * LANES, for u < units (flat float32)."""
        sig = types.void(xs, x_at, x_stride, d, d_at, grad, g_at, g_step)

        def codegen(context, builder, signature, args):
            arg = signature.args
            xs_v, x_at, x_stride, d_v, d_at, grad_v, g_at, g_step = \
                int64_args(context, builder, signature, args)
            x_p = array_data(context, builder, arg[0], xs_v)
            d_p = array_data(context, builder, arg[3], d_v)
            g_p = array_data(context, builder, arg[5], grad_v)

            def tile(base, at, block):
                at = builder.add(at, ir.Constant(_I64, block * LANES))
                load = builder.load(builder.bitcast(builder.gep(base, [at]), _ROW.as_pointer()))
                load.align = 4
                return load

            starts = [builder.add(x_at, builder.mul(ir.Constant(_I64, u), x_stride))
                      for u in range(units)]

            def node(level, i):
                if level == 0:  # the first level: a product pair half a span apart
                    d0, d1 = tile(d_p, d_at, i), tile(d_p, d_at, i + blocks)
                    return [builder.fadd(builder.fmul(tile(x_p, s, i), d0),
                                         builder.fmul(tile(x_p, s, i + blocks), d1))
                            for s in starts]
                left = node(level - 1, i)
                right = node(level - 1, i + (blocks >> level))
                return [builder.fadd(a, b) for a, b in zip(left, right)]

            sums = node(blocks.bit_length() - 1, 0)
            h = LANES // 2
            while h >= 1:  # the lanes of the last tile, by halves
                mask = ir.Constant(ir.VectorType(_I32, LANES),
                                   [min(r + h, LANES - 1) for r in range(LANES)])
                sums = [builder.fadd(v, builder.shuffle_vector(v, v, mask)) for v in sums]
                h //= 2
            for u, v in enumerate(sums):
                at = builder.add(g_at, builder.mul(ir.Constant(_I64, u), g_step))
                builder.store(builder.extract_element(v, ir.Constant(_I32, 0)),
                              builder.gep(g_p, [at]))
            return context.get_dummy_value()

        return sig, codegen

    return dots


# the spans the tree is built for: 2 * blocks tiles, blocks 4 to 64 (128 to 2048 columns
# at 16 lanes); training's spans are powers of two from 256 (train.MIN_BATCH) to 1024
_T4_4, _T4_8, _T4_16, _T4_32, _T4_64 = (_tree_dots(4, b) for b in (4, 8, 16, 32, 64))
_T1_4, _T1_8, _T1_16, _T1_32, _T1_64 = (_tree_dots(1, b) for b in (4, 8, 16, 32, 64))


@inline
def _dots4(flat_x, x_at, x_stride, d, grad, g_at, g_step, blocks):
    """The 4-unit tree for ``blocks``; False when there is none."""
    if blocks == 4:
        _T4_4(flat_x, x_at, x_stride, d, 0, grad, g_at, g_step)
    elif blocks == 8:
        _T4_8(flat_x, x_at, x_stride, d, 0, grad, g_at, g_step)
    elif blocks == 16:
        _T4_16(flat_x, x_at, x_stride, d, 0, grad, g_at, g_step)
    elif blocks == 32:
        _T4_32(flat_x, x_at, x_stride, d, 0, grad, g_at, g_step)
    elif blocks == 64:
        _T4_64(flat_x, x_at, x_stride, d, 0, grad, g_at, g_step)
    else:
        return False
    return True


@inline
def _dots1(flat_x, x_at, d, grad, g_at, blocks):
    """The 1-unit tree for ``blocks`` (sizes as ``_dots4``)."""
    if blocks == 4:
        _T1_4(flat_x, x_at, 0, d, 0, grad, g_at, 0)
    elif blocks == 8:
        _T1_8(flat_x, x_at, 0, d, 0, grad, g_at, 0)
    elif blocks == 16:
        _T1_16(flat_x, x_at, 0, d, 0, grad, g_at, 0)
    elif blocks == 32:
        _T1_32(flat_x, x_at, 0, d, 0, grad, g_at, 0)
    elif blocks == 64:
        _T1_64(flat_x, x_at, 0, d, 0, grad, g_at, 0)
    else:
        return False
    return True


@inline
def dots_tiles(d, xs, k0, m, span, grad, g_at, g_step):
    """``training._dots`` in registers: grad[g_at + i * g_step] = the tree sum of
    xs[k0 + i, :span] * d[:span] for i < m <= 4; False (nothing done) for a span
    the tree is not built for."""
    blocks = span // (2 * LANES)
    if span != 2 * LANES * blocks or (blocks & (blocks - 1)) != 0:
        return False
    stride = xs.shape[1]
    flat_x = xs.reshape(xs.size)
    if m == 4:
        return _dots4(flat_x, k0 * stride, stride, d, grad, g_at, g_step, blocks)
    for i in range(m):
        if not _dots1(flat_x, (k0 + i) * stride, d, grad, g_at + i * g_step, blocks):
            return False
    return True
