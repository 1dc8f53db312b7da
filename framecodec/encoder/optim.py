# SPDX-License-Identifier: MIT
"""Adam and the one-cycle schedule, written out with torch's foreach operations.

Why not ``torch.optim``: its first use in a process imports ``torch._dynamo``
(the compiler stack), which costs 1.3 to 2.2 s and 72 MB in every encoding
process and pool worker, more than the whole training of a short clip. The
update is Adam's (Kingma and Ba; PyTorch's defaults, no weight decay), the
schedule that of ``torch.optim.lr_scheduler.OneCycleLR``'s defaults: the
learning rate rises from max/25 to max over the first ``warm_up`` share of the
steps and falls to max/25e4, both on half cosines, while Adam's beta1 moves
the other way between 0.95 and 0.85.
"""

from __future__ import annotations

import math

import torch

__all__ = ["OneCycleAdam", "Adam"]


class Adam:
    """Adam at a learning rate and beta1 the caller may change between steps."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.steps = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update from the gradients in ``p.grad`` (parameters with none are left)."""
        self.steps += 1
        live = [k for k, p in enumerate(self.params) if p.grad is not None]
        params = [self.params[k] for k in live]
        grads = [self.params[k].grad for k in live]
        m = [self.m[k] for k in live]
        v = [self.v[k] for k in live]
        torch._foreach_lerp_(m, grads, 1.0 - self.beta1)
        torch._foreach_mul_(v, self.beta2)
        torch._foreach_addcmul_(v, grads, grads, 1.0 - self.beta2)
        # bias corrections with the current beta1, as torch's Adam computes them
        correction1 = 1.0 - self.beta1 ** self.steps
        correction2 = 1.0 - self.beta2 ** self.steps
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, math.sqrt(correction2))
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, m, denom, -self.lr / correction1)


class OneCycleAdam(Adam):
    """Adam whose learning rate and beta1 follow the one-cycle schedule over ``total`` steps."""

    BASE_BETA1, MAX_BETA1 = 0.85, 0.95
    DIV, FINAL_DIV = 25.0, 1e4

    def __init__(self, params, max_lr: float, total: int, warm_up: float = 0.15):
        super().__init__(params, max_lr / self.DIV, (self.MAX_BETA1, 0.999))
        self.max_lr, self.total, self.warm_up = max_lr, max(total, 1), warm_up
        self._schedule(0)

    def step(self) -> None:
        super().step()
        self._schedule(self.steps)

    def _schedule(self, k: int) -> None:
        first = self.max_lr / self.DIV
        last = first / self.FINAL_DIV
        turn = float(self.warm_up * self.total) - 1.0
        end = self.total - 1.0
        if k <= turn:
            share = k / turn if turn > 0 else 1.0
            self.lr = _half_cosine(first, self.max_lr, share)
            self.beta1 = _half_cosine(self.MAX_BETA1, self.BASE_BETA1, share)
        else:
            share = min((k - turn) / (end - turn), 1.0) if end > turn else 1.0
            self.lr = _half_cosine(self.max_lr, last, share)
            self.beta1 = _half_cosine(self.BASE_BETA1, self.MAX_BETA1, share)


def _half_cosine(start: float, end: float, share: float) -> float:
    """From ``start`` at share 0 to ``end`` at share 1 along half a cosine."""
    return end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * share))
