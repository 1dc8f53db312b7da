# SPDX-License-Identifier: MIT
"""The group header record (GRUP): where a group sits and what decoding it needs.

docs/FORMAT.md 4.1. Parsing validates every field before anything is sized
by it; the colour dictionary and the model are records of their own
(dictionary.py, model.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CorruptError
from ..frames import VideoInfo
from ..kernels.framecoder import ACTIVITY_LEVELS
from ..kernels.motion import MAX_REFS
from ..kernels.palette import RECENT_SIZE
from ..kernels.rangecoder import LONG as LONG_RATES, PLAIN as PLAIN_RATES
from .bitstream import ByteReader, ByteWriter
from .container import FORMAT_VERSION
from .dictionary import ColorDictionary
from .layout import MAX_LOG2_BLOCK, MAX_SLICES, MIN_LOG2_BLOCK, even_slice_starts
from .model import GroupModel

__all__ = ["GroupHeader", "INTRA", "INTER", "START", "CUT", "SIZE", "REASONS", "coding_order"]

INTRA, INTER = 0, 1  # frame kinds (FORMAT.md 5.1)
START, CUT, SIZE = 0, 1, 2  # why a group begins
REASONS = {START: "start", CUT: "cut", SIZE: "size"}
SLICE_STARTS_VERSION = (2, 1)  # the first version whose headers say where slices start
RECENT_VERSION = (2, 2)  # the first whose palette escapes may come from a recency list
ACTIVITY_VERSION = (2, 3)  # the first whose coding contexts see the neighbours' residuals
WARM_UP_VERSION = (2, 5)  # the first whose adaptive models adapt faster while young
FINE_VERSION = (2, 6)  # the first whose zero flags see eighths, signs the neighbours' signs
MIXING_VERSION = (2, 7)  # the first whose headers have flags: mixing (6.5.6)
LONG_RATES_VERSION = (2, 8)  # the first whose headers say the sample models' rates
TWO_SIDED_VERSION = (2, 9)  # the first whose groups may code frames in two-sided order
PULL_VERSION = (2, 10)  # the first whose bounded groups may predict from pulled samples
MIXING_FLAG = 1  # the group header's flags: bit 0, mixing
LONG_RATES_FLAG = 2  # bit 1 (2.8 on), the sample models' long rates
TWO_SIDED_FLAG = 4  # bit 2 (2.9 on), two-sided order and bi-prediction
PULL_FLAG = 8  # bit 3 (2.10 on), a pull follows the flags; the others are 0


def defined_flags(version: tuple[int, int]) -> int:
    """The group header flags a file of ``version`` may set."""
    v = tuple(version)
    return (MIXING_FLAG if v >= MIXING_VERSION else 0) | \
        (LONG_RATES_FLAG if v >= LONG_RATES_VERSION else 0) | \
        (TWO_SIDED_FLAG if v >= TWO_SIDED_VERSION else 0) | \
        (PULL_FLAG if v >= PULL_VERSION else 0)


def coding_order(count: int, two_sided: bool) -> list[int]:
    """The frames of a group of ``count`` in the order they are coded (FORMAT.md 5.3):
    display order, or two-sided: 0, 2, 1, 4, 3, ... (each odd frame after the even
    one following it, so that it predicts from both sides; an even count ends on
    its last odd frame, predicted from one side)."""
    if not two_sided:
        return list(range(count))
    order = [0]
    for even in range(2, count + 1, 2):
        order += [even, even - 1] if even < count else [even - 1]
    return order


@dataclass
class GroupHeader:
    """Per-group record: where it sits in the clip and what it needs to decode."""

    first_frame: int
    frame_count: int
    max_error: int
    log2_block: int
    slices: int
    refs: int
    dictionary: ColorDictionary
    model: GroupModel
    reason: int = START
    slice_starts: tuple[int, ...] = (0,)  # first block row of each slice
    version: tuple[int, int] = FORMAT_VERSION  # the file's: how its frames are coded
    # zero flags and signs mixed with the network's probabilities (6.5.6; a flag from 2.7)
    mixing: bool = False
    # warmed-up sample models at the long rates (6.1): a flag from 2.8; before it, and
    # when None, groups of several frames of versions 2.5 on
    long_rates: bool | None = None
    # frames coded in two-sided order, blocks bi-predicted (5.3, 6.3; a flag from 2.9)
    two_sided: bool = False
    # with a bound, how far a sample coded with a non-zero residual is pulled towards
    # its prediction in the frames the group predicts from (6.5.5; 2.10 on, 0: none)
    pull: int = 0

    def __post_init__(self) -> None:
        if self.long_rates is None:
            self.long_rates = self.warm_up and self.frame_count > 1

    @property
    def recent_size(self) -> int:
        """Entries of a palette's recency list (6.6.3): none before format 2.2."""
        return RECENT_SIZE if tuple(self.version) >= RECENT_VERSION else 0

    @property
    def activity_levels(self) -> int:
        """Activity levels per coding context set (6.5.4): one before format 2.3, and in
        a group of one frame, whose models have too few samples to learn four times as
        many contexts (every corpus frame coded alone: 0.6 % larger with four)."""
        if tuple(self.version) < ACTIVITY_VERSION or self.frame_count == 1:
            return 1
        return ACTIVITY_LEVELS

    @property
    def fine_contexts(self) -> bool:
        """Whether lossless zero flags see eighths and signs the neighbours' signs
        (6.5.5): from 2.6, in groups of several frames, as the activity levels."""
        return tuple(self.version) >= FINE_VERSION and self.frame_count > 1

    @property
    def warm_up(self) -> bool:
        """Whether the group's adaptive models count their first decisions (6.1)."""
        return tuple(self.version) >= WARM_UP_VERSION

    @property
    def sample_rates(self) -> tuple[int, int]:
        """The (fast, slow) shifts of the group's warmed-up sample models (6.1). The
        slower ones suit a group of several frames, whose models see many more
        decisions (development corpus 0.4 to 0.6 % smaller; palette-coded clips up to
        3 % larger, so palette and motion models keep the plain ones); a single frame
        goes either way with its content (still photographs 0.4 % smaller, a screen
        recording's frames 2 % larger), hence the flag from 2.8."""
        return LONG_RATES if self.long_rates and self.warm_up else PLAIN_RATES

    @property
    def order(self) -> list[int]:
        """The group's frames (0: its first) in coding order."""
        return coding_order(self.frame_count, self.two_sided)

    def to_bytes(self) -> bytes:
        if len(self.slice_starts) != self.slices or self.slice_starts[0] != 0:
            raise ValueError(f"{self.slices} slices need as many starts, the first 0: "
                             f"{self.slice_starts}")
        w = ByteWriter().u32(self.first_frame).u32(self.frame_count)
        w.u16(self.max_error).u8(self.log2_block).u8(self.slices).u8(self.refs)
        w.u8(self.reason)
        if self.long_rates != (self.warm_up and self.frame_count > 1) \
                and tuple(self.version) < LONG_RATES_VERSION:
            raise ValueError(f"format {self.version} chooses no sample rates")
        flags = (MIXING_FLAG if self.mixing else 0) | \
            (LONG_RATES_FLAG if self.long_rates and tuple(self.version) >= LONG_RATES_VERSION
             else 0) | (TWO_SIDED_FLAG if self.two_sided else 0) | \
            (PULL_FLAG if self.pull else 0)
        if not 0 <= self.pull <= self.max_error:
            raise ValueError(f"a pull of {self.pull} outside 0..max_error {self.max_error}")
        if flags & ~defined_flags(self.version):
            named = [name for flag, name in ((MIXING_FLAG, "mixing"), (LONG_RATES_FLAG, "long rates"),
                                             (TWO_SIDED_FLAG, "two-sided order"),
                                             (PULL_FLAG, "pull"))
                     if flags & flag & ~defined_flags(self.version)]
            raise ValueError(f"format {self.version} has no {' or '.join(named)}")
        if tuple(self.version) >= MIXING_VERSION:
            w.u8(flags)
        if self.pull:
            w.u16(self.pull)
        for start in self.slice_starts[1:]:
            w.uvar(start)
        w.blob(self.dictionary.to_bytes()).blob(self.model.to_bytes())
        return w.getvalue()

    @staticmethod
    def from_bytes(data: bytes, info: VideoInfo, group: int,
                   version: tuple[int, int] = FORMAT_VERSION) -> GroupHeader:
        """Parse and check a header; ``version``: the file's (2.0 headers have no slice
        starts: their slices are cut evenly)."""
        r = ByteReader(data, "group header", group=group)
        first, count = r.u32("first frame"), r.u32("frame count")
        max_error, log2_block, slices, refs = r.u16("max error"), r.u8("block size"), \
            r.u8("slices"), r.u8("references")
        reason = r.u8("start reason")
        flags = r.u8("flags") if tuple(version) >= MIXING_VERSION else 0
        if flags & ~defined_flags(version):
            raise CorruptError("group header flags not defined by this format", group=group)
        pull = r.u16("pull") if flags & PULL_FLAG else 0
        if not MIN_LOG2_BLOCK <= log2_block <= MAX_LOG2_BLOCK or count == 0 \
                or not 1 <= slices <= MAX_SLICES or not 1 <= refs <= MAX_REFS:
            raise CorruptError("group header values out of range", group=group)
        if max_error > info.format.max_value // 2 or reason not in REASONS:
            raise CorruptError("group max error or start reason out of range", group=group)
        if flags & PULL_FLAG and not 1 <= pull <= max_error:
            raise CorruptError("group pull outside 1..max error", group=group)
        block_rows = -(-info.height // (1 << log2_block))
        if slices > block_rows:
            raise CorruptError("more slices than block rows", group=group)
        if tuple(version) >= SLICE_STARTS_VERSION:
            starts = [0] + [r.uvar("slice start") for _ in range(slices - 1)]
            if any(b <= a for a, b in zip(starts, starts[1:] + [block_rows])):
                raise CorruptError("slice starts not increasing within the block rows",
                                   group=group)
        else:
            starts = even_slice_starts(block_rows, slices)
        n_planes = info.format.planes
        dictionary = ColorDictionary.from_bytes(r.blob("dictionary"), info.format, version)
        if dictionary.differences and max_error > 0:
            raise CorruptError("plane differences in a near-lossless group", group=group)
        model = GroupModel.from_bytes(r.blob("model"), n_planes,
                                      warm_up=tuple(version) >= WARM_UP_VERSION)
        r.expect_end()
        long_rates = bool(flags & LONG_RATES_FLAG) if tuple(version) >= LONG_RATES_VERSION \
            else None  # the version's rule
        return GroupHeader(first, count, max_error, log2_block, slices, refs, dictionary, model,
                           reason, tuple(starts), tuple(version), bool(flags & MIXING_FLAG),
                           long_rates, bool(flags & TWO_SIDED_FLAG), pull)
