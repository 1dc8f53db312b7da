# SPDX-License-Identifier: MIT
"""What ``encode`` and ``decode`` report back: sizes, fidelity and speed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from .metrics import PlaneStats

__all__ = ["EncodeResult", "DecodeResult", "GroupReport", "RunReport"]


@dataclass(frozen=True)
class GroupReport:
    """One coded group in an encode's summary."""

    frames: int
    bound: int
    psnr: float
    bytes: int


@dataclass(frozen=True)
class RunReport:
    """Who coded an encode's groups: the executor, the workers and nodes that
    returned groups, the retries lost workers cost, and the groups a resumed
    encode read back from its journal instead of coding."""

    executor: str = "local"
    workers: int = 1
    nodes: int = 1
    retries: int = 0
    resumed: int = 0

    def describe(self) -> str:
        """'' for a plain local encode, else a clause for the summary."""
        parts = []
        if self.executor != "local":
            parts.append(f"{self.workers} worker{'s' * (self.workers != 1)} on {self.nodes} "
                         f"node{'s' * (self.nodes != 1)} ({self.executor}), "
                         f"{self.retries} retr{'ies' if self.retries != 1 else 'y'}")
        if self.resumed:
            parts.append(f"{self.resumed} group{'s' * (self.resumed != 1)} from the journal")
        return "; ".join(parts)


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
    run: RunReport = field(default_factory=RunReport)

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
                f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps)"
                + (f"; {self.run.describe()}" if self.run.describe() else ""))


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
