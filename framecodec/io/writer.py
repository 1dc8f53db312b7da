# SPDX-License-Identifier: MIT
"""Writing media: y4m, FFV1 in Matroska, H.264 in mp4, PNG sequences, with audio.

Every failure FFmpeg reports becomes a one-line ``UsageError``. Encoding is
single-threaded unless asked otherwise, so that results are deterministic.

What each output keeps:

- y4m: raw samples in the native format (>8-bit ones as ffmpeg -strict -1
  writes them). No timestamps: frames are renumbered at ``frame_rate``; of
  the colour tags only the range survives. RGB, yuv440p, yuv410p and
  yuva420p have no y4m form (UsageError: use .mkv).
- mkv: FFV1 (level 3, range coder, slice CRCs, intra only), bit-exact, with
  each frame's time to the millisecond (Matroska's unit). FFmpeg's FFV1 takes
  8-bit RGB only packed, so gbrp/gbrap are stored as bgr0/bgra and unpacked
  again on reading. yuvj* formats are stored as yuv* tagged full range and
  read back under that name. The sample aspect ratio is not written: the
  Matroska muxer takes it from AVStream, which PyAV 18 cannot set.
- mp4 (x264): by default a playable yuv420p file at crf 18. H.264 4:2:0
  cannot code odd sizes, so an odd width or height grows by one column or
  row repeating the last one (ffmpeg's ``pad`` would fill with black, making
  an edge the encoder must spend bits on). ``lossless`` codes qp 0 in the
  source format (4:2:0, 4:2:2, 4:4:4 at 8 or 10 bits; gbrp via libx264rgb).
- PNG: RGB and gray samples exactly; YUV is converted to RGB (a view).

A lossy output (mp4 without ``lossless``, PNG that is not exact) is decoded
back as it is written (fidelity.py): ``Writer.fidelity`` says how far it is
from the frames given to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from ..errors import UsageError
from ..frames import ColorInfo, Frame, VideoInfo
from ..pixfmt import PixelFormat
from .fidelity import OutputCheck
from .outputs import is_sequence
from .planes import FULL_RANGE, JPEG_ALIAS, first_error, pack_rgb, videoframe_from_planes

__all__ = ["Writer", "AudioTrack", "open_writer", "output_kind", "png_is_exact", "KINDS"]

# (high bit depths need strict=-1, as with ffmpeg -strict -1).
_Y4M_FORMATS = frozenset({
    "gray", "gray10le", "gray12le", "gray16le",
    "yuv420p", "yuv422p", "yuv444p", "yuv411p", "yuva444p",
    "yuvj420p", "yuvj422p", "yuvj444p",
    "yuv420p10le", "yuv422p10le", "yuv444p10le",
    "yuv420p12le", "yuv422p12le", "yuv444p12le",
    "yuv420p16le", "yuv444p16le",
})
# FFV1 takes 8-bit RGB only packed; these packings are exact both ways.
_FFV1_PACKED = {"gbrp": ("bgr0", "BGR0"), "gbrap": ("bgra", "BGRA")}
_FFV1_OPTIONS = {"level": "3", "coder": "1", "context": "1", "g": "1", "slicecrc": "1"}
# libx264 with qp 0 is lossless for these; gbrp goes through libx264rgb. (Gray
# is not here: FFmpeg's H.264 decoder returns 4:0:0 as yuv420p.)
_X264_LOSSLESS = frozenset({
    "yuv420p", "yuv422p", "yuv444p",
    "yuvj420p", "yuvj422p", "yuvj444p",
    "yuv420p10le", "yuv422p10le", "yuv444p10le",
})
KINDS = {".y4m": "y4m", ".mkv": "mkv", ".mp4": "mp4", ".png": "png"}
_DECODERS = {"libx264": "h264", "png": "png"}  # to decode a lossy output back


def output_kind(path: Path, kind: str | None = None) -> str:
    """The kind of output ``path`` asks for ('y4m', 'mkv', 'mp4' or 'png'), or UsageError."""
    if kind is None:
        kind = KINDS.get(path.suffix.lower())
        if kind is None:
            raise UsageError(f"cannot write {path.name}: its extension names no output; "
                             "choose .y4m, .mkv or .mp4, a %05d.png sequence, or - (y4m "
                             "to stdout)")
    if kind not in ("y4m", "mkv", "mp4", "png"):
        raise UsageError(f"unknown output kind {kind!r}; use y4m, mkv, mp4 or png")
    if kind == "png" and not is_sequence(path):
        raise UsageError(f"{path}: PNG output is an image sequence; name it like out/%05d.png")
    return kind


# PNG layouts of the formats PNG holds exactly (RGB family and gray).
_PNG_EXACT = {"gbrp": ("rgb24", "RGB"), "gbrap": ("rgba", "RGBA")}


def png_is_exact(info: VideoInfo) -> bool:
    """Whether a PNG sequence holds the samples exactly (else it is a converted view)."""
    fmt = info.format
    return fmt.family in ("rgb", "gray") and (fmt.bit_depth in (8, 16) or fmt.family == "rgb")


def _even(n: int) -> int:
    return n + (n & 1)


def _pad_planes(planes: list[np.ndarray], fmt: PixelFormat, width: int,
                height: int) -> list[np.ndarray]:
    """Grow planes to the shapes of a width x height picture by repeating edges."""
    padded = []
    for i, plane in enumerate(planes):
        rows, cols = fmt.plane_shape(i, width, height)
        grow = ((0, rows - plane.shape[0]), (0, cols - plane.shape[1]))
        padded.append(np.pad(plane, grow, mode="edge") if any(g for _, g in grow) else plane)
    return padded


class _Plan:
    """How frames reach the encoder: codec, options and a Frame -> VideoFrame step;
    for a lossy output, what it is (``lossy``) and the step back to the source's
    format (``back``, applied to the decoded output to measure it)."""

    def __init__(self, codec: str, pix_fmt: str, width: int, height: int,
                 convert: Callable[[Frame], av.VideoFrame], options: dict[str, str],
                 color: ColorInfo, lossy: str | None = None,
                 back: Callable[[av.VideoFrame], av.VideoFrame] | None = None):
        self.codec, self.pix_fmt = codec, pix_fmt
        self.width, self.height = width, height
        self.convert, self.options, self.color = convert, options, color
        self.lossy, self.back = lossy, back


def _direct(info: VideoInfo) -> tuple[str, Callable[[Frame], av.VideoFrame], ColorInfo]:
    """Planes passed as they are; yuvj* become yuv* tagged full range."""
    fmt = info.format
    name = JPEG_ALIAS.get(fmt.name, fmt.name)
    color = info.color
    if name != fmt.name:
        color = ColorInfo(FULL_RANGE, color.matrix, color.primaries, color.transfer)
    w, h = info.width, info.height
    return name, lambda f: videoframe_from_planes(f.planes, fmt, w, h, name), color


def _plan_y4m(info: VideoInfo) -> _Plan:
    if info.pix_fmt not in _Y4M_FORMATS:
        raise UsageError(f"y4m cannot carry pixel format {info.pix_fmt}; use .mkv (FFV1) instead")
    name, convert, color = _direct(info)
    return _Plan("rawvideo", name, info.width, info.height, convert, {}, color)


def _ffv1_options(width: int, height: int) -> dict[str, str]:
    """FFV1's options; its slice layouts need a few rows and columns per slice."""
    return {**_FFV1_OPTIONS, "slices": "4" if min(width, height) >= 32 else "1"}


def _plan_mkv(info: VideoInfo) -> _Plan:
    w, h = info.width, info.height
    if info.pix_fmt in _FFV1_PACKED:
        name, order = _FFV1_PACKED[info.pix_fmt]
        return _Plan("ffv1", name, w, h, lambda f: pack_rgb(f.planes, w, h, name, order),
                     _ffv1_options(w, h), info.color)
    name, convert, color = _direct(info)
    return _Plan("ffv1", name, w, h, convert, _ffv1_options(w, h), color)


def _plan_mp4_lossless(info: VideoInfo) -> _Plan:
    w, h = info.width, info.height
    fmt = info.format
    if info.pix_fmt == "gbrp":
        return _Plan("libx264rgb", "rgb24", w, h,
                     lambda f: pack_rgb(f.planes, w, h, "rgb24", "RGB"),
                     {"qp": "0", "preset": "medium"}, info.color)
    if info.pix_fmt not in _X264_LOSSLESS:
        raise UsageError(f"lossless mp4 cannot carry pixel format {info.pix_fmt}; use .mkv instead")
    if fmt.family == "yuv" and (w % (1 << fmt.log2_chroma_w) or h % (1 << fmt.log2_chroma_h)):
        raise UsageError(f"lossless mp4 needs even dimensions for {info.pix_fmt} "
                         f"(got {w}x{h}); use .mkv instead")
    name, convert, color = _direct(info)
    return _Plan("libx264", name, w, h, convert, {"qp": "0", "preset": "medium"}, color)


def _plan_mp4_playable(info: VideoInfo, crf: float | None) -> _Plan:
    """yuv420p at even size: an odd size grows by a repeated column/row (module doc)."""
    fmt = info.format
    name, _, color = _direct(info)
    w, h = _even(info.width), _even(info.height)
    reformat = {"format": "yuv420p", "threads": 1}
    inverse = {"format": name, "threads": 1}
    if fmt.family == "rgb":
        reformat.update(dst_colorspace="ITU709", src_color_range="JPEG", dst_color_range="MPEG")
        inverse.update(src_colorspace="ITU709", src_color_range="MPEG", dst_color_range="JPEG")
        color = ColorInfo(1, 1, color.primaries, color.transfer)
    elif fmt.family == "gray":  # swscale maps full-range gray to limited-range Y
        color = ColorInfo(1, color.matrix, color.primaries, color.transfer)

    def convert(f: Frame) -> av.VideoFrame:
        planes = _pad_planes(f.planes, fmt, w, h)
        frame = videoframe_from_planes(planes, fmt, w, h, name)
        return frame if name == "yuv420p" else frame.reformat(**reformat)

    options = {"crf": str(18 if crf is None else crf), "preset": "medium"}
    return _Plan("libx264", "yuv420p", w, h, convert, options, color,
                 f"H.264 yuv420p at crf {options['crf']}", lambda v: v.reformat(**inverse))


def _plan_png(info: VideoInfo) -> _Plan:
    """RGB and gray formats exactly (deeper samples in 16-bit PNG); YUV converted to RGB."""
    fmt = info.format
    w, h = info.width, info.height
    if info.pix_fmt in _PNG_EXACT:
        name, order = _PNG_EXACT[info.pix_fmt]
        return _Plan("png", name, w, h, lambda f: pack_rgb(f.planes, w, h, name, order), {},
                     info.color)
    if fmt.family == "gray":
        name = "gray" if fmt.bit_depth <= 8 else "gray16be"
        src = "gray" if fmt.bit_depth <= 8 else fmt.name
    else:
        alpha = fmt.planes == 4
        deep = fmt.bit_depth > 8
        name = ("rgba64be" if alpha else "rgb48be") if deep else ("rgba" if alpha else "rgb24")
        src, _, _ = _direct(info)
    lossy = None if png_is_exact(info) else f"PNG {name} of {info.pix_fmt}"
    return _Plan("png", name, w, h, lambda f: videoframe_from_planes(
        f.planes, fmt, w, h, src).reformat(format=name, threads=1), {}, info.color, lossy,
        lambda v: v.reformat(format=src, threads=1))


def _plan(kind: str, info: VideoInfo, lossless: bool, crf: float | None) -> _Plan:
    if kind == "y4m":
        return _plan_y4m(info)
    if kind == "png":
        return _plan_png(info)
    if kind == "mkv":
        return _plan_mkv(info)
    return _plan_mp4_lossless(info) if lossless else _plan_mp4_playable(info, crf)


def _tag(target, color: ColorInfo) -> None:
    """Set colour metadata on a codec context or a frame."""
    target.color_range = color.color_range
    target.colorspace = color.matrix
    target.color_primaries = color.primaries
    target.color_trc = color.transfer


# Audio codecs the mp4 muxer takes as they are; others are re-encoded to AAC.
_MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "flac", "opus"})


class AudioTrack:
    """Audio to mux beside the video: a Matroska file of copied packets, and the
    time window (seconds, [start, end)) of the packets to keep."""

    def __init__(self, path: str | os.PathLike, start: float = 0.0, end: float = float("inf")):
        self.path, self.start, self.end = Path(path), start, end


class _AudioMux:
    """Copies (or, where the container refuses the codec, re-encodes to AAC) the
    packets of an AudioTrack into an output container, interleaved by time."""

    def __init__(self, container, track: AudioTrack, kind: str):
        self._input = av.open(str(track.path))
        source = self._input.streams.audio[0]
        self._track = track
        self._transcode = kind == "mp4" and source.codec_context.name not in _MP4_AUDIO
        if self._transcode:
            cc = source.codec_context
            self.stream = container.add_stream("aac", rate=cc.sample_rate)
            self.stream.layout = cc.layout
        else:
            self.stream = container.add_stream_from_template(source)
        self._packets = self._input.demux(source)
        self._pending = None

    def _next(self):
        for packet in self._packets:
            if packet.dts is None or packet.pts is None:
                continue
            t = float(packet.pts * packet.time_base)
            if t < self._track.start - 1e-6:
                continue
            if t >= self._track.end:
                return None
            return packet
        return None

    def mux_until(self, container, seconds: float) -> None:
        """Mux the packets that start before ``seconds`` (all of them when inf)."""
        while True:
            if self._pending is None:
                self._pending = self._next()
                if self._pending is None:
                    return
            packet = self._pending
            if float(packet.pts * packet.time_base) >= seconds:
                return
            self._pending = None
            if self._transcode:
                for frame in packet.decode():
                    frame.pts = None
                    container.mux(self.stream.encode(frame))
            else:
                packet.stream = self.stream
                container.mux(packet)

    def finish(self, container) -> None:
        self.mux_until(container, float("inf"))
        if self._transcode:
            container.mux(self.stream.encode(None))
        self._input.close()


class Writer:
    """An output file being written: ``write(frame)`` each frame, then ``close()``.

    y4m has no timestamps (frames are numbered at ``info.frame_rate``); mkv and
    mp4 keep each frame's ``pts`` (in ``info.time_base`` units) and can carry an
    ``AudioTrack``, interleaved with the video by time.
    """

    def __init__(self, path: Path, info: VideoInfo, kind: str, plan: _Plan, threads: int,
                 audio: AudioTrack | None = None):
        self.path, self.info, self.kind = path, info, kind
        self._plan = plan
        self._count = 0
        self._container = None
        self._audio_track = audio
        self._audio: _AudioMux | None = None
        self._check = None if plan.lossy is None else OutputCheck(
            _DECODERS[plan.codec], info, plan.lossy, plan.back)
        self.fidelity = None
        self._time_base = 1 / info.frame_rate if kind in ("y4m", "png") else info.time_base
        self._container = self._guard(self._open, threads)

    def _guard(self, step, *args):
        """Run one PyAV step; its failure becomes a one-line UsageError."""
        with av.logging.Capture() as logs:
            try:
                return step(*args)
            except (av.FFmpegError, OSError) as exc:
                self._abandon()
                detail = first_error(logs) or exc.strerror or str(exc)
                raise UsageError(f"cannot write {self.path}: {detail}") from None

    def _open(self, threads: int):
        plan, info = self._plan, self.info
        fmt = {"y4m": "yuv4mpegpipe", "mkv": "matroska", "mp4": "mp4",
               "png": "image2"}[self.kind]
        options = {"strict": "-1"} if self.kind == "y4m" else {}
        if self.kind == "mp4":
            options["movflags"] = "+faststart"
        target = self.path if hasattr(self.path, "write") else str(self.path)
        container = av.open(target, "w", format=fmt, options=options)
        self._container = container
        stream = container.add_stream(plan.codec, rate=info.frame_rate, options=plan.options)
        cc = stream.codec_context
        cc.width, cc.height, cc.pix_fmt = plan.width, plan.height, plan.pix_fmt
        cc.time_base = self._time_base
        stream.time_base = self._time_base
        cc.framerate = info.frame_rate
        cc.thread_count = threads
        if plan.codec == "ffv1":
            cc.gop_size = 1
        if info.sample_aspect > 0:
            cc.sample_aspect_ratio = info.sample_aspect  # Matroska ignores it (module doc)
        _tag(cc, plan.color)
        if info.rotation and self.kind != "y4m":
            stream.set_display_rotation(info.rotation)
        self._stream = stream
        if self._audio_track is not None:
            self._audio = _AudioMux(container, self._audio_track, self.kind)
        return container

    def write(self, frame: Frame) -> None:
        """Encode and write one frame (its planes in ``info.pix_fmt``)."""
        shapes = self.info.plane_shapes()
        if [p.shape for p in frame.planes] != shapes:
            raise UsageError(f"frame {self._count} has planes "
                             f"{[p.shape for p in frame.planes]}, expected {shapes}")
        video = self._plan.convert(frame)
        _tag(video, self._plan.color)
        video.time_base = self._time_base
        video.pts = self._pts(frame)
        if self._check is not None:
            self._check.expect(frame)
        self._guard(self._mux, video)
        self._count += 1

    def _pts(self, frame: Frame) -> int:
        if self.kind in ("y4m", "png") or frame.pts is None:
            return round(self._count / (self.info.frame_rate * self._time_base))
        return frame.pts

    def _encode(self, video) -> list:
        """The encoder's packets for ``video`` (None: flush), checked if lossy."""
        packets = self._stream.encode(video)
        if self._check is not None:
            self._check.feed(packets, self._stream.codec_context.extradata)
        return packets

    def _mux(self, video) -> None:
        self._container.mux(self._encode(video))
        if self._audio is not None:  # audio up to a little past this frame
            self._audio.mux_until(self._container, float(video.pts * video.time_base) + 0.5)

    def _finish(self) -> None:
        if self._count == 0:  # PyAV writes the header lazily; write an empty file
            self._container.start_encoding()
        self._container.mux(self._encode(None))
        if self._audio is not None:
            self._audio.finish(self._container)
        self._container.close()
        if self._check is not None:
            self.fidelity = self._check.finish()

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        if self._container is not None:
            self._guard(self._finish)
            self._container = None

    def _abandon(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except (av.FFmpegError, OSError):
                pass

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abandon()


def open_writer(path, info: VideoInfo, *, kind: str | None = None,
                lossless: bool = False, crf: float | None = None, threads: int = 1,
                audio: AudioTrack | None = None) -> Writer:
    """A Writer for ``path``: 'y4m' (raw), 'mkv' (FFV1, lossless), 'mp4' (x264) or
    'png' (an image sequence named like out/%05d.png).

    ``kind`` None picks by the last suffix of ``path``; ``path`` may also be a
    binary stream (y4m only). For mp4, ``lossless`` asks for qp 0 in the source
    format (bit-exact); otherwise a playable yuv420p file at ``crf`` (18 by
    default). PNG holds RGB and gray samples exactly and shows YUV converted to
    RGB (``png_is_exact``).
    """
    if hasattr(path, "write"):  # a binary stream, e.g. stdout: y4m only
        if kind != "y4m":
            raise UsageError("only y4m can be written to a stream (-o -)")
        return Writer(path, info, kind, _plan(kind, info, lossless, crf), threads, None)
    out = Path(path)
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: directory {out.parent} does not exist")
    kind = output_kind(out, kind)
    if audio is not None and kind in ("y4m", "png"):
        raise UsageError("y4m cannot carry audio; write .mkv or .mp4, or pass --no-audio")
    plan = _plan(kind, info, lossless, crf)
    return Writer(out, info, kind, plan, threads, audio)
