# SPDX-License-Identifier: MIT
"""Integer inference of a group's network, one row of samples at a time.

The network is a flat int32 array ``net`` (one kernel argument):

    [0] n_in  [1] n_h1  [2] n_h2 (0: one hidden layer)  [3] n_seq
    [4] s1    [5] s2    [6] n_thr  [7] 0
    [8 .. 8 + n_out) output shifts, n_out = 2 + 2 * n_seq   (n_seq 2 or 3)
    W1[n_in][n_h1] B1[n_h1]  (W2[n_h1][n_h2] B2[n_h2])  W3[n_last][n_out] B3[n_out]
    thresholds[n_thr]

Hidden units are ``clamp((x @ W + B) >> s, 0, HIDDEN_MAX)`` (``>>`` is an
arithmetic shift, i.e. floor), kept as int16; output k is ``(h @ W3 + B3)[k] >> shift_k``:
the centre mu0 and log-scale ls0 in 1/16 units, then per sequential feature a
centre coefficient and a scale coefficient in units of 2**-(4 + COEF_FRAC).
Hidden-layer weights are 8-bit (|w| <= 127), hidden units 15-bit and features
at most 2**18 in magnitude, so their sums fit int32 and the row loops
vectorise in int32 lanes. Output weights are 16-bit (|w| <= 32767), summed in
int64: the coefficients multiply raw samples, so they need the precision.
"""

import numpy as np

from ._jit import inline, kernel

HEADER = 16
HIDDEN_MAX = (1 << 15) - 1
WEIGHT_MAX = 127
OUT_WEIGHT_MAX = 32767
BIAS_MAX = (1 << 30) - 1
MAX_HIDDEN = 64
MAX_OUT = 8
COEF_FRAC = 8
MU_FRAC = 4  # the centre and log-scale outputs are in units of 2**-MU_FRAC
MAX_BUCKETS = 16  # coding contexts a network's log-scale thresholds can make


@kernel
def _hidden_rows(net, pos, n_in, n_out, x, y, n, shift, acc):
    """y[:, :n] = clamp((W^T x[:, :n] + B) >> shift, 0, HIDDEN_MAX); returns the next offset.

    8-bit weights: every partial sum fits int32. Four units at a time, each
    input row read once for the four (``acc``: four int32 rows), which halves
    the memory traffic of a pass; the units fit int16 (``y``), which halves
    what the next layer reads.
    """
    b = pos + n_in * n_out
    a0 = acc[0, :n]
    a1 = acc[1, :n]
    a2 = acc[2, :n]
    a3 = acc[3, :n]
    for j0 in range(0, n_out, 4):
        m = min(4, n_out - j0)
        b0 = np.int32(net[b + j0])
        b1 = np.int32(net[b + j0 + 1]) if m > 1 else np.int32(0)
        b2 = np.int32(net[b + j0 + 2]) if m > 2 else np.int32(0)
        b3 = np.int32(net[b + j0 + 3]) if m > 3 else np.int32(0)
        for c in range(n):
            a0[c] = b0
            a1[c] = b1
            a2[c] = b2
            a3[c] = b3
        for i in range(n_in):
            at = pos + i * n_out + j0
            w0 = np.int32(net[at])
            w1 = np.int32(net[at + 1]) if m > 1 else np.int32(0)
            w2 = np.int32(net[at + 2]) if m > 2 else np.int32(0)
            w3 = np.int32(net[at + 3]) if m > 3 else np.int32(0)
            xi = x[i, :n]
            for c in range(n):
                xc = np.int32(xi[c])
                a0[c] += w0 * xc
                a1[c] += w1 * xc
                a2[c] += w2 * xc
                a3[c] += w3 * xc
        for q in range(m):
            aq = acc[q, :n]
            yq = y[j0 + q, :n]
            for c in range(n):
                v = aq[c] >> shift
                yq[c] = 0 if v < 0 else (HIDDEN_MAX if v > HIDDEN_MAX else v)
    return b + n_out


@kernel
def _output_rows(net, pos, n_in, n_out, x, y, n, acc):
    """y[k, :n] = (W^T x[:, :n] + B)[k] >> shift_k with 16-bit weights, exact in int64."""
    b = pos + n_in * n_out
    for j in range(n_out):
        bias = np.int64(net[b + j])
        for c in range(n):
            acc[c] = bias
        for i in range(n_in):
            wij = np.int64(net[pos + i * n_out + j])
            if wij != 0:
                xi = x[i]
                for c in range(n):
                    acc[c] += wij * xi[c]
        s = net[8 + j]
        yj = y[j]
        for c in range(n):
            yj[c] = acc[c] >> s


@kernel
def _mlp_rows(net, feats, n, h1, h2, out, acc, acc32):
    """Network outputs for the first n columns of ``feats`` into ``out[:n_out, :n]``
    (int64, exact). ``h1`` and ``h2`` are int16 rows of hidden units; ``acc``
    (int64, one row) and ``acc32`` (int32, four rows) scratch of at least n columns.
    """
    n_in = net[0]
    n_h1 = net[1]
    n_h2 = net[2]
    n_out = 2 + 2 * net[3]
    pos = _hidden_rows(net, HEADER, n_in, n_h1, feats, h1, n, net[4], acc32)
    if n_h2 > 0:
        pos = _hidden_rows(net, pos, n_h1, n_h2, h1, h2, n, net[5], acc32)
        _output_rows(net, pos, n_h2, n_out, h2, out, n, acc)
    else:
        _output_rows(net, pos, n_h1, n_out, h1, out, n, acc)


@inline
def _bucket(net, ls):
    """Coding context of a log-scale: how many thresholds it reaches."""
    n_thr = net[6]
    t = net.shape[0] - n_thr
    q = 0
    for j in range(n_thr):
        q += 1 if ls >= net[t + j] else 0
    return q


MAX_LUT = 4096


@kernel
def _bucket_table(net, lut):
    """``lut[k]`` = ``_bucket`` of the log-scale ``lo - 1 + k`` for k = 0 .. span + 1,
    where [lo, lo + span) holds the thresholds; returns (lo, span), span -1 when
    they spread too wide for ``lut`` (then ``_bucket_fast`` counts)."""
    n_thr = net[6]
    if n_thr == 0:
        lut[0] = 0
        lut[1] = 0
        return np.int64(0), np.int64(0)
    t = net.shape[0] - n_thr
    lo = np.int64(net[t])
    span = np.int64(net[t + n_thr - 1]) - lo + 1
    if span + 2 > lut.shape[0]:
        return lo, np.int64(-1)
    for k in range(span + 2):
        lut[k] = _bucket(net, lo - 1 + k)
    return lo, span


@inline
def _bucket_fast(net, ls, lut, lo, span):
    """``_bucket`` through the table of ``_bucket_table``: one clamped lookup."""
    if span < 0:
        return np.int64(_bucket(net, ls))
    return np.int64(lut[min(max(ls - lo + 1, 0), span + 1)])
