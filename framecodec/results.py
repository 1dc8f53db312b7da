# SPDX-License-Identifier: MIT
"""What ``encode`` and ``decode`` report back: sizes, fidelity and speed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from .metrics import PlaneStats

__all__ = ["EncodeResult", "DecodeResult", "GroupReport"]


@dataclass(frozen=True)
class GroupReport:
    """One coded group in an encode's summary."""

    frames: int
    bound: int
    psnr: float
    bytes: int


@dataclass
class EncodeResult:
    """What ``encode`` did: sizes, fidelity and speed."""

    path: Path
    bytes: int
    frames: int
    groups: int
    samples: int
    raw_bytes: int
    seconds: float
    max_error: int
    psnr: float
    stats: PlaneStats
    groups_report: list[GroupReport] = field(default_factory=list)

    @property
    def bits_per_sample(self) -> float:
        return 8 * self.bytes / max(self.samples, 1)

    @property
    def ratio(self) -> float:
        """Raw size over coded size."""
        return self.raw_bytes / max(self.bytes, 1)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else math.inf

    def summary(self) -> str:
        psnr = "inf" if math.isinf(self.psnr) else f"{self.psnr:.2f}"
        return (f"{self.path}: {self.bytes:,} bytes, {self.bits_per_sample:.3f} bits/sample, "
                f"1:{self.ratio:.2f} of raw, max error {self.max_error}, PSNR {psnr} dB, "
                f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps)")


@dataclass
class DecodeResult:
    path: Path
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else math.inf

    def summary(self) -> str:
        return f"{self.path}: {self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps)"
