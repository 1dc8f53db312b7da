# SPDX-License-Identifier: MIT
"""The group's colour dictionary: palettes for plane sets, fit, map, serialise.

A *plane set* is a run of consecutive planes of one geometry: all planes of
gray, 4:4:4 and RGB formats; for subsampled YUV, luma on its own and the two
chroma planes together (so a 4:2:0 screen recording gets a palette of luma
values and one of chroma pairs). A colour is the tuple of a set's samples at
one position. A set whose group holds few colours may be coded as indices
into a *palette* of them (kernels/palette.py); the others are coded sample by
sample. The identity dictionary has no palettes. In lossless groups of a
format whose first three planes form one set (RGB), the dictionary may also
say that planes 1 and 2 are coded as differences from plane 0
(differences.py).

With ``--max-error N`` colours within N of each other (in every sample) may
share an entry: each source colour maps to an entry within N of it, so the
bound holds for palette-coded planes too.

Entries are stored sorted, each column delta-coded and deflated. Each
palette carries its small integer network (``PaletteNet``), which chooses
the coding context of every candidate flag from the neighbourhood pattern.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from ..errors import CorruptError
from ..kernels.mlp import BIAS_MAX, HIDDEN_MAX, MAX_HIDDEN, OUT_WEIGHT_MAX, WEIGHT_MAX
from ..kernels.palette import N_CAND, N_PATTERNS
from ..pixfmt import PixelFormat
from .bitstream import ByteReader, ByteWriter

__all__ = ["ColorDictionary", "Palette", "PaletteNet", "plane_sets", "color_keys", "inflate",
           "differences_allowed", "MAX_ENTRIES", "N_PATTERN_BITS", "DIFFERENCES_VERSION"]

MAX_ENTRIES = 1 << 16
IDENTITY, PALETTES = 0, 1  # mode bit 0: palettes follow
DIFFERENCES = 2  # mode bit 1 (format 2.4 on): planes 1 and 2 are differences from plane 0
DIFFERENCES_VERSION = (2, 4)
N_PATTERN_BITS = 12
# log-odds (1/16 units) separating the N_LEVELS context buckets of a flag
LEVEL_THRESHOLDS = np.array([-48, -24, -8, 0, 8, 24, 48], np.int64)


def plane_sets(fmt: PixelFormat) -> list[tuple[int, ...]]:
    """Runs of consecutive planes with one geometry (the candidates for a palette)."""
    sets: list[list[int]] = []
    for p in range(fmt.planes):
        if sets and fmt.plane_shape(p, 64, 64) == fmt.plane_shape(sets[-1][-1], 64, 64):
            sets[-1].append(p)
        else:
            sets.append([p])
    return [tuple(s) for s in sets]


@dataclass
class PaletteNet:
    """Integer network: 12 pattern bits -> log-odds (1/16) of each candidate flag.

    ``h = clamp((bits @ W1 + B1) >> s1, 0, 32767)``, ``o = (h @ W2 + B2) >> s2``;
    every value exact in 64 bits.
    """

    w1: np.ndarray  # (12, H) int8 range
    b1: np.ndarray  # (H,) int32 range
    s1: int
    w2: np.ndarray  # (H, 5) int16 range
    b2: np.ndarray  # (5,) int32 range
    s2: int

    def logits(self, patterns: np.ndarray) -> np.ndarray:
        bits = ((patterns[:, None] >> np.arange(N_PATTERN_BITS)) & 1).astype(np.int64)
        h = np.clip((bits @ self.w1.astype(np.int64) + self.b1) >> self.s1, 0, HIDDEN_MAX)
        return (h @ self.w2.astype(np.int64) + self.b2) >> self.s2

    def lut(self) -> np.ndarray:
        """Context bucket of every (pattern, candidate): (4096, 5) int64."""
        out = self.logits(np.arange(N_PATTERNS, dtype=np.int64))
        return np.searchsorted(LEVEL_THRESHOLDS, out, side="left").astype(np.int64)

    @staticmethod
    def neutral() -> PaletteNet:
        """A network saying nothing (every flag in the middle bucket)."""
        return PaletteNet(np.zeros((N_PATTERN_BITS, 1), np.int64), np.zeros(1, np.int64), 0,
                          np.zeros((1, N_CAND), np.int64), np.zeros(N_CAND, np.int64), 0)

    def to_bytes(self) -> bytes:
        w = ByteWriter().u8(self.w1.shape[1]).u8(self.s1).u8(self.s2)
        w.raw(self.w1.astype(np.int8).tobytes()).raw(self.b1.astype("<i4").tobytes())
        w.raw(self.w2.astype("<i2").tobytes()).raw(self.b2.astype("<i4").tobytes())
        return w.getvalue()

    @staticmethod
    def from_reader(r: ByteReader) -> PaletteNet:
        hidden, s1, s2 = r.u8("palette net width"), r.u8("shift"), r.u8("shift")
        if not 1 <= hidden <= MAX_HIDDEN or s1 > 31 or s2 > 31:
            raise CorruptError("palette network header out of range")
        w1 = np.frombuffer(r.raw(N_PATTERN_BITS * hidden, "weights"), np.int8)
        b1 = np.frombuffer(r.raw(4 * hidden, "biases"), "<i4")
        w2 = np.frombuffer(r.raw(2 * hidden * N_CAND, "weights"), "<i2")
        b2 = np.frombuffer(r.raw(4 * N_CAND, "biases"), "<i4")
        r.expect_end()
        if np.abs(w1.astype(np.int64)).max() > WEIGHT_MAX \
                or np.abs(w2.astype(np.int64)).max() > OUT_WEIGHT_MAX \
                or max(np.abs(b1.astype(np.int64)).max(), np.abs(b2.astype(np.int64)).max()) \
                > BIAS_MAX:
            raise CorruptError("palette network weight out of range")
        return PaletteNet(w1.reshape(N_PATTERN_BITS, hidden).astype(np.int64),
                          b1.astype(np.int64), s1,
                          w2.reshape(hidden, N_CAND).astype(np.int64), b2.astype(np.int64), s2)


@dataclass
class Palette:
    """The colours of one plane set: ``entries`` (K, len(planes)) sorted, distinct."""

    planes: tuple[int, ...]
    entries: np.ndarray
    net: PaletteNet = field(default_factory=PaletteNet.neutral)

    def __len__(self) -> int:
        return int(self.entries.shape[0])

    @property
    def index_bits(self) -> int:
        return max(1, (len(self) - 1).bit_length())


@dataclass
class ColorDictionary:
    """The group's palettes (none: the identity dictionary), and whether planes 1
    and 2 are coded as differences from plane 0."""

    palettes: list[Palette]
    n_planes: int
    differences: bool = False

    @staticmethod
    def identity(n_planes: int) -> ColorDictionary:
        return ColorDictionary([], n_planes)

    @property
    def is_identity(self) -> bool:
        return not self.palettes and not self.differences

    def __len__(self) -> int:
        return sum(len(p) for p in self.palettes)

    def to_bytes(self) -> bytes:
        if self.differences and any(0 in pal.planes for pal in self.palettes):
            raise ValueError("plane differences and a palette of plane 0's set")
        mode = (PALETTES if self.palettes else IDENTITY) | (DIFFERENCES if self.differences else 0)
        w = ByteWriter().u8(mode).u8(self.n_planes)
        w.u8(len(self.palettes))
        for pal in self.palettes:
            mask = sum(1 << p for p in pal.planes)
            deltas = np.diff(pal.entries.astype(np.int32), axis=0, prepend=0)
            w.u8(mask).u32(len(pal)).blob(zlib.compress(deltas.astype("<i4").tobytes(), 9))
            w.blob(pal.net.to_bytes())
        return w.getvalue()

    @staticmethod
    def from_bytes(data: bytes, fmt: PixelFormat,
                   version: tuple[int, int] = DIFFERENCES_VERSION) -> ColorDictionary:
        """Parse and check a record of a file of format ``version``."""
        n_planes = fmt.planes
        r = ByteReader(data, "colour dictionary")
        mode, planes, count = r.u8("mode"), r.u8("plane count"), r.u8("palette count")
        modes = (0, 1, 2, 3) if tuple(version) >= DIFFERENCES_VERSION else (0, 1)
        if mode not in modes or planes != n_planes or (mode & PALETTES == 0) != (count == 0):
            raise CorruptError("colour dictionary header is inconsistent")
        differences = bool(mode & DIFFERENCES)
        if differences and not differences_allowed(fmt):
            raise CorruptError("colour dictionary: plane differences need planes 0, 1 and 2 "
                               "in one plane set")
        allowed = {sum(1 << p for p in s): s for s in plane_sets(fmt)}
        palettes, used = [], 0
        for _ in range(count):
            mask, k = r.u8("plane mask"), r.u32("entry count")
            if mask not in allowed or mask & used or not 1 <= k <= MAX_ENTRIES:
                raise CorruptError("colour dictionary palette header is inconsistent")
            used |= mask
            if differences and mask & 1:
                raise CorruptError("colour dictionary: plane differences in a palette set")
            sets = allowed[mask]
            raw = inflate(r.blob("entries"), k * len(sets) * 4, "colour dictionary")
            if len(raw) != k * len(sets) * 4:
                raise CorruptError("colour dictionary size does not match its count")
            entries = np.cumsum(np.frombuffer(raw, "<i4").reshape(k, len(sets)).astype(np.int64),
                                axis=0)
            if entries.min() < 0 or entries.max() > fmt.max_value:
                raise CorruptError("colour dictionary entry out of range")
            keys = color_keys(entries)
            if np.any(keys[1:] <= keys[:-1]):
                raise CorruptError("colour dictionary entries are not sorted and distinct")
            net = PaletteNet.from_reader(ByteReader(r.blob("palette net"), "palette network"))
            palettes.append(Palette(sets, entries.astype(np.uint16), net))
        r.expect_end()
        return ColorDictionary(palettes, n_planes, differences)


def differences_allowed(fmt: PixelFormat) -> bool:
    """Whether planes 1 and 2 may be coded as differences from plane 0: all three
    in plane 0's set (RGB, 4:4:4), so every sample has its plane-0 sample."""
    return len(plane_sets(fmt)[0]) >= 3


def color_keys(pixels: np.ndarray) -> np.ndarray:
    """One sortable integer per colour (up to 4 planes of 16 bits)."""
    keys = np.zeros(pixels.shape[0], np.uint64)
    for k in range(pixels.shape[1]):
        keys = (keys << np.uint64(16)) | pixels[:, k].astype(np.uint64)
    return keys


def inflate(data: bytes, limit: int, what: str) -> bytes:
    """A complete zlib stream inflating to at most ``limit`` bytes, or CorruptError."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, limit)
    except zlib.error as exc:
        raise CorruptError(f"{what} does not inflate: {exc}") from None
    if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail:
        raise CorruptError(f"{what} is truncated, too large or followed by extra bytes")
    return raw
