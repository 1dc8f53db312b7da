# SPDX-License-Identifier: MIT
"""Block motion: compensation (both sides); search is in search.py (encoder only).

Motion vectors are per block of ``2**log2b`` plane-0 samples, in quarter
samples of plane 0, each with the index of the reference frame it points into
(0: the previous frame, 1: the one before, ...). Coordinates are clamped to
the plane (edge samples repeat). Interpolation is H.264's, so that content
decoded from H.264 can be predicted exactly where its own encoder predicted:

* full-resolution planes: quarter-sample luma interpolation (six-tap
  1, -5, 20, 20, -5, 1 half samples, quarter samples averaging the two
  nearest, clipped to the sample range);
* subsampled planes: the same vector at their finer precision (1/8 sample for
  4:2:0 chroma), bilinear as H.264 chroma.

Integer vectors copy samples exactly (docs/FORMAT.md, "Motion compensation").

A block of a two-sided group (format 2.9) may be *bi-predicted*: the rounded
average of two such predictions, each with its own vector and reference, as
H.264's B-blocks are (so that frames its encoder coded that way can be
predicted exactly too).
"""

import numpy as np

from ._jit import allocating, inline, kernel

MV_MAX = 4 * 1024  # |component| in quarter samples, enforced by the decoder
MAX_REFS = 4
# A motion field is an (n_blocks, MV_FIELDS) int64 array: the vector (mvx, mvy) in
# quarter samples and reference index of the block, then for a bi-predicted block
# its second vector and second reference index + 1 (0: one prediction only).
MV_FIELDS = 6
MVX, MVY, REF, MVX2, MVY2, REF2 = range(MV_FIELDS)


@kernel
def _sample_at(src, off, w, h, xq, yq, bx, by):
    """Bilinear sample at (xq / 2**bx, yq / 2**by) with clamped coordinates."""
    xi = xq >> bx
    yi = yq >> by
    fx = xq - (xi << bx)
    fy = yq - (yi << by)
    x0 = min(max(xi, 0), w - 1)
    y0 = min(max(yi, 0), h - 1)
    if fx == 0 and fy == 0:
        return np.int64(src[off + y0 * w + x0])
    x1 = min(max(xi + 1, 0), w - 1)
    y1 = min(max(yi + 1, 0), h - 1)
    sx = np.int64(1) << bx
    sy = np.int64(1) << by
    a = np.int64(src[off + y0 * w + x0])
    b = np.int64(src[off + y0 * w + x1])
    c = np.int64(src[off + y1 * w + x0])
    d = np.int64(src[off + y1 * w + x1])
    total = ((sx - fx) * (sy - fy) * a + fx * (sy - fy) * b + (sx - fx) * fy * c + fx * fy * d)
    shift = bx + by
    return (total + (np.int64(1) << (shift - 1))) >> shift


@inline
def _px(src, off, w, h, x, y):
    return np.int64(src[off + min(max(y, 0), h - 1) * w + min(max(x, 0), w - 1)])


@inline
def _six_tap(a, b, c, d, e, f):
    """H.264's half-sample filter (1, -5, 20, 20, -5, 1), unscaled, in the type of its
    arguments: int32 holds 52 times a 16-bit sample, and the centre's 52 times that
    again, so row loops run it in int32 lanes."""
    return a + f - np.int32(5) * (b + e) + np.int32(20) * (c + d)


@kernel
def _half_h1(src, off, w, h, x, y):
    """Unscaled horizontal six-tap sum between (x, y) and (x + 1, y)."""
    return _six_tap(_px(src, off, w, h, x - 2, y), _px(src, off, w, h, x - 1, y),
                    _px(src, off, w, h, x, y), _px(src, off, w, h, x + 1, y),
                    _px(src, off, w, h, x + 2, y), _px(src, off, w, h, x + 3, y))


@kernel
def _half_v1(src, off, w, h, x, y):
    """Unscaled vertical six-tap sum between (x, y) and (x, y + 1)."""
    return _six_tap(_px(src, off, w, h, x, y - 2), _px(src, off, w, h, x, y - 1),
                    _px(src, off, w, h, x, y), _px(src, off, w, h, x, y + 1),
                    _px(src, off, w, h, x, y + 2), _px(src, off, w, h, x, y + 3))


@inline
def _clip(v, maxval):
    return 0 if v < 0 else (maxval if v > maxval else v)


@kernel
def _half_centre(src, off, w, h, x, y, maxval):
    """j: the six-tap of vertical sums, between the four samples at (x..x+1, y..y+1)."""
    j1 = _six_tap(_half_v1(src, off, w, h, x - 2, y), _half_v1(src, off, w, h, x - 1, y),
                  _half_v1(src, off, w, h, x, y), _half_v1(src, off, w, h, x + 1, y),
                  _half_v1(src, off, w, h, x + 2, y), _half_v1(src, off, w, h, x + 3, y))
    return _clip((j1 + 512) >> 10, maxval)


@kernel
def _qpel(src, off, w, h, xq, yq, maxval):
    """H.264 quarter-sample luma interpolation at (xq / 4, yq / 4)."""
    x = xq >> 2
    y = yq >> 2
    fx = xq & 3
    fy = yq & 3
    if fx == 0 and fy == 0:
        return _px(src, off, w, h, x, y)
    if fy == 0:
        b = _clip((_half_h1(src, off, w, h, x, y) + 16) >> 5, maxval)
        if fx == 2:
            return b
        g = _px(src, off, w, h, x + (fx >> 1), y)
        return (g + b + 1) >> 1
    if fx == 0:
        hh = _clip((_half_v1(src, off, w, h, x, y) + 16) >> 5, maxval)
        if fy == 2:
            return hh
        g = _px(src, off, w, h, x, y + (fy >> 1))
        return (g + hh + 1) >> 1
    if fx == 2 or fy == 2:
        j = _half_centre(src, off, w, h, x, y, maxval)
        if fx == 2 and fy == 2:
            return j
        if fx == 2:  # f (fy 1) or q (fy 3): j with the horizontal half sample above/below
            other = _clip((_half_h1(src, off, w, h, x, y + (fy >> 1)) + 16) >> 5, maxval)
        else:  # i (fx 1) or k (fx 3): j with the vertical half sample left/right
            other = _clip((_half_v1(src, off, w, h, x + (fx >> 1), y) + 16) >> 5, maxval)
        return (j + other + 1) >> 1
    # e, g, p, r: the horizontal and vertical half samples nearest the position
    hb = _clip((_half_h1(src, off, w, h, x, y + (fy >> 1)) + 16) >> 5, maxval)
    vb = _clip((_half_v1(src, off, w, h, x + (fx >> 1), y) + 16) >> 5, maxval)
    return (hb + vb + 1) >> 1


# For each quarter position fy * 4 + fx: the two (plane, dx, dy) terms H.264 averages
# (the same term twice where it takes one sample as it is). Planes: 0 the samples,
# 1 the horizontal (b), 2 the vertical (h) and 3 the centre (j) half samples, each
# at its sample's lower right (search.py's _half_planes holds them for a frame).
_QPEL_TERMS = np.array([
    [0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0], [1, 0, 0, 1, 0, 0], [0, 1, 0, 1, 0, 0],
    [0, 0, 0, 2, 0, 0], [1, 0, 0, 2, 0, 0], [1, 0, 0, 3, 0, 0], [1, 0, 0, 2, 1, 0],
    [2, 0, 0, 2, 0, 0], [2, 0, 0, 3, 0, 0], [3, 0, 0, 3, 0, 0], [3, 0, 0, 2, 1, 0],
    [0, 0, 1, 2, 0, 0], [2, 0, 0, 1, 0, 1], [3, 0, 0, 1, 0, 1], [2, 1, 0, 1, 0, 1],
], np.int64)


@inline
def _term_row(prev, off, w, plane, x0, y, n, vs, out):
    """out[:n] = the H.264 term ``plane`` (0 integer, 1 b, 2 h, 3 j; as in
    ``_QPEL_TERMS``) at columns x0..x0+n-1 of row y, every tap inside the plane
    (the caller checked), computed a row at a time so the loops vectorise."""
    row = off + y * w
    o = out[:n]
    if plane == 0:
        g = prev[row + x0:row + x0 + n]
        for c in range(n):
            o[c] = g[c]
    elif plane == 1:  # b: horizontal half sample between (x, y) and (x + 1, y)
        m2 = prev[row + x0 - 2:row + x0 - 2 + n]
        m1 = prev[row + x0 - 1:row + x0 - 1 + n]
        z0 = prev[row + x0:row + x0 + n]
        p1 = prev[row + x0 + 1:row + x0 + 1 + n]
        p2 = prev[row + x0 + 2:row + x0 + 2 + n]
        p3 = prev[row + x0 + 3:row + x0 + 3 + n]
        for c in range(n):
            o[c] = (_six_tap(np.int32(m2[c]), np.int32(m1[c]), np.int32(z0[c]),
                             np.int32(p1[c]), np.int32(p2[c]), np.int32(p3[c]))
                    + np.int32(16)) >> 5
    else:  # h (vertical half sample) or j (the centre, from vertical sums)
        lo = 0 if plane == 2 else -2
        m = n if plane == 2 else n + 5
        v0 = vs[:m]
        r2 = prev[row - 2 * w + x0 + lo:row - 2 * w + x0 + lo + m]
        r1 = prev[row - w + x0 + lo:row - w + x0 + lo + m]
        z0 = prev[row + x0 + lo:row + x0 + lo + m]
        s1 = prev[row + w + x0 + lo:row + w + x0 + lo + m]
        s2 = prev[row + 2 * w + x0 + lo:row + 2 * w + x0 + lo + m]
        s3 = prev[row + 3 * w + x0 + lo:row + 3 * w + x0 + lo + m]
        for c in range(m):
            v0[c] = _six_tap(np.int32(r2[c]), np.int32(r1[c]), np.int32(z0[c]),
                             np.int32(s1[c]), np.int32(s2[c]), np.int32(s3[c]))
        if plane == 2:
            for c in range(n):
                o[c] = (v0[c] + np.int32(16)) >> 5
        else:
            v1, v2, v3, v4, v5 = v0[1:n + 1], v0[2:n + 2], v0[3:n + 3], v0[4:n + 4], v0[5:n + 5]
            for c in range(n):
                o[c] = (_six_tap(v0[c], v1[c], v2[c], v3[c], v4[c], v5[c]) + np.int32(512)) >> 10


@inline
def _copy_block(prev, off, w, x0, x1, y0, y1, ix, iy, out):
    """A block displaced by whole samples, inside the plane: its samples as they are
    (what ``_qpel`` and ``_sample_at`` give there). Static content (screens, still
    backgrounds) is mostly such blocks, including those at the picture's edges, which
    the filtered paths would take sample by sample."""
    n = x1 - x0
    for y in range(y0, y1):
        src = off + (y + iy) * w + x0 + ix
        dst = off + y * w + x0
        d = out[dst:dst + n]
        s = prev[src:src + n]
        for c in range(n):  # a loop: slice assignment may copy through an allocation
            d[c] = s[c]


@kernel
def _qpel_block(prev, off, w, h, x0, x1, y0, y1, mx, my, maxval, out, ta, tb, vs):
    """One block of a full-resolution plane: ``_qpel`` at every sample, through
    row terms where every tap lies inside the plane, sample by sample (clamped)
    where some do not."""
    ix = mx >> 2
    iy = my >> 2
    t = (my & 3) * 4 + (mx & 3)
    n = x1 - x0
    if t == 0 and x0 + ix >= 0 and x1 + ix <= w and y0 + iy >= 0 and y1 + iy <= h:
        _copy_block(prev, off, w, x0, x1, y0, y1, ix, iy, out)  # whole samples, no taps
        return
    if x0 + ix - 2 < 0 or x1 + ix + 4 > w or y0 + iy - 2 < 0 or y1 + iy + 4 > h:
        for y in range(y0, y1):
            for x in range(x0, x1):
                out[off + y * w + x] = _qpel(prev, off, w, h, (x << 2) + mx, (y << 2) + my,
                                             maxval)
        return
    pa, ax, ay = _QPEL_TERMS[t, 0], _QPEL_TERMS[t, 1], _QPEL_TERMS[t, 2]
    pb, bx, by = _QPEL_TERMS[t, 3], _QPEL_TERMS[t, 4], _QPEL_TERMS[t, 5]
    for y in range(y0, y1):
        dst = out[off + y * w + x0:off + y * w + x1]
        _term_row(prev, off, w, pa, x0 + ix + ax, y + iy + ay, n, vs, ta)
        if t == 0:
            for c in range(n):
                dst[c] = ta[c]
            continue
        _term_row(prev, off, w, pb, x0 + ix + bx, y + iy + by, n, vs, tb)
        a = ta[:n]
        b = tb[:n]
        clip_a = pa != 0
        clip_b = pb != 0
        for c in range(n):
            va = a[c]
            vb = b[c]
            if clip_a:
                va = 0 if va < 0 else (maxval if va > maxval else va)
            if clip_b:
                vb = 0 if vb < 0 else (maxval if vb > maxval else vb)
            dst[c] = (va + vb + 1) >> 1


@kernel
def _bilinear_block(prev, off, w, h, x0, x1, y0, y1, mx, my, bx, by, out):
    """One block of a subsampled plane: ``_sample_at`` at every sample, a row at a
    time where the block's (constant) fraction reads inside the plane."""
    ix = mx >> bx
    iy = my >> by
    fx = mx - (ix << bx)
    fy = my - (iy << by)
    n = x1 - x0
    if fx == 0 and fy == 0 and x0 + ix >= 0 and x1 + ix <= w and y0 + iy >= 0 and y1 + iy <= h:
        _copy_block(prev, off, w, x0, x1, y0, y1, ix, iy, out)  # whole samples, no taps
        return
    if x0 + ix < 0 or x1 + ix + 1 > w or y0 + iy < 0 or y1 + iy + 1 > h:
        for y in range(y0, y1):
            for x in range(x0, x1):
                out[off + y * w + x] = _sample_at(prev, off, w, h, (x << bx) + mx,
                                                  (y << by) + my, bx, by)
        return
    # int32 lanes: the four weights sum to 2 ** shift, at most 2 ** 8 (4:1:0 chroma)
    sxw = np.int64(1) << bx
    syw = np.int64(1) << by
    wa = np.int32((sxw - fx) * (syw - fy))
    wb = np.int32(fx * (syw - fy))
    wc = np.int32((sxw - fx) * fy)
    wd = np.int32(fx * fy)
    shift = bx + by
    rnd = np.int32(1 << (shift - 1))
    for y in range(y0, y1):
        src = off + (y + iy) * w + x0 + ix
        dst = out[off + y * w + x0:off + y * w + x1]
        r0 = prev[src:src + n + 1]
        if fx == 0 and fy == 0:
            for c in range(n):
                dst[c] = r0[c]
            continue
        r1 = prev[src + w:src + w + n + 1]
        for c in range(n):
            dst[c] = (wa * np.int32(r0[c]) + wb * np.int32(r0[c + 1]) + wc * np.int32(r1[c])
                      + wd * np.int32(r1[c + 1]) + rnd) >> shift


@allocating
def _compensate(prevs, geom, n_planes, mv, log2b, nbx, maxval, out, by0, by1):
    """out = motion-compensated prediction of every plane, in block rows [by0, by1).

    ``prevs[r]`` is the reconstructed frame r + 1 frames back; block k reads
    ``prevs[mv[k, REF]]`` displaced by ``mv[k, MVX:MVY + 1]``, averaged with
    ``prevs[mv[k, REF2] - 1]`` displaced by its second vector where ``mv[k, REF2]``
    is not 0. Work goes block by block (one vector, one fraction), so the inside of
    the picture runs as row loops. Disjoint block rows write disjoint samples, so
    slices compensate in parallel.
    """
    size = (1 << log2b) + 8
    second = np.empty(out.size if np.any(mv[:, REF2]) else 1, out.dtype)
    _compensate_blocks(prevs, geom, n_planes, mv, log2b, nbx, maxval, out, by0, by1,
                       np.empty(size, np.int32), np.empty(size, np.int32),
                       np.empty(size, np.int32), second)


@kernel
def _predict_block(prev, off, w, h, full, sx, sy, x0, x1, y0, y1, mx, my, maxval, out, ta, tb,
                   vs):
    if full:
        _qpel_block(prev, off, w, h, x0, x1, y0, y1, mx, my, maxval, out, ta, tb, vs)
    else:
        _bilinear_block(prev, off, w, h, x0, x1, y0, y1, mx, my, 2 + sx, 2 + sy, out)


@kernel
def _compensate_blocks(prevs, geom, n_planes, mv, log2b, nbx, maxval, out, by0, by1, ta, tb, vs,
                       second):
    for p in range(n_planes):
        off = geom[p, 0]
        w = geom[p, 1]
        h = geom[p, 2]
        sx = geom[p, 3]
        sy = geom[p, 4]
        lbx = log2b - sx  # blocks hold 4 or more plane-0 samples: never negative
        lby = log2b - sy
        full = sx == 0 and sy == 0
        for byk in range(by0, by1):
            y0 = byk << lby
            if y0 >= h:
                break
            y1 = min(y0 + (1 << lby), h)
            for bxk in range(nbx):
                x0 = bxk << lbx
                if x0 >= w:
                    break
                x1 = min(x0 + (1 << lbx), w)
                k = byk * nbx + bxk
                _predict_block(prevs[mv[k, REF]], off, w, h, full, sx, sy, x0, x1, y0, y1,
                               mv[k, MVX], mv[k, MVY], maxval, out, ta, tb, vs)
                if mv[k, REF2] == 0:
                    continue
                _predict_block(prevs[mv[k, REF2] - 1], off, w, h, full, sx, sy, x0, x1, y0,
                               y1, mv[k, MVX2], mv[k, MVY2], maxval, second, ta, tb, vs)
                for y in range(y0, y1):
                    a = out[off + y * w + x0:off + y * w + x1]
                    b = second[off + y * w + x0:off + y * w + x1]
                    for c in range(x1 - x0):
                        a[c] = (np.int32(a[c]) + np.int32(b[c]) + np.int32(1)) >> 1


@kernel
def _skip_map(src, ref, geom, n_planes, log2b, nbx, nby, near, skip):
    """skip[k] = 1 where every sample of block k lies within ``near`` of ref
    (blocks of ``2**log2b`` plane-0 samples: the encoder passes the unit grid).

    A sample belongs to the block of its plane-0 position's top left; a row is
    read as runs of columns sharing a block, and a block already found moving
    is not read again (moving content: each block reads one row)."""
    for k in range(nbx * nby):
        skip[k] = 1
    for p in range(n_planes):
        off = geom[p, 0]
        w = geom[p, 1]
        h = geom[p, 2]
        sx = geom[p, 3]
        sy = geom[p, 4]
        for y in range(h):
            brow = ((y << sy) >> log2b) * nbx
            row = off + y * w
            x = 0
            while x < w:
                u = (x << sx) >> log2b
                end = min(w, (((u + 1) << log2b) + (1 << sx) - 1) >> sx)  # the next block's
                if skip[brow + u]:
                    a = src[row + x:row + end]
                    b = ref[row + x:row + end]
                    moved = False
                    for c in range(end - x):
                        d = np.int32(a[c]) - np.int32(b[c])
                        moved |= (d > near) | (d < -near)
                    if moved:
                        skip[brow + u] = 0
                x = end


@inline
def _median3(a, b, c):
    return max(min(a, b), min(max(a, b), c))


@inline
def _predict_mv(mv, nbx, bx, by, comp):
    """The median predictor shared with the motion substream coder."""
    if by == 0:
        return mv[by * nbx + bx - 1, comp] if bx > 0 else 0
    left = mv[by * nbx + bx - 1, comp] if bx > 0 else 0
    top = mv[(by - 1) * nbx + bx, comp]
    if bx + 1 < nbx:
        tr = mv[(by - 1) * nbx + bx + 1, comp]
    else:
        tr = mv[(by - 1) * nbx + bx - 1, comp] if bx > 0 else 0
    return _median3(left, top, tr)
