# SPDX-License-Identifier: MIT
"""Whether a lossless RGB group codes red and blue as differences from green
(encoder only; format/differences.py is the transform itself).

Estimated, not measured: measuring means training and coding the group twice.
The estimate compares LOCO-I's median-predictor residuals of planes 1 and 2
as they are and as differences, in log2(1 + |r|), the bits such a residual
roughly costs. The networks already see the co-located residual of plane 0
(FORMAT.md 6.5.1), so where the two are close either choice codes about as
well; where the planes share their detail, as in photographs, the differences
are far cheaper (the sample stills: 1.7 to 12.8 % smaller files).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..format.dictionary import differences_allowed
from ..format.differences import DIFFERENCE_PLANES, to_differences
from ..frames import Frame, VideoInfo

__all__ = ["prefer_differences", "median_residual_cost"]

SAMPLED_ROWS = 256  # rows of a plane the estimate reads, evenly spread


def prefer_differences(info: VideoInfo, frames: Sequence[Frame]) -> bool:
    """Whether the differences' residuals are estimated cheaper than the planes' own."""
    fmt = info.format
    if fmt.family != "rgb" or not differences_allowed(fmt) or not frames:
        return False
    picks = sorted({0, len(frames) // 2, len(frames) - 1})  # first, middle, last
    plain = diff = 0.0
    for t in picks:
        planes = frames[t].planes
        coded = to_differences(planes, fmt.max_value)
        for p in DIFFERENCE_PLANES:
            plain += median_residual_cost(planes[p], fmt.max_value)
            diff += median_residual_cost(coded[p], fmt.max_value)
    return diff < plain


def median_residual_cost(plane: np.ndarray, max_value: int) -> float:
    """Mean log2(1 + |r|) of the median predictor's residuals r, taken modulo
    2^bd as lossless coding takes them, over up to SAMPLED_ROWS rows."""
    h, w = plane.shape
    if h < 2 or w < 2:
        return 0.0
    rows = np.unique(np.linspace(1, h - 1, min(SAMPLED_ROWS, h - 1)).astype(np.int64))
    x = plane.astype(np.int32)
    cur, west = x[rows, 1:], x[rows, :-1]
    north, north_west = x[rows - 1, 1:], x[rows - 1, :-1]
    hi, lo = np.maximum(west, north), np.minimum(west, north)
    pred = np.where(north_west >= hi, lo, np.where(north_west <= lo, hi, west + north - north_west))
    half = (max_value + 1) >> 1
    r = ((cur - pred + half) & max_value) - half
    return float(np.log2(1.0 + np.abs(r)).mean())
