# SPDX-License-Identifier: MIT
"""Error of decoded frames against their source: max error and PSNR, per plane.

One accumulator for every place that measures fidelity (encode's summary,
``verify``, targets and ``tune``), so a PSNR means the same thing everywhere:
over all samples of all planes, ``inf`` when exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .frames import Frame

__all__ = ["PlaneStats", "psnr_db"]


def psnr_db(squared: float, count: int, peak: int) -> float:
    """PSNR of a total squared error over ``count`` samples (inf when exact)."""
    if squared == 0 or count == 0:
        return math.inf
    return 10 * math.log10(peak * peak * count / squared)


@dataclass
class PlaneStats:
    """Error of a reconstruction against its source, accumulated per plane."""

    max_error: list[int] = field(default_factory=list)
    squared: list[float] = field(default_factory=list)
    count: list[int] = field(default_factory=list)

    def _grow(self, n: int) -> None:
        if not self.max_error:
            self.max_error, self.squared, self.count = [0] * n, [0.0] * n, [0] * n

    def add(self, source: Frame, decoded: Frame) -> None:
        self._grow(len(source.planes))
        for p, (a, b) in enumerate(zip(source.planes, decoded.planes)):
            self.count[p] += a.size
            if b is a:  # a lossless coding hands back its source planes: nothing to measure
                continue
            d = a.astype(np.int64) - b.astype(np.int64)
            self.max_error[p] = max(self.max_error[p], int(np.abs(d).max(initial=0)))
            self.squared[p] += float((d * d).sum())

    def merge(self, other: PlaneStats) -> None:
        if not other.max_error:
            return
        self._grow(len(other.max_error))
        for p in range(len(self.max_error)):
            self.max_error[p] = max(self.max_error[p], other.max_error[p])
            self.squared[p] += other.squared[p]
            self.count[p] += other.count[p]

    @property
    def worst(self) -> int:
        """The largest error of any sample (0 when nothing was measured)."""
        return max(self.max_error, default=0)

    def psnr(self, peak: int) -> float:
        """PSNR over all samples of all planes (inf when exact)."""
        return psnr_db(sum(self.squared), sum(self.count), peak)

    def plane_psnr(self, peak: int) -> list[float]:
        return [psnr_db(s, n, peak) for s, n in zip(self.squared, self.count)]
