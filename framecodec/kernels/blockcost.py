# SPDX-License-Identifier: MIT
"""What a block costs against a motion-compensated reference (encoder only).

Motion search (search.py) prices each candidate vector by what its residuals
are estimated to cost, read from a reference's ``_half_planes``: every
position needs at most two samples (the two terms H.264 averages), and a
bi-predicted block averages two such predictions. A cost stops early once
above the caller's limit: a candidate that cannot win need not be finished.
"""

import numpy as np

from ._jit import inline, kernel
from .motion import _QPEL_TERMS

# The default block's width. A row of a block this wide is costed by a loop of
# this many iterations, known when compiling: LLVM then vectorises the whole row,
# where with the width a variable its vector loop (several vectors a step) skips
# 16 samples and the row goes sample by sample (the smooth cost 1.5-2.2 to 0.8-0.9 ns
# a sample, the two-reference cost 3.4-5.9 to 1.0-1.3); other widths take the same
# loop with a variable count. The SAD's and motion compensation's rows were
# vectorised already and got slower with it (docs/NOTES.md).
ROW = 16


@inline
def _qpel_lookup(planes, w, h, xq, yq):
    """``_qpel`` from ``_half_planes`` (search.py): the two terms ``_QPEL_TERMS``
    names for the position's quarter, averaged. Equal to it wherever the position lies inside
    the picture; outside, positions rather than taps are clamped (good enough for
    choosing vectors, never used to reconstruct)."""
    t = (yq & 3) * 4 + (xq & 3)
    x = xq >> 2
    y = yq >> 2
    a = planes[_QPEL_TERMS[t, 0], min(max(y + _QPEL_TERMS[t, 2], 0), h - 1) * w
               + min(max(x + _QPEL_TERMS[t, 1], 0), w - 1)]
    b = planes[_QPEL_TERMS[t, 3], min(max(y + _QPEL_TERMS[t, 5], 0), h - 1) * w
               + min(max(x + _QPEL_TERMS[t, 4], 0), w - 1)]
    return (np.int64(a) + np.int64(b) + 1) >> 1




@inline
def _mv_bits(d):
    """Rough cost in bits of a vector difference component (Exp-Golomb-like)."""
    a = d if d >= 0 else -d
    n = 1
    while a > 0:
        n += 2
        a >>= 1
    return n


@kernel
def _block_cost(cur, planes, w, h, x0, y0, bs, mvx, mvy, limit, smooth):
    """What coding a plane-0 block against a reference (``_half_planes``) displaced
    by (mvx, mvy) quarter samples is estimated to cost; stops early once above
    ``limit``. ``smooth``: ``_block_smooth_cost``, else the SAD; motion.py chooses."""
    if smooth:
        return _block_smooth_cost(cur, planes, w, h, x0, y0, bs, mvx, mvy, limit)
    return _block_sad(cur, planes, w, h, x0, y0, bs, mvx, mvy, limit)


@kernel
def _block_sad(cur, planes, w, h, x0, y0, bs, mvx, mvy, limit):
    """SAD of a plane-0 block against a reference (``_half_planes``) displaced by
    (mvx, mvy) quarter samples; stops early once above ``limit``.

    A block whose taps all lie inside the picture (nearly all of them) reads
    each row through slices indexed from 0, with an int32 sum per row: indices
    the compiler knows are not negative need no wraparound select, so the row
    vectorises (4.4x faster than indexing the planes at ``row + x``)."""
    x1 = min(x0 + bs, w)
    y1 = min(y0 + bs, h)
    t, pa, ax, ay, pb, bx, by = _terms(mvx, mvy)
    if not (x0 + min(ax, bx) >= 0 and x1 + max(ax, bx) <= w
            and y0 + min(ay, by) >= 0 and y1 + max(ay, by) <= h):
        return _edge_block_cost(cur, planes, w, h, x0, y0, x1, y1, mvx, mvy, limit, False)
    n = x1 - x0
    total = np.int64(0)
    for y in range(y0, y1):
        c = cur[y * w + x0:y * w + x1]
        ra = (y + ay) * w + x0 + ax
        a = planes[pa, ra:ra + n]
        row = np.int32(0)
        if t == 0:
            for i in range(n):
                row += abs(np.int32(c[i]) - np.int32(a[i]))
        else:
            rb = (y + by) * w + x0 + bx
            b = planes[pb, rb:rb + n]
            for i in range(n):
                row += abs(np.int32(c[i]) - ((np.int32(a[i]) + np.int32(b[i]) + 1) >> 1))
        total += row
        if total > limit:
            return total
    return total


@kernel
def _block_smooth_cost(cur, planes, w, h, x0, y0, bs, mvx, mvy, limit):
    """Half the sum of a block's residual magnitudes (its SAD) and of their
    differences along each row (the first sample's from 0), summed row by row.

    The network predicts a residual from its neighbours', so a vector leaving a
    smooth residual costs less than its SAD says (noisy camera clips, deforming
    content): lossless, the corpus is 1.3 % smaller than with the SAD (motion.py).
    Rows read the residual to the left again instead of carrying it, through
    slices starting a column to the left, so that no column waits for the one
    before it; about three times the SAD's time."""
    x1 = min(x0 + bs, w)
    y1 = min(y0 + bs, h)
    t, pa, ax, ay, pb, bx, by = _terms(mvx, mvy)
    if not _rows_inside(x0, x1, y0, y1, w, h, min(ax, bx), max(ax, bx), min(ay, by),
                        max(ay, by)):
        return _edge_block_cost(cur, planes, w, h, x0, y0, x1, y1, mvx, mvy, limit, True)
    n = x1 - x0
    total = np.int64(0)
    for y in range(y0, y1):
        at = y * w + x0 - 1
        ra = (y + ay) * w + x0 + ax - 1
        rb = (y + by) * w + x0 + bx - 1
        # a column to the left of the block row, then the row itself
        cl, c = cur[at:at + n], cur[at + 1:at + 1 + n]
        al, a = planes[pa, ra:ra + n], planes[pa, ra + 1:ra + 1 + n]
        bl, b = planes[pb, rb:rb + n], planes[pb, rb + 1:rb + 1 + n]
        if n == ROW:
            total += _smooth_row(c, cl, a, al, b, bl, t, ROW) >> 1
        else:
            total += _smooth_row(c, cl, a, al, b, bl, t, n) >> 1
        if total > limit:
            return total
    return total


@inline
def _smooth_row(c, cl, a, al, b, bl, t, n):
    """A block row's sum of residual magnitudes and of their differences along it,
    from the row (``c``, terms ``a`` and ``b``) and the same shifted a column left."""
    row = np.int32(0)
    if t == 0:
        for i in range(n):
            d = np.int32(c[i]) - np.int32(a[i])
            left = (np.int32(cl[i]) - np.int32(al[i])) * np.int32(i > 0)
            row += abs(d) + abs(d - left)
    else:
        for i in range(n):
            d = np.int32(c[i]) - ((np.int32(a[i]) + np.int32(b[i]) + 1) >> 1)
            left = (np.int32(cl[i]) - ((np.int32(al[i]) + np.int32(bl[i]) + 1) >> 1)) \
                * np.int32(i > 0)
            row += abs(d) + abs(d - left)
    return row


@inline
def _terms(mvx, mvy):
    """(phase, plane a, its dx, dy, plane b, its dx, dy): the two terms H.264 averages
    for a vector (``_QPEL_TERMS``), displaced by its whole samples."""
    t = (mvy & 3) * 4 + (mvx & 3)
    dx = mvx >> 2
    dy = mvy >> 2
    return (t, _QPEL_TERMS[t, 0], dx + _QPEL_TERMS[t, 1], dy + _QPEL_TERMS[t, 2],
            _QPEL_TERMS[t, 3], dx + _QPEL_TERMS[t, 4], dy + _QPEL_TERMS[t, 5])


@inline
def _rows_inside(x0, x1, y0, y1, w, h, dx_lo, dx_hi, dy_lo, dy_hi):
    """Whether a block's rows, and the column to their left, read inside the picture
    at every displacement in [dx_lo, dx_hi] x [dy_lo, dy_hi]: the sliced costs'
    condition (else the clamped ``_edge_*`` costs)."""
    return (x0 >= 1 and x0 + dx_lo >= 1 and x1 + dx_hi <= w and y0 + dy_lo >= 0
            and y1 + dy_hi <= h)


@kernel
def _edge_block_cost(cur, planes, w, h, x0, y0, x1, y1, mvx, mvy, limit, smooth):
    """``_block_cost`` of a block whose taps reach outside the picture (clamped):
    ``_edge_bi_cost`` of the same prediction twice, whose rounded average is itself."""
    return _edge_bi_cost(cur, planes, planes, w, h, x0, y0, x1, y1, mvx, mvy, mvx, mvy, limit,
                         smooth)


@kernel
def _bi_cost(cur, pa, pb, w, h, x0, y0, bs, ax, ay, bx, by, limit, smooth):
    """``_block_cost`` of the average of two predictions, by vector (ax, ay) into
    reference planes ``pa`` and (bx, by) into ``pb``, each as ``_qpel`` and
    averaged rounding up as the decoder does (motion._compensate_blocks). Rows
    read through slices, as ``_block_smooth_cost`` does, where every term of both
    lies inside the picture, and a column to the left of the block."""
    x1 = min(x0 + bs, w)
    y1 = min(y0 + bs, h)
    ta, a1, a1x, a1y, a2, a2x, a2y = _terms(ax, ay)
    tb, b1, b1x, b1y, b2, b2x, b2y = _terms(bx, by)
    if not _rows_inside(x0, x1, y0, y1, w, h, min(a1x, a2x, b1x, b2x),
                        max(a1x, a2x, b1x, b2x), min(a1y, a2y, b1y, b2y),
                        max(a1y, a2y, b1y, b2y)):
        return _edge_bi_cost(cur, pa, pb, w, h, x0, y0, x1, y1, ax, ay, bx, by, limit, smooth)
    n = x1 - x0
    total = np.int64(0)
    for y in range(y0, y1):
        at = y * w + x0 - 1
        r1 = (y + a1y) * w + x0 + a1x - 1
        r2 = (y + a2y) * w + x0 + a2x - 1
        r3 = (y + b1y) * w + x0 + b1x - 1
        r4 = (y + b2y) * w + x0 + b2x - 1
        c = cur[at:at + n + 1]
        p1 = pa[a1, r1:r1 + n + 1]
        p2 = pa[a2, r2:r2 + n + 1]
        p3 = pb[b1, r3:r3 + n + 1]
        p4 = pb[b2, r4:r4 + n + 1]
        if n == ROW:
            total += _bi_row(c, p1, p2, p3, p4, smooth, ROW) >> 1
        else:
            total += _bi_row(c, p1, p2, p3, p4, smooth, n) >> 1
        if total > limit:
            return total
    return total


@inline
def _bi_row(c, p1, p2, p3, p4, smooth, n):
    """``_smooth_row`` (or twice the SAD) of a row predicted by two averaged pairs of
    terms, each slice starting a column to the left of the block."""
    row = np.int32(0)
    for i in range(n):  # the residual at i + 1 and the one to its left (0 first)
        d = np.int32(c[i + 1]) - ((((np.int32(p1[i + 1]) + np.int32(p2[i + 1]) + 1) >> 1)
                                   + ((np.int32(p3[i + 1]) + np.int32(p4[i + 1]) + 1) >> 1)
                                   + 1) >> 1)
        left = (np.int32(c[i]) - ((((np.int32(p1[i]) + np.int32(p2[i]) + 1) >> 1)
                                   + ((np.int32(p3[i]) + np.int32(p4[i]) + 1) >> 1)
                                   + 1) >> 1)) * np.int32(i > 0)
        row += abs(d) + (abs(d - left) if smooth else abs(d))
    return row


@kernel
def _edge_bi_cost(cur, pa, pb, w, h, x0, y0, x1, y1, ax, ay, bx, by, limit, smooth):
    """``_bi_cost`` of a block some of whose terms lie outside the picture."""
    total = np.int64(0)
    for y in range(y0, y1):
        row_cost = np.int64(0)
        left = np.int64(0)
        for x in range(x0, x1):
            a = _qpel_lookup(pa, w, h, (x << 2) + ax, (y << 2) + ay)
            b = _qpel_lookup(pb, w, h, (x << 2) + bx, (y << 2) + by)
            d = np.int64(cur[y * w + x]) - ((a + b + 1) >> 1)
            row_cost += abs(d) + (abs(d - left) if smooth else abs(d))
            left = d
        total += row_cost >> 1
        if total > limit:
            return total
    return total
