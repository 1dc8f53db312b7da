# SPDX-License-Identifier: MIT
"""Training a group's small networks: forward pass, backward pass and Adam, fused.

Encoder only. A group's predictors are MLPs of a few hundred weights trained
for hundreds of steps on batches of 1,024 rows. In torch such a step is about
a hundred operations of microseconds each, so the encoder spent its time in
per-operation overhead (4 ms a step for the six predictors of a clip, more
than half of an encode); here one call runs every step of every network.

Every float sum runs in an order fixed by the code: along rows one element
at a time (which vectorises without changing any result), over a batch by a
fixed pairwise tree (``_tree_sum``), and exp and log are written out with
``+ - * /`` and exact powers of two (no libm, whose last bit varies between
versions and CPUs; numba neither reassociates nor fuses multiply-adds with
``fastmath`` off). A group's networks, and so its bytes, are the same on
every machine and every vector width.

The layer sums and the weight gradients' trees run on explicit vectors
held in registers where the shapes allow (float_tiles.py), in the same order:
the same floats, 1.2 to 1.6 times as fast.

A network is a float32 parameter vector: per layer its weights
``[fan_in][fan_out]`` then its biases; ``sizes`` lists the layer widths,
inputs first. Activations and their gradients are feature-major
``(feature, row)``, so every inner loop runs along a batch's rows.
"""

import math

import numpy as np

from ._jit import float_kernel, inline, kernel
from .float_tiles import TILES, accumulate_tiles, dots_tiles

LOSS_LOGISTIC = 0  # code length of a residual under a discretised logistic (predictors)
LOSS_SLOTS = 1  # cross-entropy of the visited candidate slots (palette networks)

N_SLOTS_MAX = 8
SCALE_MIN, SCALE_MAX = -4.0, 10.0  # the clamp of a predictor's log-scale
PROB_MIN = 1e-9  # the least probability a residual's bin is given
LN2 = 0.6931471805599453
SQRT_HALF = 0.7071067811865476


@inline
def _exp(x):
    """e**x for |x| <= 80: a Taylor polynomial at x / 128, squared seven times (no
    branch, table or call, so loops over it vectorise; relative error ~1e-14)."""
    y = x * (1.0 / 128.0)
    p = 1.0 / 20922789888000.0
    p = p * y + 1.0 / 1307674368000.0
    p = p * y + 1.0 / 87178291200.0
    p = p * y + 1.0 / 6227020800.0
    p = p * y + 1.0 / 479001600.0
    p = p * y + 1.0 / 39916800.0
    p = p * y + 1.0 / 3628800.0
    p = p * y + 1.0 / 362880.0
    p = p * y + 1.0 / 40320.0
    p = p * y + 1.0 / 5040.0
    p = p * y + 1.0 / 720.0
    p = p * y + 1.0 / 120.0
    p = p * y + 1.0 / 24.0
    p = p * y + 1.0 / 6.0
    p = p * y + 0.5
    p = p * y + 1.0
    p = p * y + 1.0
    p = p * p  # seven squarings, written out: a loop here would keep callers' loops scalar
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    return p * p


@inline
def _log(y):
    """Natural log of y > 0: the exponent, and an atanh series on the mantissa
    in [sqrt(1/2), sqrt(2)) (relative error below 1e-16)."""
    m, e = math.frexp(y)
    if m < SQRT_HALF:
        m *= 2.0
        e -= 1
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = 1.0 / 23.0
    p = p * s2 + 1.0 / 21.0
    p = p * s2 + 1.0 / 19.0
    p = p * s2 + 1.0 / 17.0
    p = p * s2 + 1.0 / 15.0
    p = p * s2 + 1.0 / 13.0
    p = p * s2 + 1.0 / 11.0
    p = p * s2 + 1.0 / 9.0
    p = p * s2 + 1.0 / 7.0
    p = p * s2 + 1.0 / 5.0
    p = p * s2 + 1.0 / 3.0
    p = p * s2 + 1.0
    return e * LN2 + 2.0 * s * p


@inline
def _sigmoid(a):
    a = min(max(a, -80.0), 80.0)
    return 1.0 / (1.0 + _exp(-a))


@float_kernel
def exp_log(x, out_exp, out_log):
    """The kernels' exp and log on an array (for their tests against numpy)."""
    for i in range(x.shape[0]):
        out_exp[i] = _exp(x[i]) if abs(x[i]) <= 80.0 else 0.0
        out_log[i] = _log(x[i]) if x[i] > 0.0 else 0.0


@inline
def _tree(products, half):
    """products[0] += ... by halves from ``half`` (a power of two) down: the same
    result at any vector width."""
    while half >= 1:
        for r in range(half):
            products[r] += products[r + half]
        half >>= 1
    return products[0]


@inline
def _dots(d, xs, k0, m, span, products, grad, g_at, g_step):
    """grad[g_at + i * g_step] = sum(xs[k0 + i, :span] * d[:span]) for i < m <= 4,
    each by halves (``_tree``); the four share their reads of ``d``. In registers
    where the span allows (float_tiles.py), else by the loops below, its oracle."""
    if TILES and dots_tiles(d, xs, k0, m, span, grad, g_at, g_step):
        return
    _dots_rows(d, xs, k0, m, span, products, grad, g_at, g_step)


@inline
def _dots_rows(d, xs, k0, m, span, products, grad, g_at, g_step):
    half = span >> 1
    if half == 0:
        for i in range(m):
            grad[g_at + i * g_step] = xs[k0 + i, 0] * d[0]
        return
    if m == 4:
        x0 = xs[k0]
        x1 = xs[k0 + 1]
        x2 = xs[k0 + 2]
        x3 = xs[k0 + 3]
        p0 = products[0]
        p1 = products[1]
        p2 = products[2]
        p3 = products[3]
        for r in range(half):
            a = d[r]
            b = d[r + half]
            p0[r] = x0[r] * a + x0[r + half] * b
            p1[r] = x1[r] * a + x1[r + half] * b
            p2[r] = x2[r] * a + x2[r + half] * b
            p3[r] = x3[r] * a + x3[r + half] * b
        half >>= 1
        while half >= 1:
            for r in range(half):
                p0[r] += p0[r + half]
                p1[r] += p1[r + half]
                p2[r] += p2[r + half]
                p3[r] += p3[r + half]
            half >>= 1
        grad[g_at] = p0[0]
        grad[g_at + g_step] = p1[0]
        grad[g_at + 2 * g_step] = p2[0]
        grad[g_at + 3 * g_step] = p3[0]
        return
    for i in range(m):
        x = xs[k0 + i]
        p = products[i]
        for r in range(half):
            p[r] = x[r] * d[r] + x[r + half] * d[r + half]
        grad[g_at + i * g_step] = _tree(p, half >> 1)


@inline
def _accumulate(outs, o0, m, sources, weights, w_at, w_step, k_count, n):
    """outs[o0 + i, :n] += sum over k < k_count of weights[w_at + i + k * w_step]
    * sources[k, :n] (k in order) for i < m: whole tiles in vector registers
    (float_tiles.py), the columns left over four output rows per pass."""
    start = accumulate_tiles(outs, o0, m, sources, weights, w_at, w_step, k_count, n) \
        if TILES else 0
    if start < n:
        for i0 in range(0, m, 4):
            _accumulate_rows(outs, o0 + i0, min(4, m - i0), sources, weights, w_at + i0,
                             w_step, k_count, start, n)


@inline
def _accumulate_rows(outs, o0, m, sources, weights, w_at, w_step, k_count, start, n):
    """``_accumulate`` for i < m <= 4 over columns [start, n), plainly: the
    oracle of the tiles."""
    if m == 4:
        y0 = outs[o0]
        y1 = outs[o0 + 1]
        y2 = outs[o0 + 2]
        y3 = outs[o0 + 3]
        for k in range(k_count):
            at = w_at + k * w_step
            w0 = weights[at]
            w1 = weights[at + 1]
            w2 = weights[at + 2]
            w3 = weights[at + 3]
            x = sources[k]
            for r in range(start, n):
                v = x[r]
                y0[r] += w0 * v
                y1[r] += w1 * v
                y2[r] += w2 * v
                y3[r] += w3 * v
        return
    for i in range(m):
        y = outs[o0 + i]
        for k in range(k_count):
            w = weights[w_at + i + k * w_step]
            x = sources[k]
            for r in range(start, n):
                y[r] += w * x[r]


@inline
def _forward(p, sizes, width, acts, n):
    """Every layer's outputs for columns [0, n) of ``acts``, whose first ``width``
    rows hold the inputs (the rest up to sizes[0] are padding, left out); ReLU
    after every layer but the last."""
    layers = sizes.shape[0] - 1
    at = 0
    a_in = 0
    for layer in range(layers):
        fan_in = sizes[layer]
        fan_out = sizes[layer + 1]
        used = width if layer == 0 else fan_in
        a_out = a_in + fan_in
        for j in range(fan_out):
            bias = p[at + fan_in * fan_out + j]
            out = acts[a_out + j]
            for r in range(n):
                out[r] = bias
        # weights [k][j]: output j's weight of input k at at + k * fan_out + j
        _accumulate(acts[a_out:a_out + fan_out], 0, fan_out, acts[a_in:a_in + used], p, at,
                    fan_out, used, n)
        if layer < layers - 1:
            for j in range(fan_out):
                out = acts[a_out + j]
                for r in range(n):
                    if out[r] < 0:
                        out[r] = 0
        at += fan_in * fan_out + fan_out
        a_in = a_out


@inline
def _backward(p, grad, sizes, width, acts, deltas, n, products, weights_t):
    """Gradients of every parameter (written to ``grad``; padded inputs' are left
    as they are) from the gradients of the outputs in ``deltas``' last sizes[-1]
    rows. Columns n and on of ``acts`` and ``deltas`` hold zeros up to their
    width, a power of two. ``weights_t``: scratch for a
    layer's weights transposed."""
    span = acts.shape[1]
    layers = sizes.shape[0] - 1
    a_out = 0
    at = 0
    for layer in range(layers):
        a_out += sizes[layer]
        at += sizes[layer] * sizes[layer + 1] + sizes[layer + 1]
    for layer in range(layers - 1, -1, -1):
        fan_in = sizes[layer]
        fan_out = sizes[layer + 1]
        used = width if layer == 0 else fan_in
        a_in = a_out - fan_in
        at -= fan_in * fan_out + fan_out
        for j in range(fan_out):
            d = deltas[a_out + j]
            grad[at + fan_in * fan_out + j] = _sum(d, span, products[0])
            for k0 in range(0, used, 4):
                _dots(d, acts[a_in:a_in + used], k0, min(4, used - k0), span, products, grad,
                      at + k0 * fan_out + j, fan_out)
        if layer > 0:
            for k in range(fan_in):
                for j in range(fan_out):
                    weights_t[j * fan_in + k] = p[at + k * fan_out + j]
            for k in range(fan_in):
                dk = deltas[a_in + k]
                for r in range(n):
                    dk[r] = 0
            _accumulate(deltas[a_in:a_in + fan_in], 0, fan_in, deltas[a_out:a_out + fan_out],
                        weights_t, 0, fan_in, fan_out, n)
            for k in range(fan_in):
                dk = deltas[a_in + k]
                x = acts[a_in + k]
                for r in range(n):
                    if x[r] <= 0:
                        dk[r] = 0
        a_out = a_in


@inline
def _sum(d, span, products):
    """sum(d[:span]) by halves (``_tree``)."""
    half = span >> 1
    if half == 0:
        return d[0]
    for r in range(half):
        products[r] = d[r] + d[r + half]
    return _tree(products, half >> 1)


@inline
def _centres(acts, a_out, seqs, n_seq, n, work):
    """Per column r < n, the centre mu (work[0]) and unclamped log-scale (work[1]).

    Outputs: mu0, ls0, a_1..a_n_seq, b_1..b_n_seq; mu = mu0 + sum a_k s_k,
    log-scale = clamp(ls0 + sum b_k |s_k|).
    """
    mus = work[0]
    raws = work[1]
    for r in range(n):
        mus[r] = acts[a_out, r]
        raws[r] = acts[a_out + 1, r]
    for k in range(n_seq):
        a = acts[a_out + 2 + k]
        b = acts[a_out + 2 + n_seq + k]
        s = seqs[k]
        for r in range(n):
            mus[r] += np.float64(a[r]) * s[r]
            raws[r] += np.float64(b[r]) * abs(s[r])


@inline
def _bin(mu, raw, t):
    """(1/scale, bin edges in scale units, the logistic's CDF at them) for the
    residual's bin [t - 1/2, t + 1/2]."""
    inv = _exp(-min(max(raw, SCALE_MIN), SCALE_MAX))
    above = min(max((t + 0.5 - mu) * inv, -80.0), 80.0)
    below = min(max((t - 0.5 - mu) * inv, -80.0), 80.0)
    return inv, above, below, 1.0 / (1.0 + _exp(-above)), 1.0 / (1.0 + _exp(-below))


@inline
def _logistic_grad(acts, deltas, a_out, seqs, n_seq, targets, n, work):
    """The gradients of the mean code length of columns [0, n), in ``deltas``'
    output rows (bits; ``work``: two float64 rows of scratch). Loops along the
    columns (they vectorise); a bin below PROB_MIN, and a clamped scale, pass
    no gradient."""
    _centres(acts, a_out, seqs, n_seq, n, work)
    scale = -1.0 / (n * LN2)  # d(mean bits) / d(bin mass), times the mass
    d_mu = deltas[a_out]
    d_ls = deltas[a_out + 1]
    for r in range(n):
        raw = work[1, r]
        inv, above, below, upper, lower = _bin(work[0, r], raw, np.float64(targets[r]))
        mass = upper - lower
        g = scale / mass if mass >= PROB_MIN else 0.0
        slope_u = upper * (1.0 - upper)
        slope_l = lower * (1.0 - lower)
        d_mu[r] = -g * inv * (slope_u - slope_l)
        clamped = raw < SCALE_MIN or raw > SCALE_MAX
        d_ls[r] = 0.0 if clamped else -g * (slope_u * above - slope_l * below)
    for k in range(n_seq):
        da = deltas[a_out + 2 + k]
        db = deltas[a_out + 2 + n_seq + k]
        s = seqs[k]
        for r in range(n):
            da[r] = d_mu[r] * s[r]
            db[r] = d_ls[r] * abs(s[r])


@inline
def _logistic_bits(acts, a_out, seqs, n_seq, targets, n, work):
    """Code length in bits of columns [0, n), summed in column order."""
    _centres(acts, a_out, seqs, n_seq, n, work)
    total = 0.0
    for r in range(n):
        _, _, _, upper, lower = _bin(work[0, r], work[1, r], np.float64(targets[r]))
        total -= _log(max(upper - lower, PROB_MIN)) / LN2
    return total


@inline
def _slot_grad(acts, deltas, a_out, n_slots, targets, n):
    """The gradients of the mean cross-entropy of the visited slots' hit flags
    over columns [0, n), in ``deltas``' output rows (targets: the hit slot in
    the low byte, the visited slots from bit 8)."""
    inv_n = 1.0 / n
    for j in range(n_slots):
        z = acts[a_out + j]
        d = deltas[a_out + j]
        for r in range(n):
            packed = targets[r]
            y = 1.0 if (packed & 0xFF) == j else 0.0
            visited = (packed >> (8 + j)) & 1
            d[r] = (1.0 / (1.0 + _exp(-min(max(np.float64(z[r]), -80.0), 80.0))) - y) \
                * inv_n * visited


@inline
def _load_rows(rows, net, order, n, n_in, n_seq, inv_scale, acts, seqs, targets):
    """Rows ``order[:n]`` of set ``net``: inputs scaled into acts, sequential
    features scaled into seqs, targets as they are.

    The rows are drawn at random from a set of megabytes, so most miss the
    cache. The targets are read first, in a loop so short that the CPU has
    the misses of dozens of rows in flight at once (a row is 32 bytes at 8
    bits); the features then come from cache. Reading each row whole kept only
    a few misses in flight: training took 1.2 to 1.6 times as long."""
    for r in range(n):
        targets[r] = rows[net, order[r], n_in + n_seq]
    for r in range(n):
        row = order[r]
        for k in range(n_in):
            acts[k, r] = rows[net, row, k] * inv_scale
        for k in range(n_seq):
            seqs[k, r] = rows[net, row, n_in + k] * inv_scale


@float_kernel
def train_nets(rows, widths, n_seq, loss, inv_scale, sizes, order, rates, beta1s, corrections,
               params, grads, moment1, moment2, acts, deltas, seqs, targets, work,
               products, weights_t):
    """Every step of Adam on every network: network i learns from ``rows[i]``.

    rows (nets, n, sizes[0] + n_seq + 1): inputs (network i's first widths[i],
    then zeros), sequential features, target. order (steps, batch): the rows
    each step takes; rates, beta1s (steps): the schedule; corrections (steps,
    2): Adam's bias corrections. params, grads (zeros), moment1, moment2 (nets,
    n_params). Scratch: acts, deltas (sum(sizes), span), span the power of two
    at or above the batch, all zero; seqs
    (n_seq, batch) float64; targets (batch); work (2, batch) float64;
    products (4, span); weights_t (the largest layer's weights).
    """
    nets = rows.shape[0]
    n_in = sizes[0]
    n = order.shape[1]
    a_out = 0
    for layer in range(sizes.shape[0] - 1):
        a_out += sizes[layer]
    n_out = sizes[sizes.shape[0] - 1]
    beta2 = 0.999
    eps = 1e-8
    for step in range(order.shape[0]):
        for net in range(nets):
            _load_rows(rows, net, order[step], n, n_in, n_seq, inv_scale, acts, seqs, targets)
            p = params[net]
            _forward(p, sizes, widths[net], acts, n)
            if loss == LOSS_LOGISTIC:
                _logistic_grad(acts, deltas, a_out, seqs, n_seq, targets, n, work)
            else:
                _slot_grad(acts, deltas, a_out, n_out, targets, n)
            _backward(p, grads[net], sizes, widths[net], acts, deltas, n, products,
                      weights_t)
        rate = rates[step]
        beta1 = beta1s[step]
        step_size = rate / corrections[step, 0]
        root2 = math.sqrt(corrections[step, 1])
        for net in range(nets):
            p = params[net]
            g = grads[net]
            m = moment1[net]
            v = moment2[net]
            for q in range(p.shape[0]):
                gq = np.float64(g[q])
                mq = np.float64(m[q]) + (1.0 - beta1) * (gq - np.float64(m[q]))
                vq = beta2 * np.float64(v[q]) + (1.0 - beta2) * gq * gq
                m[q] = mq
                v[q] = vq
                p[q] = np.float64(p[q]) - step_size * mq / (math.sqrt(vq) / root2 + eps)


@kernel
def stack_set(out, k, n_in, feats, seqs, targets, pick):
    """out[k, i] = set row pick[i]: its features, then from column ``n_in`` its
    sequential features, then in the last column its target (other columns are
    left as they are). One pass, row by row: the sets are feature-major views,
    which numpy copies into rows column by column, at a stride each time."""
    row_out = out[k]
    last = out.shape[2] - 1
    for i in range(row_out.shape[0]):
        r = pick[i]
        row = row_out[i]
        for f in range(feats.shape[1]):
            row[f] = feats[r, f]
        for f in range(seqs.shape[1]):
            row[n_in + f] = seqs[r, f]
        row[last] = targets[r]


@float_kernel
def affine(columns, w, b, out):
    """out[j] = b[j] + sum over k of columns[k] * w[k, j] (float64), summed input by
    input from the bias, for every row at once (the loop along rows vectorises):
    freezing derives shifts from these values, which must not depend on the BLAS
    kernel a CPU model gets. columns (k, n): the inputs by feature; out (m, n)."""
    for j in range(w.shape[1]):
        o = out[j]
        bias = b[j]
        for r in range(o.shape[0]):
            o[r] = bias
        for k in range(w.shape[0]):
            weight = w[k, j]
            x = columns[k]
            for r in range(o.shape[0]):
                o[r] = o[r] + x[r] * weight


@float_kernel
def code_length(feats, seqs_in, targets_in, inv_scale, sizes, params, acts, seqs, targets,
                work):
    """Total code length in bits of every row of one set under one predictor
    (feats (n, sizes[0]), seqs_in (n, n_seq), targets_in (n)), evaluated in
    batches of acts.shape[1] columns (work: two float64 rows of that width)."""
    n_rows = targets_in.shape[0]
    n_in = sizes[0]
    n_seq = seqs_in.shape[1]
    batch = acts.shape[1]
    a_out = 0
    for layer in range(sizes.shape[0] - 1):
        a_out += sizes[layer]
    total = 0.0
    for start in range(0, n_rows, batch):
        n = min(batch, n_rows - start)
        for r in range(n):
            for k in range(n_in):
                acts[k, r] = feats[start + r, k] * inv_scale
            for k in range(n_seq):
                seqs[k, r] = seqs_in[start + r, k] * inv_scale
            targets[r] = targets_in[start + r]
        _forward(params, sizes, n_in, acts, n)
        total += _logistic_bits(acts, a_out, seqs, n_seq, targets, n, work)
    return total
