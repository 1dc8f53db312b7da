# SPDX-License-Identifier: MIT
"""A group's palettes in the form the kernels take (docs/FORMAT.md 4.2, 6.6)."""

from __future__ import annotations

import numpy as np

from ..format.dictionary import ColorDictionary
from ..format.layout import Layout
from ..kernels import palette as pk

__all__ = ["PaletteTables"]


class PaletteTables:
    """The group's palettes as kernel arguments (see kernels/framecoder.py).

    ``role[p]`` is -1 for a sample-coded plane, the palette number for the
    first plane of a palette set and -2 for its other planes; ``table`` holds
    per palette: first plane, plane count, width, height, x and y shifts,
    offset in the index buffers, offset in ``entries``, entry count, index bits.
    """

    COLUMNS = 10

    def __init__(self, layout: Layout, dictionary: ColorDictionary):
        self.count = len(dictionary.palettes)
        self.role = np.full(layout.n_planes, -1, np.int64)
        self.table = np.zeros((max(self.count, 1), self.COLUMNS), np.int64)
        self.luts = np.zeros((max(self.count, 1), pk.N_PATTERNS, pk.N_CAND), np.int64)
        entries, idx_size = [np.zeros(4, np.int64)], 0
        entry_off = 0
        for s, pal in enumerate(dictionary.palettes):
            first = pal.planes[0]
            self.role[first] = s
            for p in pal.planes[1:]:
                self.role[p] = -2
            g = layout.geom[first]
            k = len(pal)
            self.table[s] = [first, len(pal.planes), g[1], g[2], g[3], g[4], idx_size,
                             entry_off, k, pal.index_bits]
            padded = np.zeros((k, 4), np.int64)
            padded[:, : len(pal.planes)] = pal.entries
            entries.append(padded.ravel())
            entry_off += 4 * k
            idx_size += int(g[1] * g[2])
            self.luts[s] = pal.net.lut()
        self.entries = np.concatenate(entries[1:]) if self.count else entries[0]
        self.idx_size = max(idx_size, 1)
        self.palette_planes = {p for pal in dictionary.palettes for p in pal.planes}
        # _palette_fill's zeroed errors, not wanted when filling a reference
        self._discard = np.zeros(layout.size if self.count else 1, np.int64)

    def reference(self, prev_idx: np.ndarray, mv: np.ndarray, layout: Layout,
                  ref: np.ndarray) -> np.ndarray:
        """Indices of the motion-compensated reference, and their colours in ``ref``."""
        ref_idx = np.zeros(self.idx_size, np.int32)
        self.reference_rows(prev_idx, mv, layout, ref, ref_idx, 0, layout.nby)
        return ref_idx

    def reference_rows(self, prev_idx: np.ndarray, mv: np.ndarray, layout: Layout,
                       ref: np.ndarray, ref_idx: np.ndarray, by0: int, by1: int) -> None:
        """``reference`` in block rows [by0, by1) only, into ``ref_idx`` and ``ref``
        (a slice's reach, on frame threads)."""
        for s in range(self.count):
            first, n, w, h, sx, sy, ioff, eoff, k, _ = (int(v) for v in self.table[s])
            y0 = min((by0 << layout.log2_block) >> sy, h)
            y1 = min((by1 << layout.log2_block) >> sy, h)
            pk._compensate_indices(prev_idx, ioff, w, h, sx, sy, mv, layout.log2_block,
                                   layout.nbx, ref_idx[ioff:ioff + w * h], y0, y1)
            pk._palette_fill(ref_idx[ioff:ioff + w * h], self.entries[eoff:eoff + 4 * k],
                             first, n, layout.geom, y0, y1, ref, self._discard)
