# SPDX-License-Identifier: MIT
"""Where each sample of a frame lives: planes in one flat buffer, blocks, units, slices.

docs/FORMAT.md 1.4 and 5.2. Encoder and decoder derive the same ``Layout``
from the stream header and the group header, so nothing here is a choice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ..frames import Frame, VideoInfo
from .differences import to_differences

__all__ = ["FlatFrames", "Layout", "MAX_SLICES", "MIN_LOG2_BLOCK", "MAX_LOG2_BLOCK",
           "even_slice_starts"]

MAX_SLICES = 64
MIN_LOG2_BLOCK, MAX_LOG2_BLOCK = 2, 7  # motion blocks of 4 to 128 samples


def even_slice_starts(n_block_rows: int, slices: int) -> list[int]:
    """The first block row of each of ``slices`` slices cut as evenly as whole rows
    allow (version 2.0 files, FORMAT.md 5.2)."""
    return [s * n_block_rows // slices for s in range(slices)]


class Layout:
    """Plane geometry of one frame buffer and how a frame is cut into blocks and slices.

    ``geom[p]`` is (offset, width, height, x shift, y shift, 0) of plane ``p``:
    the row the kernels read (kernels/context.py).
    """

    def __init__(self, info: VideoInfo, log2_block: int, slices: int,
                 starts: list[int] | None = None):
        """``starts``: the first block row of each slice (the group header's), else an
        even cut."""
        fmt = info.format
        self.info = info
        self.bit_depth = fmt.bit_depth
        self.max_value = fmt.max_value
        self.n_planes = fmt.planes
        shapes = fmt.plane_shapes(info.width, info.height)
        self.shapes = shapes
        sx = [fmt.log2_chroma_w if fmt.family == "yuv" and p in (1, 2) else 0
              for p in range(fmt.planes)]
        sy = [fmt.log2_chroma_h if fmt.family == "yuv" and p in (1, 2) else 0
              for p in range(fmt.planes)]
        offsets = np.cumsum([0] + [h * w for h, w in shapes])
        self.size = int(offsets[-1])
        self.geom = np.array([[offsets[p], shapes[p][1], shapes[p][0], sx[p], sy[p], 0]
                              for p in range(fmt.planes)], np.int64)
        self.log2_block = log2_block
        block = 1 << log2_block
        self.nbx = -(-info.width // block)
        self.nby = -(-info.height // block)
        # skip flags are kept per quarter block ("unit"): static parts of a
        # block are copied even when the rest of it changes (a caret, a tooltip)
        self.log2_unit = log2_block - 1
        self.nux = -(-info.width // (block >> 1))
        self.nuy = -(-info.height // (block >> 1))
        n = max(1, min(slices, self.nby, MAX_SLICES))
        if starts is None:
            starts = even_slice_starts(self.nby, n)
        if len(starts) != n or starts[0] != 0 or any(
                b <= a for a, b in zip(starts, list(starts[1:]) + [self.nby])):
            raise ValueError(f"slice starts {starts} do not cut {self.nby} block rows in {n}")
        # slices are whole block rows: slice s holds [slice_blocks[s], slice_blocks[s + 1])
        self.slice_blocks = [int(b) for b in starts] + [self.nby]
        rows = [b * block for b in self.slice_blocks[:-1]] + [info.height]
        self.slice_y = np.array(rows, np.int64)
        self.n_slices = n

    def slice_reach(self, s: int) -> tuple[int, int]:
        """Block rows [first, end) of the reference slice ``s`` reads: its own and one
        beyond each edge (the inter contexts read the reference sample above and
        below, FORMAT.md 6.5.1)."""
        return max(self.slice_blocks[s] - 1, 0), min(self.slice_blocks[s + 1] + 1, self.nby)

    def flatten(self, frame: Frame) -> np.ndarray:
        """The frame as the kernels read it: its planes one after another, uint16."""
        buf = np.empty(self.size, np.uint16)
        for p, plane in enumerate(frame.planes):
            off = int(self.geom[p, 0])
            buf[off:off + plane.size].reshape(plane.shape)[...] = plane
        return buf

    def unflatten(self, buf: np.ndarray, pts: int | None) -> Frame:
        dtype = np.uint8 if self.bit_depth <= 8 else np.uint16
        planes = []
        for p, (h, w) in enumerate(self.shapes):
            off = int(self.geom[p, 0])
            planes.append(buf[off:off + h * w].reshape(h, w).astype(dtype))
        return Frame(planes, pts)

    def slice_samples(self, s: int) -> int:
        total = 0
        for p in range(self.n_planes):
            sy = int(self.geom[p, 4])
            ys = int(self.slice_y[s]) >> sy
            ye = min(int(self.geom[p, 2]), -(-int(self.slice_y[s + 1]) >> sy))
            total += (ye - ys) * int(self.geom[p, 1])
        return total


class FlatFrames(Sequence):
    """A group's frames as flat buffers (``Layout.flatten``), made when read.

    The group already holds its frames in their own sample type; flat copies of
    all of them would be twice that again at 8 bits (166 MB for 60 frames of
    720p). A flattening costs about a millisecond, and the few most recent are
    kept: motion search and compensation read neighbouring frames together.
    ``differences``: the buffers hold planes 1 and 2 as coded when the group's
    dictionary says so (differences.py), not as in the frames.
    """

    def __init__(self, layout: Layout, frames: Sequence[Frame], keep: int = 4,
                 differences: bool = False):
        self.layout = layout
        self.frames = frames
        self.differences = differences
        self._keep = keep
        self._recent: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, t):
        if isinstance(t, slice):
            return [self[i] for i in range(*t.indices(len(self)))]
        t = range(len(self))[t]  # negative indices, and IndexError past the end
        buf = self._recent.pop(t, None)
        if buf is None:
            frame = self.frames[t]
            if self.differences:
                frame = Frame(to_differences(frame.planes, self.layout.max_value), frame.pts)
            buf = self.layout.flatten(frame)
        self._recent[t] = buf
        if len(self._recent) > self._keep:
            self._recent.popitem(last=False)
        return buf
