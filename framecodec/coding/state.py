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

__all__ = ["GroupState"]


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
    moves (kernels find frame r + 1 back in ``slots(r)``)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.count = 0
        self.newest = -1
        self._frames: np.ndarray | None = None

    def __len__(self) -> int:
        return self.count

    def push(self, frame: np.ndarray) -> None:
        if self._frames is None:
            self._frames = np.zeros((self.limit, frame.size), frame.dtype)
        self.newest = (self.newest + 1) % self.limit
        self._frames[self.newest] = frame
        self.count = min(self.count + 1, self.limit)

    def ring(self) -> np.ndarray:
        return self._frames

    def slots(self, back: np.ndarray) -> np.ndarray:
        """The ring slot of the frame ``back + 1`` frames back, for each entry."""
        return (self.newest - back) % self.limit


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


class GroupState:
    """Models, contexts, reference frames (samples and palette indices) and the
    last motion field of one group, in either direction."""

    def __init__(self, layout: Layout, header: GroupHeader, threads: int, group: int = 0):
        self.layout = layout
        self.header = header
        self.threads = threads
        self.group = group
        self.pal = PaletteTables(layout, header.dictionary)
        self.ctx = _Contexts(layout, self.pal.count, header.recent_size, header.warm_up,
                             header.sample_rates)
        self.refs = _References(header.refs)
        self.idx_refs = _References(header.refs)
        skip_planes = self.pal.palette_planes
        self.nets = {kind: header.model.kernel_nets(kind == INTER, skip_planes)
                     if header.model.complete(kind == INTER, skip_planes) else None
                     for kind in (INTRA, INTER)}
        self.mv = np.zeros((layout.nbx * layout.nby, mo.MV_FIELDS), np.int64)
        # decoding on threads: each slice compensates the block rows it reads into
        # one of two buffers (neighbouring slices alternate), so it need not wait
        # for the others' compensation before it codes
        self.own_reference = threads > 1 and _alternating_slices(layout) and not self.pal.count
        self._slice_refs: np.ndarray | None = None
        self.coded_samples = budget.CodedSamples(layout, header)  # what a slice's length must allow
        # the network's probabilities of zero and negative residuals at the group's bound (2.7)
        self.net_probs = mx.network_table(header.max_error if header.mixing else 0)

    def code_frame(self, encode: bool, kind: int, index: int, *, src=None, src_idx=None,
                   mv=None, reader: ByteReader | None = None) -> tuple[bytes, np.ndarray]:
        """Encode (``src``, ``src_idx``, ``mv`` given) or decode (``reader`` given) one frame.

        Returns the payload (encoding) and the reconstruction."""
        lay, group = self.layout, self.group
        if kind == INTER and not self.refs:
            raise CorruptError("inter frame without a reference", group=group, frame=index)
        if self.nets[kind] is None:
            raise CorruptError("frame kind without a model", group=group, frame=index)
        out = ByteWriter().u8(kind)
        skip = np.zeros(lay.nux * lay.nuy, np.uint8)
        lengths = None
        if not encode:  # what the payload holds is checked before the frame is allocated
            if kind == INTER:
                self._code_motion(False, skip, reader, index)
            lengths = self._slice_lengths(reader, kind, skip, index)
        ref_idx = np.zeros(self.pal.idx_size, np.int32)
        own_reference = not encode and kind == INTER and self.own_reference
        if own_reference:  # each slice compensates its reach as it starts
            slice_refs, compensate = self._slice_references()
        else:
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
            elif not own_reference:
                ref_idx = self._reference(ref)
        if src is None:  # read only when encoding
            src = np.zeros(1, np.uint16)
        if src_idx is None:
            src_idx = np.zeros(1, np.int32)
        rec = np.zeros(lay.size, np.uint16)
        idx = np.zeros(self.pal.idx_size, np.int32)
        err = np.zeros(lay.size, np.int32)  # |rec - base| < 2**16
        nets, offsets = self.nets[kind]
        inter = kind == INTER
        probs = self.ctx.inter if inter else self.ctx.intra
        pal_probs = self.ctx.pal_inter if inter else self.ctx.pal_intra
        pal_recent = self.ctx.pal_recent
        pal = self.pal
        levels = self.header.activity_levels
        fine = self.header.fine_contexts

        def run(s: int, ref: np.ndarray, st, buf) -> None:
            fc._code_slice(encode, src, rec, ref, err, lay.geom, lay.n_planes, lay.slice_y[s],
                           lay.slice_y[s + 1], inter, skip, lay.log2_unit, lay.nux, nets,
                           offsets, probs[s], lay.bit_depth, self.header.max_error, levels, fine,
                           self.header.mixing, self.net_probs, st, buf, pal.role, pal.table,
                           pal.entries, pal.luts, src_idx, idx, ref_idx, pal_probs[s],
                           pal_recent[s])

        if encode:
            slices = _map_slices(lambda s: rc.encode_substream(
                lambda st, buf: run(s, ref, st, buf), lay.slice_samples(s) * 2 + 1024,
                [probs[s], pal_probs[s], pal_recent[s]]), lay.n_slices, self.threads)
            for data in slices[:-1]:
                out.uvar(len(data))
            for data in slices:
                out.raw(data)
        else:
            coders = [rc.RangeDecoder(reader.raw(n, "slice"), f"slice {s} data", group=group,
                                      frame=index) for s, n in enumerate(lengths)]

            def decode(s: int) -> None:
                slice_ref = slice_refs[s % 2] if own_reference else ref
                if own_reference:
                    compensate(slice_ref, *lay.slice_reach(s))
                run(s, slice_ref, coders[s].st, coders[s].buf)
                coders[s].check_complete()

            _map_slices(decode, lay.n_slices, self.threads)
        self.refs.push(rec)
        self.idx_refs.push(idx)
        return out.getvalue(), rec

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

        def compensate(out: np.ndarray, by0: int, by1: int) -> None:
            mo._compensate(prevs, lay.geom, lay.n_planes, mv, lay.log2_block, lay.nbx,
                           lay.max_value, out, by0, by1)
        return compensate, mv

    def _slice_references(self) -> tuple[np.ndarray, Callable[[np.ndarray, int, int], None]]:
        """Two reference buffers for slices that compensate their own reach (even
        slices use the first, odd ones the second), and the compensating function."""
        if self._slice_refs is None:
            self._slice_refs = np.zeros((2, self.layout.size), np.uint16)
        return self._slice_refs, self._compensator()[0]
