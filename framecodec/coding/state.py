# SPDX-License-Identifier: MIT
"""The symmetric group machine: what encoder and decoder keep through a group.

A group is coded on its own (random access): its first frame is intra, the
others are predicted from the group's previous reconstructed frames through
a per-block motion field (a vector and a reference frame per block). Plane
sets with a palette in the group's colour dictionary are coded as indices.
Context models restart at every group and carry over from frame to frame
within each slice (docs/FORMAT.md 5.3).

``GroupState.code_frame`` runs both directions through the same steps, so
the encoder cannot drift from the decoder; the encoder only adds its source
and its choices (motion field) as arguments.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import CorruptError
from ..format.bitstream import ByteReader, ByteWriter
from ..format.group import INTER, INTRA, GroupHeader
from ..format.layout import Layout
from ..kernels import framecoder as fc
from ..kernels import mixer as mx
from ..kernels import motion as mo
from ..kernels import palette as pk
from ..kernels import rangecoder as rc
from . import budget
from .tables import PaletteTables

__all__ = ["GroupState", "FrameWork", "previous_frame_waits", "plane_groups", "reach_margin"]


class _Contexts:
    """Adaptive models of a group: per slice for samples and palette indices,
    one set for motion."""

    def __init__(self, layout: Layout, n_palettes: int, recent_size: int, warm_up: bool,
                 sample_rates: tuple[int, int]):
        """Sample models adapt at ``sample_rates`` once warmed up, the others at the
        plain rates (FORMAT.md 6.1)."""
        shape = (layout.n_slices, layout.n_planes, fc.SAMPLE_CONTEXTS)
        self.intra = rc.new_probs(shape, warm_up, sample_rates)
        self.inter = rc.new_probs(shape, warm_up, sample_rates)
        for models in (self.intra, self.inter):  # format 2.7
            mx.start_mixers(models, fc.MIXERS)
        pal = (layout.n_slices, max(n_palettes, 1), pk.PALETTE_CONTEXTS)
        self.pal_intra = rc.new_probs(pal, warm_up)
        self.pal_inter = rc.new_probs(pal, warm_up)
        # recently coded indices, shared by both kinds, empty (-1) at the start
        self.pal_recent = np.full((layout.n_slices, max(n_palettes, 1), recent_size), -1,
                                  np.int32)
        self.motion = rc.new_probs(fc.MOTION_CONTEXTS, warm_up)


class _References:
    """The group's most recent reconstructed frames in a ring allocated when the
    first frame arrives: a new frame takes the oldest one's slot, so no frame
    moves (kernels find frame r + 1 back in ``slots(r)``).

    ``spare`` slots beyond the ``limit`` frames a block may reference let frames
    be decoded in place while earlier ones still read theirs: a frame takes its
    slot when it starts (``reserve``), and one more frame may be in flight."""

    def __init__(self, limit: int, spare: int = 0):
        self.limit = limit
        self.spare = spare
        self.count = 0
        self.newest = -1
        self._frames: np.ndarray | None = None

    def __len__(self) -> int:
        return self.count

    def reserve(self, size: int, dtype) -> np.ndarray:
        """The oldest frame's slot, now the newest's, to decode a frame into."""
        if self._frames is None:
            self._frames = np.zeros((self.limit + self.spare, size), dtype)
        self.newest = (self.newest + 1) % len(self._frames)
        self.count = min(self.count + 1, self.limit)
        return self._frames[self.newest]

    def push(self, frame: np.ndarray) -> None:
        self.reserve(frame.size, frame.dtype)[...] = frame

    def ring(self) -> np.ndarray:
        return self._frames

    def slots(self, back: np.ndarray) -> np.ndarray:
        """The ring slot of the frame ``back + 1`` frames back, for each entry."""
        return (self.newest - back) % len(self._frames)


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _alternating_slices(layout: Layout) -> bool:
    """Whether slices two apart never reach the same block row, so that two
    reference buffers, alternating, let every slice compensate its own reach
    without writing where another slice reads (a slice reaches one block row
    beyond each of its edges): every slice but the first and last holds at
    least two block rows."""
    return layout.n_slices > 1 and all(
        layout.slice_blocks[s + 1] - layout.slice_blocks[s] >= 2
        for s in range(1, layout.n_slices - 1))


def previous_frame_waits(layout: Layout, mv: np.ndarray, margin: int) -> list[tuple[int, int]]:
    """For each slice of an inter frame, the slices [first, last] of the frame coded
    just before it that must be decoded before it starts: its own (whose adaptive
    models it carries on) and every one holding a row its reach (``slice_reach``)
    reads from that frame. ``mv`` holds back indices (``REF`` 0, ``REF2`` 1: the
    frame before); a block reads its rows displaced by its vertical vector, and
    ``margin`` plane-0 rows beyond them (interpolation taps, subsampled planes'
    rounding). Frames further back are done before this one starts."""
    lay = layout
    size = 1 << lay.log2_block
    top = np.repeat(np.arange(lay.nby, dtype=np.int64) * size, lay.nbx)
    first = np.full(top.size, lay.nby, np.int64)  # no row read
    last = np.full(top.size, -1, np.int64)
    for ref, mvy, before in ((mo.REF, mo.MVY, 0), (mo.REF2, mo.MVY2, 1)):
        reads = mv[:, ref] == before
        dy = mv[:, mvy]  # quarter samples of plane 0
        first = np.where(reads, np.minimum(first, (top + (dy >> 2) - margin) // size), first)
        last = np.where(reads, np.maximum(last, (top + size - 1 + ((dy + 3) >> 2) + margin)
                                          // size), last)
    first = first.reshape(lay.nby, lay.nbx).min(axis=1)
    last = last.reshape(lay.nby, lay.nbx).max(axis=1)
    starts = np.asarray(lay.slice_blocks[:-1])
    waits = []
    for s in range(lay.n_slices):
        b0, b1 = lay.slice_reach(s)
        lo, hi = int(first[b0:b1].min()), int(last[b0:b1].max())
        if hi < 0:  # nothing read from the frame before
            waits.append((s, s))
            continue
        lo, hi = min(max(lo, 0), lay.nby - 1), min(max(hi, 0), lay.nby - 1)
        waits.append((min(s, int(np.searchsorted(starts, lo, "right")) - 1),
                      max(s, int(np.searchsorted(starts, hi, "right")) - 1)))
    return waits


def plane_groups(layout: Layout, palettes: int) -> list[tuple[int, int]]:
    """The planes [first, last) each unit of a slice decodes on frame threads: plane 0,
    then the others, so that a slice's plane 0 in one frame waits only for plane 0 of
    the frame before (what it reads of it, and its models). A group with palettes
    keeps its planes together (a palette set codes its planes at once)."""
    if palettes or layout.n_planes == 1:
        return [(0, layout.n_planes)]
    return [(0, 1), (1, layout.n_planes)]


def reach_margin(layout: Layout) -> int:
    """Plane-0 rows a compensated block reads beyond its displaced edges: the six-tap
    filter's 2 above and 3 below, or a subsampled plane's bilinear neighbour and
    the rounding of its displacement, at most 2**sy plane-0 rows each."""
    return 4 << int(layout.geom[:, 4].max())


def _map_slices(fn: Callable[[int], bytes | None], n: int, threads: int) -> list:
    """``fn`` of every slice, on up to ``threads`` threads (the kernels release the
    GIL): the calling thread and ``threads - 1`` helpers each take the next slice
    not yet taken until none is left. The caller working too saves a hand-over
    per frame (a small frame's slices take a millisecond). The helpers' pools
    live as long as the process: a frame is too short to start one."""
    if threads <= 1 or n == 1:
        return [fn(s) for s in range(n)]
    helpers = min(threads, n) - 1
    if helpers not in _POOLS:
        _POOLS[helpers] = ThreadPoolExecutor(helpers, thread_name_prefix="framecodec-slice")
    results: list = [None] * n
    taken = itertools.count()  # next() on it is atomic under the GIL

    def drain() -> None:
        while (s := next(taken)) < n:
            results[s] = fn(s)

    futures = [_POOLS[helpers].submit(drain) for _ in range(helpers)]
    errors = []
    try:
        drain()
    except BaseException as exc:  # noqa: BLE001 - raised below, once the helpers are done
        errors.append(exc)
    for future in futures:  # every slice has finished (or failed) before a frame moves on
        if (exc := future.exception()) is not None:
            errors.append(exc)
    if errors:
        raise errors[0]
    return results


@dataclass
class FrameWork:
    """A started frame's units: ``decode(s, g)`` decodes plane group g of slice s,
    after group g - 1; ``waits[s]``: the slices [first, last] of the frame before
    whose group g each of slice s's groups g waits for; where the frame is being
    decoded."""

    decode: Callable[[int, int], None]
    waits: list[tuple[int, int]]
    groups: int
    shown: np.ndarray  # the decoded frame, flat (``GroupState.shown``)


class GroupState:
    """Models, contexts, reference frames (samples and palette indices) and the
    last motion field of one group, in either direction."""

    def __init__(self, layout: Layout, header: GroupHeader, threads: int, group: int = 0, *,
                 in_place: bool = False):
        self.layout = layout
        self.header = header
        self.threads = threads
        self.group = group
        self.pal = PaletteTables(layout, header.dictionary)
        self.ctx = _Contexts(layout, self.pal.count, header.recent_size, header.warm_up,
                             header.sample_rates)
        # decoding on threads (``in_place``, ``start_decode``): frames are decoded into
        # their ring slots, and each slice compensates the block rows it reads into one
        # of two buffers (neighbouring slices alternate), so it need not wait for the
        # others' compensation. Frame threads (frame_threads.py) run each slice's plane
        # groups (``plane_groups``) as soon as the rows they read of the frame before
        # are done, so a frame's planes start while the frame before finishes its last
        # planes: with two slices on two threads a frame no longer waits for its
        # slower slice, nor for the work between frames.
        self.in_place = in_place and threads > 1 and _alternating_slices(layout)
        self.frame_threads = self.in_place
        # frames decoding at once: their ring slots are spare, each has two reach buffers
        self.in_flight = 2 if self.in_place else 0
        spare = self.in_flight
        self.refs = _References(header.refs, spare)
        self.idx_refs = _References(header.refs, spare)
        skip_planes = self.pal.palette_planes
        self.nets = {kind: header.model.kernel_nets(kind == INTER, skip_planes)
                     if header.model.complete(kind == INTER, skip_planes) else None
                     for kind in (INTRA, INTER)}
        self.mv = np.zeros((layout.nbx * layout.nby, mo.MV_FIELDS), np.int64)
        self._slice_refs: tuple[np.ndarray, np.ndarray] | None = None
        self._started = 0  # frames started by start_decode
        self.coded_samples = budget.CodedSamples(layout, header)  # what a slice's length must allow
        # the network's probabilities of zero and negative residuals at the group's bound (2.7)
        self.net_probs = mx.network_table(header.max_error if header.mixing else 0)
        self.plane_groups = plane_groups(layout, self.pal.count)
        # per plane group, the palette roles with the planes of other groups skipped
        self._roles = [np.where((np.arange(layout.n_planes) >= p0)
                                & (np.arange(layout.n_planes) < p1), self.pal.role, -2)
                       for p0, p1 in self.plane_groups]

    def code_frame(self, encode: bool, kind: int, index: int, *, src=None, src_idx=None,
                   mv=None, reader: ByteReader | None = None
                   ) -> tuple[bytes, np.ndarray, np.ndarray]:
        """Encode (``src``, ``src_idx``, ``mv`` given) or decode (``reader`` given) one frame.

        Returns the payload (encoding), the frame shown and the reconstruction the
        group predicts from (the same array but in groups with a pull)."""
        lay = self.layout
        self._check_kind(kind, index)
        out = ByteWriter().u8(kind)
        skip = np.zeros(lay.nux * lay.nuy, np.uint8)
        coders = None
        if not encode:  # what the payload holds is checked before the frame is allocated
            coders = self._read_payload(reader, kind, index, skip)
        ref_idx = np.zeros(self.pal.idx_size, np.int32)
        ref = np.zeros(lay.size, np.uint16)
        if kind == INTER:
            if encode:
                if mv.shape != self.mv.shape:
                    raise ValueError(f"motion field of shape {mv.shape}, not {self.mv.shape}")
                self.mv = mv
                ref_idx = self._reference(ref)
                mo._skip_map(src, ref, lay.geom, lay.n_planes, lay.log2_unit, lay.nux,
                             lay.nuy, self.header.max_error, skip)
                out.vblob(self._code_motion(True, skip, None, index))
            else:
                ref_idx = self._reference(ref)
        rec = np.zeros(lay.size, np.uint16)
        shown = self.shown(rec)
        idx = np.zeros(self.pal.idx_size, np.int32)
        run = self._slice_coder(encode, kind, src, src_idx, rec, idx, skip, shown)
        if encode:
            slices = _map_slices(lambda s: rc.encode_substream(
                lambda st, buf: run(s, ref, ref_idx, st, buf), lay.slice_samples(s) * 2 + 1024,
                self._slice_models(kind, s)), lay.n_slices, self.threads)
            for data in slices[:-1]:
                out.uvar(len(data))
            for data in slices:
                out.raw(data)
        else:
            def decode(s: int) -> None:
                run(s, ref, ref_idx, coders[s].st, coders[s].buf)
                coders[s].check_complete()

            _map_slices(decode, lay.n_slices, self.threads)
        self.refs.push(rec)
        self.idx_refs.push(idx)
        return out.getvalue(), shown, rec

    def start_decode(self, kind: int, index: int, reader: ByteReader) -> FrameWork:
        """Decoding in place on threads (``in_place``): the payload read and checked,
        the motion decoded and the frame's slot in the ring taken; its units (a
        slice's plane group) are left to run (``FrameWork``), each once the units
        of the frame before that it waits for are done (frame_threads.py). The
        caller has every frame before that one done, and runs each unit once, in
        order within a slice."""
        lay = self.layout
        self._check_kind(kind, index)
        skip = np.zeros(lay.nux * lay.nuy, np.uint8)
        coders = self._read_payload(reader, kind, index, skip)
        inter = kind == INTER
        waits = [(s, s) for s in range(lay.n_slices)]  # models only (intra)
        if inter:
            compensate, mv = self._compensator()
            # a slice reads a block row of each neighbour's: with two slices, both
            # (about 0.1 ms a frame saved, on the thread that starts frames)
            waits = [(0, 1)] * 2 if lay.n_slices == 2 \
                else previous_frame_waits(lay, self.mv, reach_margin(lay))
        slice_refs, slice_idx_refs = (buffers[self._started % self.in_flight]
                                      for buffers in self._slice_references())
        self._started += 1
        prev_idx = self.idx_refs.ring()
        rec = self.refs.reserve(lay.size, np.uint16)
        idx = self.idx_refs.reserve(self.pal.idx_size, np.int32)
        rec[...] = 0
        idx[...] = 0
        shown = self.shown(rec)
        pal = self.pal
        run = self._slice_coder(False, kind, None, None, rec, idx, skip, shown)
        groups = len(self.plane_groups)

        def decode(s: int, g: int) -> None:
            ref, ref_idx = slice_refs[s % 2], slice_idx_refs[s % 2]
            if inter:
                reach = lay.slice_reach(s)
                compensate(ref, *reach, *self.plane_groups[g])
                if pal.count:  # (one plane group)
                    pal.reference_rows(prev_idx, mv, lay, ref, ref_idx, *reach)
            run(s, ref, ref_idx, coders[s].st, coders[s].buf, self._roles[g])
            if g == groups - 1:
                coders[s].check_complete()

        return FrameWork(decode, waits, groups, shown)

    def shown(self, rec: np.ndarray) -> np.ndarray:
        """Where a frame's shown samples go: ``rec`` itself, or in a group with a pull
        (FORMAT.md 6.5.5) an array of their own, since ``rec`` holds the pulled samples
        the group predicts from."""
        return np.zeros_like(rec) if self.header.pull else rec

    def _check_kind(self, kind: int, index: int) -> None:
        if kind == INTER and not self.refs:
            raise CorruptError("inter frame without a reference", group=self.group, frame=index)
        if self.nets[kind] is None:
            raise CorruptError("frame kind without a model", group=self.group, frame=index)

    def _read_payload(self, reader: ByteReader, kind: int, index: int,
                      skip: np.ndarray) -> list[rc.RangeDecoder]:
        """A frame payload's motion (into ``self.mv`` and ``skip``) and slice decoders."""
        if kind == INTER:
            self._code_motion(False, skip, reader, index)
        lengths = self._slice_lengths(reader, kind, skip, index)
        return [rc.RangeDecoder(reader.raw(n, "slice"), f"slice {s} data", group=self.group,
                                frame=index) for s, n in enumerate(lengths)]

    def _slice_models(self, kind: int, s: int) -> list[np.ndarray]:
        inter = kind == INTER
        return [(self.ctx.inter if inter else self.ctx.intra)[s],
                (self.ctx.pal_inter if inter else self.ctx.pal_intra)[s], self.ctx.pal_recent[s]]

    def _slice_coder(self, encode: bool, kind: int, src, src_idx, rec: np.ndarray,
                     idx: np.ndarray, skip: np.ndarray,
                     shown: np.ndarray) -> Callable[..., None]:
        """run(slice, reference, index reference, coder state, coder buffer): one slice
        of a frame coded."""
        lay, header, pal = self.layout, self.header, self.pal
        if src is None:  # read only when encoding
            src = np.zeros(1, np.uint16)
        if src_idx is None:
            src_idx = np.zeros(1, np.int32)
        err = np.zeros(lay.size, np.int32)  # |rec - base| < 2**16
        nets, offsets = self.nets[kind]
        inter = kind == INTER
        probs = self.ctx.inter if inter else self.ctx.intra
        pal_probs = self.ctx.pal_inter if inter else self.ctx.pal_intra
        pal_recent = self.ctx.pal_recent

        # the slice's rows as Python ints: numba types a numpy scalar argument through
        # functools.singledispatch, whose first lookup of np.int64 in a process takes
        # about 40 ms (its MRO against every registered class), as long as loading
        # this kernel from the cache
        slice_y = [int(y) for y in lay.slice_y]

        def run(s: int, ref: np.ndarray, ref_idx: np.ndarray, st: np.ndarray,
                buf: np.ndarray, roles: np.ndarray = pal.role) -> None:
            """``roles``: the palette roles (tables.py), -2 for a plane not coded here."""
            fc._code_slice(encode, src, rec, ref, err, lay.geom, lay.n_planes, slice_y[s],
                           slice_y[s + 1], inter, skip, lay.log2_unit, lay.nux, nets,
                           offsets, probs[s], lay.bit_depth, header.max_error,
                           header.activity_levels, header.fine_contexts, header.mixing,
                           self.net_probs, st, buf, roles, pal.table, pal.entries, pal.luts,
                           src_idx, idx, ref_idx, pal_probs[s], pal_recent[s],
                           header.pull, shown)
        return run

    def _slice_lengths(self, reader: ByteReader, kind: int, skip: np.ndarray,
                       index: int) -> list[int]:
        """The slices' lengths (the last takes the rest), each checked against the
        least its coded samples need (budget.py)."""
        lay = self.layout
        lengths = [reader.uvar("slice length") for _ in range(lay.n_slices - 1)]
        if sum(lengths) > reader.remaining:
            raise CorruptError("slice lengths run past the end of the frame", group=self.group,
                               frame=index)
        lengths.append(reader.remaining - sum(lengths))
        counts = self.coded_samples(skip if kind == INTER else None)
        budget.check_lengths(lengths, counts, self.group, index)
        return lengths

    def _code_motion(self, encode: bool, skip: np.ndarray, reader: ByteReader | None,
                     index: int) -> bytes:
        """The motion substream: ``self.mv`` and ``skip`` coded, or decoded into them."""
        lay = self.layout

        def run(st, buf):
            fc._code_motion(encode, self.mv, skip, lay.nbx, lay.nby, lay.nux, lay.nuy,
                            len(self.refs), self.header.two_sided, self.ctx.motion, st, buf)

        if encode:
            return rc.encode_substream(run, lay.nbx * lay.nby * 12 + 64, [self.ctx.motion])
        data = reader.vblob("motion")
        budget.check_motion(len(data), lay, self.group, index)
        coder = rc.RangeDecoder(data, "motion data", group=self.group, frame=index)
        run(coder.st, coder.buf)
        coder.check_complete()
        return b""

    def _reference(self, ref: np.ndarray) -> np.ndarray:
        """The motion-compensated reference (into ``ref``) and palette-index reference.

        Slices compensate their own block rows on the slice threads: done before
        any slice codes, since a slice's contexts read the reference rows just
        above and below it."""
        lay = self.layout
        compensate, mv = self._compensator()
        blocks = lay.slice_blocks
        _map_slices(lambda s: compensate(ref, blocks[s], blocks[s + 1]), lay.n_slices,
                    self.threads)
        if not self.pal.count:
            return np.zeros(self.pal.idx_size, np.int32)
        return self.pal.reference(self.idx_refs.ring(), mv, lay, ref)

    def _compensator(self) -> tuple[Callable[[np.ndarray, int, int], None], np.ndarray]:
        """A function compensating block rows [by0, by1) of the current motion field
        into a frame buffer, and the field with reference indices as ring slots."""
        lay = self.layout
        prevs = self.refs.ring()
        mv = self.mv.copy()  # both rings move together
        mv[:, mo.REF] = self.refs.slots(self.mv[:, mo.REF])
        second = self.mv[:, mo.REF2] > 0
        mv[second, mo.REF2] = self.refs.slots(self.mv[second, mo.REF2] - 1) + 1

        def compensate(out: np.ndarray, by0: int, by1: int, p0: int = 0,
                       p1: int = lay.n_planes) -> None:
            """Block rows [by0, by1) of planes [p0, p1)."""
            mo._compensate(prevs, lay.geom[p0:p1], p1 - p0, mv, lay.log2_block, lay.nbx,
                           lay.max_value, out, by0, by1)
        return compensate, mv

    def _slice_references(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference buffers (samples, palette indices) for slices that compensate
        their own reach, two for each frame in flight (even slices use the first,
        odd ones the second)."""
        if self._slice_refs is None:
            frames = self.in_flight
            self._slice_refs = (np.zeros((frames, 2, self.layout.size), np.uint16),
                                np.zeros((frames, 2, self.pal.idx_size), np.int32))
        return self._slice_refs
