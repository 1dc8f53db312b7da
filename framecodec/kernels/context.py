# SPDX-License-Identifier: MIT
"""Causal contexts: the integer features a sample is predicted from.

Frames are one flat buffer of samples; plane ``p`` starts at ``geom[p, 0]``
and has ``geom[p, 1]`` columns, ``geom[p, 2]`` rows and subsampling shifts
``geom[p, 3]`` (x) and ``geom[p, 4]`` (y) relative to plane 0.

Features come in two kinds, so the network can run on a whole row at once:

* *row features* use only samples of rows already coded (the previous rows
  of the slice), the motion-compensated reference (known everywhere) and
  planes already coded; a row's network outputs are computed in one batch;
* *sequential features* use the samples to the left in the same row; they
  enter the prediction linearly, weighted by coefficients the network
  outputs for each sample.

Neighbours are named as in FFV1 (W left, N above, NE above right, ...).

intra  base = N (or W in a slice's first row, or the mid value at its first
       sample); row features NW, NE, NN, NNE, NWW, NEE minus N (zero in a
       slice's first row); sequential features W and WW minus base, and W's
       own MED residual, W - MED(WW, NW, NWW) (error feedback: where the
       median predictor just failed, an edge or text stroke is near).
inter  base = R, the reference at the sample; row features are the temporal
       residuals e = rec - R at N, NW, NE, NN, NWW, NEE and the reference's
       own texture R[W], R[N], R[E], R[S] minus R; sequential features e at
       W and WW.

Planes p >= 1 add *cross-plane* row features: the sum of ``err`` (rec minus
base) over the co-located samples of plane 0 and, for p >= 2, of plane
p - 1. A neighbour outside the plane, or above the slice's first row
``ys``, is unavailable: its feature is 0 (docs/FORMAT.md 6.5.1).

``_row_features`` (a whole row at a time, so the loops vectorise) and
``_sequential`` (one sample) are the one definition of what a network sees:
the coder (framecoder.py) and the training-data gatherer (gather.py) both
call them. A new feature is a line in one of the functions
below, its count in the constants, and its paragraph in FORMAT.md 6.5.1;
network shapes, training and the model record follow from the counts.
"""

import numpy as np

from ._jit import inline, kernel

N_INTRA_ROW = 6
N_INTER_ROW = 10
N_SEQ_INTRA = 3
N_SEQ_INTER = 2
MAX_SEQ = 3
MAX_ROW_FEATURES = 12


def n_row_features(inter: bool, plane: int) -> int:
    return (N_INTER_ROW if inter else N_INTRA_ROW) + min(plane, 2)


def n_sequential(inter: bool) -> int:
    return N_SEQ_INTER if inter else N_SEQ_INTRA


@kernel
def _diff_row(out, f, a, a_off, b, b_off, lo, hi, w):
    """out[f, x] = a[a_off + x] - b[b_off + x] for x in [lo, hi), 0 for the other x < w.

    Written on slices: with views of known extent the loop vectorises (indexing
    the whole arrays, LLVM cannot rule out aliasing and stays scalar)."""
    o = out[f]
    hi = max(hi, lo)
    for x in range(min(lo, w)):  # a plane narrower than lo has no x >= lo
        o[x] = 0
    for x in range(hi, w):
        o[x] = 0
    av = a[a_off + lo:a_off + hi]
    bv = b[b_off + lo:b_off + hi]
    ov = o[lo:hi]
    for x in range(hi - lo):
        ov[x] = np.int32(av[x]) - np.int32(bv[x])


@kernel
def _residual_row(out, f, rec, ref, off, lo, hi, w):
    """out[f, x] = rec - ref at off + x for x in [lo, hi), 0 for the other x < w."""
    _diff_row(out, f, rec, off, ref, off, lo, hi, w)


@kernel
def _intra_row_features(rec, row, y, w, ys, out):
    """Intra row features of row y (flat offset ``row``) into out[0:6, 0:w]: the
    neighbours NW, NE, NN, NNE, NWW, NEE minus N; zero in a slice's first row."""
    if y <= ys:
        for f in range(N_INTRA_ROW):
            for x in range(w):
                out[f, x] = 0
        return
    up = row - w
    two_up = y - 1 > ys
    _diff_row(out, 0, rec, up - 1, rec, up, 1, w, w)  # NW
    _diff_row(out, 1, rec, up + 1, rec, up, 0, w - 1, w)  # NE
    _diff_row(out, 2, rec, up - w, rec, up, 0, w if two_up else 0, w)  # NN
    _diff_row(out, 3, rec, up - w + 1, rec, up, 0, w - 1 if two_up else 0, w)  # NNE
    _diff_row(out, 4, rec, up - 2, rec, up, 2, w, w)  # NWW
    _diff_row(out, 5, rec, up + 2, rec, up, 0, w - 2, w)  # NEE


@kernel
def _inter_row_features(rec, ref, row, y, w, h, ys, out):
    """Inter row features of row y into out[0:10, 0:w]: the temporal residuals
    rec - R at N, NW, NE, NN, NWW, NEE (zero in a slice's first row), then the
    reference's own texture R[W], R[N], R[E], R[S] minus R."""
    up = row - w
    above = y > ys
    _residual_row(out, 0, rec, ref, up, 0, w if above else 0, w)  # N
    _residual_row(out, 1, rec, ref, up - 1, 1, w if above else 0, w)  # NW
    _residual_row(out, 2, rec, ref, up + 1, 0, w - 1 if above else 0, w)  # NE
    _residual_row(out, 3, rec, ref, up - w, 0, w if above and y - 1 > ys else 0, w)  # NN
    _residual_row(out, 4, rec, ref, up - 2, 2, w if above else 0, w)  # NWW
    _residual_row(out, 5, rec, ref, up + 2, 0, w - 2 if above else 0, w)  # NEE
    _diff_row(out, 6, ref, row - 1, ref, row, 1, w, w)  # R[W]
    _diff_row(out, 7, ref, row - w, ref, row, 0, w if y > 0 else 0, w)  # R[N]
    _diff_row(out, 8, ref, row + 1, ref, row, 0, w - 1, w)  # R[E]
    _diff_row(out, 9, ref, row + w, ref, row, 0, w if y + 1 < h else 0, w)  # R[S]


@kernel
def _colocated_row(err, geom, q, p, y, out, f):
    """out[f, x] = the sum of err over the samples of plane q co-located with
    (y, x) of plane p, for every x of the row (edges of q repeat)."""
    off_q = geom[q, 0]
    wq = geom[q, 1]
    hq = geom[q, 2]
    w = geom[p, 1]
    dx = geom[p, 3] - geom[q, 3]
    dy = geom[p, 4] - geom[q, 4]
    o = out[f, :w]
    if dx >= 0 and dy >= 0:  # q is as fine or finer: sum its samples
        step = 1 << dx
        for x in range(w):
            o[x] = 0
        for yy in range(y << dy, (y << dy) + (1 << dy)):
            row = off_q + min(yy, hq - 1) * wq
            last = err[row + wq - 1]
            for j in range(step):
                ev = err[row + j:row + wq:step]  # x with (x << dx) + j inside plane q
                m = min(ev.shape[0], w)
                for x in range(m):
                    o[x] += ev[x]
                for x in range(m, w):
                    o[x] += last
        return
    yq = y >> (-dy) if dy < 0 else y << dy
    row = off_q + min(yq, hq - 1) * wq
    for x in range(w):
        xq = x >> (-dx) if dx < 0 else x << dx
        o[x] = err[row + min(xq, wq - 1)]


@kernel
def _row_features(rec, ref, err, geom, p, y, ys, inter, out):
    """Every row feature of every sample of row y of plane p into out[:, 0:w]:
    the network's inputs (``n_row_features(inter, p)`` rows), skipped or not.

    Planes p >= 1 add the co-located ``err`` of plane 0 and, for p >= 2, of
    plane p - 1 (cross-plane features).
    """
    w = geom[p, 1]
    row = geom[p, 0] + y * w
    f = N_INTER_ROW if inter else N_INTRA_ROW
    if inter:
        _inter_row_features(rec, ref, row, y, w, geom[p, 2], ys, out)
    else:
        _intra_row_features(rec, row, y, w, ys, out)
    if p >= 1:
        _colocated_row(err, geom, 0, p, y, out, f)
    if p >= 2:
        _colocated_row(err, geom, p - 1, p, y, out, f + 1)


@inline
def _intra_base(rec, i, x, y, w, ys, mid, west):
    """N, or W (``west``) in a slice's first row, or mid at its very first sample."""
    if y > ys:
        return np.int64(rec[i - w])
    if x > 0:
        return west
    return np.int64(mid)


@inline
def _med(a, b, c):
    """LOCO-I's median edge detector of left a, above b, above-left c: a + b - c
    clamped to [min(a, b), max(a, b)] (the same value, without branches)."""
    return min(max(a + b - c, min(a, b)), max(a, b))


@inline
def _sequential(rec, ref, i, x, y, w, ys, half, inter, near):
    """(base, s0, s1, s2) of the sample at flat index i: the base its prediction
    is relative to and its same-row features (``n_sequential(inter)`` of them;
    s2 is 0 for inter samples).

    Intra: W and WW minus base, and W's MED residual (0 when near-lossless:
    there it is mostly quantisation noise). Inter: the temporal residuals at
    W and WW. A tuple, not an array: the values stay in registers.
    """
    west = np.int64(rec[i - 1]) if x > 0 else np.int64(0)
    west2 = np.int64(rec[i - 2]) if x > 1 else np.int64(0)
    return _sequential_after(rec, ref, i, x, y, w, ys, half, inter, near, west, west2)


@inline
def _sequential_after(rec, ref, i, x, y, w, ys, half, inter, near, west, west2):
    """``_sequential`` given the reconstructions of W and WW (read only where x > 0
    and x > 1). The coder passes the ones it has just made: read back from ``rec``,
    each sample's features would wait for its neighbour's store to reach the load."""
    if inter:
        s0 = west - np.int64(ref[i - 1]) if x > 0 else np.int64(0)
        s1 = west2 - np.int64(ref[i - 2]) if x > 1 else np.int64(0)
        return np.int64(ref[i]), s0, s1, np.int64(0)
    base = _intra_base(rec, i, x, y, w, ys, half, west)
    s0 = west - base if x > 0 else np.int64(0)
    s1 = west2 - base if x > 1 else np.int64(0)
    s2 = np.int64(0)
    if near == 0 and x > 1 and y > ys:
        s2 = west - _med(west2, np.int64(rec[i - w - 1]), np.int64(rec[i - w - 2]))
    return base, s0, s1, s2
