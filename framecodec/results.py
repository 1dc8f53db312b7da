# SPDX-License-Identifier: MIT
"""What ``encode`` and ``decode`` report back: sizes, fidelity and speed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from .metrics import PlaneStats

__all__ = ["EncodeResult", "DecodeResult", "GroupReport", "InputSummary", "OutputFidelity",
           "RunReport"]


@dataclass(frozen=True)
class InputSummary:
    """What an encode read: its video codec, whether that codec can be lossy, its bytes."""

    path: Path
    codec: str
    bytes: int
    lossy: bool
    whole: bool = True  # every frame of it was encoded


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
    source: InputSummary | None = None
    unmatched: list[int] = field(default_factory=list)
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
        """A line of sizes and fidelity, a line comparing with the input, and notes."""
        psnr = "inf" if math.isinf(self.psnr) else f"{self.psnr:.2f}"
        run = self.run.describe()
        lines = [f"{self.path}: {self.bytes:,} bytes, {self.bits_per_sample:.3f} bits/sample, "
                 f"1:{self.ratio:.2f} of raw, max error {self.max_error}, PSNR {psnr} dB, "
                 f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps)"
                 + (f"; {run}" if run else "")]
        src = self.source
        if src is not None:
            ratio = f" ({self.bytes / max(src.bytes, 1):.2f} x the input)" if src.whole else \
                " (a part of the input was encoded)"
            lines.append(f"input {src.path.name}: {src.codec}, {src.bytes:,} bytes; output "
                         f"{self.bytes:,} bytes{ratio}")
            if src.lossy and self.max_error == 0:
                lines.append(f"note: {src.codec} is a lossy codec; the .fcv keeps its decoded "
                             f"frames exactly, which costs more than the {src.codec} stream did")
        if self.unmatched:
            lines.append(f"note: {len(self.unmatched)} frames (first: {self.unmatched[0]}) "
                         "had non-zero padding bytes in the source; their stored MD5 covers "
                         "the samples with zero padding, not ffmpeg's bytes")
        return "\n".join(lines)


@dataclass(frozen=True)
class OutputFidelity:
    """How far a lossy output (H.264 mp4, PNG of YUV) is from the decoded frames,
    measured by decoding the written output back: ``what`` names the output."""

    what: str
    psnr: float
    max_error: int
    frames: int


@dataclass
class DecodeResult:
    path: Path
    frames: int
    seconds: float
    fidelity: OutputFidelity | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else math.inf

    def summary(self) -> str:
        line = f"{self.path}: {self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps)"
        f = self.fidelity
        if f is None:
            return line
        psnr = "inf" if math.isinf(f.psnr) else f"{f.psnr:.2f} dB"
        exact = "--lossless, .mkv or .y4m give" if f.what.startswith("H.264") else \
            ".mkv or .y4m give"
        return (f"{line}\nnote: the output is lossy ({f.what}): PSNR {psnr}, max error "
                f"{f.max_error} against the decoded frames; {exact} the exact frames")
