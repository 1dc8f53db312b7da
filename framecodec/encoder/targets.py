# SPDX-License-Identifier: MIT
"""Choosing each group's error bound to meet a quality or size target.

Encoder only. A group is analysed once (motion, training) and then coded at
candidate bounds, which is cheap; the chosen coding is one whose *measured*
result meets the target, never an estimate:

* ``--target-psnr P``: the largest bound whose reconstruction has a PSNR of
  at least P over all samples of the group;
* ``--target-size``: the smallest bound whose group fits its budget. Each
  group's budget is its share of the file's bytes by frame count, fixed before
  coding (so groups stay independent of each other and of the executor):
  bytes one group leaves unused do not pass to the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..metrics import PlaneStats
from .analysis import GroupAnalysis
from .groupcoder import EncodedGroup, code_group

__all__ = ["Target", "first_guess", "code_for_psnr", "code_for_size", "container_size"]

# Container framing per group (GRUP chunk: 12 bytes and its index field) and per
# frame (FRAM chunk: 12 bytes and at most 16 of group, frame and pts fields).
_GROUP_FRAMING = 16
_FRAME_FRAMING = 28


@dataclass(frozen=True)
class Target:
    psnr: float | None = None
    size: int | None = None  # bytes for the whole file

    @property
    def active(self) -> bool:
        return self.psnr is not None or self.size is not None


def first_guess(psnr: float, peak: int) -> int:
    """The bound whose uniform quantisation error alone gives ``psnr``.

    A step of 2N+1 leaves a mean squared error of about ((2N+1)^2 - 1) / 12.
    """
    mse = peak * peak / 10 ** (psnr / 10)
    step = math.sqrt(12 * mse + 1)
    return max(0, int((step - 1) // 2))


def _stats(analysis: GroupAnalysis, coded: EncodedGroup) -> PlaneStats:
    stats = PlaneStats()
    for src, rec in zip(analysis.shown_frames(), coded.reconstructed):
        stats.add(src, rec)
    return stats


def code_for_psnr(analysis: GroupAnalysis, first: int, psnr: float, max_bound: int,
                  **kw) -> tuple[EncodedGroup, PlaneStats, int]:
    """(coded group, stats, bound): the largest bound meeting ``psnr``."""
    peak = analysis.layout.max_value
    tried: dict[int, tuple] = {}

    def attempt(n: int):
        if n not in tried:
            coded = code_group(analysis, first, n, keep_reconstruction=True, **kw)
            stats = _stats(analysis, coded)
            tried[n] = (coded, stats, stats.psnr(peak) >= psnr)
        return tried[n]

    n = min(first_guess(psnr, peak), max_bound)
    if attempt(n)[2]:
        while n < max_bound and attempt(n + 1)[2]:
            n += 1
    else:
        while n > 0 and not attempt(n)[2]:
            n -= 1
        attempt(n)  # n == 0 is lossless: always meets the target
    coded, stats, _ = tried[n]
    return coded, stats, n


def container_size(coded: EncodedGroup) -> int:
    """Bytes the group takes in a file, framing included (at most)."""
    return coded.size + _GROUP_FRAMING + _FRAME_FRAMING * len(coded.frames)


def code_for_size(analysis: GroupAnalysis, first: int, budget: int, max_bound: int,
                  **kw) -> tuple[EncodedGroup, PlaneStats, int]:
    """(coded group, stats, bound): the smallest bound that fits ``budget``
    bytes, or the largest bound if none does."""
    tried: dict[int, EncodedGroup] = {}

    def size(n: int) -> int:
        if n not in tried:
            tried[n] = code_group(analysis, first, n, keep_reconstruction=True, **kw)
        return container_size(tried[n])

    lo, hi = 0, max_bound
    if size(lo) > budget:
        while lo < hi:  # sizes fall as the bound grows: bisect for the smallest fit
            mid = (lo + hi) // 2
            if size(mid) <= budget:
                hi = mid
            else:
                lo = mid + 1
    size(lo)
    coded = tried[lo]
    return coded, _stats(analysis, coded), lo
