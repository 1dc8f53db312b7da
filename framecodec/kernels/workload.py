# SPDX-License-Identifier: MIT
"""Decoding work per unit row, estimated from a group's source frames (encoder only).

For ``encoder/slicing.py``, which places slice edges so that each slice has
about the same work. The numbers are integers (``costs`` gives each residual
magnitude's cost in whole units), so the sums are exact in any order and the
cut cannot depend on how a machine adds floats.
"""

import numpy as np

from ._jit import inline, kernel


@inline
def _magnitude(residual, max_error):
    """|residual| after the bound's quantisation (steps of 2 N + 1)."""
    return (abs(residual) + max_error) // (2 * max_error + 1)


@kernel
def intra_work(src, w, h, log2_unit, max_error, costs, work):
    """work[y >> log2_unit] += the cost of every plane-0 sample of row y, coded
    with its residual from the median predictor of W, N and NW (0 outside the
    picture). ``src``: a flat frame, plane 0 first."""
    for y in range(h):
        total = 0
        for x in range(w):
            i = y * w + x
            a = np.int64(src[i - 1]) if x > 0 else 0
            b = np.int64(src[i - w]) if y > 0 else 0
            c = np.int64(src[i - w - 1]) if x > 0 and y > 0 else 0
            lo = min(a, b)
            hi = max(a, b)
            pred = min(max(a + b - c, lo), hi)
            total += costs[_magnitude(np.int64(src[i]) - pred, max_error)]
        work[y >> log2_unit] += total


@kernel
def inter_work(src, ref, w, h, log2_unit, nux, nuy, skip, max_error, costs, skipped_unit,
               work):
    """work[unit row] += per unit, ``skipped_unit`` if ``skip`` says the unit is
    skipped, else the cost of each of its plane-0 samples in the picture, coded
    with its residual from ``ref`` (a flat frame, the compensated reference)."""
    for y in range(h):
        uy = y >> log2_unit
        total = 0
        for x in range(w):
            if skip[uy * nux + (x >> log2_unit)] == 0:
                i = y * w + x
                total += costs[_magnitude(np.int64(src[i]) - np.int64(ref[i]), max_error)]
        work[uy] += total
    for uy in range(nuy):
        for ux in range(nux):
            if skip[uy * nux + ux] != 0:
                work[uy] += skipped_unit
