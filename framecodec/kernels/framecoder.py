# SPDX-License-Identifier: MIT
"""The sequential coding loops: one function for both directions.

``encode`` selects the direction; everything else (contexts, prediction,
coding contexts, reconstruction) is the same code, so the encoder cannot
drift from the decoder. Per sample, in raster order within a slice:

    row features (context.py) -> integer MLP on the row (mlp.py) -> per sample:
    mu = mu0 + coefficients . sequential features; pred = clamp(base + round(mu))
    coding context q = bucket(log-scale) refined by the activity level of the
    neighbours' coded residuals |v_W| + |v_N| (from format 2.3);
    sign context = fractional part of mu
    residual v: lossless  v = (x - pred) wrapped to [-2**(bd-1), 2**(bd-1))
                near N    v = JPEG-LS quantised (x - pred) with step 2N+1
    rec = pred + v (mod 2**bd) or clamp(pred + v * (2N+1))

Samples of units (quarter blocks) flagged *skip* are copied from the
reference, uncoded; ``skip`` is indexed on the unit grid (``log2u``, ``nux``),
which a sample of a subsampled plane reaches through its plane-0 position
``(x << sx) >> log2u`` (never a negative shift: 4:1:0 chroma with 4-sample
blocks has units narrower than one chroma sample).
"""

import numpy as np

from ._jit import allocating, inline, kernel
from .context import MAX_ROW_FEATURES, _row_features, _sequential_after
from .mlp import COEF_FRAC, MAX_BUCKETS, MAX_HIDDEN, MAX_LUT, MAX_OUT, MU_FRAC, _bucket_fast, \
    _bucket_table, _mlp_rows
from .mlp_pairs import LANES, PACKED_WORDS, SIMD, mlp_rows, pack, pack_row
from .motion import MAX_REFS, MV_MAX, MVX, MVX2, REF, REF2, _predict_mv
from .palette import N_CAND, _code_index_rows, _palette_fill
from .rangecoder import CODE, DPOS, DRANGE, _dec_bit, _dec_store, _enc_bit
from .mixer import SIGN, ZERO, _network_index
from .symbols import SET_SIZE, _dec_signed, _dec_value_local, _dec_value_mixed_local, \
    _enc_signed, _enc_value, _enc_value_mixed

QUARTERS = 4  # where the centre lies within its sample: the sign context
# How far the neighbours W and N missed (|v_W| + |v_N|) splits each bucket in
# ACTIVITY_LEVELS (format 2.3 on; one level before): 0, 1-2, 3-7, 8 and more.
# The network's log-scale says how wide residuals are *expected* to be; the
# coded neighbours say how wide they are here, in this frame (0.8 % smaller
# lossless and bound-2 totals on the development corpus).
ACTIVITY_LEVELS = 4
CODING_CONTEXTS = MAX_BUCKETS * ACTIVITY_LEVELS  # context sets of a plane
# Format 2.6, groups of several frames: the lossless zero flag sees where the
# centre lies in eighths of its sample instead of quarters, and the sign the
# signs of the neighbours' residuals v_W and v_N (3 x 3 NEIGHBOUR_SIGNS): a
# network evaluated a row at a time cannot see W's miss, and misses lean the
# same way where the prediction is locally off (development corpus: lossless
# -0.54 %, bound 1 -0.68 %).
EIGHTHS = 8
NEIGHBOUR_SIGNS = 9
ZERO_CONTEXTS = CODING_CONTEXTS * SET_SIZE  # lossless zero flags by context and fraction
SIGN_CONTEXTS = ZERO_CONTEXTS + CODING_CONTEXTS * EIGHTHS  # 2.6 signs
# Format 2.7: the zero flag and the sign are each coded with their model mixed
# with the network's own probability (mixer.py), by a mixer per context set and
# decision whose two weights sit in a model's two estimates.
MIXERS = SIGN_CONTEXTS + CODING_CONTEXTS * QUARTERS * NEIGHBOUR_SIGNS
SAMPLE_CONTEXTS = MIXERS + CODING_CONTEXTS * 2
SKIP_CONTEXTS = 2 * SET_SIZE
REF_CONTEXTS = SKIP_CONTEXTS + 3
PARTIAL_CONTEXTS = REF_CONTEXTS + 3 * (MAX_REFS - 1)
UNIT_CONTEXTS = PARTIAL_CONTEXTS + 3
# Format 2.9, two-sided groups: whether a block is bi-predicted (by the left and
# upper blocks'), its second reference (truncated unary over the references but
# its first, one model per level) and its second vector's two context sets.
BI_CONTEXTS = UNIT_CONTEXTS + 8
REF2_CONTEXTS = BI_CONTEXTS + 3
MV2_SETS = REF2_CONTEXTS + MAX_REFS - 2
MOTION_CONTEXTS = MV2_SETS + 2 * SET_SIZE
MV_MAX_EXP = 14


@inline
def _prediction(outs, k, n_seq, s0, s1, s2):
    """(mu, ls) of column k: the network's centre and log-scale plus its
    coefficients times the sequential features (1/16 units, exact). Outputs are
    mu0, ls0, then a centre coefficient and a scale coefficient per feature;
    features beyond ``n_seq`` are 0 (MAX_SEQ = 3)."""
    b = 2 + n_seq
    dmu = outs[2, k] * s0 + outs[3, k] * s1
    dls = outs[b, k] * abs(s0) + outs[b + 1, k] * abs(s1)
    if n_seq > 2:
        dmu += outs[4, k] * s2
        dls += outs[b + 2, k] * abs(s2)
    return outs[0, k] + (dmu >> COEF_FRAC), outs[1, k] + (dls >> COEF_FRAC)


@inline
def _sign3(v):
    """0, 1 or 2 for v < 0, v == 0, v > 0."""
    return np.int64(v > 0) - np.int64(v < 0) + 1


@inline
def _activity_level(a):
    """Level of the neighbours' activity ``a`` = |v_W| + |v_N|: 0 | 1-2 | 3-7 | 8+.
    Without branches: the level is as unpredictable as the data."""
    return np.int64(a > 0) + np.int64(a > 2) + np.int64(a > 7)


def _plane_rows_kernel(encode):
    """The sample loop of one direction: ``encode`` is a constant of the compiled
    kernel (a closure variable), so LLVM drops the other direction's branches and
    variables from the loop (the bikes clip decodes 2 to 3 % faster than with
    one kernel taking ``encode`` as an argument). Encoding and decoding still run
    this same code (module docstring)."""

    @kernel
    def code_plane_rows(src, rec, ref, err, geom, p, ys, ye, inter, skip, log2u, nux, net,
                        probs, bd, near, levels, fine, mixing, net_probs, st, buf, full, feats,
                        h1, h2, outs, acc, acc32, cols, lut, packed, pairs, stride, above,
                        pull, out):
        """Rows [ys, ye) of plane p. ``levels``: activity levels (1: files before
        2.3); ``fine``: zero flags by eighths and signs by the neighbours' signs (2.6
        on, in groups of several frames); ``mixing``: zero flags and signs mixed with
        the network's probabilities ``net_probs`` (2.7 on: mixer.network_table of the
        bound); ``above``: scratch of the plane's width, v of the row above (0:
        skipped, or above the slice). ``pull`` (2.10 on, with a bound): ``rec`` keeps a
        sample coded with v != 0 pulled that far towards its prediction, the value the
        group predicts from, and ``out`` (another array) the bin's centre, the sample
        shown; 0: ``out`` is not written."""
        off = geom[p, 0]
        w = geom[p, 1]
        sx = geom[p, 3]
        sy = geom[p, 4]
        maxval = (np.int64(1) << bd) - 1
        half = np.int64(1) << (bd - 1)
        qstep = 2 * near + 1
        max_exp = bd - 1
        n_seq = net[3]
        one = np.int64(1) << MU_FRAC
        half_one = one >> 1
        lo, span = _bucket_table(net, lut)
        if SIMD:
            pack(net, packed)
        xp = pairs[0]
        p1 = pairs[1]
        p2 = pairs[2]
        code, rng, pos = st[CODE], st[DRANGE], st[DPOS]  # the decoder's state, in registers
        for x in range(w):
            above[x] = 0
        fraction = EIGHTHS if fine else QUARTERS
        # the network's stretched probabilities and the mixers (2.7)
        xz = xs = zero_mixer = sign_mixer = np.int64(0)
        for y in range(ys, ye):
            left = np.int64(0)  # v of W
            west = west2 = np.int64(0)  # the reconstructions of W and WW, kept in registers
            brow = ((y << sy) >> log2u) * nux  # the unit grid, through plane 0 (FORMAT.md 5.2)
            row = off + y * w
            n = 0
            for x in range(w):
                if not (inter and skip[brow + ((x << sx) >> log2u)]):
                    cols[n] = x
                    n += 1
            if n:
                _row_features(rec, ref, err, geom, p, y, ys, inter, full)
                if SIMD and pack_row(full, cols, n, n == w, net[0], xp, stride, acc32):
                    mlp_rows(packed, xp, n, p1, p2, outs, stride)
                elif n == w:
                    _mlp_rows(net, full, n, h1, h2, outs, acc, acc32)
                else:  # the coded columns only
                    for f in range(net[0]):
                        for k in range(n):
                            feats[f, k] = full[f, cols[k]]
                    _mlp_rows(net, feats, n, h1, h2, outs, acc, acc32)
            k = 0
            for x in range(w):
                i = row + x
                if inter and skip[brow + ((x << sx) >> log2u)]:
                    west2 = west
                    west = np.int64(ref[i])
                    rec[i] = west
                    if pull:
                        out[i] = west
                    err[i] = 0
                    above[x] = 0
                    left = 0
                    continue
                base, s0, s1, s2 = _sequential_after(rec, ref, i, x, y, w, ys, half, inter, near,
                                                     west, west2)
                mu, ls = _prediction(outs, k, n_seq, s0, s1, s2)
                k += 1
                pred = base + ((mu + half_one) >> MU_FRAC)
                pred = 0 if pred < 0 else (maxval if pred > maxval else pred)
                fraction16 = (mu + half_one) & (one - 1)  # where the centre lies in its sample
                sign_ctx = fraction16 >> (MU_FRAC - 2)
                cset = _bucket_fast(net, ls, lut, lo, span)
                if levels > 1:
                    cset = cset * levels + _activity_level(abs(left) + abs(above[x]))
                cbase = cset * SET_SIZE
                # lossless: whether v is 0 depends on where the centre lies in its
                # sample; quantised residuals do not see it
                zero_ctx = cbase
                sign_model = cbase + 1 + sign_ctx
                if near == 0:
                    zero_ctx = ZERO_CONTEXTS + cset * fraction + (
                        fraction16 >> (MU_FRAC - 3) if fine else sign_ctx)
                if fine:
                    sign_model = SIGN_CONTEXTS + (cset * QUARTERS + sign_ctx) * NEIGHBOUR_SIGNS \
                        + 3 * _sign3(left) + _sign3(above[x])
                if mixing:
                    t = _network_index(ls, fraction16)
                    xz = np.int64(net_probs[t, ZERO])
                    xs = np.int64(net_probs[t, SIGN])
                    zero_mixer = MIXERS + 2 * cset
                    sign_mixer = zero_mixer + 1
                if encode:
                    e = np.int64(src[i]) - pred
                    if near == 0:
                        v = ((e + half) & maxval) - half
                    else:
                        v = (e + near) // qstep if e >= 0 else -((near - e) // qstep)
                    if mixing:
                        _enc_value_mixed(st, buf, probs, zero_ctx, sign_model, cbase, v, max_exp,
                                         zero_mixer, sign_mixer, xz, xs)
                    else:
                        _enc_value(st, buf, probs, zero_ctx, sign_model, cbase, v, max_exp)
                elif mixing:
                    v, code, rng, pos = _dec_value_mixed_local(code, rng, pos, buf, probs, zero_ctx,
                                                               sign_model, cbase, max_exp,
                                                               zero_mixer, sign_mixer, xz, xs)
                else:
                    v, code, rng, pos = _dec_value_local(code, rng, pos, buf, probs, zero_ctx,
                                                         sign_model, cbase, max_exp)
                if near == 0:
                    r = (pred + v) & maxval
                else:
                    r = pred + v * qstep
                    if pull:
                        out[i] = 0 if r < 0 else (maxval if r > maxval else r)
                        r -= pull if v > 0 else (-pull if v < 0 else 0)
                    r = 0 if r < 0 else (maxval if r > maxval else r)
                rec[i] = r
                err[i] = r - base
                west2 = west
                west = r
                left = v
                above[x] = v
        if not encode:
            _dec_store(st, buf, code, rng, pos)

    return code_plane_rows


_encode_plane_rows = _plane_rows_kernel(True)
_decode_plane_rows = _plane_rows_kernel(False)


@allocating
def _code_slice(encode, src, rec, ref, err, geom, n_planes, y0, y1, inter, skip, log2u, nux,
                nets, net_off, probs, bd, near, levels, fine, mixing, net_probs, st, buf,
                pal_role, pal_table, pal_entries, pal_luts, src_idx, idx, ref_idx, pal_probs,
                pal_recent, pull, out):
    """Code plane-0 rows [y0, y1) and the matching rows of every other plane.

    Planes are coded in order; a palette set is coded as indices when its first
    plane comes (``pal_role``, ``pal_table``: see coding/tables.py). ``levels``:
    activity levels of the coding contexts (1 for files before format 2.3); ``fine``:
    zero flags by eighths, signs by the neighbours' (2.6 on, groups of several frames);
    ``mixing``, ``net_probs``: zero flags and signs mixed with the network's (2.7 on).
    ``pull``, ``out``: the samples shown, where they differ from ``rec`` (2.10 on;
    ``code_plane_rows``): palette planes are filled into both.
    """
    width = 1
    for p in range(n_planes):
        width = max(width, geom[p, 1])
    full = np.zeros((MAX_ROW_FEATURES, width), np.int32)
    feats = np.zeros((MAX_ROW_FEATURES, width), np.int32)
    h1 = np.zeros((MAX_HIDDEN, width), np.int16)
    h2 = np.zeros((MAX_HIDDEN, width), np.int16)
    acc32 = np.zeros((4, width), np.int32)
    outs = np.zeros((MAX_OUT, width + LANES), np.int64)
    # pair-interleaved 16-bit rows for mlp_pairs: inputs, first and second hidden layer
    stride = 2 * (width + LANES)
    pairs = np.zeros((3, (max(MAX_ROW_FEATURES, MAX_HIDDEN) + 1) // 2 * stride), np.int16)
    packed = np.zeros(PACKED_WORDS, np.int32)
    cols = np.zeros(width, np.int64)
    above = np.zeros(width, np.int64)
    acc = np.zeros(width, np.int64)
    lut = np.zeros(MAX_LUT, np.uint8)
    cand = np.zeros(N_CAND, np.int64)
    avail = np.zeros(N_CAND, np.bool_)
    for p in range(n_planes):
        sy = geom[p, 4]
        ys = y0 >> sy
        ye = min(geom[p, 2], (y1 + (1 << sy) - 1) >> sy)
        role = pal_role[p]
        if role == -2:
            continue
        if role >= 0:
            first, count, w, h = pal_table[role, 0], pal_table[role, 1], pal_table[role, 2], \
                pal_table[role, 3]
            ioff, eoff, n_ent, n_bits = pal_table[role, 6], pal_table[role, 7], \
                pal_table[role, 8], pal_table[role, 9]
            view = idx[ioff:ioff + w * h]
            _code_index_rows(encode, src_idx[ioff:ioff + w * h], view,
                             ref_idx[ioff:ioff + w * h], w, ys, ye, inter, skip,
                             geom[first, 3], sy, log2u, nux, pal_luts[role], n_ent,
                             n_bits, pal_probs[role], pal_recent[role], st, buf, cand, avail)
            _palette_fill(view, pal_entries[eoff:eoff + 4 * n_ent], first, count, geom, ys, ye,
                          rec, err)
            if pull:
                _palette_fill(view, pal_entries[eoff:eoff + 4 * n_ent], first, count, geom, ys,
                              ye, out, err)
            continue
        net = nets[net_off[p]:net_off[p + 1]]
        if encode:
            _encode_plane_rows(src, rec, ref, err, geom, p, ys, ye, inter, skip, log2u, nux,
                               net, probs[p], bd, near, levels, fine, mixing, net_probs, st, buf,
                               full, feats, h1, h2, outs, acc, acc32, cols, lut, packed, pairs,
                               stride, above, pull, out)
        else:
            _decode_plane_rows(src, rec, ref, err, geom, p, ys, ye, inter, skip, log2u, nux,
                               net, probs[p], bd, near, levels, fine, mixing, net_probs, st, buf,
                               full, feats, h1, h2, outs, acc, acc32, cols, lut, packed, pairs,
                               stride, above, pull, out)


@kernel
def _code_block_flag(encode, flags, k, bx, by, nbx, base, value, probs, st, buf):
    """Block k's flag (``value`` when encoding), its context from the left and upper blocks'."""
    ctx = base
    if bx > 0:
        ctx += flags[k - 1]
    if by > 0:
        ctx += flags[k - nbx]
    if encode:
        flags[k] = value
        _enc_bit(st, buf, probs, ctx, value)
    else:
        flags[k] = _dec_bit(st, buf, probs, ctx)


@allocating
def _code_motion(encode, mv, skip, nbx, nby, nux, nuy, n_refs, bi, probs, st, buf):
    """Per block in raster order: reference index, vector (median-predicted), in a
    two-sided group (``bi``) whether the block is bi-predicted and if so its second
    reference and vector, then skip flags.

    Skip is coded per block as "all its units skip"; if not, and the block has
    more than one unit inside the frame, "some units skip"; if so, one flag per
    unit in raster order, except a last flag the others imply (``skip`` is on
    the unit grid, ``nux`` x ``nuy``).
    """
    whole = np.zeros(nbx * nby, np.uint8)  # every unit of the block skips
    partial = np.zeros(nbx * nby, np.uint8)  # some, not all, units skip
    two = np.zeros(nbx * nby, np.uint8)  # bi-predicted
    _code_motion_blocks(encode, mv, skip, nbx, nby, nux, nuy, n_refs, bi and n_refs > 1, probs,
                        st, buf, whole, partial, two, np.zeros(4, np.int64))


@kernel
def _code_second(encode, mv, k, first, n_refs, probs, st, buf):
    """A bi-predicted block's second reference (any but its ``first``; truncated unary
    over the others) and second vector, predicted as the first one mirrored."""
    ref = mv[k, REF2] - 1 if encode else 0
    code = ref - 1 if ref > first else ref
    for level in range(n_refs - 2):
        if encode:
            _enc_bit(st, buf, probs, REF2_CONTEXTS + level, 1 if code > level else 0)
            if code <= level:
                break
        else:
            if not _dec_bit(st, buf, probs, REF2_CONTEXTS + level):
                break
            code = level + 1
    if not encode:
        mv[k, REF2] = (code + 1 if code >= first else code) + 1
    for c in range(2):
        pred = -mv[k, MVX + c]
        if encode:
            _enc_signed(st, buf, probs, MV2_SETS + c * SET_SIZE, mv[k, MVX2 + c] - pred, 0,
                        MV_MAX_EXP)
        else:
            v = pred + _dec_signed(st, buf, probs, MV2_SETS + c * SET_SIZE, 0, MV_MAX_EXP)
            mv[k, MVX2 + c] = min(max(v, -MV_MAX), MV_MAX)


@kernel
def _code_motion_blocks(encode, mv, skip, nbx, nby, nux, nuy, n_refs, bi, probs, st, buf, whole,
                        partial, two, units):
    for by in range(nby):
        for bx in range(nbx):
            k = by * nbx + bx
            ref = mv[k, REF] if encode else 0
            for level in range(n_refs - 1):  # truncated unary, contexts from neighbours
                ctx = REF_CONTEXTS + 3 * level
                if bx > 0 and mv[k - 1, REF] > level:
                    ctx += 1
                if by > 0 and mv[k - nbx, REF] > level:
                    ctx += 1
                if encode:
                    _enc_bit(st, buf, probs, ctx, 1 if ref > level else 0)
                    if ref <= level:
                        break
                else:
                    if not _dec_bit(st, buf, probs, ctx):
                        break
                    ref = level + 1
            mv[k, REF] = ref
            for c in range(2):
                pred = _predict_mv(mv, nbx, bx, by, c)
                if encode:
                    _enc_signed(st, buf, probs, c * SET_SIZE, mv[k, c] - pred, 0, MV_MAX_EXP)
                else:
                    v = pred + _dec_signed(st, buf, probs, c * SET_SIZE, 0, MV_MAX_EXP)
                    mv[k, c] = min(max(v, -MV_MAX), MV_MAX)
            if bi:
                _code_block_flag(encode, two, k, bx, by, nbx, BI_CONTEXTS,
                                 1 if mv[k, REF2] > 0 else 0, probs, st, buf)
                if two[k]:
                    _code_second(encode, mv, k, ref, n_refs, probs, st, buf)
            if not two[k]:
                for c in range(MVX2, REF2 + 1):
                    mv[k, c] = 0
            n_units = 0
            n_skipped = 0
            for uy in range(2 * by, min(2 * by + 2, nuy)):
                for ux in range(2 * bx, min(2 * bx + 2, nux)):
                    units[n_units] = uy * nux + ux
                    n_units += 1
                    n_skipped += skip[uy * nux + ux] if encode else 0
            _code_block_flag(encode, whole, k, bx, by, nbx, SKIP_CONTEXTS,
                             1 if n_skipped == n_units else 0, probs, st, buf)
            if whole[k] or n_units == 1:
                for j in range(n_units):
                    skip[units[j]] = whole[k]
                continue
            _code_block_flag(encode, partial, k, bx, by, nbx, PARTIAL_CONTEXTS,
                             1 if n_skipped > 0 else 0, probs, st, buf)
            seen = 0
            for j in range(n_units):
                u = units[j]
                if not partial[k]:
                    skip[u] = 0
                elif j == n_units - 1 and seen == 0:
                    skip[u] = 1  # some unit skips
                elif j == n_units - 1 and seen == n_units - 1:
                    skip[u] = 0  # not all units skip
                else:
                    ctx = UNIT_CONTEXTS + 2 * j + (skip[u - 1] if u % nux > 0 else 0)
                    if encode:
                        _enc_bit(st, buf, probs, ctx, skip[u])
                    else:
                        skip[u] = _dec_bit(st, buf, probs, ctx)
                seen += skip[u]
