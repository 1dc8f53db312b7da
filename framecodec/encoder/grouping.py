# SPDX-License-Identifier: MIT
"""Splitting a stream of frames into groups: at scene cuts, within size bounds.

Encoder only, and cheap: each frame is reduced to a thumbnail of plane 0
(means of 8x8 blocks); a frame starts a new group when it resembles none of
the few frames before it (those a block could reference) while the current
group has at least ``min_size`` frames, or when the group is full. A flash or
an alternating pattern is not a cut as long as a recent frame matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..format.group import CUT, REASONS, SIZE, START
from ..frames import Frame

__all__ = ["GroupPlan", "plan_groups", "frames_per_group", "CUT", "SIZE", "START",
           "MAX_GROUP_SAMPLES"]

# A group is held in memory while it is coded, about 12 bytes per sample at
# its peak (frames, their flat copies, reconstructions, references): this cap
# keeps that near 1.6 GB whatever the frame size. A constant, not a share of
# this machine's memory, so a file's bytes do not depend on where it was made.
MAX_GROUP_SAMPLES = 1 << 27


# mean absolute thumbnail difference (in 8-bit steps) above which two frames
# show different scenes; relative to the stream's usual change as well
_CUT_LEVEL = 20.0
_CUT_RATIO = 4.0


@dataclass
class GroupPlan:
    frames: list[Frame]
    reason: int


def _thumbnail(frame: Frame, bit_depth: int) -> np.ndarray:
    """Means of plane 0's 8x8 blocks in 8-bit steps (float32). Summed as integers:
    the values of float32 means (exact, all sums are below 2**24), several times
    faster, which is most of the driver's planning pass after decoding."""
    plane = frame.planes[0]
    scale = np.float32(1 << max(bit_depth - 8, 0))
    h, w = plane.shape
    if h < 8 or w < 8:
        return plane.astype(np.float32) / scale
    bh, bw = h // 8 * 8, w // 8 * 8
    columns = plane[:bh, 0:bw:8].astype(np.int32)
    for k in range(1, 8):
        columns += plane[:bh, k:bw:8]
    sums = columns[0::8]
    for k in range(1, 8):
        sums += columns[k::8]
    return sums.astype(np.float32) / (scale * np.float32(64))


class CutDetector:
    """Is frame t a scene cut? It is when it differs from each of the last ``memory``
    frames far more than consecutive frames usually differ."""

    def __init__(self, bit_depth: int, memory: int = 3):
        self.bit_depth = bit_depth
        self.memory = memory
        self.recent: list[np.ndarray] = []
        self.usual: list[float] = []

    def is_cut(self, frame: Frame) -> bool:
        thumb = _thumbnail(frame, self.bit_depth)
        cut = False
        if self.recent:
            change = min(float(np.abs(thumb - t).mean()) for t in self.recent)
            typical = float(np.median(self.usual)) if self.usual else 0.0
            cut = change > _CUT_LEVEL and change > _CUT_RATIO * typical
            if not cut:
                self.usual = (self.usual + [change])[-32:]
        self.recent = ([thumb] + self.recent)[: self.memory]
        return cut


def frames_per_group(wanted: int, samples_per_frame: int) -> int:
    """``wanted`` frames, or fewer where that many frames exceed MAX_GROUP_SAMPLES
    (720p 4:2:0 keeps 60; 1080p 4:2:0 gets 43; 4K 4:4:4 at 16 bits 5)."""
    return max(1, min(wanted, MAX_GROUP_SAMPLES // max(samples_per_frame, 1)))


def plan_groups(frames: Iterator[Frame], *, bit_depth: int, max_size: int,
                min_size: int = 1, fixed: bool = False) -> Iterator[GroupPlan]:
    """Groups of consecutive frames. ``fixed``: exactly ``max_size`` frames each."""
    detector = CutDetector(bit_depth)
    group: list[Frame] = []
    reason = START
    for frame in frames:
        cut = detector.is_cut(frame) and not fixed
        if group and (len(group) >= max_size or (cut and len(group) >= min_size)):
            yield GroupPlan(group, reason)
            group, reason = [], (CUT if cut else SIZE)
        group.append(frame)
    if group:
        yield GroupPlan(group, reason)
