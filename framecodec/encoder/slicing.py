# SPDX-License-Identifier: MIT
"""Where a group's slices start (encoder only): about the same decoding work in each.

Slices decode on threads of their own, and a frame is done when its slowest
slice is. Cut evenly, a clip with still rows (a static lower half, letterbox
bars, a desktop under one moving window) leaves one thread idle most of the
time. What a slice costs to decode is, per coded sample, a network evaluation
and its residual's binary decisions (one for a zero, about 2 + 2 log2|v|
otherwise, FORMAT.md 6.5.5); a skipped sample costs only a copy. So the work of
a block row is estimated from the group's source frames, unit by unit as the
skip decision goes (6.3): intra frames code every sample, with residuals
about those of the median predictor; inter frames code the units their
motion-compensated reference does not match within the bound (the decoder's
own skip map, from the source frames as references), with residuals about the
compensation's.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from ..format.layout import Layout, even_slice_starts
from ..kernels import workload as wl
from .motion import compensated

__all__ = ["balanced_starts", "min_max_cut"]

# decoding time, in coded samples: a skipped sample, and a binary decision
SKIPPED_COST = 0.1
DECISION_COST = 0.15
# the estimate's integer unit: 1/UNITS of a coded sample, 1/1024 of a decision
# (log2 to 1/1024), so that both costs above are whole and sums exact
UNITS = 20480
# the even cut is kept unless another makes the busiest slice this much lighter: moving a
# slice edge changes the coding a little, not worth it for a few per cent of one thread
LEAST_GAIN = 0.05


@functools.cache
def _decisions_table() -> np.ndarray:
    """About how many binary decisions code a residual, by its magnitude after the
    bound's quantisation (steps of 2 N + 1; residuals of 16-bit samples stay
    below 2**16): 1 for a zero, 2 + 2 log2 of the magnitude otherwise (FORMAT.md
    6.5.5). Rounded to 1/1024: numpy's log2 differs in its last bit from one CPU to
    another, and the cut must not."""
    magnitude = np.arange(1 << 16, dtype=np.int64)
    log2 = np.round(1024.0 * np.log2(np.maximum(magnitude, 1))) / 1024.0
    return np.where(magnitude == 0, 1.0, 2.0 + 2.0 * log2)


@functools.cache
def _costs_table() -> np.ndarray:
    """What a coded sample costs by residual magnitude, in 1/UNITS of a sample:
    1 + DECISION_COST x its decisions (``_decisions_table``, whole in 1/1024)."""
    per_decision = DECISION_COST * UNITS / 1024
    assert per_decision == round(per_decision) and SKIPPED_COST * UNITS == round(
        SKIPPED_COST * UNITS)
    decisions = np.round(_decisions_table() * 1024).astype(np.int64)
    return UNITS + int(per_decision) * decisions


def balanced_starts(layout: Layout, src: Sequence[np.ndarray], mvs: Sequence[np.ndarray],
                    intra: Sequence[bool], max_error: int, refs: int) -> list[int]:
    """The first block row of each of ``layout.n_slices`` slices, for a group's source
    frames ``src`` with their motion fields and frame kinds (motion.estimate)."""
    n = layout.n_slices
    if n == 1:
        return [0]
    work = unit_row_work(layout, src, mvs, intra, max_error, refs)
    block_rows = np.zeros(layout.nby, np.int64)  # two unit rows to a block row
    np.add.at(block_rows, np.arange(layout.nuy) >> 1, work)
    block_rows = block_rows.astype(np.float64)  # exact: far below 2**53
    even = even_slice_starts(layout.nby, n)
    balanced = min_max_cut(block_rows, n)
    if _busiest(block_rows, balanced) < (1 - LEAST_GAIN) * _busiest(block_rows, even):
        return balanced
    return even  # about as balanced already: the cut every other encoder would make


def unit_row_work(layout: Layout, src: Sequence[np.ndarray], mvs: Sequence[np.ndarray],
                  intra: Sequence[bool], max_error: int, refs: int) -> np.ndarray:
    """Estimated decoding work of each unit row over the group, in 1/UNITS of a
    coded sample (int64)."""
    h, w = layout.shapes[0]
    unit = 1 << layout.log2_unit
    costs = _costs_table()
    work = np.zeros(layout.nuy, np.int64)
    for t in range(len(src)):
        if intra[t]:
            wl.intra_work(src[t], w, h, layout.log2_unit, max_error, costs, work)
            continue
        ref, skip = compensated(layout, src, t, mvs[t], refs, src[t], max_error)
        wl.inter_work(src[t], ref, w, h, layout.log2_unit, layout.nux, layout.nuy, skip,
                      max_error, costs, int(SKIPPED_COST * UNITS) * unit * unit, work)
    return work


def _busiest(work: np.ndarray, starts: list[int]) -> float:
    return max(float(work[a:b].sum()) for a, b in zip(starts, starts[1:] + [len(work)]))


def min_max_cut(work: np.ndarray, parts: int) -> list[int]:
    """Starts of ``parts`` runs of consecutive rows, each at least one row, whose
    largest sum of ``work`` is least (binary search on that sum, greedy cuts)."""
    rows = len(work)
    if parts >= rows:
        return list(range(parts))
    total = float(np.sum(work))
    if total <= 0:
        return [k * rows // parts for k in range(parts)]

    def cut(limit: float) -> list[int] | None:
        """Cuts as late as ``limit`` allows, and wherever the rows left are only
        enough for one per slice still to start; None if the limit cannot hold."""
        starts, run = [0], 0.0
        for r in range(rows):
            to_start = parts - len(starts)
            if r > starts[-1] and to_start and (run + work[r] > limit or rows - r == to_start):
                starts.append(r)
                run = 0.0
            run += work[r]
            if run > limit:
                return None
        return starts if len(starts) == parts else None

    lo, hi = max(float(np.max(work)), total / parts), total
    best = cut(hi) or [k * rows // parts for k in range(parts)]
    for _ in range(50):
        mid = (lo + hi) / 2
        found = cut(mid)
        if found is None:
            lo = mid
        else:
            best, hi = found, mid
    return best
