# SPDX-License-Identifier: MIT
"""Fitting a group's predictors with torch, and freezing them to integers.

The only module that imports torch (encoder side). A predictor is a small
MLP from the integer contexts of kernels/context.py to the centre and
log-scale of a discretised logistic over the residual; it is trained to
minimise the code length of the group's samples (not their squared error),
then quantised to the integer network of kernels/mlp.py. The encoder then
codes with the *integer* network, exactly as the decoder will.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

# The same floats on every x86 machine, so that a group's bytes do not depend on
# the node that trained it (a cluster of mixed CPUs, a journal resumed
# elsewhere, the golden vectors): MKL's CNR branch COMPATIBLE (SSE2 without the
# approximate rcpps/rsqrtps, whose results differ between Intel and AMD; fixed
# reductions), and ATen's AVX2 kernels (the widest every such CPU has; AVX-512
# kernels may sum in another order). Both are read when torch loads. The price:
# a training step of the large networks takes 3.7-3.9 ms here against 2.4-2.5 ms
# with MKL's and ATen's own choice (6 nets, 1,024 rows, one thread, Intel Xeon),
# about a fifth of an encode. A user's own setting is kept.
os.environ.setdefault("MKL_CBWR", "COMPATIBLE")
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")

try:
    import torch
    from torch import nn

    from .optim import Adam, OneCycleAdam
except ImportError:  # pragma: no cover - reported by require_torch()
    torch = None

from ..errors import UsageError
from ..format.dictionary import N_PATTERN_BITS, PaletteNet
from ..format.model import IntNet
from ..kernels.context import MAX_SEQ, N_SEQ_INTER
from ..kernels.mlp import BIAS_MAX, COEF_FRAC, HIDDEN_MAX, MAX_BUCKETS, MU_FRAC, OUT_WEIGHT_MAX, \
    WEIGHT_MAX
from ..kernels.palette import N_CAND

__all__ = ["TrainSettings", "FloatNet", "fit_many", "quantize", "mean_bits",
           "require_torch", "set_threads"]

HIDDEN_FRAC = 8  # preferred fractional bits of hidden activations


def require_torch() -> None:
    if torch is None:
        raise UsageError("encoding trains a network with torch, which is not installed: "
                         "pip install 'framecodec[train]' (CPU build: pip install torch==2.13.0)")


def set_threads(threads: int) -> None:
    """Training uses this many threads (the user's --threads), never all cores silently."""
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


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


class FloatNet(nn.Module if torch is not None else object):
    """The float twin of an integer predictor.

    An MLP maps the row features to a centre mu0, a log-scale ls0 and, per
    sequential feature s_k (``n_seq`` of them), coefficients a_k and b_k:
    mu = mu0 + sum a_k s_k,  log-scale = ls0 + sum b_k |s_k|.
    """

    def __init__(self, n_in: int, hidden: tuple[int, int], n_seq: int):
        super().__init__()
        h1, h2 = hidden
        layers = [nn.Linear(n_in, h1), nn.ReLU()]
        if h2:
            layers += [nn.Linear(h1, h2), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.n_seq = n_seq
        self.head = nn.Linear(h2 or h1, 2 + 2 * n_seq)
        with torch.no_grad():
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()
            self.head.bias[1] = 1.0

    def forward(self, x, s):
        o = self.head(self.body(x))
        k = self.n_seq
        mu = o[:, 0] + (o[:, 2:2 + k] * s).sum(1)
        ls = o[:, 1] + (o[:, 2 + k:] * s.abs()).sum(1)
        return mu, ls.clamp(-4.0, 10.0)


def code_length_bits(mu, log_scale, target, half_width: float):
    """Bits of ``target`` under a logistic(mu, exp(log_scale)) discretised to bins."""
    inv = torch.exp(-log_scale)
    upper = torch.sigmoid((target + half_width - mu) * inv)
    lower = torch.sigmoid((target - half_width - mu) * inv)
    return -torch.log2((upper - lower).clamp_min(1e-9))


def _tensors(feats, seqs, bit_depth):
    scale = feature_scale(bit_depth)
    return (torch.from_numpy(feats.astype(np.float32) / scale),
            torch.from_numpy(seqs.astype(np.float32) / scale))


class StackedNets(nn.Module if torch is not None else object):
    """Several FloatNets of one shape trained together as batched matrix products.

    Training the predictors of a group one by one spends most of its time in
    per-call overhead; stacking them (inputs zero-padded to the widest) makes
    one step train them all. Each net's gradient depends only on its own
    data, so the result is what separate training would give.
    """

    def __init__(self, count: int, n_in: int, hidden: tuple[int, int]):
        super().__init__()
        sizes = [n_in, hidden[0]] + ([hidden[1]] if hidden[1] else []) + [2 + 2 * MAX_SEQ]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialisation
            self.weights.append(nn.Parameter(torch.empty(count, fan_in, fan_out)
                                             .uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(count, 1, fan_out)
                                            .uniform_(-bound, bound)))
        with torch.no_grad():
            self.weights[-1].mul_(0.1)
            self.biases[-1].zero_()
            self.biases[-1][:, :, 1] = 1.0
            # coefficients of the sequential features only some nets have (beyond
            # the N_SEQ_INTER all have) start at 0: a net whose data never has them
            # (inter, near-lossless) keeps them at exactly 0
            extra = list(range(N_SEQ_INTER, MAX_SEQ))
            self.weights[-1][:, :, [2 + k for k in extra] + [2 + MAX_SEQ + k for k in extra]] = 0.0

    def forward(self, x, s):
        h = x
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            h = torch.relu(torch.baddbmm(b, h, w))
        o = torch.baddbmm(self.biases[-1], h, self.weights[-1])
        mu = o[..., 0] + (o[..., 2:2 + MAX_SEQ] * s).sum(-1)
        ls = o[..., 1] + (o[..., 2 + MAX_SEQ:] * s.abs()).sum(-1)
        return mu, ls.clamp(-4.0, 10.0)

    def extract(self, index: int, n_in: int, hidden: tuple[int, int], n_seq: int) -> FloatNet:
        """Net ``index`` alone; padded inputs and unused sequential outputs dropped."""
        net = FloatNet(n_in, hidden, n_seq)
        linears = [m for m in net.body if isinstance(m, nn.Linear)] + [net.head]
        outputs = [0, 1] + [2 + k for k in range(n_seq)] + [2 + MAX_SEQ + k for k in range(n_seq)]
        last = len(linears) - 1
        with torch.no_grad():
            for k, (lin, w, b) in enumerate(zip(linears, self.weights, self.biases)):
                weight = w[index] if k else w[index, :n_in]
                bias = b[index, 0]
                if k == last:
                    weight, bias = weight[:, outputs], bias[outputs]
                lin.weight.copy_(weight.T)
                lin.bias.copy_(bias)
        return net


def fit_many(datasets: list[tuple[np.ndarray, np.ndarray, np.ndarray]], *, bit_depth: int,
             settings: TrainSettings) -> list[FloatNet]:
    """Train one predictor per (row features, sequential features, target) set, together.

    The loss is the code length of each residual at unit resolution, also for
    near-lossless coding: fitting the density of the raw residual ranks the
    coding contexts well, while a loss over wide quantisation bins lets the
    predicted scales collapse (measured: up to 5x larger files at bound 3).
    """
    require_torch()
    gen = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    rows = _stacked_rows(datasets)
    n_in = rows.shape[2] - MAX_SEQ - 1  # the widest set's row features
    inv_scale = 1.0 / feature_scale(bit_depth)  # a power of two: scaling is exact
    stack = StackedNets(len(datasets), n_in, settings.hidden)
    opt = OneCycleAdam(stack.parameters(), settings.lr, settings.steps, warm_up=0.15)
    half_width = 0.5
    n_rows = rows.shape[1]
    batch = min(settings.batch, n_rows)
    at = n_rows
    for _ in range(settings.steps):
        if at + batch > n_rows:  # a new pass over the rows, in a new order
            order = torch.randperm(n_rows, generator=gen)
            at = 0
        # index_select, not rows[:, pick]: the same rows, 4x faster (scattered reads)
        taken = rows.index_select(1, order[at:at + batch]).float()  # integers: exact
        at += batch
        x = taken[..., :n_in].mul_(inv_scale)
        s = taken[..., n_in:n_in + MAX_SEQ].mul_(inv_scale)
        mu, ls = stack(x, s)
        loss = code_length_bits(mu, ls, taken[..., -1], half_width).mean(dim=1).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [stack.extract(k, f.shape[1], settings.hidden, s.shape[1])
            for k, (f, s, _) in enumerate(datasets)]


def _stacked_rows(datasets):
    """Every set's rows in one integer tensor (sets, rows, n_in + MAX_SEQ + 1):
    row features padded with zeros to the widest, then the sequential features
    (padded), then the target. Smaller sets are drawn again (a random order,
    repeated) up to the largest set's rows, so a training step takes one slice
    of each, and one gather reads a row's inputs and target together.

    16-bit when the values fit (8-bit video): half the size of floats (those
    would be ~45 MB at 720p); a step makes its batch float."""
    rows = max(t.shape[0] for _, _, t in datasets)
    n_in = max(f.shape[1] for f, _, _ in datasets)
    gen = np.random.default_rng(len(datasets) * 7919 + rows)
    peak = max(int(np.abs(a).max(initial=0)) for d in datasets for a in d)
    dtype = np.int16 if peak <= np.iinfo(np.int16).max else np.int32
    # filled in place (no per-set copies to stack)
    out = np.zeros((len(datasets), rows, n_in + MAX_SEQ + 1), dtype)
    for k, (feats, seqs, targets) in enumerate(datasets):
        pick = np.arange(rows) % targets.shape[0]
        if targets.shape[0] < rows:
            pick = gen.permutation(targets.shape[0])[pick]
        out[k, :, :feats.shape[1]] = feats[pick]
        out[k, :, n_in:n_in + seqs.shape[1]] = seqs[pick]
        out[k, :, -1] = targets[pick]
    return torch.from_numpy(out)


MEAN_BITS_ROWS = 16384  # rows evaluated at once: a whole 720p set's activations are ~30 MB


def mean_bits(net: FloatNet, feats, seqs, targets, *, bit_depth: int) -> float:
    """Ideal code length per sample (unit bins) of the float net: for choosing
    model sizes and for reports."""
    total = 0.0
    with torch.no_grad():
        for at in range(0, targets.shape[0], MEAN_BITS_ROWS):
            part = slice(at, at + MEAN_BITS_ROWS)
            x, s = _tensors(feats[part], seqs[part], bit_depth)
            mu, ls = net(x, s)
            t = torch.from_numpy(targets[part].astype(np.float32))
            total += float(code_length_bits(mu, ls, t, 0.5).double().sum())
    return total / max(targets.shape[0], 1)


def _shift_for(weights: np.ndarray, limit: int = WEIGHT_MAX) -> int:
    """Largest q with max|w| * 2**q <= limit (capped to keep shifts small)."""
    peak = float(np.abs(weights).max(initial=0.0))
    if peak == 0.0:
        return 16
    return max(0, min(24, int(math.floor(math.log2(limit / peak)))))


def _affine(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x @ w + b`` summed input by input, in that order: BLAS picks its kernel
    (and so its rounding) by CPU model, and what is derived from these sums
    (activation ranges, shifts) must not."""
    columns = np.ascontiguousarray(x.T)  # one output at a time, on contiguous rows
    out = np.empty((w.shape[1], x.shape[0]))
    term = np.empty(x.shape[0])
    for j, row in enumerate(out):
        row[:] = b[j]
        for k in range(w.shape[0]):
            np.multiply(columns[k], w[k, j], out=term)
            row += term
    return out.T


def _round(values: np.ndarray) -> np.ndarray:
    return np.round(values).astype(np.int64)


def _round_weights(values: np.ndarray, limit: int = WEIGHT_MAX) -> np.ndarray:
    return np.clip(_round(values), -limit, limit)


QUANTIZE_ROWS = 16384  # rows the activation ranges and context thresholds are read from


def quantize(net: FloatNet, *, bit_depth: int, feats: np.ndarray, seqs: np.ndarray,
             buckets: int = MAX_BUCKETS) -> IntNet:
    """Freeze a float net to integers (8-bit hidden, 16-bit output weights);
    coding-context thresholds from the data (an evenly spread subset of it:
    quantiles of 16k rows are as good as of 120k, at an eighth of the time)."""
    step = max(1, feats.shape[0] // QUANTIZE_ROWS)
    feats, seqs = feats[::step], seqs[::step]
    linears = [m for m in net.body if isinstance(m, nn.Linear)] + [net.head]
    ws = [m.weight.detach().double().numpy().T.copy() for m in linears]  # [in][out]
    bs = [m.bias.detach().double().numpy().copy() for m in linears]
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
        peak = float(np.quantile(acts, 0.9999)) if acts.size else 1.0
        headroom = int(math.floor(math.log2(HIDDEN_MAX / max(peak, 1e-6))))
        q = _shift_for(w)
        frac_out = max(0, min(HIDDEN_FRAC, headroom, q + frac_in))
        s = q + frac_in - frac_out
        bias = _round(b * 2.0 ** (q + frac_in)) + ((1 << (s - 1)) if s > 0 else 0)
        layers.append((_round_weights(w * 2.0 ** q), np.clip(bias, -BIAS_MAX, BIAS_MAX), s))
        frac_in = frac_out
    w_out, b_out, shifts = [], [], []
    for k in range(ws[-1].shape[1]):
        q = max(_shift_for(ws[-1][:, k], OUT_WEIGHT_MAX), 1 - frac_in)  # shift >= 1
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
    require_torch()
    if patterns.size == 0:
        return PaletteNet.neutral()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    bits = torch.from_numpy(((patterns[:, None] >> np.arange(N_PATTERN_BITS)) & 1)
                            .astype(np.float32))
    slots = np.arange(N_CAND)
    hit = torch.from_numpy(((targets[:, None] & 0xFF) == slots).astype(np.float32))
    visited = torch.from_numpy((((targets[:, None] >> 8) >> slots) & 1).astype(np.float32))
    net = nn.Sequential(nn.Linear(N_PATTERN_BITS, hidden), nn.ReLU(), nn.Linear(hidden, N_CAND))
    opt = Adam(net.parameters(), lr=0.03)
    n = bits.shape[0]
    for _ in range(steps):
        idx = torch.randint(0, n, (min(2048, n),), generator=gen)
        logit = net(bits[idx])
        bce = nn.functional.binary_cross_entropy_with_logits(logit, hit[idx], reduction="none")
        loss = (bce * visited[idx]).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    w1 = net[0].weight.detach().double().numpy().T
    b1 = net[0].bias.detach().double().numpy()
    w2 = net[2].weight.detach().double().numpy().T * 16.0  # outputs in 1/16 log-odds
    b2 = net[2].bias.detach().double().numpy() * 16.0
    q1 = _shift_for(w1)
    acts = np.maximum(_affine(bits.numpy().astype(np.float64), w1, b1), 0.0)
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
