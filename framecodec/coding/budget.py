# SPDX-License-Identifier: MIT
"""What decoding a group costs, known from its headers before anything is allocated.

Two guards keep a hostile or damaged file from making the decoder allocate
or work far beyond what its bytes justify (docs/FORMAT.md 7):

* ``working_memory``: the bytes a group's decoder holds (reference frames,
  the frame being decoded, contexts, motion field, kernel scratch), compared
  with a limit (``--max-memory``; by default a share of physical memory and
  of the address space the process may still take);
* ``least_bytes``: a range-coded substream cannot code a binary decision in
  less than ``log2(65536 / 65465)`` bits (the most probable a model gets,
  6.1), so a slice must be at least ``coded samples / DECISIONS_PER_BYTE``
  bytes long (less a few for the flush and the initial bytes). A frame
  claiming 2^28 samples in a few bytes is refused before its buffers exist.
"""

from __future__ import annotations

import os
import resource

import numpy as np

from ..errors import LimitError
from ..format.group import GroupHeader
from ..format.layout import MAX_SLICES, Layout
from ..kernels import framecoder as fc
from ..kernels import palette as pk
from ..kernels import rangecoder as rc
from ..kernels.context import MAX_ROW_FEATURES
from ..kernels.mlp import MAX_HIDDEN, MAX_OUT

__all__ = ["working_memory", "default_max_memory", "check_memory", "least_bytes",
           "CodedSamples", "check_lengths", "check_motion", "check_first_frame",
           "DECISIONS_PER_BYTE"]

# 8 / log2(65536 / 65465) = 5115.6 decisions at most per byte; rounded up for margin.
DECISIONS_PER_BYTE = 5200
_SLACK = 16  # init bytes, flush bytes left out, and the 4 the decoder may read past the end


def least_bytes(decisions: int) -> int:
    """The shortest a substream coding ``decisions`` binary decisions can be."""
    return max(0, decisions // DECISIONS_PER_BYTE - _SLACK)


class CodedSamples:
    """Per slice, the positions that cost at least one decision: every sample of a
    sample-coded plane and every index of a palette set, except those of units
    ``skip`` flags (inter frames).

    Made once per group: a frame then costs a few array operations per plane
    (the per-frame loop over slices and rows took 5 % of a small clip's decode,
    all of it on the one thread that serialises frames)."""

    def __init__(self, layout: Layout, header: GroupHeader):
        self.layout = layout
        followers = {p for pal in header.dictionary.palettes for p in pal.planes[1:]}
        # per plane geometry (planes of one size count alike: RGB's three once): the unit
        # row of each row, the samples per unit column, the slice cuts, how many planes
        shapes: dict[tuple[int, ...], list] = {}
        all_coded = np.zeros(layout.n_slices, np.int64)
        for p in range(layout.n_planes):
            if p in followers:
                continue  # coded with its set's first plane, one index for all
            _, w, h, sx, sy, _ = (int(v) for v in layout.geom[p])
            if (w, h, sx, sy) in shapes:
                shapes[w, h, sx, sy][3] += 1
                all_coded += np.diff(shapes[w, h, sx, sy][2]) * w
                continue
            ux = (np.arange(w, dtype=np.int64) << sx) >> layout.log2_unit
            per_unit = np.bincount(ux, minlength=layout.nux)[: layout.nux]
            unit_row = (np.arange(h, dtype=np.int64) << sy) >> layout.log2_unit
            # slice s holds rows [cuts[s], cuts[s + 1]) of the plane (5.2)
            cuts = np.array([int(y) >> sy for y in layout.slice_y[:-1]]
                            + [min(h, -(-int(layout.slice_y[-1]) >> sy))], np.int64)
            shapes[w, h, sx, sy] = [unit_row, per_unit, cuts, 1]
            all_coded += np.diff(cuts) * w
        self._shapes = list(shapes.values())
        self._intra = [int(n) for n in all_coded]

    def __call__(self, skip: np.ndarray | None) -> list[int]:
        if skip is None:
            return list(self._intra)
        lay = self.layout
        units = skip.reshape(lay.nuy, lay.nux).astype(np.int64)
        skipped = np.zeros(lay.n_slices, np.int64)
        for unit_row, per_unit, cuts, planes in self._shapes:
            in_row = np.concatenate(([0], np.cumsum((units @ per_unit)[unit_row])))
            skipped += planes * np.diff(in_row[cuts])
        return [a - b for a, b in zip(self._intra, skipped.tolist())]


def check_first_frame(width: int, height: int, payload: bytes, group: int,
                      frame: int) -> None:
    """A group's first (intra) frame against the least its plane 0 alone needs, from
    the stream header only: checked before the group header's model record is parsed
    (which loads the coding kernels), so a forged frame size fails at once. Plane 0
    is coded in every frame, as samples or palette indices, in at most MAX_SLICES
    slices of ``least_bytes`` each."""
    if not payload or payload[0] != 0:
        return  # not intra: the decoder refuses it with its reason
    least = max(0, least_bytes(width * height) - (_SLACK + 1) * MAX_SLICES)
    if len(payload) < least:
        raise LimitError(f"frame {frame} (group {group}) is {len(payload)} bytes, too short "
                         f"for its {width}x{height} samples (at least {least:,}): the file is "
                         "damaged or forged")


def check_lengths(lengths: list[int], counts: list[int], group: int, frame: int) -> None:
    """LimitError when a slice is shorter than its coded positions allow."""
    for s, (n, coded) in enumerate(zip(lengths, counts)):
        least = least_bytes(coded)
        if n < least:
            raise LimitError(f"slice {s} of frame {frame} (group {group}) is {n} bytes, too "
                             f"short for its {coded:,} coded samples (at least {least:,}): "
                             "the file is damaged or forged")


def check_motion(length: int, layout: Layout, group: int, frame: int) -> None:
    """LimitError when a motion substream is shorter than its blocks allow (each
    codes at least three decisions: two vector components and a skip flag)."""
    blocks = layout.nbx * layout.nby
    least = least_bytes(3 * blocks)
    if length < least:
        raise LimitError(f"motion data of frame {frame} (group {group}) is {length} bytes, "
                         f"too short for its {blocks:,} blocks (at least {least:,}): the file "
                         "is damaged or forged")


def working_memory(layout: Layout, header: GroupHeader, threads: int = 1) -> int:
    """Bytes a group's decoder holds at its peak (the Python and numba runtime aside)."""
    frame = 2 * layout.size  # samples are held as uint16
    idx = 4 * sum(layout.shapes[p][0] * layout.shapes[p][1]
                  for pal in header.dictionary.palettes for p in pal.planes[:1])
    n_pal = max(len(header.dictionary.palettes), 1)
    model = 4 * rc.MODEL_FIELDS  # int32 fields of an adaptive model
    contexts = 2 * model * layout.n_slices * (layout.n_planes * fc.SAMPLE_CONTEXTS
                                              + n_pal * pk.PALETTE_CONTEXTS)
    contexts += 4 * layout.n_slices * n_pal * header.recent_size  # recency lists
    luts = 8 * n_pal * pk.N_PATTERNS * pk.N_CAND
    blocks = layout.nbx * layout.nby
    group = header.refs * (frame + idx) + contexts + luts + 26 * blocks
    if header.dictionary.palettes:  # the errors a palette reference's fill discards
        group += 8 * layout.size
    out = layout.size * (1 if layout.bit_depth <= 8 else 2)  # the frame handed out
    per_frame = 2 * frame + 4 * layout.size + 2 * idx + layout.nux * layout.nuy + out
    if header.pull:  # the frame shown, apart from the pulled one predicted from
        per_frame += frame
    if header.two_sided:  # a decoded frame held for the one before it, and each
        # compensation's second prediction (kernels/motion.py), one per thread
        per_frame += out + max(1, threads) * frame
    if threads > 1:  # frame threads (coding/state.py): two frames in flight, two ring
        # slots more, and two buffers of slices compensating their own reach per frame
        group += 2 * (frame + idx) + 4 * frame
        per_frame *= 2
    width = int(layout.geom[:, 1].max())
    scratch = width * (4 * MAX_ROW_FEATURES + 8 * MAX_HIDDEN + 8 * MAX_OUT + 24)
    return group + per_frame + max(1, min(threads, layout.n_slices)) * scratch


def default_max_memory() -> int:
    """Three quarters of physical memory, or of the address space still free under
    ``ulimit -v``, whichever is less."""
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        physical = 8 << 30
    limit = physical * 3 // 4
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limit = min(limit, max(0, soft - _address_space_used()) * 3 // 4)
    return limit


def _address_space_used() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def check_memory(layout: Layout, header: GroupHeader, group: int, threads: int,
                 max_memory: int | None) -> None:
    """LimitError when decoding the group would need more than ``max_memory`` bytes."""
    need = working_memory(layout, header, threads)
    limit = default_max_memory() if max_memory is None else max_memory
    if need > limit:
        raise LimitError(f"group {group} needs about {_mb(need)} to decode "
                          f"({layout.info.width}x{layout.info.height} {layout.info.pix_fmt}, "
                          f"{header.refs} references), more than the {_mb(limit)} allowed; "
                          "raise --max-memory if the file is trusted")


def _mb(n: int) -> str:
    """Bytes in the units --max-memory takes (powers of 1000)."""
    return f"{n / 1e6:,.0f} MB" if n < 10**10 else f"{n / 1e9:,.1f} GB"
