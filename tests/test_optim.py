# SPDX-License-Identifier: MIT
"""Adam and its one-cycle schedule as the training kernel runs them, against torch.optim."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from framecodec.encoder import optim, train
from framecodec.kernels import training as tk

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("total,warm_up", [(600, 0.15), (7, 0.15), (1, 0.15), (50, 0.5)])
def test_one_cycle_schedule_is_torch_s(total, warm_up):
    param = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.Adam([param], lr=0.03)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.03, total_steps=total,
                                                   pct_start=warm_up)
    rates, beta1s, corrections = optim.one_cycle(0.03, total, warm_up=warm_up)
    for k in range(total):
        group = opt.param_groups[0]
        assert rates[k] == pytest.approx(group["lr"], rel=1e-12)
        assert beta1s[k] == pytest.approx(group["betas"][0], rel=1e-12)
        assert corrections[k, 0] == pytest.approx(1 - beta1s[k] ** (k + 1), rel=1e-12)
        assert corrections[k, 1] == pytest.approx(1 - 0.999 ** (k + 1), rel=1e-12)
        opt.step()
        schedule.step()


def test_kernel_s_adam_steps_are_torch_s():
    """Eight steps of the kernel on one predictor, against torch.optim.Adam fed the
    same gradients (autograd, float64) and the same schedule."""
    rng = np.random.default_rng(8)
    n, n_in, n_seq = 256, 5, 3
    feats = rng.integers(-40, 40, (n, n_in))
    seqs = rng.integers(-30, 30, (n, n_seq))
    targets = feats[:, 0] // 3 + rng.integers(-4, 5, n)
    rows = np.concatenate([feats, seqs, targets[:, None]], axis=1).astype(np.int16)[None]
    sizes = [n_in, 8, 2 + 2 * n_seq]
    start = train._initial_params(1, sizes, rng)
    steps = 8
    order = np.tile(np.arange(n), (steps, 1))
    schedule = optim.one_cycle(0.03, steps)
    ours = start.copy()
    train._adam(ours, rows, [n_in], sizes, order, lambda n: schedule, loss=tk.LOSS_LOGISTIC,
                n_seq=n_seq, inv_scale=1 / 8)

    weights, biases = train._unpack(start[0].astype(np.float64), sizes)
    params = [torch.tensor(a, requires_grad=True) for w, b in zip(weights, biases)
              for a in (w, b)]
    opt = torch.optim.Adam(params, lr=0.03, foreach=False)
    x, s = torch.tensor(feats / 8), torch.tensor(seqs / 8)
    t = torch.tensor(targets, dtype=torch.float64)
    for k in range(steps):
        opt.param_groups[0]["lr"] = schedule[0][k]
        opt.param_groups[0]["betas"] = (schedule[1][k], 0.999)
        w1, b1, w2, b2 = params
        o = torch.relu(x @ w1 + b1) @ w2 + b2
        mu = o[:, 0] + (o[:, 2:2 + n_seq] * s).sum(1)
        ls = (o[:, 1] + (o[:, 2 + n_seq:] * s.abs()).sum(1)).clamp(-4.0, 10.0)
        inv = torch.exp(-ls)
        mass = torch.sigmoid((t + 0.5 - mu) * inv) - torch.sigmoid((t - 0.5 - mu) * inv)
        opt.zero_grad()
        (-torch.log2(mass.clamp_min(1e-9))).mean().backward()
        opt.step()
    theirs = np.concatenate([p.detach().numpy().ravel() for p in params])
    moved = np.abs(theirs - start[0]).max()
    assert moved > 1e-2
    np.testing.assert_allclose(ours[0], theirs, rtol=0, atol=1e-3 * moved)


def test_encoding_loads_no_torch(tmp_path):
    """Training runs in numba: an encode works where torch cannot load."""
    from helpers import BLOCK_TORCH, SAMPLE
    script = BLOCK_TORCH + textwrap.dedent(f"""
        import framecodec
        from framecodec.encoder.settings import preset
        framecodec.encode({str(SAMPLE)!r}, {str(tmp_path / 's.fcv')!r}, settings=preset("fast"),
                          frames=(0, 3))
        assert "torch" not in sys.modules
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
