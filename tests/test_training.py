# SPDX-License-Identifier: MIT
"""The training kernel against torch's autograd, its oracle, and its own arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from framecodec.encoder import optim, train
from framecodec.kernels import training as tk
from framecodec.kernels.context import MAX_SEQ


def test_exp_and_log_match_numpy():
    x = np.concatenate([np.linspace(-80, 80, 20001), [0.0, 1e-300, -1e-12, 1e-9]])
    e, lg = np.zeros_like(x), np.zeros_like(x)
    tk.exp_log(x, e, lg)
    np.testing.assert_allclose(e, np.exp(x), rtol=1e-13)
    y = np.concatenate([np.geomspace(1e-12, 1e12, 20001), [1.0, 0.5, 2.0, 0.7071067811865476]])
    tk.exp_log(y, np.zeros_like(y), lg := np.zeros_like(y))
    np.testing.assert_allclose(lg, np.log(y), rtol=1e-14, atol=1e-15)


def _one_step_gradients(rows, sizes, params, loss, n_seq, inv_scale):
    """The gradients the kernel computes on its first step (learning rate 0)."""
    order = np.arange(rows.shape[1])[None]
    grads = np.zeros_like(params)
    batch = order.shape[1]
    span = 1 << (batch - 1).bit_length()
    acts = np.zeros((sum(sizes), span), np.float32)
    schedule = optim.constant(0.0, 1)
    tk.train_nets(rows, np.array([sizes[0]]), n_seq, loss, inv_scale, np.array(sizes), order,
                  *schedule, params.copy(), grads, np.zeros_like(params), np.zeros_like(params),
                  acts, np.zeros_like(acts), np.zeros((max(n_seq, 1), batch)),
                  np.zeros(batch, np.int64), np.zeros((2, batch)), np.zeros((4, span), np.float32),
                  np.zeros(max(a * b for a, b in zip(sizes[:-1], sizes[1:])), np.float32))
    return grads


def _torch_layers(torch, params, sizes):
    weights, biases = train._unpack(params, sizes)
    return ([torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in weights],
            [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in biases])


def _torch_forward(torch, x, weights, biases):
    h = x
    for k, (w, b) in enumerate(zip(weights, biases)):
        h = h @ w + b
        if k < len(weights) - 1:
            h = torch.relu(h)
    return h


def _flat_grads(weights, biases):
    return np.concatenate([a.grad.numpy().ravel() for w, b in zip(weights, biases)
                           for a in (w, b)])


@pytest.mark.parametrize("hidden", [(16, 8), (8, 0)])
def test_predictor_gradients_match_autograd(hidden):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    n, n_in = 700, 9  # a batch that is not a power of two
    feats = rng.integers(-40, 40, (n, n_in))
    seqs = rng.integers(-30, 30, (n, MAX_SEQ))
    targets = (feats[:, 0] // 3 + rng.integers(-5, 6, n))
    rows = np.concatenate([feats, seqs, targets[:, None]], axis=1).astype(np.int16)[None]
    sizes = train._layer_sizes(n_in, hidden, 2 + 2 * MAX_SEQ)
    params = train._initial_params(1, sizes, rng)
    params[0] += rng.normal(0, 0.05, params.shape[1]).astype(np.float32)  # not the usual start
    inv_scale = 1 / 8
    ours = _one_step_gradients(rows, sizes, params, tk.LOSS_LOGISTIC, MAX_SEQ, inv_scale)[0]

    weights, biases = _torch_layers(torch, params[0], sizes)
    x = torch.tensor(feats * inv_scale)
    s = torch.tensor(seqs * inv_scale)
    o = _torch_forward(torch, x, weights, biases)
    mu = o[:, 0] + (o[:, 2:2 + MAX_SEQ] * s).sum(1)
    ls = (o[:, 1] + (o[:, 2 + MAX_SEQ:] * s.abs()).sum(1)).clamp(-4.0, 10.0)
    t = torch.tensor(targets, dtype=torch.float64)
    inv = torch.exp(-ls)
    mass = torch.sigmoid((t + 0.5 - mu) * inv) - torch.sigmoid((t - 0.5 - mu) * inv)
    (-torch.log2(mass.clamp_min(1e-9))).mean().backward()
    theirs = _flat_grads(weights, biases)
    assert np.abs(theirs).max() > 1e-3
    np.testing.assert_allclose(ours, theirs, rtol=2e-3, atol=2e-6 * np.abs(theirs).max())


def test_palette_gradients_match_autograd():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    n, n_bits, n_slots = 300, 12, 5
    bits = rng.integers(0, 2, (n, n_bits))
    hit = rng.integers(0, n_slots + 1, n)
    visited = rng.integers(0, 1 << n_slots, n)
    rows = np.concatenate([bits, (hit | (visited << 8))[:, None]], axis=1).astype(np.int32)[None]
    sizes = [n_bits, 16, n_slots]
    params = train._initial_params(1, sizes, rng, predictor=False)
    ours = _one_step_gradients(rows, sizes, params, tk.LOSS_SLOTS, 0, 1.0)[0]

    weights, biases = _torch_layers(torch, params[0], sizes)
    logit = _torch_forward(torch, torch.tensor(bits, dtype=torch.float64), weights, biases)
    slots = np.arange(n_slots)
    y = torch.tensor((hit[:, None] == slots).astype(np.float64))
    mask = torch.tensor(((visited[:, None] >> slots) & 1).astype(np.float64))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, y, reduction="none")
    (bce * mask).sum(1).mean().backward()
    theirs = _flat_grads(weights, biases)
    np.testing.assert_allclose(ours, theirs, rtol=2e-3, atol=2e-6 * np.abs(theirs).max())


def _sets(rng, n=3000):
    out = []
    for n_in, n_seq in ((6, 3), (10, 2)):
        f = rng.integers(-30, 30, (n, n_in)).astype(np.int32)
        s = rng.integers(-30, 30, (n, n_seq)).astype(np.int32)
        t = (f[:, 0] // 2 + rng.integers(-2, 3, n)).astype(np.int32)
        out.append((f, s, t))
    return out


def test_training_learns_and_is_repeatable():
    """Code length falls from the untrained start; the same data gives the same floats."""
    sets = _sets(np.random.default_rng(5))
    settings = train.TrainSettings(hidden=(16, 8), steps=150)
    first = train.fit_many(sets, bit_depth=8, settings=settings)
    again = train.fit_many(sets, bit_depth=8, settings=settings)
    for a, b in zip(first, again):
        assert all(np.array_equal(x, y) for x, y in zip(a.weights + a.biases,
                                                         b.weights + b.biases))
    untrained = train.fit_many(sets, bit_depth=8, settings=train.TrainSettings(hidden=(16, 8),
                                                                                 steps=1))
    for net, start, data in zip(first, untrained, sets):
        learnt = train.mean_bits(net, *data, bit_depth=8)
        assert learnt < 0.8 * train.mean_bits(start, *data, bit_depth=8)
        assert learnt < 2.9  # the residual is uniform over 5 values: log2(5) = 2.32 bits


def test_padded_inputs_and_absent_sequential_features_stay_out():
    """A narrower set's padded inputs and missing sequential features get no
    gradient: its extracted net is the shape the coder expects."""
    sets = _sets(np.random.default_rng(6))
    nets = train.fit_many(sets, bit_depth=8, settings=train.TrainSettings(hidden=(8, 8),
                                                                          steps=20))
    assert nets[0].weights[0].shape == (6, 8) and nets[1].weights[0].shape == (10, 8)
    assert nets[0].weights[-1].shape == (8, 8) and nets[1].weights[-1].shape == (8, 6)


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.weights + a.biases, b.weights + b.biases))


def test_batch_sizes_follow_the_share_of_samples():
    """The largest population gets the full batch, a quarter of it half, and
    small shares the floor; every size is a power of two."""
    got = train.batch_sizes([1000, 250, 250, 40_000, 10_000, 10_000, 0], 1024)
    assert got == [256, 256, 256, 1024, 512, 512, 256]
    assert train.batch_sizes([5, 5], 1024) == [1024, 1024]
    assert train.batch_sizes([100], 300) == [300]  # never above the batch asked for


def test_smaller_batches_take_the_first_rows_of_each_step():
    """A network's floats depend on its own batch size only: the same with any
    other network's size, and full-size batches are the default."""
    sets = _sets(np.random.default_rng(8))
    settings = train.TrainSettings(hidden=(8, 8), steps=40, batch=512)
    full = train.fit_many(sets, bit_depth=8, settings=settings)
    assert all(_same(a, b) for a, b in zip(full, train.fit_many(
        sets, bit_depth=8, settings=settings, batches=[512, 512])))
    mixed = train.fit_many(sets, bit_depth=8, settings=settings, batches=[512, 256])
    assert _same(mixed[0], full[0]) and not _same(mixed[1], full[1])
    small = train.fit_many(sets, bit_depth=8, settings=settings, batches=[256, 256])
    assert _same(mixed[1], small[1])


def test_step_counts_follow_the_share_of_samples():
    """About twice the steps for a network coding 0.6 of the group, 2.6 times for
    all of it, the steps asked for at about a seventh of it, half for small shares;
    equal shares, equal steps."""
    assert train.step_counts([60, 15, 15, 5, 5, 0], 100) == [201, 101, 101, 58, 58, 50]
    assert train.step_counts([90, 10], 100) == [247, 82]
    assert train.step_counts([1, 1, 1], 90) == [135, 135, 135]
    assert train.step_counts([7], 10) == [26]
    assert train.step_counts([0, 0], 10) == [10, 10]  # nothing coded: as asked


def test_fewer_steps_take_the_first_steps_rows():
    """A network's floats depend on its own step count only: with n steps it
    trains as a fit of n steps for every network does."""
    sets = _sets(np.random.default_rng(9))
    settings = train.TrainSettings(hidden=(8, 8), steps=40, batch=512)
    mixed = train.fit_many(sets, bit_depth=8, settings=settings, steps=[40, 20])
    full = train.fit_many(sets, bit_depth=8, settings=settings)
    short = train.fit_many(sets, bit_depth=8, settings=train.TrainSettings(
        hidden=(8, 8), steps=20, batch=512))
    assert _same(mixed[0], full[0]) and _same(mixed[1], short[1])
    assert not _same(mixed[1], full[1])


def test_training_threads_give_the_same_floats():
    sets = _sets(np.random.default_rng(7)) * 2  # four networks
    settings = train.TrainSettings(hidden=(8, 8), steps=30)
    try:
        results = []
        for threads in (1, 2, 3):
            train.set_threads(threads)
            results.append(train.fit_many(sets, bit_depth=8, settings=settings,
                                          batches=[1024, 256, 512, 1024]))
    finally:
        train.set_threads(1)
    for nets in results[1:]:
        for a, b in zip(results[0], nets):
            assert all(np.array_equal(x, y) for x, y in zip(a.weights + a.biases,
                                                             b.weights + b.biases))


def _affine_oracle(x, w, b):
    """x @ w + b, each output's sum taken input by input from the bias, in numpy."""
    out = np.empty((x.shape[0], w.shape[1]))
    for j in range(w.shape[1]):
        out[:, j] = b[j]
        for k in range(w.shape[0]):
            out[:, j] += x[:, k] * w[k, j]
    return out


def test_affine_sums_in_the_fixed_order():
    """The freezing's layer sums equal the plain loop's to the last bit (so the
    shifts derived from them do not depend on a BLAS kernel)."""
    rng = np.random.default_rng(3)
    for n, k, m in ((1, 1, 1), (7, 13, 32), (5000, 12, 16), (300, 32, 8)):
        x = rng.normal(0, 30, (n, k))
        w = rng.normal(0, 1, (k, m))
        b = rng.normal(0, 1, m)
        assert np.array_equal(train._affine(x, w, b), _affine_oracle(x, w, b))
        assert np.array_equal(train._affine(x.T.copy().T, w, b), _affine_oracle(x, w, b))


@pytest.mark.parametrize("q", [0.9999, 0.999, 0.5, 1.0])
def test_high_quantile_is_numpys_linear_quantile(q):
    """Exactly np.quantile's value, on activations (also transposed views), ties, zeros
    and small sets."""
    rng = np.random.default_rng(4)
    sets = [np.maximum(rng.normal(0, 40, (16384, 32)), 0.0),
            rng.integers(0, 4, 200000).astype(np.float64),
            np.zeros(70000), rng.random(1), rng.random(65), rng.standard_cauchy(100000)]
    # large values only where the subsample looks: its cut leaves too few, so all are read
    lopsided = np.zeros(64 * 1000)
    lopsided[::64] = 1000.0 + rng.random(1000)
    sets.append(lopsided)
    # as quantize() passes them: (rows, units) views of (units, rows) arrays, read in
    # memory order; and a unit whose largest value repeats (identical rows of flat areas)
    sets.append(np.maximum(rng.normal(0, 40, (32, 16384)), 0.0).T)
    tied = np.maximum(rng.normal(0, 40, (32, 16384)), 0.0)
    tied[3, :6000] = tied.max() + 1.0
    sets.append(tied.T)
    for values in sets:
        assert train._high_quantile(values, q) == float(np.quantile(values, q))


@njit
def _layer_sums(outs, m, sources, weights, w_step, k_count, n):
    tk._accumulate(outs, 0, m, sources, weights, 0, w_step, k_count, n)


@njit
def _weight_grads(d, xs, m, span, products, grad, g_step):
    tk._dots(d, xs, 0, m, span, products, grad, 0, g_step)


def _tree_oracle(x, d):
    """sum(x * d) by halves in float32 (the order training.py fixes)."""
    half = x.size // 2
    p = x[:half] * d[:half] + x[half:] * d[half:]
    while p.size > 1:
        p = p[:p.size // 2] + p[p.size // 2:]
    return p[0]


@pytest.mark.parametrize("n", [1024, 1000, 512, 256, 100, 64, 16, 3])
def test_layer_sums_in_vector_tiles_match_the_fixed_order(n):
    """The forward pass's and the input gradients' sums (float_tiles.py: whole
    tiles in registers, the rest by plain loops) equal numpy's float32 sums taken
    input by input from the start value, bit for bit, for every output count."""
    rng = np.random.default_rng(n)
    span = 1 << max(n - 1, 0).bit_length()
    for m, k_count in ((32, 12), (16, 32), (8, 16), (6, 16), (3, 5), (1, 1)):
        sources = np.zeros((k_count, span), np.float32)
        sources[:, :n] = rng.normal(0, 3, (k_count, n))
        weights = rng.normal(0, 0.3, k_count * m + 5).astype(np.float32)
        outs = np.zeros((m, span), np.float32)
        outs[:, :n] = rng.normal(0, 1, (m, n))
        want = outs.copy()
        for i in range(m):
            for k in range(k_count):
                want[i, :n] = want[i, :n] + weights[i + k * m] * sources[k, :n]
        _layer_sums(outs, m, sources, weights, m, k_count, n)
        assert np.array_equal(outs, want), (m, k_count)


@pytest.mark.parametrize("span", [2048, 1024, 512, 256, 128, 64, 32, 2])
def test_weight_gradients_in_registers_match_the_tree(span):
    """The weight gradients' sums by halves (evaluated depth first in registers
    where the span allows) equal the tree in numpy float32, bit for bit."""
    rng = np.random.default_rng(span)
    for m in (4, 3, 1):
        xs = rng.normal(0, 2, (m + 1, span)).astype(np.float32)
        d = rng.normal(0, 1e-3, span).astype(np.float32)
        grad = np.zeros(3 * m, np.float32)
        _weight_grads(d, xs, m, span, np.zeros((4, span), np.float32), grad, 3)
        want = [_tree_oracle(xs[i], d) for i in range(m)]
        assert np.array_equal(grad[::3], np.array(want, np.float32)), m
