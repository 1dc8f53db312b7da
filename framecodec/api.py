# SPDX-License-Identifier: MIT
"""The Python API: what the CLI calls and what users script.

    import framecodec
    result = framecodec.encode("clip.mp4", "clip.fcv", max_error=0)
    framecodec.decode("clip.fcv", "clip.mkv")
    for frame in framecodec.decode_frames("clip.fcv", frames=(10, 20)):
        y = frame.planes[0]

Encoding streams the source group by group, so memory depends on the group
size, not the clip length. Decoding reads only the groups that hold the
requested frames (random access through the file's index).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .codec import CodingParams, GroupDecoder, GroupHeader
from .targets import Target, code_for_psnr, code_for_size, first_guess
from .container import LIMITS, FcvReader, FcvWriter
from .errors import CorruptError, UsageError
from .frames import Frame, VideoInfo
from .outputs import atomic_output, atomic_sequence, is_sequence

__all__ = ["encode", "decode", "decode_frames", "EncodeResult", "DecodeResult", "FrameRange",
           "GroupBounds"]

DEFAULT_MIN_GROUP = 8
DEFAULT_MAX_GROUP = 60
AUDIO_FROM_START = -1e12  # an audio window that starts before any packet
FrameRange = tuple[int, int | None] | None


@dataclass
class PlaneStats:
    """Error of the reconstruction against the source, accumulated per plane."""

    max_error: list[int] = field(default_factory=list)
    squared: list[float] = field(default_factory=list)
    count: list[int] = field(default_factory=list)

    def add(self, source: Frame, decoded: Frame) -> None:
        if not self.max_error:
            n = len(source.planes)
            self.max_error, self.squared, self.count = [0] * n, [0.0] * n, [0] * n
        for p, (a, b) in enumerate(zip(source.planes, decoded.planes)):
            d = a.astype(np.int64) - b.astype(np.int64)
            self.max_error[p] = max(self.max_error[p], int(np.abs(d).max(initial=0)))
            self.squared[p] += float((d * d).sum())
            self.count[p] += d.size

    def merge(self, other: PlaneStats) -> None:
        if not self.max_error:
            self.max_error, self.squared, self.count = (list(other.max_error),
                                                        list(other.squared), list(other.count))
            return
        for p in range(len(self.max_error)):
            self.max_error[p] = max(self.max_error[p], other.max_error[p])
            self.squared[p] += other.squared[p]
            self.count[p] += other.count[p]

    def psnr(self, peak: int) -> float:
        """PSNR over all samples of all planes (inf when exact)."""
        total, n = sum(self.squared), sum(self.count)
        if total == 0 or n == 0:
            return math.inf
        return 10 * math.log10(peak * peak * n / total)


@dataclass
class EncodeResult:
    """What ``encode`` did: sizes, fidelity and speed."""

    path: Path
    bytes: int
    frames: int
    groups: int
    samples: int
    raw_bytes: int
    seconds: float
    max_error: int
    psnr: float
    stats: PlaneStats
    groups_report: list[tuple[int, int, float, int]] = field(default_factory=list)

    @property
    def bits_per_sample(self) -> float:
        return 8 * self.bytes / max(self.samples, 1)

    @property
    def ratio(self) -> float:
        """Raw size over coded size."""
        return self.raw_bytes / max(self.bytes, 1)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else math.inf

    def summary(self) -> str:
        psnr = "inf" if math.isinf(self.psnr) else f"{self.psnr:.2f}"
        return (f"{self.path}: {self.bytes:,} bytes, {self.bits_per_sample:.3f} bits/sample, "
                f"1:{self.ratio:.2f} of raw, max error {self.max_error}, PSNR {psnr} dB, "
                f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps)")


@dataclass
class DecodeResult:
    path: Path
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else math.inf

    def summary(self) -> str:
        return f"{self.path}: {self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps)"


def _check_range(frames: FrameRange) -> tuple[int, int | None]:
    if frames is None:
        return 0, None
    start, stop = frames
    if start < 0 or (stop is not None and stop <= start):
        raise UsageError(f"frame range {start}:{'' if stop is None else stop} is empty "
                         "or negative")
    return start, stop


@dataclass
class GroupResult:
    """One coded group, as a worker returns it."""

    header: bytes
    payloads: list[bytes]
    stats: PlaneStats
    bound: int
    pts: list[int | None] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return len(self.header) + sum(len(p) for p in self.payloads)


def _encode_one(info: VideoInfo, frames: list[Frame], first: int, params: CodingParams,
                threads: int, reason: int, target: Target, budget: int | None) -> GroupResult:
    """Worker body: code a group (to a target if any) and measure its reconstruction."""
    from . import train
    from .codec import analyse_group, code_group

    train.set_threads(threads)
    peak = info.format.max_value
    if target.psnr is not None:
        params = replace(params, max_error=min(first_guess(target.psnr, peak), peak // 2))
    if target.active:  # bounds are searched from 0: palettes must stay exact
        params = replace(params, palette_near=0)
    analysis = analyse_group(info, frames, params)
    kw = {"threads": threads, "reason": reason}
    if target.psnr is not None:
        coded, stats, bound = code_for_psnr(analysis, first, target.psnr, peak // 2,
                                            PlaneStats, **kw)
    elif target.size is not None:
        coded, stats, bound, _ = code_for_size(analysis, first, budget, peak // 2, PlaneStats,
                                               **kw)
    else:
        bound = params.max_error
        coded = code_group(analysis, first, bound, keep_reconstruction=True, **kw)
        stats = PlaneStats()
        for src, rec in zip(frames, coded.reconstructed):
            stats.add(src, rec)
    return GroupResult(coded.header_bytes, coded.frames, stats, bound)


@dataclass(frozen=True)
class GroupBounds:
    """How frames are split into groups: at scene cuts within [min_size, max_size],
    or exactly ``fixed`` frames each."""

    min_size: int = DEFAULT_MIN_GROUP
    max_size: int = DEFAULT_MAX_GROUP
    fixed: int | None = None

    def check(self) -> None:
        if self.fixed is not None and self.fixed < 1:
            raise UsageError("--group-size must be at least 1")
        if not 1 <= self.min_size <= self.max_size:
            raise UsageError("group bounds need 1 <= --min-group <= --max-group")
        if max(self.max_size, self.fixed or 0) > LIMITS.max_group_frames:
            raise UsageError(f"groups hold at most {LIMITS.max_group_frames} frames")


def encode(src: str | os.PathLike, dst: str | os.PathLike | None = None, *,
           max_error: int = 0, frames: FrameRange = None, group_size: int | None = None,
           min_group: int = DEFAULT_MIN_GROUP, max_group: int = DEFAULT_MAX_GROUP,
           jobs: int = 1, threads: int = 1, overwrite: bool = False, progress: bool = False,
           params: CodingParams | None = None, audio: bool = True,
           settings=None, target_psnr: float | None = None, target_size: int | None = None,
           on_group: Callable[[int, int], None] | None = None) -> EncodeResult:
    """Encode a video or frame sequence into a .fcv file.

    ``max_error`` bounds |decoded - source| for every sample (0: lossless);
    ``frames`` is a [start, stop) range of source frames. Groups start at scene
    cuts and hold ``min_group`` to ``max_group`` frames, or exactly
    ``group_size`` if given. ``settings`` (a ``config.EncodeSettings``, e.g. a
    preset or a tuned framecodec.toml) replaces all of these but ``frames``.
    ``target_psnr`` (dB, over all samples of each group) or ``target_size``
    (bytes of the whole file) choose each group's bound instead of
    ``max_error`` and are met by measurement. ``jobs`` groups are coded in
    parallel processes, each with ``threads`` threads. The first audio stream
    is kept as its original packets unless ``audio`` is False.
    """
    from . import train

    train.require_torch()
    src = Path(src)
    dst = Path(dst) if dst is not None else src.with_suffix(".fcv")
    start, stop = _check_range(frames)
    if settings is not None:
        params = settings.coding_params()
        max_error = settings.max_error
        bounds = GroupBounds(settings.min_group, settings.max_group, settings.group_size or None)
    else:
        bounds = GroupBounds(min_group, max_group, group_size)
    bounds.check()
    if jobs < 1 or threads < 1:
        raise UsageError("--jobs and --threads must be at least 1")
    if target_psnr is not None and target_size is not None:
        raise UsageError("choose one target: --target-psnr or --target-size")
    if target_psnr is not None and not 0 < target_psnr < 200:
        raise UsageError("--target-psnr must be a positive number of dB")
    if target_size is not None and target_size < 1024:
        raise UsageError("--target-size must be at least 1024 bytes")
    target = Target(target_psnr, target_size)
    params = replace(params or CodingParams(), max_error=max_error)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="framecodec-") as scratch:
        audio_copy = Path(scratch) / "audio.mka" if audio else None
        result = _encode_stream(src, dst, audio_copy, start, stop, bounds, params, jobs,
                                threads, overwrite, progress, on_group, target)
    result.seconds = time.perf_counter() - t0
    return result


def _encode_stream(src: Path, dst: Path, audio_copy: Path | None, start: int,
                   stop: int | None, bounds: GroupBounds, params: CodingParams, jobs: int,
                   threads: int, overwrite: bool, progress: bool, on_group,
                   target: Target) -> EncodeResult:
    from . import grouping, media

    max_error = params.max_error
    with media.open_source(src, audio_to=audio_copy) as source:
        info = source.info
        if not 0 <= max_error <= info.format.max_value // 2:
            raise UsageError(f"--max-error must be between 0 and {info.format.max_value // 2} "
                             f"for {info.format.bit_depth}-bit samples")
        total = None
        if info.frame_count:
            total = max(0, min(info.frame_count, stop or info.frame_count) - start)
        per_frame = None
        if target.size is not None:
            if total is None:
                total = _count_frames(src, start, stop)
            reserve = _audio_reserve(src) if audio_copy is not None else 0
            per_frame = (target.size - reserve - 4096) / max(total, 1)
            if per_frame <= 0:
                raise UsageError(f"--target-size {target.size} leaves nothing for the video")
        stats = PlaneStats()
        with _progress(progress, total, "encode") as bar, \
                atomic_output(dst, overwrite=overwrite, inputs=(src,)) as tmp, \
                open(tmp, "wb") as f:
            writer = FcvWriter(f, info, max_error)
            groups = grouping.plan_groups(
                source.frames(start, stop), bit_depth=info.format.bit_depth,
                max_size=bounds.fixed or bounds.max_size, min_size=bounds.min_size,
                fixed=bounds.fixed is not None)
            span = [None, None]  # pts of the first and last coded frames
            reports = []
            for group in _run_groups(info, groups, params, jobs, threads, target, per_frame):
                writer.write_group(group.header, list(zip(group.pts, group.payloads)),
                                   group.bound)
                span = [group.pts[0] if span[0] is None else span[0], group.pts[-1]]
                stats.merge(group.stats)
                reports.append((len(group.payloads), group.bound,
                                group.stats.psnr(info.format.max_value), group.bytes))
                bar.update(len(group.payloads))
                if on_group:
                    on_group(len(group.payloads), writer.frames_written)
            if writer.frames_written == 0:
                raise UsageError(f"{src}: no frames in the requested range")
            if source.finish_audio():
                tb = info.time_base
                first = float(span[0] * tb) if start > 0 else AUDIO_FROM_START
                last = float(span[1] * tb + 1 / info.frame_rate) if stop is not None \
                    else float("inf")
                writer.write_audio(source.audio_codec, first, last, audio_copy.read_bytes())
            writer.close()
            if target.size is not None and f.tell() > target.size:  # the promise is checked
                raise UsageError(f"could not fit {target.size} bytes ({f.tell()} needed); "
                                 "nothing was written")
    n = writer.frames_written
    samples = n * info.samples_per_frame
    bytes_per_sample = 1 if info.format.bit_depth <= 8 else 2
    return EncodeResult(dst, dst.stat().st_size, n, len(writer._groups), samples,
                        samples * bytes_per_sample, 0.0,
                        max(stats.max_error), stats.psnr(info.format.max_value), stats,
                        reports)


def _count_frames(src: Path, start: int, stop: int | None) -> int:
    from . import media

    with media.open_source(src) as source:
        return sum(1 for _ in source.frames(start, stop))


def _audio_reserve(src: Path) -> int:
    """Bytes the copied audio will take (its packets, plus Matroska framing)."""
    import av

    with av.open(str(src)) as container:
        if not container.streams.audio:
            return 0
        stream = container.streams.audio[0]
        total = sum(p.size for p in container.demux(stream) if p.size)
        return int(total * 1.05) + 4096


def _run_groups(info, groups, params, jobs: int, threads: int, target: Target,
                per_frame: float | None) -> Iterator[GroupResult]:
    """Coded groups in order, ``jobs`` at a time (at most jobs + 1 in memory).

    A size target gives each group a budget in proportion to its frames, so
    groups stay independent of each other (and of ``jobs``)."""
    first = 0

    def args(plan):
        budget = None if per_frame is None else int(per_frame * len(plan.frames))
        return (info, plan.frames, first, params, threads, plan.reason, target, budget)

    def done(result: GroupResult, plan) -> GroupResult:
        result.pts = [f.pts for f in plan.frames]
        return result

    if jobs == 1:
        for plan in groups:
            yield done(_encode_one(*args(plan)), plan)
            first += len(plan.frames)
        return
    pending: deque[tuple[Future, object]] = deque()
    with ProcessPoolExecutor(jobs) as pool:
        for plan in groups:
            pending.append((pool.submit(_encode_one, *args(plan)), plan))
            first += len(plan.frames)
            if len(pending) > jobs:
                future, done_plan = pending.popleft()
                yield done(future.result(), done_plan)
        while pending:
            future, done_plan = pending.popleft()
            yield done(future.result(), done_plan)


def _progress(enabled: bool, total: int | None, what: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=what, disable=not enabled, leave=False,
                dynamic_ncols=True)


def decode_frames(src: str | os.PathLike, *, frames: FrameRange = None, threads: int = 1,
                  conceal: bool = False,
                  on_damage: Callable[[int, str], None] | None = None) -> Iterator[Frame]:
    """Decoded frames of a .fcv file in [start, stop), reading only the groups needed.

    Damage raises ``CorruptError`` naming the group and frame. With ``conceal``,
    a damaged frame and the rest of its group (which predict from it) repeat
    the last good frame instead, each reported through ``on_damage(frame,
    reason)``, and decoding goes on with the next group.
    """
    start, stop = _check_range(frames)
    with FcvReader(src) as reader:
        info = reader.info
        last: Frame | None = None
        for g, entry in enumerate(reader.groups):
            end = entry.first_frame + entry.frame_count
            if stop is not None:
                end = min(end, stop)
            if end <= start:
                continue
            if entry.first_frame >= end:
                break
            pending = entry.first_frame  # the next frame to come out of this group
            try:
                header_bytes, payloads = reader.read_group(g)
                header = GroupHeader.from_bytes(header_bytes, info, g)
                truncated = reader.damaged_index and header.frame_count > entry.frame_count
                if header.first_frame != entry.first_frame or (
                        header.frame_count != entry.frame_count and not truncated):
                    raise CorruptError("group header and index disagree on its frames", group=g)
                decoder = GroupDecoder(info, header, g, threads)
                for index, pts, payload in payloads:
                    if index >= end:
                        break
                    frame = decoder.decode_frame(payload, index, pts)
                    last, pending = frame, index + 1
                    if index >= start:
                        yield frame
            except CorruptError as exc:
                if not conceal:
                    raise
                yield from _concealed(info, last, pending, end, start, str(exc), on_damage)
                last = last or _grey(info)
        expected = info.frame_count or 0
        if reader.damaged_index and reader.frame_count < expected \
                and (stop is None or stop > reader.frame_count):
            reason = (f"file is truncated or damaged after {reader.frame_count} of {expected} "
                      "frames")
            if not conceal:
                raise CorruptError(reason, group=len(reader.groups), frame=reader.frame_count)
            yield from _concealed(info, last, reader.frame_count,
                                  expected if stop is None else min(stop, expected), start,
                                  reason, on_damage)


def _grey(info: VideoInfo) -> Frame:
    fmt = info.format
    return Frame([np.full(shape, (fmt.max_value + 1) // 2, fmt.dtype)
                  for shape in info.plane_shapes()], 0)


def _concealed(info: VideoInfo, last: Frame | None, first: int, end: int, start: int,
               reason: str, on_damage) -> Iterator[Frame]:
    """Frames [first, end) replaced by the last good one (grey if none yet)."""
    base = last or _grey(info)
    step = max(1, round(1 / (info.frame_rate * info.time_base)))
    for k in range(first, end):
        if on_damage:
            on_damage(k, reason)
        if k >= start:
            pts = None if base.pts is None else base.pts + step * (k - first + 1)
            yield Frame([p.copy() for p in base.planes], pts)


def decode(src: str | os.PathLike, dst: str | os.PathLike, *, frames: FrameRange = None,
           threads: int = 1, overwrite: bool = False, lossless: bool = False,
           crf: int | None = None, progress: bool = False, audio: bool = True,
           conceal: bool = False,
           on_damage: Callable[[int, str], None] | None = None) -> DecodeResult:
    """Decode a .fcv file to a media file chosen by extension (.y4m, .mkv, .mp4).

    Stored audio is muxed into .mkv and .mp4 outputs (cut to the decoded frames'
    span) unless ``audio`` is False.
    """
    from . import media

    t0 = time.perf_counter()
    to_stdout = str(dst) == "-"
    src, dst = Path(src), Path(dst)
    kind = "y4m" if to_stdout else _kind_of(dst)
    start, stop = _check_range(frames)
    with FcvReader(src) as reader:
        info = reader.info
        total = max(0, min(reader.frame_count, stop or reader.frame_count) - start)
        stored = reader.audio() if audio and kind in ("mkv", "mp4") else None
        window = None
        if stored is not None and total:
            window = _audio_window(reader, stored[0], start, stop)
    count = 0
    with _progress(progress, total, "decode") as bar, \
            tempfile.TemporaryDirectory(prefix="framecodec-") as scratch:
        track = None
        if window is not None:
            path = Path(scratch) / "audio.mka"
            path.write_bytes(stored[1])
            track = media.AudioTrack(path, *window)
        if to_stdout:
            target = contextlib.nullcontext(sys.stdout.buffer)
        elif is_sequence(dst):
            target = atomic_sequence(dst, overwrite=overwrite)
        else:
            target = atomic_output(dst, overwrite=overwrite, inputs=(src,))
        with target as tmp:
            with media.open_writer(tmp, info, kind=kind, lossless=lossless, crf=crf,
                                   threads=threads, audio=track) as writer:
                for frame in decode_frames(src, frames=frames, threads=threads,
                                           conceal=conceal, on_damage=on_damage):
                    writer.write(frame)
                    count += 1
                    bar.update(1)
    return DecodeResult(dst, count, time.perf_counter() - t0)


def _audio_window(reader: FcvReader, audio, start: int, stop: int | None):
    """Seconds [from, to) of audio that belong with frames [start, stop)."""
    info = reader.info
    first, last = audio.start, audio.end
    if start > 0:
        first = max(first, float(reader.frame_pts(start) * info.time_base))
    if stop is not None and stop < reader.frame_count:
        last = min(last, float(reader.frame_pts(stop) * info.time_base))
    return first, last


def _kind_of(path: Path) -> str:
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("y4m", "mkv", "mp4", "png"):
        raise UsageError(f"cannot write {path.name}: choose a .y4m, .mkv or .mp4 output, "
                         "a %05d.png sequence, or - (y4m to stdout)")
    if kind == "png" and not is_sequence(path):
        raise UsageError(f"{path}: PNG output is an image sequence; name it like "
                         "out/%05d.png")
    return kind
