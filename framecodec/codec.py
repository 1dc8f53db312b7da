# SPDX-License-Identifier: MIT
"""Coding one group of frames: its header and its frames' payloads.

A group is coded on its own (random access): its first frame is intra, the
others are predicted from the group's previous reconstructed frames through
a per-block motion field (a vector and a reference frame per block).
Plane sets with a palette in the group's colour dictionary are coded as
indices. Context models restart at every group and carry over from frame to
frame within each slice.

``GroupDecoder`` imports no torch; ``GroupEncoder`` trains through
train.py, then codes with the integer network *after* a bytes round trip of
the model, so it uses exactly what the decoder will read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from .bitstream import ByteReader, ByteWriter
from .dictionary import ColorDictionary
from .errors import CorruptError, UsageError
from .frames import Frame, VideoInfo
from .kernels import framecoder as fc
from .kernels import motion as mo
from .kernels import palette as pk
from .kernels import rangecoder as rc
from .model import MAX_BUCKETS, GroupModel

__all__ = ["CodingParams", "Layout", "GroupHeader", "GroupDecoder", "GroupAnalysis",
           "analyse_group", "code_group", "encode_group"]

INTRA, INTER = 0, 1
MAX_SLICES = 64


@dataclass(frozen=True)
class CodingParams:
    """The choices an encoder makes for a group; the first four are in its header."""

    max_error: int = 0
    log2_block: int = 4
    slices: int = 0  # 0: chosen from the frame size
    refs: int = 4  # reference frames a block may choose from
    search_range: int = 48
    subpel: bool = True
    hidden: tuple[int, int] | None = None  # None: chosen per group (modelfit)
    train_steps: int = 600
    train_samples: int = 120000
    motion_lambda: int = 4
    palette: str = "auto"  # auto: by measured size; on: whenever colours fit; off
    palette_max: int = 256  # most colours of a palette
    palette_near: int | None = None  # colours merged within this (None: max_error)

    def __post_init__(self) -> None:
        if not 0 <= self.search_range <= mo.MV_MAX // 4 - 8:
            raise UsageError(f"search range must be within 0..{mo.MV_MAX // 4 - 8}")
        if not 2 <= self.log2_block <= 7 or not 1 <= self.refs <= mo.MAX_REFS:
            raise UsageError("block size must be 4..128 and references 1..4")
        if not 0 <= self.slices <= MAX_SLICES:
            raise UsageError(f"slices must be within 0..{MAX_SLICES}")
        if self.palette not in ("auto", "on", "off"):
            raise UsageError("palette must be auto, on or off")
        if not 2 <= self.palette_max <= 65536:
            raise UsageError("palette size must be within 2..65536")
        if self.palette_near is not None and not 0 <= self.palette_near <= self.max_error:
            raise UsageError("palette colours may merge only within the error bound")


class Layout:
    """Where each plane of a frame lives in one flat buffer, and how a frame is sliced."""

    def __init__(self, info: VideoInfo, log2_block: int, slices: int):
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
        rows = [(s * self.nby // n) * block for s in range(n)] + [info.height]
        self.slice_y = np.array(rows, np.int64)
        self.n_slices = n

    def flatten(self, frame: Frame) -> np.ndarray:
        return np.concatenate([p.ravel() for p in frame.planes]).astype(np.uint16)

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


def default_slices(info: VideoInfo) -> int:
    """About one slice per 64k samples of plane 0, at most 8 (FFV1 uses 4 on SD)."""
    return max(1, min(8, (info.width * info.height) // 65536))


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
    reason: int = 0  # why the group starts: 0 first, 1 scene cut, 2 size limit

    def to_bytes(self) -> bytes:
        w = ByteWriter().u32(self.first_frame).u32(self.frame_count)
        w.u16(self.max_error).u8(self.log2_block).u8(self.slices).u8(self.refs)
        w.u8(self.reason)
        w.blob(self.dictionary.to_bytes()).blob(self.model.to_bytes())
        return w.getvalue()

    @staticmethod
    def from_bytes(data: bytes, info: VideoInfo, group: int) -> GroupHeader:
        r = ByteReader(data, "group header", group=group)
        first, count = r.u32("first frame"), r.u32("frame count")
        max_error, log2_block, slices, refs = r.u16("max error"), r.u8("block size"), \
            r.u8("slices"), r.u8("references")
        reason = r.u8("start reason")
        if not 2 <= log2_block <= 7 or not 1 <= slices <= MAX_SLICES or count == 0 \
                or not 1 <= refs <= mo.MAX_REFS:
            raise CorruptError("group header values out of range", group=group)
        if max_error > info.format.max_value // 2 or reason > 2:
            raise CorruptError("group max error or start reason out of range", group=group)
        n_planes = info.format.planes
        dictionary = ColorDictionary.from_bytes(r.blob("dictionary"), info.format)
        model = GroupModel.from_bytes(r.blob("model"), n_planes)
        r.expect_end()
        return GroupHeader(first, count, max_error, log2_block, slices, refs, dictionary, model,
                           reason)


class _Contexts:
    """Adaptive models of a group: per slice for samples and palette indices,
    one set for motion."""

    def __init__(self, layout: Layout, n_palettes: int):
        shape = (layout.n_slices, layout.n_planes, fc.SAMPLE_CONTEXTS, 2)
        self.intra = np.full(shape, rc.PROB_ONE // 2, np.int32)
        self.inter = np.full(shape, rc.PROB_ONE // 2, np.int32)
        pal = (layout.n_slices, max(n_palettes, 1), pk.PALETTE_CONTEXTS, 2)
        self.pal_intra = np.full(pal, rc.PROB_ONE // 2, np.int32)
        self.pal_inter = np.full(pal, rc.PROB_ONE // 2, np.int32)
        self.motion = rc.new_probs(fc.MOTION_CONTEXTS)


class _References:
    """The group's most recent reconstructed frames, newest first."""

    def __init__(self, limit: int):
        self.limit = limit
        self.frames: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.frames)

    def push(self, frame: np.ndarray) -> None:
        self.frames = [frame] + self.frames[: self.limit - 1]

    def stack(self) -> np.ndarray:
        return np.stack(self.frames)


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

    def reference(self, prev_idx: np.ndarray, mv: np.ndarray, layout: Layout,
                  ref: np.ndarray) -> np.ndarray:
        """Indices of the motion-compensated reference, and their colours in ``ref``."""
        ref_idx = np.zeros(self.idx_size, np.int32)
        dummy = np.zeros(layout.size, np.int64)
        for s in range(self.count):
            first, n, w, h, sx, sy, ioff, eoff, k, _ = (int(v) for v in self.table[s])
            pk._compensate_indices(prev_idx, ioff, w, h, sx, sy, mv, layout.log2_block,
                                   layout.nbx, ref_idx[ioff:ioff + w * h])
            pk._palette_fill(ref_idx[ioff:ioff + w * h], self.entries[eoff:eoff + 4 * k],
                             first, n, layout.geom, 0, h, ref, dummy)
        return ref_idx


def _map_slices(fn: Callable[[int], bytes | None], n: int, threads: int) -> list:
    if threads <= 1 or n == 1:
        return [fn(s) for s in range(n)]
    with ThreadPoolExecutor(min(threads, n)) as pool:
        return list(pool.map(fn, range(n)))


class _GroupState:
    """What the encoder and the decoder keep through a group: models, contexts,
    reference frames (samples and palette indices) and the last vectors.

    ``code_frame`` runs both directions through the same steps, so they cannot
    drift apart."""

    def __init__(self, layout: Layout, header: GroupHeader, threads: int, group: int = 0):
        self.layout = layout
        self.header = header
        self.threads = threads
        self.group = group
        self.pal = PaletteTables(layout, header.dictionary)
        self.ctx = _Contexts(layout, self.pal.count)
        self.refs = _References(header.refs)
        self.idx_refs = _References(header.refs)
        skip_planes = self.pal.palette_planes
        self.nets = {kind: header.model.kernel_nets(kind == INTER, skip_planes)
                     if header.model.complete(kind == INTER, skip_planes) else None
                     for kind in (INTRA, INTER)}
        self.mv = np.zeros((layout.nbx * layout.nby, 3), np.int64)

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
        ref = np.zeros(lay.size, np.uint16)
        ref_idx = np.zeros(self.pal.idx_size, np.int32)
        skip = np.zeros(lay.nux * lay.nuy, np.uint8)
        if kind == INTER:
            if encode:
                self.mv = mv
                ref_idx = self._reference(ref)
                mo._skip_map(src, ref, lay.geom, lay.n_planes, lay.log2_unit, lay.nux,
                             lay.nuy, self.header.max_error, skip)
                out.vblob(rc.encode_stream(lambda st, buf: fc._code_motion(
                    True, self.mv, skip, lay.nbx, lay.nby, lay.nux, lay.nuy, len(self.refs),
                    self.ctx.motion, st, buf), lay.nbx * lay.nby * 12 + 64, [self.ctx.motion]))
            else:
                motion = np.frombuffer(reader.vblob("motion"), np.uint8).copy()
                st = rc.new_state()
                rc._dec_init(st, motion)
                fc._code_motion(False, self.mv, skip, lay.nbx, lay.nby, lay.nux, lay.nuy,
                                len(self.refs), self.ctx.motion, st, motion)
                _check_overread(st, motion, group, index, "motion")
                ref_idx = self._reference(ref)
        if src is None:
            src = np.zeros(lay.size, np.uint16)
        if src_idx is None:
            src_idx = np.zeros(self.pal.idx_size, np.int32)
        if not encode:
            lengths = [reader.uvar("slice length") for _ in range(lay.n_slices - 1)]
            lengths.append(reader.remaining - sum(lengths))  # the last slice takes the rest
            datas = [np.frombuffer(reader.raw(n, "slice"), np.uint8).copy() for n in lengths]
        rec = np.zeros(lay.size, np.uint16)
        idx = np.zeros(self.pal.idx_size, np.int32)
        err = np.zeros(lay.size, np.int64)
        nets, offsets = self.nets[kind]
        inter = kind == INTER
        probs = self.ctx.inter if inter else self.ctx.intra
        pal_probs = self.ctx.pal_inter if inter else self.ctx.pal_intra
        pal = self.pal

        def run(s: int, st, buf) -> None:
            fc._code_slice(encode, src, rec, ref, err, lay.geom, lay.n_planes, lay.slice_y[s],
                           lay.slice_y[s + 1], inter, skip, lay.log2_unit, lay.nux, nets,
                           offsets, probs[s], lay.bit_depth, self.header.max_error, st, buf,
                           pal.role, pal.table, pal.entries, pal.luts, src_idx, idx, ref_idx,
                           pal_probs[s])

        if encode:
            slices = _map_slices(lambda s: rc.encode_stream(
                lambda st, buf: run(s, st, buf), lay.slice_samples(s) * 2 + 1024,
                [probs[s], pal_probs[s]]), lay.n_slices, self.threads)
            for data in slices[:-1]:
                out.uvar(len(data))
            for data in slices:
                out.raw(data)
        else:
            def decode(s: int) -> None:
                st = rc.new_state()
                rc._dec_init(st, datas[s])
                run(s, st, datas[s])
                _check_overread(st, datas[s], group, index, f"slice {s}")

            _map_slices(decode, lay.n_slices, self.threads)
        self.refs.push(rec)
        self.idx_refs.push(idx)
        return out.getvalue(), rec

    def _reference(self, ref: np.ndarray) -> np.ndarray:
        lay = self.layout
        mo._compensate(self.refs.stack(), lay.geom, lay.n_planes, self.mv, lay.log2_block,
                       lay.nbx, lay.max_value, ref)
        if not self.pal.count:
            return np.zeros(self.pal.idx_size, np.int32)
        return self.pal.reference(self.idx_refs.stack(), self.mv, lay, ref)


# ------------------------------------------------------------------ decoding


class GroupDecoder:
    """Decodes the frames of one group, in order, from their payloads."""

    def __init__(self, info: VideoInfo, header: GroupHeader, group: int, threads: int = 1):
        self.layout = Layout(info, header.log2_block, header.slices)
        if self.layout.n_slices != header.slices:
            raise CorruptError("slice count does not fit the frame size", group=group)
        self.state = _GroupState(self.layout, header, threads, group)
        self.group = group

    def decode_frame(self, payload: bytes, index: int, pts: int | None) -> Frame:
        r = ByteReader(payload, "frame", group=self.group, frame=index)
        kind = r.u8("frame kind")
        if kind not in (INTRA, INTER):
            raise CorruptError("bad frame kind", group=self.group, frame=index)
        _, rec = self.state.code_frame(False, kind, index, reader=r)
        return self.layout.unflatten(rec, pts)


def _check_overread(st: np.ndarray, data: np.ndarray, group: int, frame: int, what: str) -> None:
    # A valid stream ends with the coder's 5 flush bytes; reading far past the end
    # means the payload was cut or damaged.
    if st[rc.OVERREAD] > 4:
        raise CorruptError(f"{what} data ends early", group=group, frame=frame)


# ------------------------------------------------------------------ encoding


@dataclass
class EncodedGroup:
    header: GroupHeader
    header_bytes: bytes
    frames: list[bytes]
    reconstructed: list[Frame] | None = None


@dataclass
class GroupAnalysis:
    """What coding a group needs besides an error bound: its frames as flat
    buffers, palettes and index planes, motion, frame kinds and trained
    predictors (encoder only)."""

    info: VideoInfo
    frames: list[Frame]
    layout: Layout
    src: list[np.ndarray]
    mvs: list[np.ndarray]
    intra: list[bool]
    fitted: object  # modelfit.FittedNets
    params: CodingParams
    dictionary: ColorDictionary
    src_idx: list[np.ndarray]
    trial: tuple[int, EncodedGroup] | None = None  # (bound, coding) measured during analysis

    @property
    def palette_near(self) -> int:
        """The error its palettes introduce: coding it needs at least this bound."""
        if not self.dictionary.palettes:
            return 0
        p = self.params
        return p.max_error if p.palette_near is None else p.palette_near


def analyse_group(info: VideoInfo, frames: list[Frame], params: CodingParams) -> GroupAnalysis:
    """Motion estimation, palettes and training: the slow part of encoding a group.

    With ``palette="auto"`` a group whose plane sets fit a palette is analysed
    and coded both ways and the smaller coding is kept (measured, not guessed).
    """
    from . import motion  # encoder only

    layout = Layout(info, params.log2_block, params.slices or default_slices(info))
    src = [layout.flatten(f) for f in frames]
    mvs, intra = motion.estimate(layout, src, params)
    fits = _fit_palettes(info, frames, params) if params.palette != "off" else []
    plain = _analyse(info, frames, params, layout, src, mvs, intra, [])
    if not fits:
        return plain
    with_palettes = _analyse(info, frames, params, layout, src, mvs, intra, fits)
    if params.palette == "on":
        return with_palettes
    sizes = [_coded_size(a, params.max_error) for a in (plain, with_palettes)]
    return with_palettes if sizes[1] < sizes[0] else plain


def _coded_size(analysis: GroupAnalysis, max_error: int) -> int:
    """Code the group to measure it; the coding is kept for ``code_group`` to reuse."""
    coded = code_group(analysis, 0, max_error, keep_reconstruction=True)
    analysis.trial = (max_error, coded)
    return len(coded.header_bytes) + sum(len(p) for p in coded.frames)


def _fit_palettes(info: VideoInfo, frames: list[Frame], params: CodingParams):
    """(planes, entries, colour -> index) for every plane set that fits a palette."""
    from . import dictionary as dic

    near = params.max_error if params.palette_near is None else params.palette_near
    planes_of = [f.planes for f in frames]
    fits = []
    for planes in dic.plane_sets(info.format):
        # one plane's values are an ordered scale: a palette only pays when it is sparse
        limit = params.palette_max if len(planes) > 1 else \
            min(params.palette_max, (info.format.max_value + 1) // 8)
        fit = dic.fit_palette(planes_of, planes, limit, near)
        if fit is not None:
            fits.append((planes, *fit))
    return fits


def _analyse(info, frames, params, layout, src, mvs, intra, fits) -> GroupAnalysis:
    from . import dictionary as dic
    from . import modelfit  # trains with torch

    palettes = [dic.Palette(planes, entries) for planes, entries, _ in fits]
    src_idx = [np.zeros(1, np.int32)] * len(frames)
    if fits:
        src_idx = [np.concatenate([dic.to_indices(f.planes, planes, mapping)
                                   for planes, _, mapping in fits]) for f in frames]
    dictionary = ColorDictionary(palettes, layout.n_planes)
    skip_planes = {p for planes, _, _ in fits for p in planes}
    candidates = modelfit.fit_group_nets(layout, src, mvs, intra, params, skip_planes)
    if fits:
        modelfit.fit_palette_nets(layout, dictionary, src, src_idx, mvs, intra, params)
    analyses = [GroupAnalysis(info, frames, layout, src, mvs, intra, fitted, params, dictionary,
                              src_idx) for fitted in candidates]
    if len(analyses) > 1 or params.max_error > 0:  # near-lossless refits from a coding
        chosen = min(analyses, key=lambda a: _coded_size(a, params.max_error))  # measured
    else:
        chosen = analyses[0]
    if params.max_error == 0 or not chosen.fitted.nets:
        return chosen
    # near-lossless: retrain on the contexts the decoder will see, keep it if smaller
    rec = [layout.flatten(f) for f in chosen.trial[1].reconstructed]
    refit = modelfit.refit_closed_loop(layout, src, rec, mvs, intra, params,
                                       chosen.fitted.hidden, skip_planes)
    second = replace(chosen, fitted=refit, trial=None)
    return min((chosen, second), key=lambda a: _coded_size(a, params.max_error))


def code_group(analysis: GroupAnalysis, first_frame: int, max_error: int, *, threads: int = 1,
               keep_reconstruction: bool = False, reason: int = 0,
               progress: Callable[[int], None] | None = None) -> EncodedGroup:
    """Code an analysed group at ``max_error`` (closed loop); may be called for
    several bounds on one analysis (palettes keep their own, smaller or equal, bound)."""
    a, layout = analysis, analysis.layout
    if max_error < a.palette_near:
        raise ValueError(f"group analysed with palettes merged within {a.palette_near} "
                         f"cannot be coded at bound {max_error}")
    if a.trial is not None and a.trial[0] == max_error:
        return _reuse(a.trial[1], first_frame, reason, keep_reconstruction, progress)
    model = a.fitted.freeze(layout.bit_depth, MAX_BUCKETS)
    header = GroupHeader(first_frame, len(a.frames), max_error, a.params.log2_block,
                         layout.n_slices, a.params.refs, a.dictionary, model, reason)
    header_bytes = header.to_bytes()
    # code with exactly what the decoder will read
    header = GroupHeader.from_bytes(header_bytes, a.info, 0)
    state = _GroupState(layout, header, threads)
    payloads, recon = [], []
    for t, frame in enumerate(a.frames):
        payload, rec = state.code_frame(True, INTRA if a.intra[t] else INTER, t, src=a.src[t],
                                        src_idx=a.src_idx[t] if a.dictionary.palettes else None,
                                        mv=a.mvs[t].copy())
        payloads.append(payload)
        if keep_reconstruction:
            recon.append(layout.unflatten(rec, frame.pts))
        if progress:
            progress(1)
    return EncodedGroup(header, header_bytes, payloads, recon if keep_reconstruction else None)


def _reuse(trial: EncodedGroup, first_frame: int, reason: int, keep_reconstruction: bool,
           progress: Callable[[int], None] | None) -> EncodedGroup:
    """A coding measured during analysis, placed at ``first_frame``: frame payloads
    do not depend on where the group starts, only its header does."""
    header = replace(trial.header, first_frame=first_frame, reason=reason)
    if progress:
        progress(len(trial.frames))
    return EncodedGroup(header, header.to_bytes(), trial.frames,
                        trial.reconstructed if keep_reconstruction else None)


def encode_group(info: VideoInfo, frames: list[Frame], first_frame: int, params: CodingParams,
                 *, threads: int = 1, keep_reconstruction: bool = False, reason: int = 0,
                 progress: Callable[[int], None] | None = None) -> EncodedGroup:
    """Fit the group's model, then code every frame with it (closed loop)."""
    return code_group(analyse_group(info, frames, params), first_frame, params.max_error,
                      threads=threads, keep_reconstruction=keep_reconstruction, reason=reason,
                      progress=progress)
