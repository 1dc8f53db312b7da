#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Where encode and decode time goes: stages in ns per sample and as a share.

    python tools/profiler.py CLIP [--frames 0:12] [--max-error N] [--threads T] [--json OUT]

Encodes the frames of CLIP (in this process, one job) and decodes the result,
with framecodec's functions wrapped by timers. Time is *exclusive*: a stage
nested in another (coding inside a measured choice) counts once, in the
innermost stage. The slice kernel decodes features, network, entropy coding
and reconstruction in one pass; its share is split by replaying each decoded
slice's passes on the decoded samples (``_replay`` below mirrors the coder's
row loop without coding; the fastest of three replays counts), so "entropy
decoding, reconstruction" is the slice time minus the replays, summed over
the decode (scaled down if noise makes them exceed it). Numba kernels are
compiled (and cached) by a warm-up run first.
Times are the process's CPU time (``time.process_time_ns``), so that other
work on a shared machine does not inflate them; fps figures derive from them.

The wrapped functions are framecodec's internals: when a stage moves, this
tool's ``_ENCODE_STAGES`` / ``_DECODE_STAGES`` move with it
(tests/test_tools.py runs it on a small clip).
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from numba import njit

from framecodec.errors import FramecodecError
from framecodec.kernels.context import MAX_ROW_FEATURES, _row_features, _sequential
from framecodec.kernels.framecoder import _prediction
from framecodec.kernels.mlp import MAX_HIDDEN, MAX_LUT, MAX_OUT, _bucket_fast, _bucket_table, \
    _mlp_rows
from framecodec.kernels.mlp_pairs import LANES, PACKED_WORDS, SIMD, mlp_rows, pack, pack_row


class Stages:
    """Exclusive wall time per stage label, in nanoseconds."""

    def __init__(self) -> None:
        self.ns: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list] = []
        self.excluded = 0
        self.replays = [0, 0, 0]  # per replay level, its time summed over slices (decode)

    def enter(self, label: str) -> None:
        self._stack.append([label, time.process_time_ns(), 0])

    def leave(self) -> int:
        label, start, inner = self._stack.pop()
        spent = time.process_time_ns() - start
        self.ns[label] += spent - inner
        self.calls[label] += 1
        if self._stack:
            self._stack[-1][2] += spent
        return spent

    def add(self, label: str, ns: int) -> None:
        self.ns[label] += ns

    def exclude(self, ns: int) -> None:
        """Time spent measuring (replays), taken out of the enclosing stage and the total."""
        self.excluded += ns
        if self._stack:
            self._stack[-1][2] += ns

    def timed(self, label: str, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            self.enter(label)
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave()
        return wrapper

    def timed_iter(self, label: str, fn):
        """A generator function whose every step (``next``) counts as ``label``."""
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            it = fn(*args, **kwargs)
            while True:
                self.enter(label)
                try:
                    item = next(it)
                except StopIteration:
                    return
                finally:
                    self.leave()
                yield item
        return wrapper


def _patch(stages: Stages, table, undo: list) -> None:
    for owner, name, label, kind in table:
        original = owner.__dict__[name]
        fn = original.__func__ if isinstance(original, staticmethod) else original
        wrapped = stages.timed_iter(label, fn) if kind == "iter" else stages.timed(label, fn)
        setattr(owner, name, staticmethod(wrapped) if isinstance(original, staticmethod)
                else wrapped)
        undo.append((owner, name, original))


def _restore(undo: list) -> None:
    for owner, name, original in reversed(undo):
        setattr(owner, name, original)
    undo.clear()


def _encode_stages():
    from framecodec.encoder import analysis, grouping, jobs, modelfit, motion, targets, train
    from framecodec.format import container
    from framecodec.io import source

    return [
        (source.Source, "frames", "demux", "iter"),
        (grouping.CutDetector, "is_cut", "scene analysis", "call"),
        (motion, "estimate", "motion search", "call"),
        (modelfit, "_group_data", "data gathering", "call"),
        (modelfit, "fit_palette_nets", "palette networks", "call"),
        # analysis.py calls these by its own names (imported from palettes.py)
        *[(analysis, name, "palette fitting", "call") for name in (
            "fit_palettes", "palette_candidates", "paying_fits")],
        (train, "fit_many", "training", "call"),
        (modelfit.FittedNets, "freeze", "freezing to integers", "call"),
        (analysis, "code_group", "trial coding (measured choices)", "call"),
        (targets, "code_group", "trial coding (targets)", "call"),
        (jobs, "code_job", "other encoder work", "call"),
        (container.FcvWriter, "write_group", "container", "call"),
        (container.FcvWriter, "close", "container", "call"),
    ]


def _final_coding_stage():
    from framecodec.encoder import groupcoder
    return [(groupcoder, "code_group", "final coding", "call")]


def _decode_stages():
    from framecodec.coding import state
    from framecodec.format import container, group, layout

    return [
        (container.FcvReader, "read_group", "container reading", "call"),
        (group.GroupHeader, "from_bytes", "header and model parsing", "call"),
        (state.GroupState, "__init__", "model setup", "call"),
        (state.GroupState, "_code_motion", "motion decoding", "call"),
        (state.GroupState, "_reference", "motion compensation", "call"),
        (layout.Layout, "unflatten", "output frames", "call"),
    ]


@njit(cache=True)
def _replay(rec, ref, err, geom, n_planes, y0, y1, inter, skip, log2u, nux, nets, net_off,
            pal_role, level, bd, near):
    """The coder's row loop (kernels/framecoder.py) without coding: features of every
    coded sample (level 0), the network on each row (1), and each sample's base,
    sequential features, prediction and coding context (2). Returns a checksum.
    Scratch is made here, the loop runs without reference counting, as the coder's."""
    width = 1
    for p in range(n_planes):
        width = max(width, geom[p, 1])
    full = np.zeros((MAX_ROW_FEATURES, width), np.int32)
    feats = np.zeros((MAX_ROW_FEATURES, width), np.int32)
    h1 = np.zeros((MAX_HIDDEN, width), np.int16)
    h2 = np.zeros((MAX_HIDDEN, width), np.int16)
    acc32 = np.zeros((4, width), np.int32)
    outs = np.zeros((MAX_OUT, width + LANES), np.int64)
    cols = np.zeros(width, np.int64)
    acc = np.zeros(width, np.int64)
    lut = np.zeros(MAX_LUT, np.uint8)
    stride = 2 * (width + LANES)
    pairs = np.zeros((3, (max(MAX_ROW_FEATURES, MAX_HIDDEN) + 1) // 2 * stride), np.int16)
    packed = np.zeros(PACKED_WORDS, np.int32)
    return _replay_rows(rec, ref, err, geom, n_planes, y0, y1, inter, skip, log2u, nux, nets,
                        net_off, pal_role, level, bd, near, full, feats, h1, h2, acc32, outs,
                        cols, acc, lut, stride, pairs, packed)


@njit(cache=True, _nrt=False)
def _replay_rows(rec, ref, err, geom, n_planes, y0, y1, inter, skip, log2u, nux, nets, net_off,
                 pal_role, level, bd, near, full, feats, h1, h2, acc32, outs, cols, acc, lut,
                 stride, pairs, packed):
    half = np.int64(1) << (bd - 1)
    maxval = (np.int64(1) << bd) - 1
    total = np.int64(0)
    for p in range(n_planes):
        if pal_role[p] != -1:
            continue
        w = geom[p, 1]
        h = geom[p, 2]
        sx = geom[p, 3]
        sy = geom[p, 4]
        ys = y0 >> sy
        ye = min(h, (y1 + (1 << sy) - 1) >> sy)
        net = nets[net_off[p]:net_off[p + 1]]
        lo, span = _bucket_table(net, lut)
        if SIMD:
            pack(net, packed)
        for y in range(ys, ye):
            brow = ((y << sy) >> log2u) * nux
            n = 0
            for x in range(w):
                if not (inter and skip[brow + ((x << sx) >> log2u)]):
                    cols[n] = x
                    n += 1
            if n:
                _row_features(rec, ref, err, geom, p, y, ys, inter, full)
            if level >= 1 and n:  # as the coder chooses its network kernel
                if SIMD and pack_row(full, cols, n, n == w, net[0], pairs[0], stride, acc32):
                    mlp_rows(packed, pairs[0], n, pairs[1], pairs[2], outs, stride)
                else:
                    for f in range(net[0]):
                        for k in range(n):
                            feats[f, k] = full[f, cols[k]]
                    _mlp_rows(net, feats, n, h1, h2, outs, acc, acc32)
                total += outs[0, 0]
            elif n:
                total += full[0, cols[0]]
            if level >= 2:
                row = geom[p, 0] + y * w
                n_seq = net[3]
                for k in range(n):
                    x = cols[k]
                    base, s0, s1, s2 = _sequential(rec, ref, row + x, x, y, w, ys, half, inter,
                                                   near)
                    mu, ls = _prediction(outs, k, n_seq, s0, s1, s2)
                    pred = base + ((mu + 8) >> 4)
                    pred = 0 if pred < 0 else (maxval if pred > maxval else pred)
                    total += pred + _bucket_fast(net, ls, lut, lo, span) + (((mu + 8) & 15) >> 2)
    return total


_REPLAYS = 3


def _split_slices(stages: Stages, undo: list) -> None:
    """Time the slice kernel, and split it by replaying its feature and network passes."""
    from framecodec.kernels import framecoder

    original = framecoder._code_slice
    names = list(inspect.signature(original.py_func).parameters)
    role_at, bd_at, near_at = (names.index(k) - names.index("net_off") - 1
                               for k in ("pal_role", "bd", "near"))

    def wrapper(encode, src, rec, ref, err, geom, n_planes, y0, y1, inter, skip, log2u, nux,
                nets, net_off, *rest):
        stages.enter("slice coding" if encode else "slice decoding")
        try:
            return original(encode, src, rec, ref, err, geom, n_planes, y0, y1, inter, skip,
                            log2u, nux, nets, net_off, *rest)
        finally:
            stages.leave()
            if not encode:
                pal_role, bd, near = rest[role_at], rest[bd_at], rest[near_at]

                def replay(level: int) -> int:
                    t0 = time.process_time_ns()
                    _replay(rec, ref, err, geom, n_planes, y0, y1, inter, skip, log2u, nux,
                            nets, net_off, pal_role, level, bd, near)
                    return time.process_time_ns() - t0

                start = time.process_time_ns()
                for level in range(3):  # each replay redoes the passes below its own
                    # the fastest of a few: a slice is short
                    stages.replays[level] += min(replay(level) for _ in range(_REPLAYS))
                stages.exclude(time.process_time_ns() - start)

    framecoder._code_slice = wrapper
    undo.append((framecoder, "_code_slice", original))


def _share_slice_decoding(stages: Stages) -> None:
    """Split the decoder's slice time by the replays, summed over the whole decode (a
    single slice is too short to time reliably). Replays time the passes again, so on a
    noisy machine they can add up to more than the slice time they estimate: then they
    are scaled down to it, and "entropy decoding, reconstruction" is what remains."""
    spent = stages.ns.pop("slice decoding", 0)
    passes = stages.replays
    parts = {"features": passes[0],
             "network": max(0, passes[1] - passes[0]),
             "prediction and contexts": max(0, passes[2] - passes[1])}
    estimated = sum(parts.values())
    scale = min(1.0, spent / estimated) if estimated else 0.0
    for label, ns in parts.items():
        parts[label] = int(ns * scale)
        stages.add(label, parts[label])
    stages.add("entropy decoding, reconstruction", spent - sum(parts.values()))


def profile(clip: Path, frames: tuple[int, int], max_error: int, threads: int,
            settings=None) -> dict:
    import framecodec
    from framecodec.encoder.settings import EncodeSettings

    settings = settings or EncodeSettings()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "p.fcv"
        # warm-up: compile or load every kernel outside the measurement
        # jobs=1: groups coded in this process, where the stages are measured (the
        # default, one process per core, coded a clip of several groups elsewhere)
        framecodec.encode(clip, out, settings=settings, max_error=max_error,
                          frames=(frames[0], frames[0] + 2), overwrite=True, audio=False,
                          threads=threads, jobs=1)
        undo: list = []
        _split_slices(Stages(), undo)  # compiles the replay kernels too
        try:
            list(framecodec.decode_frames(out, threads=threads))
        finally:
            _restore(undo)
        enc = Stages()
        _patch(enc, _encode_stages() + _final_coding_stage(), undo)
        t0 = time.process_time_ns()
        try:
            result = framecodec.encode(clip, out, settings=settings, max_error=max_error,
                                       frames=frames, overwrite=True, audio=False,
                                       threads=threads, jobs=1)
        finally:
            _restore(undo)
        enc_total = time.process_time_ns() - t0
        dec = Stages()
        _patch(dec, _decode_stages(), undo)
        _split_slices(dec, undo)
        t0 = time.process_time_ns()
        try:
            count = sum(1 for _ in framecodec.decode_frames(out, threads=threads))
        finally:
            _restore(undo)
        dec_total = time.process_time_ns() - t0 - dec.excluded
        _share_slice_decoding(dec)
    samples = result.samples
    enc.ns["other encoder work"] += enc_total - sum(enc.ns.values())
    dec.ns["other decoder work"] += dec_total - sum(dec.ns.values())
    return {"clip": str(clip), "frames": result.frames, "samples": samples,
            "max_error": max_error, "threads": threads, "bytes": result.bytes,
            "encode": _table(enc.ns, enc_total, samples),
            "decode": _table(dec.ns, dec_total, samples), "decoded_frames": count,
            "encode_fps": result.frames / (enc_total / 1e9),
            "decode_fps": count / (dec_total / 1e9)}


def _table(ns: dict[str, int], total: int, samples: int) -> list[dict]:
    rows = [{"stage": k, "seconds": v / 1e9, "ns_per_sample": v / max(samples, 1),
             "share": v / max(total, 1)} for k, v in ns.items() if v > 0]
    rows.sort(key=lambda r: -r["seconds"])
    rows.append({"stage": "total", "seconds": total / 1e9,
                 "ns_per_sample": total / max(samples, 1), "share": 1.0})
    return rows


def format_report(report: dict) -> str:
    lines = [f"{report['clip']}: {report['frames']} frames, {report['samples']:,} samples, "
             f"max error {report['max_error']}, {report['threads']} thread(s), "
             f"{report['bytes']:,} bytes"]
    for what in ("encode", "decode"):
        fps = report[f"{what}_fps"]
        lines += ["", f"{what} ({fps:.2f} fps)", "| stage | s | ns/sample | share |",
                  "| --- | --: | --: | --: |"]
        for row in report[what]:
            lines.append(f"| {row['stage']} | {row['seconds']:.3f} | "
                         f"{row['ns_per_sample']:.1f} | {100 * row['share']:.1f} % |")
    return "\n".join(lines)


def _range(text: str) -> tuple[int, int]:
    a, _, b = text.partition(":")
    return int(a or 0), int(b)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("clip", type=Path)
    p.add_argument("--frames", type=_range, default=(0, 12), metavar="A:B")
    p.add_argument("--max-error", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, help="also write the report as JSON")
    args = p.parse_args(argv)
    try:
        report = profile(args.clip, args.frames, args.max_error, args.threads)
    except FramecodecError as exc:  # a clip that is missing or unreadable: one line
        print(f"profiler: error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
