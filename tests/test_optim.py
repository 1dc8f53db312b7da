# SPDX-License-Identifier: MIT
"""The hand-written Adam and one-cycle schedule against torch.optim, their oracle."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from framecodec.encoder.optim import Adam, OneCycleAdam  # noqa: E402


def _least_squares(param, x, y):
    param.grad = None
    ((x @ param - y) ** 2).mean().backward()


@pytest.mark.parametrize("total,warm_up", [(600, 0.15), (7, 0.15), (1, 0.15), (50, 0.5)])
def test_one_cycle_adam_takes_torch_s_steps_exactly(total, warm_up):
    torch.manual_seed(0)
    w0 = torch.randn(20, 5)
    x, y = torch.randn(64, 20), torch.randn(64, 5)
    ours, theirs = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(w0.clone())
    opt = torch.optim.Adam([theirs], lr=0.03, foreach=False)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.03, total_steps=total,
                                                   pct_start=warm_up)
    mine = OneCycleAdam([ours], 0.03, total, warm_up=warm_up)
    for _ in range(total):
        group = opt.param_groups[0]
        assert mine.lr == pytest.approx(group["lr"], rel=1e-12)
        assert mine.beta1 == pytest.approx(group["betas"][0], rel=1e-12)
        _least_squares(theirs, x, y)
        _least_squares(ours, x, y)
        opt.step()
        schedule.step()
        mine.step()
    assert torch.equal(ours, theirs)


def test_adam_leaves_parameters_without_gradients_alone():
    torch.manual_seed(1)
    used, unused = torch.nn.Parameter(torch.randn(4, 2)), torch.nn.Parameter(torch.randn(3))
    before = unused.detach().clone()
    theirs = torch.nn.Parameter(used.detach().clone())
    reference = torch.optim.Adam([theirs], lr=0.1, foreach=False)
    mine = Adam([used, unused], lr=0.1)
    x, y = torch.randn(8, 4), torch.randn(8, 2)
    for _ in range(5):
        _least_squares(used, x, y)
        _least_squares(theirs, x, y)
        mine.step()
        reference.step()
    assert torch.equal(used, theirs) and torch.equal(unused, before)


def test_training_does_not_load_the_torch_compiler():
    """torch.optim imports torch._dynamo on first use (seconds and 72 MB per process)."""
    code = (
        "import sys, numpy as np\n"
        "from framecodec.encoder import train\n"
        "rng = np.random.default_rng(0)\n"
        "sets = [(rng.integers(-9, 9, (500, 11)).astype(np.int32),\n"
        "         rng.integers(-9, 9, (500, 2)).astype(np.int32),\n"
        "         rng.integers(-3, 3, 500).astype(np.int32))]\n"
        "train.fit_many(sets, bit_depth=8, settings=train.TrainSettings(steps=5))\n"
        "train.fit_palette_net(rng.integers(0, 64, 300), rng.integers(0, 4, 300), steps=5)\n"
        "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
