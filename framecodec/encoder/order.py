# SPDX-License-Identifier: MIT
"""Choosing a group's coding order: display, or two-sided (docs/FORMAT.md 5.3).

In two-sided order (0, 2, 1, 4, 3, ...) each odd frame is predicted from both
sides, its blocks from either neighbour or from the average of two (as
H.264's B-blocks), and each even frame from two frames back. What that pays
depends on the content; lossless, first 60 frames of the corpus clips, every
group coded each way: the synthetic clip decoded from H.264 4.2 % smaller, the
carphone clip 2.6 %, the bikes clip 2.3 % larger, the surveillance clip 8.9 %,
the screen recording 21 % and the animation 39 % larger (frames that alternate
or hold, whose even frames then lose their nearest match). Chosen per group by
the estimate below: 1.9 % smaller in total (bikes 2.8 % smaller: some of its
groups gain, others lose), no clip larger.

Lossless, the order is estimated per group by searching one block row in
``ESTIMATE_STEP`` of every frame each way: the zero-order entropy of what
motion compensation leaves there (intra frames: of what a median predictor
leaves), which follows the coded sizes' ranking on the corpus. The network
predicts far better than these residuals say, and the two-sided order's gains
shrink under it, hence a margin. With a bound the estimate did not tell
winners from losers (see ``TWO_SIDED_SHARE``), so ``auto`` keeps display order
there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..format.group import coding_order
from ..format.layout import FlatFrames, Layout
from ..frames import Frame
from ..kernels import motion as mo
from . import motion
from .settings import EncodeSettings

__all__ = ["choose_order", "estimated_bits", "sampled_samples", "ESTIMATE_STEP",
           "TWO_SIDED_SHARE"]

ESTIMATE_STEP = 8  # one block row in this many searched each way to estimate
TWO_SIDED_SHARE = 0.975  # two-sided where its estimate is below this share of display's
# Bounded, two-sided against display order (corpus, 60 frames; a clip as one group):
# bound 1 lebiniou -2.8 %, carphone +2.4 %, bikes +2.6 %; bound 2 lebiniou -2.2 %,
# carphone -1.9 %. The estimate with residuals quantised as the coder does gave
# 0.992, 0.996 and 1.031 at bound 1, 0.992, 0.967 and 1.013 at bound 2: no share
# separates them, so ``auto`` codes bounded groups in display order.


def choose_order(layout: Layout, frames: Sequence[Frame], settings: EncodeSettings, *,
                 lossless: bool, step: int = ESTIMATE_STEP) -> list[int]:
    """The group's coding order (frame numbers in display order, as coded): the
    settings' ``order``, or for ``auto`` the estimate's choice where the group is
    coded ``lossless``; with a bound ``auto`` keeps display order (see
    ``TWO_SIDED_SHARE``)."""
    n = len(frames)
    if not settings.inter or n < 3 or settings.order == "display" or (
            settings.order == "auto" and not lossless):
        return coding_order(n, False)
    if settings.order == "two-sided":
        return coding_order(n, True)
    sampled = sampled_samples(layout, motion.sampled_blocks(layout, step))
    bits = []
    for two_sided in (False, True):
        order = coding_order(n, two_sided)
        src = FlatFrames(layout, [frames[i] for i in order], keep=settings.refs + 2)
        fields, intra = motion.estimate(layout, src, settings, order, step)
        bits.append(sum(estimated_bits(layout, src, t, fields[t], intra[t], settings.refs,
                                       step, sampled) for t in range(1, n)))
    return coding_order(n, bits[1] < TWO_SIDED_SHARE * bits[0])


def estimated_bits(layout: Layout, src: Sequence[np.ndarray], t: int, field: np.ndarray,
                   intra: bool, refs: int, step: int, sampled: list[np.ndarray]) -> float:
    """Zero-order entropy (bits) of the residuals of frame t's ``sampled`` samples
    (``sampled_samples``: those of every ``step``-th block row), plane by plane: from
    its motion-compensated prediction out of the ``refs`` frames before it in
    ``src``, or from the median of its left, upper and upper-left neighbours when
    ``intra``."""
    cur = src[t]
    if intra:
        residuals = [_median_residual(_plane(layout, cur, p)).ravel()[at - layout.geom[p, 0]]
                     for p, at in enumerate(sampled)]
    else:
        ref = np.zeros(layout.size, np.uint16)
        prevs = np.stack([src[t - 1 - r] for r in range(min(refs, t))])
        for by in range(0, layout.nby, step):  # the sampled block rows
            mo._compensate(prevs, layout.geom, layout.n_planes, field, layout.log2_block,
                           layout.nbx, layout.max_value, ref, by, by + 1)
        residuals = [cur[at].astype(np.int32) - ref[at] for at in sampled]
    return sum(_entropy(r, layout.max_value) for r in residuals)


def sampled_samples(layout: Layout, blocks: np.ndarray) -> list[np.ndarray]:
    """Per plane, the flat frame positions (FORMAT.md 5.2) of the samples of the
    ``blocks`` flagged, in raster order."""
    positions = []
    for p in range(layout.n_planes):
        off, w, h, sx, sy = (int(v) for v in layout.geom[p, :5])
        by = (np.arange(h) << sy) >> layout.log2_block
        bx = (np.arange(w) << sx) >> layout.log2_block
        block = (by[:, None] * layout.nbx + bx[None, :]).ravel()
        positions.append(off + np.flatnonzero(blocks[block]))
    return positions


def _median_residual(x: np.ndarray) -> np.ndarray:
    """x minus the median edge detector (LOCO-I) of its neighbours (0 outside)."""
    x = x.astype(np.int32)
    a = np.zeros_like(x)
    b = np.zeros_like(x)
    c = np.zeros_like(x)
    a[:, 1:] = x[:, :-1]
    b[1:] = x[:-1]
    c[1:, 1:] = x[:-1, :-1]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    med = np.where(c >= hi, lo, np.where(c <= lo, hi, a + b - c))
    return x - med


def _entropy(values: np.ndarray, max_value: int) -> float:
    """Zero-order entropy (bits) of residuals within +-``max_value``."""
    if values.size == 0:
        return 0.0
    counts = np.bincount(values + max_value)
    counts = counts[counts > 0]
    share = counts / values.size
    return float(-(counts * np.log2(share)).sum())


def _plane(layout: Layout, buf: np.ndarray, p: int) -> np.ndarray:
    off, w, h = (int(v) for v in layout.geom[p, :3])
    return buf[off:off + w * h].reshape(h, w)
