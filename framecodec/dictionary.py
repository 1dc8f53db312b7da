# SPDX-License-Identifier: MIT
"""The group's colour dictionary: fit, map to indices, map back, serialise.

A colour is the tuple of samples that one pixel position holds in every
plane; it applies to formats whose planes share one resolution (4:4:4, RGB,
gray). The identity dictionary (no entries) means "code samples directly".
Entries are stored sorted, each plane's column delta-coded, then deflated.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from .bitstream import ByteReader, ByteWriter
from .errors import CorruptError
from .model import inflate

__all__ = ["ColorDictionary", "MAX_ENTRIES"]

MAX_ENTRIES = 1 << 16
IDENTITY, PALETTE = 0, 1


@dataclass(frozen=True)
class ColorDictionary:
    """``entries`` is (K, n_planes) uint16, sorted; empty for the identity dictionary."""

    entries: np.ndarray

    @staticmethod
    def identity(n_planes: int) -> ColorDictionary:
        return ColorDictionary(np.zeros((0, n_planes), np.uint16))

    @property
    def is_identity(self) -> bool:
        return self.entries.shape[0] == 0

    def __len__(self) -> int:
        return int(self.entries.shape[0])

    @staticmethod
    def fit(frames: list[list[np.ndarray]], max_entries: int = 256) -> ColorDictionary:
        """The distinct colours of ``frames`` if there are at most ``max_entries``.

        Returns the identity dictionary when planes differ in size or when the
        frames hold more colours than allowed.
        """
        n_planes = len(frames[0])
        if any(p.shape != frames[0][0].shape for p in frames[0]):
            return ColorDictionary.identity(n_planes)
        seen = np.zeros((0, n_planes), np.uint16)
        for planes in frames:
            pixels = np.stack([p.ravel() for p in planes], axis=1).astype(np.uint16)
            seen = np.unique(np.concatenate([seen, np.unique(pixels, axis=0)]), axis=0)
            if seen.shape[0] > max_entries:
                return ColorDictionary.identity(n_planes)
        return ColorDictionary(seen)

    def to_indices(self, planes: list[np.ndarray]) -> np.ndarray:
        """Index plane (uint16, shape of the planes); every colour must be an entry."""
        pixels = np.stack([p.ravel() for p in planes], axis=1).astype(np.uint16)
        keys = _keys(self.entries)
        where = np.searchsorted(keys, _keys(pixels))
        where = np.minimum(where, len(keys) - 1)
        if not np.array_equal(keys[where], _keys(pixels)):
            raise ValueError("frame holds a colour that is not in the dictionary")
        return where.astype(np.uint16).reshape(planes[0].shape)

    def from_indices(self, indices: np.ndarray, dtype=np.uint8) -> list[np.ndarray]:
        if indices.size and int(indices.max()) >= len(self):
            raise CorruptError("colour index beyond the dictionary")
        colors = self.entries[indices.ravel()]
        return [colors[:, k].reshape(indices.shape).astype(dtype)
                for k in range(self.entries.shape[1])]

    def to_bytes(self) -> bytes:
        w = ByteWriter().u8(IDENTITY if self.is_identity else PALETTE)
        w.u8(self.entries.shape[1]).u32(len(self))
        if len(self):
            deltas = np.diff(self.entries.astype(np.int32), axis=0, prepend=0)
            w.blob(zlib.compress(deltas.astype("<i4").tobytes(), 9))
        return w.getvalue()

    @staticmethod
    def from_bytes(data: bytes, n_planes: int) -> ColorDictionary:
        r = ByteReader(data, "colour dictionary")
        mode = r.u8("mode")
        planes = r.u8("plane count")
        count = r.u32("entry count")
        if mode not in (IDENTITY, PALETTE) or planes != n_planes or count > MAX_ENTRIES \
                or (mode == IDENTITY) != (count == 0):
            raise CorruptError("colour dictionary header is inconsistent")
        if count == 0:
            r.expect_end()
            return ColorDictionary.identity(n_planes)
        packed = r.blob("entries")
        r.expect_end()
        want = count * n_planes * 4
        raw = inflate(packed, want, "colour dictionary")
        if len(raw) != want:
            raise CorruptError("colour dictionary size does not match its count")
        entries = np.cumsum(np.frombuffer(raw, "<i4").reshape(count, n_planes), axis=0)
        if entries.min(initial=0) < 0 or entries.max(initial=0) > 0xFFFF:
            raise CorruptError("colour dictionary entry out of range")
        keys = _keys(entries.astype(np.uint16))
        if np.any(keys[1:] <= keys[:-1]):
            raise CorruptError("colour dictionary entries are not sorted and distinct")
        return ColorDictionary(entries.astype(np.uint16))


def _keys(pixels: np.ndarray) -> np.ndarray:
    """One sortable integer per colour (up to 4 planes of 16 bits)."""
    keys = np.zeros(pixels.shape[0], np.uint64)
    for k in range(pixels.shape[1]):
        keys = (keys << np.uint64(16)) | pixels[:, k].astype(np.uint64)
    return keys
