# SPDX-License-Identifier: MIT
"""Adam's step sizes: the one-cycle schedule and the bias corrections, per step.

The training kernel (kernels/training.py) takes them as arrays. The schedule
is that of ``torch.optim.lr_scheduler.OneCycleLR``'s defaults: the learning
rate rises from max/25 to max over the first ``warm_up`` share of the steps
and falls to max/25e4, both on half cosines, while Adam's beta1 moves the
other way between 0.95 and 0.85. The corrections are Adam's (Kingma and Ba,
PyTorch's: each step's with that step's beta1).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["one_cycle", "constant", "BETA2"]

BETA2 = 0.999
BASE_BETA1, MAX_BETA1 = 0.85, 0.95
DIV, FINAL_DIV = 25.0, 1e4


def one_cycle(max_lr: float, total: int, warm_up: float = 0.15):
    """(rates, beta1s, corrections) for ``total`` steps; step k uses the schedule's
    values after k - 1 steps, as torch's scheduler hands them to its optimiser."""
    total = max(total, 1)
    first = max_lr / DIV
    last = first / FINAL_DIV
    turn = float(warm_up * total) - 1.0
    end = total - 1.0
    rates, beta1s = [], []
    for k in range(total):
        if k <= turn:
            share = k / turn if turn > 0 else 1.0
            rates.append(_half_cosine(first, max_lr, share))
            beta1s.append(_half_cosine(MAX_BETA1, BASE_BETA1, share))
        else:
            share = min((k - turn) / (end - turn), 1.0) if end > turn else 1.0
            rates.append(_half_cosine(max_lr, last, share))
            beta1s.append(_half_cosine(BASE_BETA1, MAX_BETA1, share))
    return np.array(rates), np.array(beta1s), _corrections(beta1s)


def constant(lr: float, total: int, beta1: float = 0.9):
    """(rates, beta1s, corrections) of plain Adam at a fixed learning rate."""
    return np.full(total, lr), np.full(total, beta1), _corrections([beta1] * total)


def _corrections(beta1s) -> np.ndarray:
    """Per step k (from 1): 1 - beta1_k ** k and 1 - beta2 ** k, the powers taken
    by repeated squaring (no libm pow, whose last bit may vary between machines)."""
    out = np.empty((len(beta1s), 2))
    for k, beta1 in enumerate(beta1s, start=1):
        out[k - 1] = 1.0 - _power(beta1, k), 1.0 - _power(BETA2, k)
    return out


def _power(base: float, exponent: int) -> float:
    result = 1.0
    while exponent:
        if exponent & 1:
            result *= base
        base *= base
        exponent >>= 1
    return result


def _half_cosine(start: float, end: float, share: float) -> float:
    """From ``start`` at share 0 to ``end`` at share 1 along half a cosine."""
    return end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * share))
