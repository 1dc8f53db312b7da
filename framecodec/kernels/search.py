# SPDX-License-Identifier: MIT
"""Motion search (encoder only): a vector and a reference frame per block, or two.

Searches plane 0 of the source against its reference frames with their
half-sample planes precomputed (``_half_planes``), so every candidate's cost
reads at most two samples per position. The cost of a vector is what its
residuals are estimated to cost (blockcost.py) plus ``lam`` times its
estimated bits, with the median predictor the motion substream codes against.
"""

import numpy as np

from ._jit import allocating, inline, kernel
from .blockcost import _bi_cost, _block_cost, _mv_bits
from .motion import _predict_mv, _six_tap

# whole-sample candidates per block and reference: zero, the predicted vector, the coarse
# vector, the previous frame's, the left and upper blocks', the nearest reference's
N_CAND = 7


@allocating
def _half_planes(src, w, h, maxval, out):
    """A plane-0 picture and its three half-sample planes, for fast motion search:
    out[0] the samples, out[1] horizontal (b), out[2] vertical (h), out[3] centre
    (j) half samples, each at its sample's lower right. Same values as ``_qpel``,
    computed in two separable passes over an edge-padded copy."""
    pw = w + 6
    _half_rows(src, w, h, maxval, out, np.empty((h + 6) * pw, np.int32),
               np.empty(h * pw, np.int32))


@kernel
def _half_rows(src, w, h, maxval, out, pad, vert):
    """``_half_planes``'s passes on row slices of int32 scratch (``pad``: the picture
    edge-padded by 3, ``vert``: unscaled vertical sums of every padded column), so
    the loops run in vector lanes. int32 holds every sum: at most 52 * 65535 for
    one pass, 52 times that for the centre's two."""
    pw = w + 6
    top = np.int32(maxval)
    for y in range(h + 6):
        sy = min(max(y - 3, 0), h - 1) * w
        row = pad[y * pw:(y + 1) * pw]
        line = src[sy:sy + w]
        for x in range(w):
            row[3 + x] = np.int32(line[x])
        for x in range(3):
            row[x] = np.int32(line[0])
            row[w + 3 + x] = np.int32(line[w - 1])
    for y in range(h):
        v = vert[y * pw:(y + 1) * pw]
        r0 = pad[(y + 1) * pw:(y + 2) * pw]
        r1 = pad[(y + 2) * pw:(y + 3) * pw]
        r2 = pad[(y + 3) * pw:(y + 4) * pw]
        r3 = pad[(y + 4) * pw:(y + 5) * pw]
        r4 = pad[(y + 5) * pw:(y + 6) * pw]
        r5 = pad[(y + 6) * pw:(y + 7) * pw]
        for x in range(pw):
            v[x] = _six_tap(r0[x], r1[x], r2[x], r3[x], r4[x], r5[x])
        _half_row(r2, v, w, top, out[0, y * w:(y + 1) * w], out[1, y * w:(y + 1) * w],
                  out[2, y * w:(y + 1) * w], out[3, y * w:(y + 1) * w])


@inline
def _half_row(c, v, w, top, samples, across, down, centre):
    """One row of the four planes from its padded row ``c`` and vertical sums ``v``,
    read through slices shifted by each tap (indices the loop can prove in range)."""
    c1, c2, c3, c4, c5, c6 = c[1:w + 1], c[2:w + 2], c[3:w + 3], c[4:w + 4], c[5:w + 5], \
        c[6:w + 6]
    v1, v2, v3, v4, v5, v6 = v[1:w + 1], v[2:w + 2], v[3:w + 3], v[4:w + 4], v[5:w + 5], \
        v[6:w + 6]
    for x in range(w):
        samples[x] = c3[x]
        b = (_six_tap(c1[x], c2[x], c3[x], c4[x], c5[x], c6[x]) + np.int32(16)) >> 5
        across[x] = min(max(b, np.int32(0)), top)
        d = (v3[x] + np.int32(16)) >> 5
        down[x] = min(max(d, np.int32(0)), top)
        j = (_six_tap(v1[x], v2[x], v3[x], v4[x], v5[x], v6[x]) + np.int32(512)) >> 10
        centre[x] = min(max(j, np.int32(0)), top)


@kernel
def _downsample4(src, w, h, out, ow, oh):
    for y in range(oh):
        for x in range(ow):
            total = np.int64(0)
            for yy in range(4):
                for xx in range(4):
                    total += src[min(4 * y + yy, h - 1) * w + min(4 * x + xx, w - 1)]
            out[y * ow + x] = total


@allocating
def _coarse_search(cur, prev, w, h, log2b, nbx, nby, search, hints, coarse, step):
    """Full search of each block on 4x-downsampled planes; vectors in quarter samples.

    The reference is edge-padded by the search radius (the same samples as
    clamped positions) so the inner loop reads without bounds. Sums of 16
    samples fit 32 bits (at most 16 x 65535), so the planes are int32, and so
    does a position's SAD (at most 32 x 32 of them for 128-sample blocks, 2^30)."""
    ow = (w + 3) >> 2
    oh = (h + 3) >> 2
    dc = np.empty(ow * oh, np.int32)
    dp = np.empty(ow * oh, np.int32)
    _downsample4(cur, w, h, dc, ow, oh)
    _downsample4(prev, w, h, dp, ow, oh)
    r = max(search >> 2, 1)
    pw = ow + 2 * r
    pad = np.empty((oh + 2 * r) * pw, np.int32)
    for y in range(oh + 2 * r):
        sy = min(max(y - r, 0), oh - 1) * ow
        for x in range(pw):
            pad[y * pw + x] = dp[sy + min(max(x - r, 0), ow - 1)]
    _coarse_blocks(dc, pad, ow, pw, r, log2b, nbx, nby, hints, coarse,
                   np.empty(2 * r + 1, np.int32), step)


@kernel
def _coarse_blocks(dc, pad, ow, pw, r, log2b, nbx, nby, hints, coarse, costs, step):
    """The coarse search's blocks (``_coarse_search``): for each block, the first
    position in raster order (dy, then dx) of least SAD + 16 per step.

    A position whose vector's cost alone reaches the still position's is not
    tried; ``hints`` (a vector per block in quarter samples, e.g. the previous
    frame's) and the left block's result, costed first, may lower that bound.
    The positions of one row (one dy) are costed together, the inner loop
    running along dx, so it vectorises: on a screen recording whose changed
    blocks match nowhere, costing position by position with early exits still
    read 3.5 of every 4 rows. Only the blocks ``sampled`` by ``step``."""
    bs = max((1 << log2b) >> 2, 1)
    oh = dc.shape[0] // ow
    for by in range(nby):
        for bx in range(nbx):
            if step > 1 and not sampled(bx, by, step):
                continue
            k = by * nbx + bx
            x0 = bx * bs
            y0 = by * bs
            x1 = min(x0 + bs, ow)
            y1 = min(y0 + bs, oh)
            # the still position's cost, plus one, bounds the search from the start:
            # a position costing as much still wins as it would have (it comes first)
            best = np.int64(1)  # written out: as an inlined helper the loop ran 3x slower
            for y in range(y0, y1):
                rp = (y + r) * pw + r
                for x in range(x0, x1):
                    d = np.int64(dc[y * ow + x]) - np.int64(pad[rp + x])
                    best += d if d >= 0 else -d
            # a hint costing c <= the still cost bounds the search by c + 1: every
            # position costing at most c is still found, in the same order, so the
            # first cheapest (the choice without hints) wins
            for hint in range(2):
                if hint == 0:
                    hx = (hints[k, 0] + 8) >> 4
                    hy = (hints[k, 1] + 8) >> 4
                elif bx > 0:
                    hx = coarse[k - 1, 0] >> 4
                    hy = coarse[k - 1, 1] >> 4
                else:
                    break
                if (hx == 0 and hy == 0) or abs(hx) > r or abs(hy) > r:
                    continue
                sad = np.int64(16 * (abs(hx) + abs(hy)))
                for y in range(y0, y1):
                    if sad + 1 >= best:
                        break
                    rp = (y + hy + r) * pw + hx + r
                    for x in range(x0, x1):
                        d = np.int64(dc[y * ow + x]) - np.int64(pad[rp + x])
                        sad += d if d >= 0 else -d
                if sad + 1 < best:
                    best = sad + 1
            bmx = 0
            bmy = 0
            # only positions within |dx| + |dy| <= reach can cost less than the bound
            reach = min((best - 1) >> 4, 2 * r)
            for dy in range(max(-r, -reach), min(r, reach) + 1):
                side = reach - abs(dy)
                lo = max(-r, -side)
                n = min(r, side) - lo + 1
                row_costs = costs[:n]
                for j in range(n):
                    row_costs[j] = 0
                for y in range(y0, y1):
                    rp = (y + dy + r) * pw + r + lo
                    for x in range(x0, x1):
                        c = np.int32(dc[y * ow + x])
                        ref = pad[rp + x:rp + x + n]
                        for j in range(n):
                            row_costs[j] += abs(c - np.int32(ref[j]))
                for j in range(n):
                    cost = np.int64(row_costs[j]) + 16 * (abs(lo + j) + abs(dy))
                    if cost < best:
                        best = cost
                        bmx = lo + j
                        bmy = dy
            coarse[k, 0] = bmx * 16
            coarse[k, 1] = bmy * 16


@inline
def _least_cost(lam, extra):
    """The least cost of any vector: a zero residual, one bit per component (the
    predicted vector), and the reference's ``extra``. A search reaching it
    stops: the choice is the same, since only a strictly lower cost replaces
    the best (a still picture's blocks mostly stop at their first candidate)."""
    return extra + lam * 2 * _mv_bits(0)


@kernel
def _try(cur, planes, w, h, x0, y0, bs, px, py, cx, cy, lim, lam, smooth, extra, best):
    """Cost of one vector, or ``best`` unchanged when it is not better (or out of range)."""
    if cx < -lim or cx > lim or cy < -lim or cy > lim:
        return best
    cost = extra + lam * (_mv_bits(cx - px) + _mv_bits(cy - py))
    cost += _block_cost(cur, planes, w, h, x0, y0, bs, cx, cy, best - cost, smooth)
    return cost


@inline
def _seen(cand, n, cx, cy, lim):
    """Whether (cx, cy) is one of the first ``n`` candidates (clamped as searched)."""
    for c in range(n):
        if min(max(cand[c, 0], -lim), lim) == cx and min(max(cand[c, 1], -lim), lim) == cy:
            return True
    return False


@kernel
def _search_whole(cur, planes, w, h, x0, y0, bs, px, py, cand, n_cand, lim, lam, smooth, extra,
                  grid, cap):
    """Best whole-sample (cost, mvx, mvy) for one block against one reference:
    the candidates, a grid of whole-sample steps within ``grid`` (quarter
    samples; 0: none) around the best, then a diamond.

    A vector already costed is never costed again (repeated candidates, grid
    points, the centre a diamond step came from): its cost could not beat the
    best it lost to, so the choice is the same. Every diamond point lies on the
    grid's lattice, so one inside the grid's square was costed. A search stops
    at the least cost any vector can have (``_least_cost``): nothing after it
    could be chosen. Only costs below ``cap`` count (else ``cap`` is returned)."""
    best = cap
    bmx = 0
    bmy = 0
    for c in range(n_cand):
        cx = min(max(cand[c, 0], -lim), lim)
        cy = min(max(cand[c, 1], -lim), lim)
        if _seen(cand, c, cx, cy, lim):
            continue
        cost = _try(cur, planes, w, h, x0, y0, bs, px, py, cx, cy, lim, lam, smooth, extra,
                    best)
        if cost < best:
            best, bmx, bmy = cost, cx, cy
            if best <= _least_cost(lam, extra):
                return best, bmx, bmy
    gx = bmx
    gy = bmy
    for dy in range(-grid, grid + 1, 4):
        for dx in range(-grid, grid + 1, 4):
            if (dx != 0 or dy != 0) and not _seen(cand, n_cand, gx + dx, gy + dy, lim):
                cost = _try(cur, planes, w, h, x0, y0, bs, px, py, gx + dx, gy + dy, lim, lam,
                            smooth, extra, best)
                if cost < best:
                    best, bmx, bmy = cost, gx + dx, gy + dy
    pcx = gx
    pcy = gy
    for _ in range(64):
        moved = False
        cx0 = bmx
        cy0 = bmy
        for d in range(4):
            cx = cx0 + (4 if d == 0 else (-4 if d == 1 else 0))
            cy = cy0 + (4 if d == 2 else (-4 if d == 3 else 0))
            if (cx == pcx and cy == pcy) or (abs(cx - gx) <= grid and abs(cy - gy) <= grid):
                continue  # the centre it came from, or a point of the grid
            cost = _try(cur, planes, w, h, x0, y0, bs, px, py, cx, cy, lim, lam, smooth, extra,
                        best)
            if cost < best:
                best, bmx, bmy = cost, cx, cy
                moved = True
        if not moved:
            break
        pcx = cx0
        pcy = cy0
    return best, bmx, bmy


@kernel
def _refine_subsample(cur, planes, w, h, x0, y0, bs, px, py, best, bmx, bmy, lim, lam, smooth,
                      extra):
    """Half-sample then quarter-sample diamond steps around a whole-sample vector."""
    if best <= _least_cost(lam, extra):
        return best, bmx, bmy
    for step in (2, 1):
        cx0 = bmx
        cy0 = bmy
        for d in range(8):
            cx = cx0 + (step if d in (0, 4, 5) else (-step if d in (1, 6, 7) else 0))
            cy = cy0 + (step if d in (2, 4, 6) else (-step if d in (3, 5, 7) else 0))
            cost = _try(cur, planes, w, h, x0, y0, bs, px, py, cx, cy, lim, lam, smooth, extra,
                        best)
            if cost < best:
                best, bmx, bmy = cost, cx, cy
    return best, bmx, bmy


@allocating
def _estimate(cur, refs, order, n_prev, dist, bi, w, h, log2b, nbx, nby, search, lam, smooth,
              subpel, fractional, prev_mv, mv, step):
    """Choose a reference and a vector per block (plane 0 only), or with ``bi`` two
    of each; return the total cost. With ``step`` > 1 only the blocks that
    ``sampled`` picks are searched (the others keep a zero field), to estimate.

    ``refs[order[r]]`` is ``_half_planes`` of plane 0 of reference r (the
    caller reuses slots instead of moving pictures), ``dist[r]`` how many frames
    before the current one it is shown (negative: after it);
    cost = block cost + lam * estimated
    bits of the vector and reference index. Each reference is searched in whole
    samples from candidates (its coarse candidate and the nearest reference's
    vector are scaled by distance), then refined to quarter samples. Only the
    nearest reference gets the grid: on the corpus the older ones' grids cost
    15 % of the search and saved nothing (the files were 0.1 % smaller without).
    """
    near = 0
    for r in range(n_prev):
        if abs(dist[r]) < abs(dist[near]):
            near = r
    coarse = np.zeros((nbx * nby, 2), np.int64)
    _coarse_search(cur, refs[order[near], 0], w, h, log2b, nbx, nby, search, prev_mv, coarse,
                   step)
    return _estimate_blocks(cur, refs, order, n_prev, dist, near, bi, w, h, log2b, nbx, nby,
                            search, lam, smooth, subpel, fractional, prev_mv, mv, coarse,
                            np.zeros((N_CAND, 2), np.int64), np.zeros((n_prev, 3), np.int64),
                            step)


@kernel
def _exact_reference(cur, refs, order, n_prev, near, fractional, w, h, x0, y0, bs, px, py, lim,
                     lam, smooth):
    """The first reference (by index) that a whole-sample predicted vector matches
    exactly, and the least cost (``_least_cost``) that has there; or (-1, a cost
    above any, so that one more bounds nothing). Each search tries that vector
    among its first candidates and stops at it, so the matched reference's search
    would choose it; the others need only look for a cost no higher
    (``_estimate_blocks``), and give up on a candidate as soon as it costs more:
    a screen recording alternating between two pictures matches its second
    reference while the first one, all noise, was searched in full (its motion
    search 2.7 times faster). A search so bounded can miss a vector its full
    search reaches through dearer ones: every lossless and bound-1 coding of the
    corpus and extra clips came out the same, the animation clip's at bound 2
    0.9 % smaller.

    With ``fractional`` (motion.fractional_match: lossless and bound 1) a
    fractional predicted vector is tried too, in the nearest reference ``near``
    only: the whole-sample search cannot reach it, and the refinement around
    that search's vector need not. Lossless, 60 frames: the animation clip
    -1.21 %, the HD clip -1.59 %, lebiniou -0.06 %, bikes +0.21 %, the others
    the same; bound 1: animation -1.86 %, HD -0.87 %, bikes -0.01 %. Bound 2
    lost (bikes +1.6 %, animation +2.3 %). In every reference instead of the
    nearest, bikes lost more (+0.38 %) for no more gain; in the older ones only,
    it gained little (animation -0.18 %).
    """
    if (px & 3) != 0 or (py & 3) != 0:
        if fractional:
            least = _least_cost(lam, lam * 2 * near)
            if _try(cur, refs[order[near]], w, h, x0, y0, bs, px, py, px, py, lim, lam, smooth,
                    lam * 2 * near, least + 1) <= least:
                return near, least
        return -1, np.int64(1) << 62
    for r in range(n_prev):
        least = _least_cost(lam, lam * 2 * r)
        if _try(cur, refs[order[r]], w, h, x0, y0, bs, px, py, px, py, lim, lam, smooth,
                lam * 2 * r, least + 1) <= least:
            return r, least
    return -1, np.int64(1) << 62


@inline
def sampled(bx, by, step):
    """Whether block (bx, by) is searched when estimating by ``step``: whole block
    rows, one in ``step``, so that a block's left neighbour is searched (the
    vectors it passes on matter: sampled blocks one by one estimated two-sided
    order 23 % worse than a full search did on the lebiniou clip, rows 3 % worse)."""
    return by % step == 0


@inline
def _scaled(v, to, frm):
    """A whole-sample vector component over ``frm`` frames scaled to ``to`` frames."""
    return ((v * to) // frm) & ~3


@kernel
def _estimate_blocks(cur, refs, order, n_prev, dist, near, bi, w, h, log2b, nbx, nby, search,
                     lam, smooth, subpel, fractional, prev_mv, mv, coarse, cand, found, step):
    bs = 1 << log2b
    lim = 4 * search
    total = np.int64(0)
    for by in range(nby):
        for bx in range(nbx):
            if step > 1 and not sampled(bx, by, step):
                continue
            k = by * nbx + bx
            x0 = bx * bs
            y0 = by * bs
            px = _predict_mv(mv, nbx, bx, by, 0)
            py = _predict_mv(mv, nbx, bx, by, 1)
            cand[0, 0] = 0
            cand[0, 1] = 0
            cand[1, 0] = px & ~3
            cand[1, 1] = py & ~3
            cand[3, 0] = prev_mv[k, 0] & ~3
            cand[3, 1] = prev_mv[k, 1] & ~3
            cand[4, 0] = mv[k - 1, 0] & ~3 if bx > 0 else 0
            cand[4, 1] = mv[k - 1, 1] & ~3 if bx > 0 else 0
            cand[5, 0] = mv[k - nbx, 0] & ~3 if by > 0 else 0
            cand[5, 1] = mv[k - nbx, 1] & ~3 if by > 0 else 0
            best = np.int64(1) << 62
            bref = 0
            bmx = 0
            bmy = 0
            nmx = 0  # the nearest reference's whole-sample vector
            nmy = 0
            matched, least = _exact_reference(cur, refs, order, n_prev, near, fractional, w, h,
                                              x0, y0, bs, px, py, lim, lam, smooth)
            cap = least + 1  # the other references' searches count costs up to the match's
            for i in range(n_prev):
                r = near if i == 0 else (i - 1 if i <= near else i)  # the nearest first
                found[r, 0] = np.int64(1) << 62
                if best <= _least_cost(lam, lam * 2 * r):
                    continue  # no vector into this reference could cost less
                if r == matched:  # what its search would find, first
                    found[r, 0] = least
                    found[r, 1] = px
                    found[r, 2] = py
                    if i == 0:
                        nmx = px
                        nmy = py
                    if least < best:
                        best, bref, bmx, bmy = least, r, px, py
                    continue
                cand[2, 0] = _scaled(coarse[k, 0], dist[r], dist[near])
                cand[2, 1] = _scaled(coarse[k, 1], dist[r], dist[near])
                cand[N_CAND - 1, 0] = _scaled(nmx, dist[r], dist[near])
                cand[N_CAND - 1, 1] = _scaled(nmy, dist[r], dist[near])
                planes = refs[order[r]]
                cost, mx, my = _search_whole(cur, planes, w, h, x0, y0, bs, px, py, cand,
                                             N_CAND if i > 0 else N_CAND - 1, lim, lam, smooth,
                                             lam * 2 * r, 8 if i == 0 else 0, cap)
                if i == 0:
                    nmx = mx
                    nmy = my
                if subpel:
                    cost, mx, my = _refine_subsample(cur, planes, w, h, x0, y0, bs, px, py,
                                                     cost, mx, my, lim, lam, smooth, lam * 2 * r)
                if cost >= cap:
                    continue  # nothing here costs as little as the matched reference
                found[r, 0] = cost
                found[r, 1] = mx
                found[r, 2] = my
                if cost < best:
                    best, bref, bmx, bmy = cost, r, mx, my
            mv[k, 0] = bmx
            mv[k, 1] = bmy
            mv[k, 2] = bref
            mv[k, 3] = 0
            mv[k, 4] = 0
            mv[k, 5] = 0
            if bi and n_prev > 1 and best > _least_cost(lam, 0):
                best = _search_bi(cur, refs, order, n_prev, dist, w, h, x0, y0, bs, px, py, lim,
                                  lam, smooth, subpel, found, best, mv, k)
            total += best
    return total


@inline
def _bi_extra(lam, a, b, n_prev):
    """Estimated bits of a bi-predicted block's references and flag, times ``lam``."""
    return lam * (2 * a + 2 + 2 * (n_prev > 2) * (b - (b > a)))


@inline
def _bi_bits(lam, px, py, amx, amy, bmx, bmy):
    """Estimated bits of a bi-predicted block's vectors (the second against the
    first mirrored), times ``lam``."""
    return lam * (_mv_bits(amx - px) + _mv_bits(amy - py) + _mv_bits(bmx + amx)
                  + _mv_bits(bmy + amy))


@kernel
def _try_bi(cur, pa, pb, w, h, x0, y0, bs, px, py, ax, ay, bx, by, lam, smooth, extra, best):
    """Cost of one pair of vectors, or ``best`` unchanged when it is not better."""
    cost = extra + _bi_bits(lam, px, py, ax, ay, bx, by)
    if cost >= best:
        return best
    return cost + _bi_cost(cur, pa, pb, w, h, x0, y0, bs, ax, ay, bx, by, best - cost, smooth)


@kernel
def _search_bi(cur, refs, order, n_prev, dist, w, h, x0, y0, bs, px, py, lim, lam, smooth,
               subpel, found, best, mv, k):
    """Bi-prediction for block k. Every pair of searched references (each way round
    where they lie on opposite sides) is costed from their own best vectors, and
    with the second mirrored from the first (linear motion through the block);
    the cheapest pair then has its second vector, then its first, refined by half
    and quarter sample steps. Kept in ``mv[k]`` where it costs less than ``best``.
    The first reference is coded as a single one is, the second as one of the
    others, its vector against the first mirrored (``framecoder._code_second``).
    Refining every pair instead: lebiniou 0.2 %, carphone 0.5 % smaller (60 frames),
    the two-sided search twice as long."""
    cost = best
    ba = -1
    bb = -1
    amx = amy = bmx = bmy = 0
    for a in range(n_prev):
        if found[a, 0] >= np.int64(1) << 62:
            continue
        for b in range(n_prev):
            if b == a or found[b, 0] >= np.int64(1) << 62:
                continue
            if dist[a] * dist[b] > 0 and b < a:
                continue  # same side: one order of the pair is enough
            extra = _bi_extra(lam, a, b, n_prev)
            pa = refs[order[a]]
            pb = refs[order[b]]
            for mirrored in range(2 if dist[a] * dist[b] < 0 else 1):
                cax = found[a, 1]
                cay = found[a, 2]
                cbx = -cax if mirrored else found[b, 1]
                cby = -cay if mirrored else found[b, 2]
                c = _try_bi(cur, pa, pb, w, h, x0, y0, bs, px, py, cax, cay, cbx, cby, lam,
                            smooth, extra, cost)
                if c < cost:
                    cost, ba, bb, amx, amy, bmx, bmy = c, a, b, cax, cay, cbx, cby
    if ba < 0:
        return best
    extra = _bi_extra(lam, ba, bb, n_prev)
    pa = refs[order[ba]]
    pb = refs[order[bb]]
    steps = 2 if subpel else 1
    for side in (0, 1, 0, 1):  # the second vector, then the first, twice
        for s in range(steps):
            step = (2 >> s) if subpel else 4
            cx0 = bmx if side == 0 else amx
            cy0 = bmy if side == 0 else amy
            for d in range(8):
                cx = cx0 + (step if d in (0, 4, 5) else (-step if d in (1, 6, 7) else 0))
                cy = cy0 + (step if d in (2, 4, 6) else (-step if d in (3, 5, 7) else 0))
                if cx < -lim or cx > lim or cy < -lim or cy > lim:
                    continue
                nax = amx if side == 0 else cx
                nay = amy if side == 0 else cy
                nbx = cx if side == 0 else bmx
                nby = cy if side == 0 else bmy
                c = _try_bi(cur, pa, pb, w, h, x0, y0, bs, px, py, nax, nay, nbx, nby, lam,
                            smooth, extra, cost)
                if c < cost:
                    cost, amx, amy, bmx, bmy = c, nax, nay, nbx, nby
    mv[k, 0] = amx
    mv[k, 1] = amy
    mv[k, 2] = ba
    mv[k, 3] = bmx
    mv[k, 4] = bmy
    mv[k, 5] = bb + 1
    return cost


@kernel
def _intra_cost(cur, w, h):
    """Sum of |x - MED(W, N, NW)| over plane 0: what spatial prediction leaves.
    Row slices shifted by each neighbour, so the loop runs in vector lanes."""
    total = np.int64(0)
    for y in range(1, h):
        here = cur[y * w + 1:(y + 1) * w]
        west = cur[y * w:(y + 1) * w - 1]
        north = cur[(y - 1) * w + 1:y * w]
        corner = cur[(y - 1) * w:y * w - 1]
        for x in range(w - 1):
            a = np.int32(west[x])
            b = np.int32(north[x])
            c = np.int32(corner[x])
            pred = min(max(a + b - c, min(a, b)), max(a, b))  # MED, without branches
            total += abs(np.int32(here[x]) - pred)
    return total
