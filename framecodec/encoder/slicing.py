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
from ..kernels import motion as mo

__all__ = ["balanced_starts", "min_max_cut"]

# decoding time, in coded samples: a skipped sample, and a binary decision
SKIPPED_COST = 0.1
DECISION_COST = 0.15
# the even cut is kept unless another makes the busiest slice this much lighter: moving a
# slice edge changes the coding a little, not worth it for a few per cent of one thread
LEAST_GAIN = 0.05


@functools.cache
def _decisions_table() -> np.ndarray:
    """_decisions by magnitude (residuals of 16-bit samples stay below 2**16).
    Rounded to 1/1024: numpy's log2 differs in its last bit from one CPU to
    another, and the cut must not."""
    magnitude = np.arange(1 << 16, dtype=np.int64)
    log2 = np.round(1024.0 * np.log2(np.maximum(magnitude, 1))) / 1024.0
    return np.where(magnitude == 0, 1.0, 2.0 + 2.0 * log2)


def _decisions(residual: np.ndarray, max_error: int) -> np.ndarray:
    """About how many binary decisions code each residual, quantised as the bound
    quantises it (steps of 2 N + 1): 1 for a zero, 2 + 2 log2 of the magnitude
    otherwise (FORMAT.md 6.5.5), from a table."""
    magnitude = (np.abs(residual) + max_error) // (2 * max_error + 1)
    return _decisions_table()[magnitude]


def _med_residual(plane: np.ndarray) -> np.ndarray:
    """Sample minus the median edge predictor of its W, N and NW neighbours."""
    x = plane.astype(np.int32)
    a = np.zeros_like(x)
    b = np.zeros_like(x)
    c = np.zeros_like(x)
    a[:, 1:], b[1:, :], c[1:, 1:] = x[:, :-1], x[:-1, :], x[:-1, :-1]
    return x - np.clip(a + b - c, np.minimum(a, b), np.maximum(a, b))


def balanced_starts(layout: Layout, src: Sequence[np.ndarray], mvs: Sequence[np.ndarray],
                    intra: Sequence[bool], max_error: int, refs: int) -> list[int]:
    """The first block row of each of ``layout.n_slices`` slices, for a group's source
    frames ``src`` with their motion fields and frame kinds (motion.estimate)."""
    n = layout.n_slices
    if n == 1:
        return [0]
    h, w = layout.shapes[0]
    unit = 1 << layout.log2_unit
    grid = (layout.nuy, unit, layout.nux, unit)

    def per_unit(values: np.ndarray, fill) -> np.ndarray:
        padded = np.full((layout.nuy * unit, layout.nux * unit), fill, values.dtype)
        padded[:h, :w] = values
        return padded.reshape(grid)

    work = np.zeros(layout.nuy, np.float64)  # estimated decoding time per unit row
    for t in range(len(src)):
        plane = np.asarray(src[t][: h * w]).reshape(h, w).astype(np.int32)
        if intra[t]:
            cost = 1.0 + DECISION_COST * _decisions(_med_residual(plane), max_error)
            work += per_unit(cost, 0.0).sum(axis=(1, 2, 3))
            continue
        ref = np.zeros(layout.size, np.uint16)
        prevs = np.stack([src[t - 1 - r] for r in range(min(refs, t))])
        mo._compensate(prevs, layout.geom, layout.n_planes, mvs[t], layout.log2_block,
                       layout.nbx, layout.max_value, ref, 0, layout.nby)
        skip = np.zeros(layout.nux * layout.nuy, np.uint8)
        mo._skip_map(src[t], ref, layout.geom, layout.n_planes, layout.log2_unit, layout.nux,
                     layout.nuy, max_error, skip)
        residual = plane - ref[: h * w].reshape(h, w).astype(np.int32)
        cost = per_unit(1.0 + DECISION_COST * _decisions(residual, max_error),
                        0.0).sum(axis=(1, 3))
        skipped = skip.reshape(layout.nuy, layout.nux).astype(bool)
        work += np.where(skipped, SKIPPED_COST * unit * unit, cost).sum(axis=1)
    block_rows = np.zeros(layout.nby, np.float64)  # two unit rows to a block row
    np.add.at(block_rows, np.arange(layout.nuy) >> 1, work)
    even = even_slice_starts(layout.nby, n)
    balanced = min_max_cut(block_rows, n)
    if _busiest(block_rows, balanced) < (1 - LEAST_GAIN) * _busiest(block_rows, even):
        return balanced
    return even  # about as balanced already: the cut every other encoder would make


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
