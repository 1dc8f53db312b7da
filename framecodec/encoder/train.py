# SPDX-License-Identifier: MIT
"""Fitting a group's predictors, and freezing them to integers.

A predictor is a small MLP from the integer contexts of kernels/context.py
to the centre and log-scale of a discretised logistic over the residual; it
is trained to minimise the code length of the group's samples (not their
squared error), then quantised to the integer network of kernels/mlp.py. The
encoder then codes with the *integer* network, exactly as the decoder will.

Training runs in kernels/training.py (forward, backward and Adam in one
call, every sum in a fixed order): the same floats, so the same bytes, on
every machine. It replaced torch, whose per-operation overhead made a step
of these few-hundred-weight networks take 4 ms instead of a fraction of one.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..format.dictionary import N_PATTERN_BITS, PaletteNet
from ..format.model import IntNet
from ..kernels import training as tk
from ..kernels.context import MAX_SEQ, N_SEQ_INTER
from ..kernels.mlp import BIAS_MAX, COEF_FRAC, HIDDEN_MAX, MAX_BUCKETS, MU_FRAC, OUT_WEIGHT_MAX, \
    WEIGHT_MAX
from ..kernels.palette import N_CAND
from .optim import constant, one_cycle

__all__ = ["TrainSettings", "FloatNet", "fit_many", "batch_sizes", "step_counts", "stacked_rows",
           "quantize",
           "mean_bits", "set_threads"]

HIDDEN_FRAC = 8  # preferred fractional bits of hidden activations


@dataclass(frozen=True)
class TrainSettings:
    hidden: tuple[int, int] = (16, 16)
    steps: int = 600
    batch: int = 1024
    lr: float = 0.03
    buckets: int = MAX_BUCKETS
    seed: int = 0


def feature_scale(bit_depth: int) -> float:
    """Inputs are divided by this in float training so learning rates fit every depth."""
    return 8.0 * 2.0 ** max(bit_depth - 8, 0)


@dataclass
class FloatNet:
    """A trained float predictor: per layer, weights [in][out] and biases.

    An MLP maps the row features to a centre mu0, a log-scale ls0 and, per
    sequential feature s_k (``n_seq`` of them), coefficients a_k and b_k:
    mu = mu0 + sum a_k s_k,  log-scale = ls0 + sum b_k |s_k|.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    n_seq: int

    @property
    def sizes(self) -> np.ndarray:
        return np.array([self.weights[0].shape[0]] + [w.shape[1] for w in self.weights],
                        np.int64)

    @property
    def params(self) -> np.ndarray:
        """The training kernel's layout: per layer, weights then biases (float32)."""
        return np.concatenate([a.ravel() for w, b in zip(self.weights, self.biases)
                               for a in (w, b)]).astype(np.float32)


def _layer_sizes(n_in: int, hidden: tuple[int, int], n_out: int) -> list[int]:
    return [n_in, hidden[0]] + ([hidden[1]] if hidden[1] else []) + [n_out]


def _unpack(params: np.ndarray, sizes) -> tuple[list[np.ndarray], list[np.ndarray]]:
    weights, biases, at = [], [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        weights.append(params[at:at + fan_in * fan_out].reshape(fan_in, fan_out).copy())
        at += fan_in * fan_out
        biases.append(params[at:at + fan_out].copy())
        at += fan_out
    return weights, biases


def _initial_params(count: int, sizes: list[int], rng: np.random.Generator, *,
                    predictor: bool = True) -> np.ndarray:
    """nn.Linear's initialisation (uniform within 1/sqrt(fan_in)); a predictor's
    last layer starts small (weights scaled by 0.1, biases 0 but the log-scale's 1)."""
    parts = []
    last = len(sizes) - 2
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1.0 / math.sqrt(fan_in)
        w = rng.uniform(-bound, bound, (count, fan_in, fan_out))
        b = rng.uniform(-bound, bound, (count, fan_out))
        if predictor and layer == last:
            w *= 0.1
            b[:] = 0.0
            b[:, 1] = 1.0
        parts += [w.reshape(count, -1), b]
    return np.ascontiguousarray(np.concatenate(parts, axis=1), np.float32)


_threads = 1


def set_threads(threads: int) -> None:
    """Training shares a group's networks out over this many threads (the job's
    --threads): each network's steps depend on its data alone, so the floats
    are the same with any count."""
    global _threads
    _threads = max(1, int(threads))


def _adam(params: np.ndarray, rows: np.ndarray, widths: list[int], sizes: list[int],
          order: np.ndarray, schedule, *, loss: int, n_seq: int, inv_scale: float,
          batches: list[int] | None = None, steps: list[int] | None = None) -> None:
    """Run the training kernel on ``params`` (changed in place): one call per
    network, shared out over the training threads, the largest first; network k
    takes the first ``batches[k]`` rows of each of the first ``steps[k]`` steps
    of ``order`` (default: all of them), at the rates ``schedule(steps[k])``."""
    nets = params.shape[0]
    batches = batches or [order.shape[1]] * nets
    steps = steps or [order.shape[0]] * nets
    orders = {(b, n): np.ascontiguousarray(order[:n, :b]) for b, n in zip(batches, steps)}
    schedules = {n: schedule(n) for n in set(steps)}

    def run(k: int) -> None:
        _train_part(params[k:k + 1], rows[k:k + 1], widths[k:k + 1], sizes=sizes,
                    order=orders[batches[k], steps[k]], schedule=schedules[steps[k]],
                    loss=loss, n_seq=n_seq, inv_scale=inv_scale)

    jobs = sorted(range(nets), key=lambda k: -batches[k] * steps[k])
    if _threads == 1 or nets == 1:
        for k in jobs:
            run(k)
        return
    with ThreadPoolExecutor(min(_threads, nets)) as pool:  # the kernel releases the GIL
        list(pool.map(run, jobs))


def _train_part(params, rows, widths, *, sizes, order, schedule, loss, n_seq, inv_scale):
    batch = order.shape[1]
    span = 1 << max(batch - 1, 0).bit_length()  # the batch's sums run over a power of two
    acts = np.zeros((sum(sizes), span), np.float32)
    rates, beta1s, corrections = schedule
    largest = max(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    tk.train_nets(rows, np.array(widths, np.int64), n_seq, loss, inv_scale,
                  np.array(sizes, np.int64), order, rates, beta1s, corrections, params,
                  np.zeros_like(params), np.zeros_like(params), np.zeros_like(params), acts,
                  np.zeros_like(acts), np.zeros((max(n_seq, 1), batch)),
                  np.zeros(batch, np.int64), np.zeros((2, batch)),
                  np.zeros((4, span), np.float32), np.zeros(largest, np.float32))


MIN_BATCH = 256  # the fewest rows a step gives a network


def batch_sizes(populations: list[int], batch: int) -> list[int]:
    """Rows per training step for each network, from the samples it will code.

    A network with a small share of the group's samples (the intra frame's,
    chroma's at 4:2:0) gains few bits from fitting closely, so it sees fewer
    rows a step: the largest gets ``batch``, the others that scaled by the
    square root of their share, to a power of two, at least MIN_BATCH. On the
    corpus this took a quarter off the lossless encode for 0.2 % in size
    (halving every net's batch had cost 1.8 %).
    """
    top = max(populations, default=0)
    out = []
    for n in populations:
        if n >= top:
            out.append(batch)
            continue
        want = batch * math.sqrt(n / top)
        out.append(min(batch, max(MIN_BATCH, 1 << round(math.log2(max(want, 1.0))))))
    return out


# A network's steps: STEP_SHARE_SCALE * sqrt(its share of the group's samples) times
# the steps asked for, at least MIN_STEP_FACTOR of them (and so at most 2.6 times).
STEP_SHARE_SCALE = 2.6
MIN_STEP_FACTOR = 0.5


def step_counts(populations: list[int], steps: int) -> list[int]:
    """Training steps for each network, from the samples it will code.

    Each step costs the same whatever a network codes, but what better weights
    save grows with the samples coded, so a network that codes most of a group
    (inter luma at 4:2:0: about 0.6 of it) trains about twice the steps, one that
    codes a seventh (inter chroma) the steps asked for, and small shares half
    of them. With ``batch_sizes`` (rows a step by the square root of the share
    to the largest), the rows a network sees grow with its samples. On the
    development corpus (60 frames, lossless, with 200,000 training samples
    instead of 120,000): -1.60 %, every clip smaller, for about 10 % more
    training work (rows times steps, at 4:2:0), a third of which a lossless
    encode spends training; twice the steps for the largest network alone
    gave -1.65 % for a third more training, 1.5 times the steps for every
    network -1.04 % for half as much again. Until format 2.6 a network took at
    most twice the steps: letting one that codes more than 0.6 of its group go
    on to 2.6 times (the inter luma of the bikes and surveillance clips, 2.2 to
    2.4 times) gave -0.35 % on the corpus (surveillance -0.8 %, bikes -0.2 %,
    lebiniou +0.15 %), for a few per cent more training there.
    """
    total = sum(populations)
    if total <= 0:
        return [steps] * len(populations)
    return [max(1, round(steps * max(MIN_STEP_FACTOR, STEP_SHARE_SCALE * math.sqrt(n / total))))
            for n in populations]


def fit_many(datasets: list[tuple[np.ndarray, np.ndarray, np.ndarray]], *, bit_depth: int,
             settings: TrainSettings, batches: list[int] | None = None,
             steps: list[int] | None = None, rows: np.ndarray | None = None) -> list[FloatNet]:
    """Train one predictor per (row features, sequential features, target) set, together.

    ``batches``: rows per step of each set's net (``batch_sizes``; default all
    ``settings.batch``); a net with b rows takes the first b of each step's rows.
    ``steps``: each set's net's steps (``step_counts``; default all
    ``settings.steps``); a net with n steps takes the first n steps' rows, on a
    schedule of n steps.
    ``rows``: ``stacked_rows(datasets)``, when the caller trains more than one
    model size on the same sets.

    The loss is the code length of each residual at unit resolution, also for
    near-lossless coding: fitting the density of the raw residual ranks the
    coding contexts well, while a loss over wide quantisation bins lets the
    predicted scales collapse (measured: up to 5x larger files at bound 3).
    Inputs are zero-padded to the widest set's, sequential features to
    MAX_SEQ; padded inputs get no gradient, so they do not change a net.
    """
    rng = np.random.default_rng(settings.seed)
    rows = stacked_rows(datasets) if rows is None else rows
    n_in = rows.shape[2] - MAX_SEQ - 1  # the widest set's row features
    sizes = _layer_sizes(n_in, settings.hidden, 2 + 2 * MAX_SEQ)
    params = _initial_params(len(datasets), sizes, rng)
    # coefficients of the sequential features only some nets have (beyond the
    # N_SEQ_INTER all have) start at 0: a net whose data never has them (inter,
    # near-lossless) keeps them at exactly 0
    n_last, n_out = sizes[-2], sizes[-1]
    head = params.shape[1] - n_out - n_last * n_out  # the last layer's weights [n_last][n_out]
    extra = [2 + k for k in range(N_SEQ_INTER, MAX_SEQ)]
    extra += [2 + MAX_SEQ + k for k in range(N_SEQ_INTER, MAX_SEQ)]
    params[:, [head + j * n_out + o for j in range(n_last) for o in extra]] = 0.0
    n_rows = rows.shape[1]
    batch = min(settings.batch, n_rows)
    steps = steps or [settings.steps] * len(datasets)
    order = np.empty((max(steps), batch), np.int64)
    at, perm = n_rows, None
    for step in range(order.shape[0]):
        if at + batch > n_rows:  # a new pass over the rows, in a new order
            perm = rng.permutation(n_rows)
            at = 0
        order[step] = perm[at:at + batch]
        at += batch
    _adam(params, rows, [f.shape[1] for f, _, _ in datasets], sizes, order,
          lambda n: one_cycle(settings.lr, n, warm_up=0.15), loss=tk.LOSS_LOGISTIC,
          n_seq=MAX_SEQ, inv_scale=1.0 / feature_scale(bit_depth),
          batches=[min(b, batch) for b in batches] if batches else None, steps=steps)
    return [_extract(params[k], sizes, f.shape[1], s.shape[1])
            for k, (f, s, _) in enumerate(datasets)]


def _extract(params: np.ndarray, sizes: list[int], n_in: int, n_seq: int) -> FloatNet:
    """One net alone: padded inputs and unused sequential outputs dropped."""
    weights, biases = _unpack(params, sizes)
    weights[0] = weights[0][:n_in]
    outputs = [0, 1] + [2 + k for k in range(n_seq)] + [2 + MAX_SEQ + k for k in range(n_seq)]
    weights[-1], biases[-1] = weights[-1][:, outputs], biases[-1][outputs]
    return FloatNet(weights, biases, n_seq)


def stacked_rows(datasets) -> np.ndarray:
    """Every set's rows in one integer array (sets, rows, n_in + MAX_SEQ + 1):
    row features padded with zeros to the widest, then the sequential features
    (padded), then the target. Smaller sets are drawn again (a random order,
    repeated) up to the largest set's rows, so a training step takes one slice
    of each.

    16-bit when the values fit (8-bit video): half the size of 32-bit (those
    would be ~45 MB at 720p)."""
    rows = max(t.shape[0] for _, _, t in datasets)
    n_in = max(f.shape[1] for f, _, _ in datasets)
    gen = np.random.default_rng(len(datasets) * 7919 + rows)
    peak = max(int(np.abs(a).max(initial=0)) for d in datasets for a in d)
    dtype = np.int16 if peak <= np.iinfo(np.int16).max else np.int32
    # filled in place (no per-set copies to stack)
    out = np.zeros((len(datasets), rows, n_in + MAX_SEQ + 1), dtype)
    for k, (feats, seqs, targets) in enumerate(datasets):
        pick = np.arange(rows)
        if targets.shape[0] < rows:
            pick = gen.permutation(targets.shape[0])[pick % targets.shape[0]]
        tk.stack_set(out, k, n_in, feats, seqs, targets, pick)
    return out


MEAN_BITS_ROWS = 4096  # rows evaluated at once
MEAN_BITS_SAMPLE = 32768  # rows a code length is estimated from


def mean_bits(net: FloatNet, feats, seqs, targets, *, bit_depth: int) -> float:
    """Ideal code length per sample (unit bins) of the float net: for choosing
    model sizes and for reports. From an evenly spread subset of the rows (a
    training set is up to 150k rows a net): on the corpus the luma sets'
    estimates moved by at most 0.7 % from the whole set's, chroma's by 2 %; the
    choices compare models on the same rows, with margins of 3 % and more."""
    if targets.shape[0] == 0:
        return 0.0
    step = max(1, targets.shape[0] // MEAN_BITS_SAMPLE)
    # targets contiguous whatever the step: one compiled kernel (numba specialises
    # on layout) instead of two to load in every process
    feats, seqs, targets = feats[::step], seqs[::step], np.ascontiguousarray(targets[::step])
    sizes = net.sizes
    batch = min(MEAN_BITS_ROWS, targets.shape[0])
    acts = np.zeros((int(sizes.sum()), batch), np.float32)
    total = tk.code_length(feats, seqs, targets, 1.0 / feature_scale(bit_depth), sizes,
                           net.params, acts, np.zeros((max(net.n_seq, 1), batch)),
                           np.zeros(batch, np.int64), np.zeros((2, batch)))
    return total / targets.shape[0]


def _shift_for(weights: np.ndarray, limit: int = WEIGHT_MAX, least: int = 0) -> int:
    """Largest q with max|w| * 2**q <= limit (capped to keep shifts small), at least
    ``least``: an output's weights may be scaled down (q < 0) as long as its shift,
    q plus its inputs' fraction bits, stays at least 1."""
    peak = float(np.abs(weights).max(initial=0.0))
    if peak == 0.0:
        return 16
    return max(least, min(24, int(math.floor(math.log2(limit / peak)))))


def _affine(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x @ w + b`` summed input by input, in that order (kernels/training.py):
    BLAS picks its kernel (and so its rounding) by CPU model, and what is
    derived from these sums (activation ranges, shifts) must not."""
    out = np.empty((w.shape[1], x.shape[0]))
    tk.affine(np.ascontiguousarray(x.T, np.float64), np.ascontiguousarray(w, np.float64),
              np.ascontiguousarray(b, np.float64), out)
    return out.T


def _high_quantile(values: np.ndarray, q: float) -> float:
    """``np.quantile(values, q)`` (its linear method, to the last bit) for q near 1,
    from the few largest values instead of a partition of all of them: values
    at or above a cut that enough of them reach (read from a subsample, then
    counted) are partitioned at the two order statistics around q, which are
    interpolated as numpy does. The values are read in memory order (a quantile
    does not depend on it), so a transposed array is not copied; partitioned,
    not sorted, since a hidden unit's largest value can repeat thousands of times
    (flat areas give identical rows)."""
    flat = values.ravel(order="K")
    n = flat.size
    virtual = (n - 1) * np.float64(q)
    lower = int(np.floor(virtual))
    upper = min(lower + 1, n - 1)
    need = n - lower  # the largest values, from the lower order statistic up
    sample = flat[::64]
    k = min(sample.size, 2 * (need // 64) + 8)
    cut = np.partition(sample, sample.size - k)[sample.size - k]
    top = flat[flat >= cut]
    if top.size < need:  # the subsample misled: take every value
        return float(np.quantile(flat, q))
    first = n - top.size  # the rank of top[0] among all values
    top = np.partition(top, [lower - first, upper - first])
    a, b = top[lower - first], top[upper - first]
    gamma = virtual - lower
    diff = b - a
    return float(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)


def _round(values: np.ndarray) -> np.ndarray:
    return np.round(values).astype(np.int64)


def _round_weights(values: np.ndarray, limit: int = WEIGHT_MAX) -> np.ndarray:
    return np.clip(_round(values), -limit, limit)


QUANTIZE_ROWS = 16384  # rows the activation ranges and context thresholds are read from


def quantize(net: FloatNet, *, bit_depth: int, feats: np.ndarray, seqs: np.ndarray,
             buckets: int = MAX_BUCKETS, out_weight_max: int = OUT_WEIGHT_MAX) -> IntNet:
    """Freeze a float net to integers (8-bit hidden weights, output weights within
    ``out_weight_max`` unless an output's shift is already the least, 1, and always
    within 16 bits); coding-context thresholds from the data
    (an evenly spread subset of it: quantiles of 16k rows are as good as of 120k,
    at an eighth of the time)."""
    step = max(1, feats.shape[0] // QUANTIZE_ROWS)
    feats, seqs = feats[::step], seqs[::step]
    ws = [w.astype(np.float64) for w in net.weights]  # [in][out]
    bs = [b.astype(np.float64) for b in net.biases]
    scale = feature_scale(bit_depth)
    ws[0] /= scale
    # integer meaning of each output: 2**-MU_FRAC units for mu0 and ls0; the
    # coefficients act on raw sequential features, in units of 2**-(MU_FRAC + COEF_FRAC)
    unit = float(1 << MU_FRAC)
    factors = np.array([unit, unit] + [unit * 2 ** COEF_FRAC / scale] * (2 * net.n_seq))
    ws[-1] = ws[-1] * factors
    bs[-1] = bs[-1] * factors

    acts = feats.astype(np.float64)
    frac_in = 0  # features are integers
    layers = []
    for w, b in zip(ws[:-1], bs[:-1]):
        acts = np.maximum(_affine(acts, w, b), 0.0)
        peak = _high_quantile(acts, 0.9999) if acts.size else 1.0
        headroom = int(math.floor(math.log2(HIDDEN_MAX / max(peak, 1e-6))))
        q = _shift_for(w)
        frac_out = max(0, min(HIDDEN_FRAC, headroom, q + frac_in))
        s = q + frac_in - frac_out
        bias = _round(b * 2.0 ** (q + frac_in)) + ((1 << (s - 1)) if s > 0 else 0)
        layers.append((_round_weights(w * 2.0 ** q), np.clip(bias, -BIAS_MAX, BIAS_MAX), s))
        frac_in = frac_out
    w_out, b_out, shifts = [], [], []
    for k in range(ws[-1].shape[1]):
        q = _shift_for(ws[-1][:, k], out_weight_max, least=1 - frac_in)  # shift >= 1
        s = q + frac_in
        w_out.append(_round_weights(ws[-1][:, k] * 2.0 ** q, OUT_WEIGHT_MAX))
        b_out.append(int(np.clip(_round(bs[-1][k] * 2.0 ** s) + (1 << (s - 1)),
                                 -BIAS_MAX, BIAS_MAX)))
        shifts.append(s)
    w3 = np.stack(w_out, axis=1)
    (w1, b1, s1) = layers[0]
    w2, b2, s2 = layers[1] if len(layers) > 1 else (None, None, 0)
    draft = IntNet.build(w1, b1, s1, w2, b2, s2, w3, np.array(b_out), shifts, [])
    _, ls = draft.predict(feats, seqs)
    return draft.with_thresholds(context_thresholds(ls, buckets))


def context_thresholds(log_scales: np.ndarray, buckets: int) -> list[int]:
    """Equal-population split of the log-scales into at most ``buckets`` contexts."""
    if log_scales.size == 0 or buckets <= 1:
        return []
    qs = np.quantile(log_scales, np.arange(1, buckets) / buckets, method="higher")
    thr = sorted(set(int(v) for v in qs))
    lo = int(log_scales.min())
    return [v for v in thr if v > lo][: buckets - 1]


# ------------------------------------------------------------------ palette networks


def fit_palette_net(patterns: np.ndarray, targets: np.ndarray, *, hidden: int = 16,
                    steps: int = 300, seed: int = 0):
    """Train the palette network on (pattern, slot) rows and freeze it to integers.

    ``targets`` holds the matching candidate slot (N_CAND for an escape) in its
    low byte and, from bit 8, which slots were visited. The loss is the code
    length of the visited flags, so the network learns which neighbour to trust
    in which pattern.
    """
    if patterns.size == 0:
        return PaletteNet.neutral()
    rng = np.random.default_rng(seed)
    bits = ((patterns[:, None] >> np.arange(N_PATTERN_BITS)) & 1).astype(np.int32)
    rows = np.concatenate([bits, targets[:, None].astype(np.int32)], axis=1)[None]
    sizes = [N_PATTERN_BITS, hidden, N_CAND]
    params = _initial_params(1, sizes, rng, predictor=False)
    n = rows.shape[1]
    order = rng.integers(0, n, (steps, min(2048, n)))
    _adam(params, rows, [N_PATTERN_BITS], sizes, order, lambda n: constant(0.03, n),
          loss=tk.LOSS_SLOTS, n_seq=0, inv_scale=1.0)
    (w1, w2), (b1, b2) = _unpack(params[0], sizes)
    w1, b1 = w1.astype(np.float64), b1.astype(np.float64)
    w2, b2 = w2.astype(np.float64) * 16.0, b2.astype(np.float64) * 16.0  # 1/16 log-odds
    q1 = _shift_for(w1)
    acts = np.maximum(_affine(bits.astype(np.float64), w1, b1), 0.0)
    headroom = int(math.floor(math.log2(HIDDEN_MAX / max(float(acts.max(initial=1.0)), 1e-6))))
    frac = max(0, min(HIDDEN_FRAC, headroom, q1))
    s1 = q1 - frac
    q2 = max(_shift_for(w2, OUT_WEIGHT_MAX), 1 - frac)
    s2 = q2 + frac
    return PaletteNet(_round_weights(w1 * 2.0 ** q1),
                      np.clip(_round(b1 * 2.0 ** q1) + ((1 << (s1 - 1)) if s1 > 0 else 0),
                              -BIAS_MAX, BIAS_MAX), s1,
                      _round_weights(w2 * 2.0 ** q2, OUT_WEIGHT_MAX),
                      np.clip(_round(b2 * 2.0 ** s2) + (1 << (s2 - 1)), -BIAS_MAX, BIAS_MAX), s2)
