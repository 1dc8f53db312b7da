#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""framecodec benchmark: compressed size and speed against reference codecs.

For each clip of the corpus, the first N frames are decoded once (PyAV,
single-threaded, in the clip's own pixel format) and kept in memory as numpy
planes. Every codec is then measured on those very same frames, in one run:

- ffv1   FFV1 ``-level 3 -coder 1 -context 1 -g 1 -slices 4 -slicecrc 1``
- x264   libx264 lossless ``-qp 0 -preset veryslow``
- x265   libx265 lossless ``-x265-params lossless=1 -preset slow``
- jpegls JPEG-LS (CharLS through imagecodecs), each plane of each frame coded
         alone, NEAR = N for every requested ``--max-error`` N (0 = lossless)
- framecodec  ``framecodec.encode`` / ``framecodec.decode_frames`` at each N

The reference codecs run in-process through PyAV (the FFmpeg libraries bundled
with the av wheel): only the encode calls (send/receive, mux, trailer) and the
decode calls (demux, decode) are timed. Every decoded frame is compared with the
source frame: bit-exact for lossless codecs, ``max |error| <= N`` otherwise.
Everything runs on one thread.

Example::

    python tools/bench.py --codecs ffv1,x264,jpegls --frames 10
    python tools/bench.py --max-error 0,1,2,4 --json bench-out/bench.json

Ratios are ``bytes / reference bytes`` (below 1 = smaller than the reference);
the reference for ``÷JPEG-LS`` is JPEG-LS at the row's own max_error.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import importlib.metadata
import json
import math
import os
import platform
import re
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus"
CLIP_SUFFIXES = {".mkv", ".mp4", ".mov", ".webm", ".nut", ".avi", ".y4m"}

ALL_CODECS = ("ffv1", "x264", "x265", "jpegls", "framecodec")
DEFAULT_CODECS = ALL_CODECS
LOSSLESS_ONLY = ("ffv1", "x264", "x265")  # measured at max_error 0 only


# --------------------------------------------------------------------------
# Metrics


def bits_per_sample(nbytes: int, samples: int) -> float:
    """Compressed bits per coded sample (all planes counted, e.g. 1.5*w*h per 4:2:0 frame)."""
    if samples <= 0:
        raise ValueError("samples must be positive")
    return nbytes * 8 / samples


def max_abs_error(ref: np.ndarray, test: np.ndarray) -> int:
    """Largest |ref - test| over all samples, computed without unsigned wrap-around."""
    ref = np.asarray(ref)
    test = np.asarray(test)
    if ref.shape != test.shape:
        raise ValueError(f"shape mismatch: {ref.shape} vs {test.shape}")
    if ref.size == 0:
        return 0
    return int(np.max(np.abs(ref.astype(np.int64) - test.astype(np.int64))))


def sum_squared_error(ref: np.ndarray, test: np.ndarray) -> int:
    diff = np.asarray(ref).astype(np.int64) - np.asarray(test).astype(np.int64)
    return int(np.sum(diff * diff))


def psnr_from_sse(sse: float, samples: int, bitdepth: int = 8) -> float:
    """PSNR in dB with peak 2**bitdepth - 1; ``inf`` when there is no error."""
    if samples <= 0:
        raise ValueError("samples must be positive")
    if sse == 0:
        return math.inf
    peak = (1 << bitdepth) - 1
    return 10.0 * math.log10(peak * peak * samples / sse)


def psnr(ref: np.ndarray, test: np.ndarray, bitdepth: int = 8) -> float:
    """PSNR of one plane (or any array) in dB, peak = 2**bitdepth - 1; ``inf`` if identical."""
    ref = np.asarray(ref)
    test = np.asarray(test)
    if ref.shape != test.shape:
        raise ValueError(f"shape mismatch: {ref.shape} vs {test.shape}")
    return psnr_from_sse(sum_squared_error(ref, test), ref.size, bitdepth)


# --------------------------------------------------------------------------
# Source frames

Planes = list[np.ndarray]


def plane_dtype(fmt) -> np.dtype:
    """numpy dtype of the samples of a planar PyAV VideoFormat (8 bits: uint8, else uint16 LE)."""
    bits = max(c.bits for c in fmt.components)
    return np.dtype(np.uint8) if bits <= 8 else np.dtype("<u2")


def format_bitdepth(fmt) -> int:
    return max(c.bits for c in fmt.components)


def frame_to_planes(frame) -> Planes:
    """Copy the planes of a PyAV VideoFrame out as (height, width) arrays, honouring line_size."""
    if not frame.format.is_planar and len(frame.planes) == 1 and len(frame.format.components) > 1:
        raise ValueError(f"packed pixel format {frame.format.name} is not supported")
    dtype = plane_dtype(frame.format)
    planes = []
    for plane in frame.planes:
        h, w, stride = plane.height, plane.width, plane.line_size
        if stride <= 0:
            raise ValueError("negative line_size is not supported")
        raw = np.frombuffer(plane, np.uint8, count=stride * h).reshape(h, stride)
        planes.append(np.ascontiguousarray(raw[:, : w * dtype.itemsize]).view(dtype))
    return planes


def planes_to_frame(planes: Planes, pix_fmt: str, width: int, height: int):
    """Build a PyAV VideoFrame in ``pix_fmt`` and copy ``planes`` in, honouring line_size."""
    import av

    frame = av.VideoFrame(width, height, pix_fmt)
    if len(frame.planes) != len(planes):
        raise ValueError(f"{pix_fmt} has {len(frame.planes)} planes, got {len(planes)}")
    for plane, arr in zip(frame.planes, planes):
        if (plane.height, plane.width) != arr.shape:
            raise ValueError(f"plane shape {arr.shape} != {(plane.height, plane.width)}")
        row_bytes = arr.shape[1] * arr.itemsize
        raw = np.frombuffer(plane, np.uint8, count=plane.line_size * plane.height)
        raw = raw.reshape(plane.height, plane.line_size)
        raw[:, :row_bytes] = np.ascontiguousarray(arr).view(np.uint8).reshape(arr.shape[0], -1)
    return frame


def single_thread(codec_context) -> None:
    from av.codec.context import ThreadType

    codec_context.thread_count = 1
    codec_context.thread_type = ThreadType.NONE


@dataclass
class Source:
    """The frames every codec is measured on."""

    path: Path
    name: str
    pix_fmt: str
    width: int
    height: int
    bitdepth: int
    rate: Fraction
    frames: list[Planes]

    @property
    def frame_count(self) -> int:
        return len(self.frames)

    @property
    def samples(self) -> int:
        return sum(p.size for f in self.frames for p in f)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "path": str(self.path),
            "pix_fmt": self.pix_fmt,
            "width": self.width,
            "height": self.height,
            "bitdepth": self.bitdepth,
            "frames": self.frame_count,
            "samples": self.samples,
            "plane_shapes": [list(p.shape) for p in self.frames[0]] if self.frames else [],
        }


def load_source(path: Path, max_frames: int) -> Source:
    """Decode the first ``max_frames`` frames (0 = all) of the first video stream."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        single_thread(stream.codec_context)
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        frames: list[Planes] = []
        pix_fmt = None
        width = height = bitdepth = 0
        for frame in container.decode(stream):
            if pix_fmt is None:
                pix_fmt, width, height = frame.format.name, frame.width, frame.height
                bitdepth = format_bitdepth(frame.format)
            elif (frame.format.name, frame.width, frame.height) != (pix_fmt, width, height):
                raise ValueError(f"{path.name}: format changes mid-stream")
            frames.append(frame_to_planes(frame))
            if max_frames and len(frames) >= max_frames:
                break
    if not frames:
        raise ValueError(f"{path.name}: no video frames")
    return Source(path, path.stem, pix_fmt, width, height, bitdepth, Fraction(rate), frames)


# --------------------------------------------------------------------------
# Checking decoded frames against the source


@dataclass
class Check:
    """Accumulates the comparison of decoded frames with the source frames."""

    source: Source
    frames_seen: int = 0
    max_error: int = 0
    frame_max_errors: list[int] = field(default_factory=list)
    sse: list[int] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)
    problem: str | None = None  # first structural mismatch (count, shape, dtype)

    def add(self, planes: Sequence[np.ndarray]) -> None:
        index = self.frames_seen
        self.frames_seen += 1
        if index >= self.source.frame_count:
            self.fail(f"extra decoded frame {index}")
            return
        ref = self.source.frames[index]
        if len(planes) != len(ref):
            self.fail(f"frame {index}: {len(planes)} planes, expected {len(ref)}")
            return
        if not self.sse:
            self.sse = [0] * len(ref)
            self.samples = [0] * len(ref)
        frame_max = 0
        for i, (a, b) in enumerate(zip(ref, planes)):
            b = np.asarray(b)
            if a.shape != b.shape:
                self.fail(f"frame {index} plane {i}: shape {b.shape}, expected {a.shape}")
                return
            if b.dtype != a.dtype:
                self.fail(f"frame {index} plane {i}: dtype {b.dtype}, expected {a.dtype}")
            frame_max = max(frame_max, max_abs_error(a, b))
            self.sse[i] += sum_squared_error(a, b)
            self.samples[i] += a.size
        self.frame_max_errors.append(frame_max)
        self.max_error = max(self.max_error, frame_max)

    def fail(self, msg: str) -> None:
        if self.problem is None:
            self.problem = msg

    def finish(self) -> None:
        if self.frames_seen < self.source.frame_count:
            self.fail(f"decoded {self.frames_seen} frames, expected {self.source.frame_count}")

    def ok(self, bound: int) -> bool:
        return self.problem is None and self.max_error <= bound

    def describe_failure(self, bound: int) -> str:
        bad = [i for i, e in enumerate(self.frame_max_errors) if e > bound]
        if not bad:
            return ""
        return (f"max |error| {self.max_error} > {bound} in {len(bad)} of "
                f"{len(self.frame_max_errors)} frames (first: frame {bad[0]})")

    def psnr_planes(self) -> list[float]:
        return [psnr_from_sse(s, n, self.source.bitdepth) for s, n in zip(self.sse, self.samples)]


# --------------------------------------------------------------------------
# Measurements


@dataclass
class Row:
    """One codec at one max_error on one clip."""

    clip: str
    codec: str
    max_error: int
    frames: int
    samples: int
    status: str = "ok"  # "ok", "n/a" (codec unavailable) or "error"
    bytes: int | None = None
    encode_seconds: float | None = None
    decode_seconds: float | None = None
    encode_cpu_seconds: float | None = None
    decode_cpu_seconds: float | None = None
    ok: bool | None = None  # bit-exact (max_error 0) or within the bound
    measured_max_error: int | None = None
    psnr_db: list[float | None] | None = None  # per plane, None = identical
    encoder: str = ""  # encoder identification found in the output, if any
    note: str = ""

    @property
    def measured(self) -> bool:
        return self.status == "ok" and self.bytes is not None

    @property
    def bits_per_sample(self) -> float | None:
        return bits_per_sample(self.bytes, self.samples) if self.measured else None

    @property
    def encode_fps(self) -> float | None:
        return _fps(self.frames, self.encode_seconds)

    @property
    def decode_fps(self) -> float | None:
        return _fps(self.frames, self.decode_seconds)

    def record_check(self, check: Check) -> None:
        check.finish()
        self.ok = check.ok(self.max_error)
        self.measured_max_error = check.max_error
        self.psnr_db = [None if math.isinf(p) else round(p, 4) for p in check.psnr_planes()]
        if check.problem:
            self.note = _join(self.note, check.problem)
        if check.describe_failure(self.max_error):
            self.note = _join(self.note, check.describe_failure(self.max_error))

    def to_json(self) -> dict:
        d = asdict(self)
        d.update(
            bits_per_sample=self.bits_per_sample,
            encode_fps=self.encode_fps,
            decode_fps=self.decode_fps,
        )
        return d


def _fps(frames: int, seconds: float | None) -> float | None:
    return frames / seconds if seconds else None


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


class Timer:
    """Accumulates wall-clock and process CPU time over several ``with`` blocks."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> Timer:
        self._w = time.perf_counter()
        self._c = time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


def timed_iter(make: Callable[[], Iterable], timer: Timer) -> Iterator:
    """Yield the items of ``make()``, timing the call and the production of each item only.

    Whatever the caller does with an item (copying planes out, comparing) is not timed.
    """
    with timer:
        it = iter(make())
    while True:
        with timer:
            try:
                item = next(it)
            except StopIteration:
                return
        yield item


# --------------------------------------------------------------------------
# Reference codecs through PyAV


@dataclass(frozen=True)
class RefCodec:
    name: str
    encoder: str
    options: dict[str, str]
    gop_size: int | None = None
    cli: str = ""  # the equivalent ffmpeg command-line options, for the report


REFERENCE_CODECS = {
    "ffv1": RefCodec(
        "ffv1",
        "ffv1",
        {"level": "3", "coder": "1", "context": "1", "slices": "4", "slicecrc": "1"},
        gop_size=1,
        cli="-c:v ffv1 -level 3 -coder 1 -context 1 -g 1 -slices 4 -slicecrc 1 -threads 1",
    ),
    "x264": RefCodec(
        "x264",
        "libx264",
        {"qp": "0", "preset": "veryslow"},
        cli="-c:v libx264 -qp 0 -preset veryslow -threads 1",
    ),
    "x265": RefCodec(
        "x265",
        "libx265",
        # log-level only silences x265's banner on stderr; it does not change the stream.
        {"preset": "slow", "x265-params": "lossless=1:pools=1:frame-threads=1:log-level=error"},
        cli="-c:v libx265 -preset slow -x265-params lossless=1:pools=1:frame-threads=1 -threads 1",
    ),
}


def run_reference(spec: RefCodec, src: Source, workdir: Path) -> Row:
    import av

    row = Row(src.name, spec.name, 0, src.frame_count, src.samples)
    out = workdir / f"{src.name}.{spec.name}.mkv"
    # Frames are built before timing: only the encoder and the muxer are timed.
    tb = Fraction(1, 1) / src.rate
    frames = []
    for i, planes in enumerate(src.frames):
        frame = planes_to_frame(planes, src.pix_fmt, src.width, src.height)
        frame.pts = i
        frame.time_base = tb
        frames.append(frame)

    enc = Timer()
    with enc:
        container = av.open(str(out), "w")
        try:
            stream = container.add_stream(spec.encoder, rate=src.rate, options=dict(spec.options))
            stream.width, stream.height, stream.pix_fmt = src.width, src.height, src.pix_fmt
            stream.time_base = tb
            single_thread(stream.codec_context)
            if spec.gop_size is not None:
                stream.codec_context.gop_size = spec.gop_size
            for frame in frames:
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        finally:
            container.close()
    row.encode_seconds, row.encode_cpu_seconds = enc.wall, enc.cpu
    row.bytes = out.stat().st_size
    row.encoder = encoder_id(out)

    def decoded_frames() -> Iterator:  # opening, demuxing and decoding are all timed
        with av.open(str(out)) as container:
            stream = container.streams.video[0]
            single_thread(stream.codec_context)
            yield from container.decode(stream)

    check = Check(src)
    dec = Timer()
    for frame in timed_iter(decoded_frames, dec):
        if frame.format.name != src.pix_fmt:
            check.fail(f"decoded as {frame.format.name}, source is {src.pix_fmt}")
        check.add(frame_to_planes(frame))
    row.decode_seconds, row.decode_cpu_seconds = dec.wall, dec.cpu
    row.record_check(check)
    return row


_ENCODER_ID = re.compile(rb"x264 - core \d+(?: r\d+ [0-9a-f]+)?|x265 \(build \d+\) - [\w.+-]+")


def encoder_id(path: Path) -> str:
    """The x264/x265 version string both encoders write into their first SEI, if present."""
    m = _ENCODER_ID.search(path.read_bytes()[:65536])
    return m.group().decode("ascii", "replace") if m else ""


# --------------------------------------------------------------------------
# JPEG-LS (CharLS through imagecodecs), every plane of every frame on its own


def run_jpegls(src: Source, near: int) -> Row:
    import imagecodecs

    row = Row(src.name, "jpegls", near, src.frame_count, src.samples)
    enc = Timer()
    with enc:
        coded = [[imagecodecs.jpegls_encode(p, level=near) for p in f] for f in src.frames]
    row.encode_seconds, row.encode_cpu_seconds = enc.wall, enc.cpu
    row.bytes = sum(len(b) for f in coded for b in f)

    def decoded() -> Iterator[Planes]:
        for f in coded:
            yield [imagecodecs.jpegls_decode(b) for b in f]

    check = Check(src)
    dec = Timer()
    for planes in timed_iter(decoded, dec):
        check.add(planes)
    row.decode_seconds, row.decode_cpu_seconds = dec.wall, dec.cpu
    row.record_check(check)
    return row


# --------------------------------------------------------------------------
# framecodec


def load_framecodec() -> tuple[object | None, str]:
    """Return (module, "") or (None, reason) when the encode/decode API is unavailable."""
    try:
        fc = importlib.import_module("framecodec")
    except Exception as exc:  # noqa: BLE001 - any import failure means "n/a"
        return None, f"import framecodec failed: {type(exc).__name__}: {exc}"
    missing = [n for n in ("encode", "decode_frames") if not callable(getattr(fc, n, None))]
    if missing:
        return None, f"framecodec has no {', '.join(missing)}"
    return fc, ""


def run_framecodec(fc, src: Source, max_error: int, workdir: Path) -> Row:
    row = Row(src.name, "framecodec", max_error, src.frame_count, src.samples)
    out = workdir / f"{src.name}.e{max_error}.fcv"
    enc = Timer()
    with enc:
        result = fc.encode(
            str(src.path),
            str(out),
            max_error=max_error,
            frames=(0, src.frame_count),
            overwrite=True,
            jobs=1,
            threads=1,
            progress=False,
        )
    row.encode_seconds, row.encode_cpu_seconds = enc.wall, enc.cpu
    row.bytes = out.stat().st_size
    reported = getattr(result, "bytes", None)
    if reported is not None and reported != row.bytes:
        row.note = _join(row.note, f"encode() reported {reported} bytes, file has {row.bytes}")

    check = Check(src)
    dec = Timer()
    for frame in timed_iter(lambda: fc.decode_frames(str(out), threads=1), dec):
        check.add(list(frame.planes))
    row.decode_seconds, row.decode_cpu_seconds = dec.wall, dec.cpu
    row.record_check(check)
    return row


# --------------------------------------------------------------------------
# Tables


def ratio(a: int | None, b: int | None) -> float | None:
    return a / b if a is not None and b else None


def _f(x: float | None, digits: int) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _check_cell(row: Row) -> str:
    if row.ok is None:
        return "–"
    if row.max_error == 0:
        return "yes" if row.ok else "**NO**"
    return f"{'yes' if row.ok else '**NO**'} (max {row.measured_max_error})"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ) + " |"

    sep = "| " + " | ".join(("-" * (w - 1) + ":") if i in right else "-" * w
                            for i, w in enumerate(widths)) + " |"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


HEADER = ["clip", "codec", "max_error", "bytes", "bits/sample", "÷FFV1", "÷x264",
          "÷JPEG-LS(N)", "enc fps", "dec fps", "exact/bound ok"]
RIGHT = {2, 3, 4, 5, 6, 7, 8, 9}


def _by_key(rows: Iterable[Row]) -> dict[tuple[str, str, int], Row]:
    return {(r.clip, r.codec, r.max_error): r for r in rows if r.measured}


def clip_table(rows: Sequence[Row]) -> str:
    idx = _by_key(rows)
    out = []
    for r in rows:
        if r.status != "ok":
            out.append([r.clip, r.codec, str(r.max_error), r.status] + ["–"] * 6 + [r.status])
            continue

        def ref(codec: str, n: int = 0) -> str:
            other = idx.get((r.clip, codec, n))
            return _f(ratio(r.bytes, other.bytes if other else None), 3)

        out.append([
            r.clip, r.codec, str(r.max_error), str(r.bytes), _f(r.bits_per_sample, 3),
            ref("ffv1"), ref("x264"), ref("jpegls", r.max_error),
            _f(r.encode_fps, 1), _f(r.decode_fps, 1), _check_cell(r),
        ])
    return markdown_table(HEADER, out, RIGHT)


@dataclass
class Total:
    codec: str
    max_error: int
    clips: int
    frames: int
    samples: int
    bytes: int
    encode_seconds: float
    decode_seconds: float
    ok: bool
    ratio_ffv1: float | None
    ratio_x264: float | None
    ratio_jpegls: float | None
    note: str = ""

    @property
    def bits_per_sample(self) -> float:
        return bits_per_sample(self.bytes, self.samples)

    @property
    def encode_fps(self) -> float | None:
        return _fps(self.frames, self.encode_seconds)

    @property
    def decode_fps(self) -> float | None:
        return _fps(self.frames, self.decode_seconds)

    def to_json(self) -> dict:
        d = asdict(self)
        d.update(bits_per_sample=self.bits_per_sample, encode_fps=self.encode_fps,
                 decode_fps=self.decode_fps)
        return d


def totals(rows: Sequence[Row], clip_names: Sequence[str]) -> list[Total]:
    """Sum over clips per (codec, max_error); ratios of totals over the clips both have."""
    idx = _by_key(rows)
    keys = list(dict.fromkeys((r.codec, r.max_error) for r in rows if r.measured))
    result = []
    for codec, n in keys:
        mine = [idx[(c, codec, n)] for c in clip_names if (c, codec, n) in idx]

        def ratio_of_totals(ref_codec: str, ref_n: int) -> float | None:
            pairs = [(r.bytes, idx[(r.clip, ref_codec, ref_n)].bytes)
                     for r in mine if (r.clip, ref_codec, ref_n) in idx]
            if not pairs:
                return None
            return sum(a for a, _ in pairs) / sum(b for _, b in pairs)

        note = "" if len(mine) == len(clip_names) else f"{len(mine)}/{len(clip_names)} clips"
        result.append(Total(
            codec, n, len(mine),
            frames=sum(r.frames for r in mine),
            samples=sum(r.samples for r in mine),
            bytes=sum(r.bytes for r in mine),
            encode_seconds=sum(r.encode_seconds for r in mine),
            decode_seconds=sum(r.decode_seconds for r in mine),
            ok=all(r.ok for r in mine),
            ratio_ffv1=ratio_of_totals("ffv1", 0),
            ratio_x264=ratio_of_totals("x264", 0),
            ratio_jpegls=ratio_of_totals("jpegls", n),
            note=note,
        ))
    return result


def totals_table(tots: Sequence[Total], rows: Sequence[Row]) -> str:
    out = []
    for t in tots:
        out.append([
            "TOTAL" + (f" ({t.note})" if t.note else ""), t.codec, str(t.max_error), str(t.bytes),
            _f(t.bits_per_sample, 3), _f(t.ratio_ffv1, 3), _f(t.ratio_x264, 3),
            _f(t.ratio_jpegls, 3), _f(t.encode_fps, 1), _f(t.decode_fps, 1),
            "yes" if t.ok else "**NO**",
        ])
    # Codecs that produced nothing on any clip (framecodec missing, or failing everywhere).
    done = {(t.codec, t.max_error) for t in tots}
    for codec, n in dict.fromkeys((r.codec, r.max_error) for r in rows):
        if (codec, n) not in done:
            status = "n/a" if all(r.status == "n/a" for r in rows
                                  if (r.codec, r.max_error) == (codec, n)) else "error"
            out.append(["TOTAL", codec, str(n), status] + ["–"] * 6 + [status])
    return markdown_table(HEADER, out, RIGHT)


# --------------------------------------------------------------------------
# Environment


def environment() -> dict:
    import av
    import imagecodecs

    env = {
        "python": sys.version,
        "numpy": np.__version__,
        "av": av.__version__,
        "ffmpeg": getattr(av, "ffmpeg_version_info", None),
        "ffmpeg_libraries": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()},
        "imagecodecs": imagecodecs.__version__,
        "charls": _safe(lambda: imagecodecs.version(dict).get("charls")),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
    }
    try:
        env["framecodec"] = importlib.metadata.version("framecodec")
    except importlib.metadata.PackageNotFoundError:
        env["framecodec"] = None
    return env


def _safe(fn: Callable):
    try:
        return fn()
    except Exception:  # noqa: BLE001
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# --------------------------------------------------------------------------
# Main


def parse_int_list(text: str) -> list[int]:
    values = sorted({int(v) for v in text.split(",") if v.strip()})
    if not values or values[0] < 0:
        raise argparse.ArgumentTypeError("expected non-negative integers like 0,1,2,4")
    return values


def parse_codecs(text: str) -> list[str]:
    codecs = [c.strip().lower() for c in text.split(",") if c.strip()]
    unknown = [c for c in codecs if c not in ALL_CODECS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown codec(s) {unknown}; choose from {ALL_CODECS}")
    return [c for c in ALL_CODECS if c in codecs]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                   help=f"directory of clips (default {DEFAULT_CORPUS})")
    p.add_argument("--clips", default="",
                   help="comma-separated substrings; keep clips whose name contains any")
    p.add_argument("--frames", type=int, default=60,
                   help="first N frames of each clip (default 60; 0 = all)")
    p.add_argument("--max-error", type=parse_int_list, default=[0],
                   help="max |error| bounds for framecodec and JPEG-LS NEAR, e.g. 0,1,2,4 "
                        "(default 0)")
    p.add_argument("--codecs", type=parse_codecs, default=list(DEFAULT_CODECS),
                   help=f"comma-separated subset of {','.join(ALL_CODECS)} (default all)")
    p.add_argument("--json", type=Path, help="write all measurements and versions to this file")
    p.add_argument("--workdir", type=Path,
                   help="keep the encoded files here (default: a temporary directory)")
    return p


def find_clips(corpus: Path, filters: str) -> list[Path]:
    subs = [s.strip() for s in filters.split(",") if s.strip()]
    clips = sorted(p for p in corpus.iterdir() if p.is_file() and p.suffix.lower() in CLIP_SUFFIXES)
    return [p for p in clips if not subs or any(s in p.name for s in subs)]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def measure_clip(src: Source, codecs: Sequence[str], bounds: Sequence[int], workdir: Path,
                 fc, fc_reason: str) -> list[Row]:
    jobs: list[tuple[str, int, Callable[[], Row]]] = []
    for name in codecs:
        if name in REFERENCE_CODECS:
            spec = REFERENCE_CODECS[name]
            jobs.append((name, 0, lambda spec=spec: run_reference(spec, src, workdir)))
        elif name == "jpegls":
            for n in bounds:
                jobs.append((name, n, lambda n=n: run_jpegls(src, n)))
        elif name == "framecodec":
            for n in bounds:
                jobs.append((name, n, lambda n=n: run_framecodec(fc, src, n, workdir)))

    rows = []
    for name, n, job in jobs:
        if name == "framecodec" and fc is None:
            rows.append(Row(src.name, name, n, src.frame_count, src.samples, status="n/a",
                            note=fc_reason))
            continue
        log(f"  {name} max_error={n} ...")
        try:
            row = job()
        except Exception as exc:  # noqa: BLE001 - one failing codec must not stop the run
            traceback.print_exc(file=sys.stderr)
            row = Row(src.name, name, n, src.frame_count, src.samples, status="error",
                      note=f"{type(exc).__name__}: {exc}")
        if row.measured:
            log(f"    {row.bytes} bytes, {row.bits_per_sample:.3f} bits/sample, "
                f"enc {row.encode_fps:.1f} fps, dec {_f(row.decode_fps, 1)} fps, ok={row.ok}")
            if row.encode_cpu_seconds and row.encode_cpu_seconds > 1.3 * row.encode_seconds:
                row.note = _join(row.note, "encode used more than one core")
            if not row.ok:
                log(f"!!! WARNING: {name} max_error={n} on {src.name} is NOT "
                    f"{'bit-exact' if n == 0 else 'within the bound'}: "
                    f"max |error| {row.measured_max_error}. {row.note}")
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    script_argv = sys.argv if argv is None else ["tools/bench.py", *argv]
    command = shlex.join([sys.executable, *script_argv])
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")

    clips = find_clips(args.corpus, args.clips)
    if not clips:
        log(f"no clips in {args.corpus} matching {args.clips!r}")
        return 2

    fc, fc_reason = (None, "")
    if "framecodec" in args.codecs:
        fc, fc_reason = load_framecodec()
        if fc is None:
            log(f"framecodec rows will be n/a: {fc_reason}")

    sources: list[Source] = []
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fc-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for path in clips:
            src = load_source(path, args.frames)
            sources.append(src)
            log(f"{src.name}: {src.frame_count} frames {src.width}x{src.height} {src.pix_fmt}")
            rows.extend(measure_clip(src, args.codecs, args.max_error, workdir, fc, fc_reason))

    tots = totals(rows, [s.name for s in sources])
    print(f"Command: cd {shlex.quote(os.getcwd())} && {command}")
    print()
    print(clip_table(rows))
    print()
    print(totals_table(tots, rows))
    print()
    print(footnotes(args, sources, rows, fc_reason))

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "command": command,
            "cwd": os.getcwd(),
            "started": started,
            "settings": {
                "frames": args.frames,
                "max_error": args.max_error,
                "codecs": args.codecs,
                "corpus": str(args.corpus),
                "reference_codecs": {k: asdict(v) for k, v in REFERENCE_CODECS.items()},
                "threads": 1,
            },
            "environment": environment(),
            "clips": [s.describe() for s in sources],
            "rows": [r.to_json() for r in rows],
            "totals": [t.to_json() for t in tots],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        log(f"wrote {args.json}")

    failed = [r for r in rows if r.status == "error" or (r.measured and not r.ok)]
    return 1 if failed else 0


def footnotes(args, sources: Sequence[Source], rows: Sequence[Row], fc_reason: str) -> str:
    lines = [
        "Ratios are bytes / reference bytes on the same clip (TOTAL: sum over clips / sum of the "
        "reference over the same clips); ÷JPEG-LS(N) compares with JPEG-LS at NEAR = max_error. "
        "bits/sample = bytes*8 / samples of all planes. fps = frames / seconds spent in the encode "
        "or decode calls only, one thread, in-process (ffv1/x264/x265 through PyAV's bundled "
        "FFmpeg, .mkv files).",
        "Frames: " + ", ".join(f"{s.name} {s.frame_count} ({s.width}x{s.height} {s.pix_fmt})"
                               for s in sources) + ".",
    ]
    encoders = sorted({r.encoder for r in rows if r.encoder})
    if encoders:
        lines.append("Encoders: " + "; ".join(encoders) + ".")
    if fc_reason and "framecodec" in args.codecs:
        lines.append(f"framecodec: n/a ({fc_reason}).")
    for r in rows:
        what = f"{r.clip} {r.codec} max_error={r.max_error}"
        if r.status == "error":
            lines.append(f"**ERROR** {what}: {r.note}")
        elif r.measured and not r.ok:
            kind = "NOT BIT-EXACT" if r.max_error == 0 else "ERROR BOUND VIOLATED"
            lines.append(f"**{kind}** {what}: {r.note}")
        elif r.measured and r.note:
            lines.append(f"Note {what}: {r.note}")
    return "\n".join(f"- {line}" for line in lines)


if __name__ == "__main__":
    sys.exit(main())
