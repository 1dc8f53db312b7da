# SPDX-License-Identifier: MIT
"""Block motion: compensation (both sides) and estimation (encoder only).

Motion vectors are per block of ``2**log2b`` plane-0 samples, in quarter
samples of plane 0. A subsampled plane uses the same vector at its own finer
fractional precision (1/8 sample for 4:2:0 chroma). A motion-compensated
sample is the bilinear interpolation of the previous reconstructed plane at
the displaced position, coordinates clamped to the plane (docs/FORMAT.md,
"Motion compensation"); integer vectors copy samples exactly.
"""

import numpy as np

from ._jit import kernel

MV_MAX = 4 * 1024  # |component| in quarter samples, enforced by the decoder


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


@kernel
def _compensate(prev, geom, n_planes, mv, log2b, nbx, out):
    """out = motion-compensated prediction of every plane from ``prev``."""
    for p in range(n_planes):
        off = geom[p, 0]
        w = geom[p, 1]
        h = geom[p, 2]
        sx = geom[p, 3]
        sy = geom[p, 4]
        bx = 2 + sx
        by = 2 + sy
        lbx = log2b - sx
        lby = log2b - sy
        for y in range(h):
            brow = (y >> lby) * nbx
            for x in range(w):
                k = brow + (x >> lbx)
                out[off + y * w + x] = _sample_at(prev, off, w, h, (x << bx) + mv[k, 0],
                                                  (y << by) + mv[k, 1], bx, by)


@kernel
def _skip_map(src, ref, geom, n_planes, log2b, nbx, nby, near, skip):
    """skip[k] = 1 where every sample of block k lies within ``near`` of ref."""
    for k in range(nbx * nby):
        skip[k] = 1
    for p in range(n_planes):
        off = geom[p, 0]
        w = geom[p, 1]
        h = geom[p, 2]
        lbx = log2b - geom[p, 3]
        lby = log2b - geom[p, 4]
        for y in range(h):
            brow = (y >> lby) * nbx
            for x in range(w):
                i = off + y * w + x
                d = np.int64(src[i]) - np.int64(ref[i])
                if d > near or d < -near:
                    skip[brow + (x >> lbx)] = 0


# ---------------------------------------------------------------- estimation


@kernel
def _mv_bits(d):
    """Rough cost in bits of a vector difference component (Exp-Golomb-like)."""
    a = d if d >= 0 else -d
    n = 1
    while a > 0:
        n += 2
        a >>= 1
    return n


@kernel
def _median3(a, b, c):
    return max(min(a, b), min(max(a, b), c))


@kernel
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


@kernel
def _block_sad(cur, prev, w, h, x0, y0, bs, mvx, mvy, limit):
    """SAD of a plane-0 block against prev displaced by (mvx, mvy) quarter samples."""
    total = np.int64(0)
    x1 = min(x0 + bs, w)
    y1 = min(y0 + bs, h)
    if (mvx & 3) == 0 and (mvy & 3) == 0:
        dx = mvx >> 2
        dy = mvy >> 2
        inside = x0 + dx >= 0 and x1 + dx <= w and y0 + dy >= 0 and y1 + dy <= h
        for y in range(y0, y1):
            if inside:
                rp = (y + dy) * w + dx
                for x in range(x0, x1):
                    d = np.int64(cur[y * w + x]) - prev[rp + x]
                    total += d if d >= 0 else -d
            else:
                yy = min(max(y + dy, 0), h - 1)
                for x in range(x0, x1):
                    xx = min(max(x + dx, 0), w - 1)
                    d = np.int64(cur[y * w + x]) - prev[yy * w + xx]
                    total += d if d >= 0 else -d
            if total > limit:
                return total
        return total
    for y in range(y0, y1):
        for x in range(x0, x1):
            d = np.int64(cur[y * w + x]) - _sample_at(prev, 0, w, h, (x << 2) + mvx,
                                                      (y << 2) + mvy, 2, 2)
            total += d if d >= 0 else -d
        if total > limit:
            return total
    return total


@kernel
def _downsample4(src, w, h, out, ow, oh):
    for y in range(oh):
        for x in range(ow):
            total = np.int64(0)
            for yy in range(4):
                for xx in range(4):
                    total += src[min(4 * y + yy, h - 1) * w + min(4 * x + xx, w - 1)]
            out[y * ow + x] = total


@kernel
def _coarse_search(cur, prev, w, h, log2b, nbx, nby, search, coarse):
    """Full search of each block on 4x-downsampled planes; vectors in quarter samples."""
    ow = (w + 3) >> 2
    oh = (h + 3) >> 2
    dc = np.empty(ow * oh, np.int64)
    dp = np.empty(ow * oh, np.int64)
    _downsample4(cur, w, h, dc, ow, oh)
    _downsample4(prev, w, h, dp, ow, oh)
    bs = max((1 << log2b) >> 2, 1)
    r = max(search >> 2, 1)
    for by in range(nby):
        for bx in range(nbx):
            x0 = bx * bs
            y0 = by * bs
            best = np.int64(1) << 62
            bmx = 0
            bmy = 0
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    sad = np.int64(0)
                    for y in range(y0, min(y0 + bs, oh)):
                        yy = min(max(y + dy, 0), oh - 1)
                        for x in range(x0, min(x0 + bs, ow)):
                            xx = min(max(x + dx, 0), ow - 1)
                            d = dc[y * ow + x] - dp[yy * ow + xx]
                            sad += d if d >= 0 else -d
                    sad += 16 * (abs(dx) + abs(dy))
                    if sad < best:
                        best = sad
                        bmx = dx
                        bmy = dy
            coarse[by * nbx + bx, 0] = bmx * 16
            coarse[by * nbx + bx, 1] = bmy * 16


@kernel
def _estimate(cur, prev, w, h, log2b, nbx, nby, search, lam, subpel, prev_mv, mv):
    """Choose a vector per block: predictors, coarse search, diamond and sub-sample refinement.

    ``cur``/``prev`` are plane 0 only; cost = SAD + lam * estimated vector bits.
    """
    bs = 1 << log2b
    coarse = np.zeros((nbx * nby, 2), np.int64)
    _coarse_search(cur, prev, w, h, log2b, nbx, nby, search, coarse)
    lim = 4 * search
    cand = np.zeros((6, 2), np.int64)
    for by in range(nby):
        for bx in range(nbx):
            k = by * nbx + bx
            x0 = bx * bs
            y0 = by * bs
            px = _predict_mv(mv, nbx, bx, by, 0)
            py = _predict_mv(mv, nbx, bx, by, 1)
            cand[0, 0] = 0
            cand[0, 1] = 0
            cand[1, 0] = px & ~3
            cand[1, 1] = py & ~3
            cand[2, 0] = coarse[k, 0]
            cand[2, 1] = coarse[k, 1]
            cand[3, 0] = prev_mv[k, 0] & ~3
            cand[3, 1] = prev_mv[k, 1] & ~3
            cand[4, 0] = mv[k - 1, 0] & ~3 if bx > 0 else 0
            cand[4, 1] = mv[k - 1, 1] & ~3 if bx > 0 else 0
            cand[5, 0] = mv[k - nbx, 0] & ~3 if by > 0 else 0
            cand[5, 1] = mv[k - nbx, 1] & ~3 if by > 0 else 0
            best = np.int64(1) << 62
            bmx = 0
            bmy = 0
            for c in range(6):
                cx = min(max(cand[c, 0], -lim), lim)
                cy = min(max(cand[c, 1], -lim), lim)
                cost = lam * (_mv_bits(cx - px) + _mv_bits(cy - py))
                cost += _block_sad(cur, prev, w, h, x0, y0, bs, cx, cy, best - cost)
                if cost < best:
                    best = cost
                    bmx = cx
                    bmy = cy
            # a full integer search close to the best candidate...
            cx0 = bmx
            cy0 = bmy
            for dy in range(-8, 9, 4):
                for dx in range(-8, 9, 4):
                    cx = cx0 + dx
                    cy = cy0 + dy
                    if (dx == 0 and dy == 0) or cx < -lim or cx > lim or cy < -lim or cy > lim:
                        continue
                    cost = lam * (_mv_bits(cx - px) + _mv_bits(cy - py))
                    cost += _block_sad(cur, prev, w, h, x0, y0, bs, cx, cy, best - cost)
                    if cost < best:
                        best = cost
                        bmx = cx
                        bmy = cy
            # ...then diamond steps: whole samples, then halves and quarters
            for step in (4, 2, 1):
                if step < 4 and subpel == 0:
                    break
                for _ in range(64):
                    moved = False
                    cx0 = bmx
                    cy0 = bmy
                    for d in range(4):
                        cx = cx0 + (step if d == 0 else (-step if d == 1 else 0))
                        cy = cy0 + (step if d == 2 else (-step if d == 3 else 0))
                        if cx < -lim or cx > lim or cy < -lim or cy > lim:
                            continue
                        cost = lam * (_mv_bits(cx - px) + _mv_bits(cy - py))
                        cost += _block_sad(cur, prev, w, h, x0, y0, bs, cx, cy, best - cost)
                        if cost < best:
                            best = cost
                            bmx = cx
                            bmy = cy
                            moved = True
                    if not moved or step < 4:
                        break
            mv[k, 0] = bmx
            mv[k, 1] = bmy
