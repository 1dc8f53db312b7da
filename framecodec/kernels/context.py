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

``_row_features`` and ``_sequential`` are the one definition of what a
network sees: the coder (framecoder.py) and the training-data gatherer
(gather.py) both call them. A new feature is a line in one of the functions
below, its count in the constants, and its paragraph in FORMAT.md 6.5.1;
network shapes, training and the model record follow from the counts.
"""

import numpy as np

from ._jit import kernel

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
def _intra_row_features(rec, i, x, y, w, ys, out, k):
    """Intra row features of the sample at flat index i into out[0:6, k]."""
    if y <= ys:
        for f in range(N_INTRA_ROW):
            out[f, k] = 0
        return
    n = np.int64(rec[i - w])
    has_w = x > 0
    has_e = x + 1 < w
    two_up = y - 1 > ys
    out[0, k] = rec[i - w - 1] - n if has_w else 0
    out[1, k] = rec[i - w + 1] - n if has_e else 0
    out[2, k] = rec[i - 2 * w] - n if two_up else 0
    out[3, k] = rec[i - 2 * w + 1] - n if (two_up and has_e) else 0
    out[4, k] = rec[i - w - 2] - n if x > 1 else 0
    out[5, k] = rec[i - w + 2] - n if x + 2 < w else 0


@kernel
def _inter_row_features(rec, ref, i, x, y, w, h, ys, out, k):
    """Inter row features of the sample at flat index i into out[0:10, k]."""
    r = np.int64(ref[i])
    has_w = x > 0
    has_e = x + 1 < w
    if y > ys:
        up = i - w
        out[0, k] = np.int64(rec[up]) - ref[up]
        out[1, k] = np.int64(rec[up - 1]) - ref[up - 1] if has_w else 0
        out[2, k] = np.int64(rec[up + 1]) - ref[up + 1] if has_e else 0
        out[3, k] = np.int64(rec[up - w]) - ref[up - w] if y - 1 > ys else 0
        out[4, k] = np.int64(rec[up - 2]) - ref[up - 2] if x > 1 else 0
        out[5, k] = np.int64(rec[up + 2]) - ref[up + 2] if x + 2 < w else 0
    else:
        for f in range(6):
            out[f, k] = 0
    out[6, k] = np.int64(ref[i - 1]) - r if has_w else 0
    out[7, k] = np.int64(ref[i - w]) - r if y > 0 else 0
    out[8, k] = np.int64(ref[i + 1]) - r if has_e else 0
    out[9, k] = np.int64(ref[i + w]) - r if y + 1 < h else 0


@kernel
def _colocated_err(err, geom, q, p, y, x):
    """Sum of err over the samples of plane q co-located with (y, x) of plane p."""
    off_q = geom[q, 0]
    wq = geom[q, 1]
    hq = geom[q, 2]
    dx = geom[p, 3] - geom[q, 3]
    dy = geom[p, 4] - geom[q, 4]
    if dx >= 0 and dy >= 0:  # q is as fine or finer: sum its samples
        x0 = x << dx
        y0 = y << dy
        total = np.int64(0)
        for yy in range(y0, y0 + (1 << dy)):
            row = off_q + min(yy, hq - 1) * wq
            for xx in range(x0, x0 + (1 << dx)):
                total += err[row + min(xx, wq - 1)]
        return total
    xq = x >> (-dx) if dx < 0 else x << dx
    yq = y >> (-dy) if dy < 0 else y << dy
    return np.int64(err[off_q + min(yq, hq - 1) * wq + min(xq, wq - 1)])


@kernel
def _cross_row_features(err, geom, p, y, x, out, f, k):
    """Cross-plane features of plane p at (y, x) into out[f:, k]."""
    if p >= 1:
        out[f, k] = _colocated_err(err, geom, 0, p, y, x)
    if p >= 2:
        out[f + 1, k] = _colocated_err(err, geom, p - 1, p, y, x)


@kernel
def _intra_base(rec, i, x, y, w, ys, mid):
    """N, or W in a slice's first row, or mid at its very first sample."""
    if y > ys:
        return np.int64(rec[i - w])
    if x > 0:
        return np.int64(rec[i - 1])
    return np.int64(mid)


@kernel
def _med(a, b, c):
    """LOCO-I's median edge detector of left a, above b, above-left c."""
    mx = max(a, b)
    mn = min(a, b)
    if c >= mx:
        return mn
    if c <= mn:
        return mx
    return a + b - c


@kernel
def _row_features(rec, ref, err, geom, p, i, x, y, w, h, ys, inter, out, k):
    """Every row feature of the sample at flat index i of plane p into out[:, k]:
    the network's inputs (``n_row_features(inter, p)`` of them)."""
    if inter:
        _inter_row_features(rec, ref, i, x, y, w, h, ys, out, k)
        _cross_row_features(err, geom, p, y, x, out, N_INTER_ROW, k)
    else:
        _intra_row_features(rec, i, x, y, w, ys, out, k)
        _cross_row_features(err, geom, p, y, x, out, N_INTRA_ROW, k)


@kernel
def _sequential(rec, ref, i, x, y, w, ys, half, inter, near, seq):
    """The base of the sample at flat index i (returned), and its same-row
    features into seq[:n_sequential(inter)].

    Intra: W and WW minus base, and W's MED residual (0 when near-lossless:
    there it is mostly quantisation noise). Inter: the temporal residuals at
    W and WW.
    """
    if inter:
        seq[0] = np.int64(rec[i - 1]) - ref[i - 1] if x > 0 else 0
        seq[1] = np.int64(rec[i - 2]) - ref[i - 2] if x > 1 else 0
        return np.int64(ref[i])
    base = _intra_base(rec, i, x, y, w, ys, half)
    seq[0] = np.int64(rec[i - 1]) - base if x > 0 else 0
    seq[1] = np.int64(rec[i - 2]) - base if x > 1 else 0
    seq[2] = 0
    if near == 0 and x > 1 and y > ys:
        seq[2] = np.int64(rec[i - 1]) - _med(np.int64(rec[i - 2]), np.int64(rec[i - w - 1]),
                                             np.int64(rec[i - w - 2]))
    return base
