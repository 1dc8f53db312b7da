# SPDX-License-Identifier: MIT
"""Reading and writing media files: the only module that talks to PyAV.

The rest of framecodec sees video as ``VideoInfo`` plus ``Frame`` objects
(numpy planes in a native planar format, see pixfmt.py). This module converts
between those and PyAV's containers and frames, so that:

- decoded planes are copied out of FFmpeg's buffers exactly as they are
  (honouring stride padding and odd sizes, never through an RGB detour);
  packed or semi-planar layouts are rearranged losslessly into a planar one;
- the lossless outputs (y4m, FFV1 in mkv, qp-0 x264 in mp4) give back the very
  samples they were given, and keep each frame's timestamp where the
  container can carry it;
- every failure FFmpeg reports becomes a one-line ``InputError`` (reading)
  or ``UsageError`` (writing) instead of a PyAV exception.

Decoding and encoding are single-threaded unless asked otherwise, so that
results are deterministic run to run.

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

Every read frame is checked: FFmpeg's decoders conceal damage (a slice CRC
mismatch, a file cut short) and only log it, so this module routes FFmpeg's
error-level log messages to ``av.logging.Capture`` and treats one logged
while demuxing or decoding as damage.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .errors import InputError, UsageError
from .frames import ColorInfo, Frame, VideoInfo
from .pixfmt import PIXEL_FORMATS, PixelFormat, by_name

__all__ = [
    "Source",
    "Writer",
    "AudioTrack",
    "png_is_exact",
    "open_source",
    "open_writer",
    "probe",
    "native_format",
    "planes_from_videoframe",
    "videoframe_from_planes",
]

_NATIVE = frozenset(f.name for f in PIXEL_FORMATS)

# Packed RGB layouts PyAV's reformat turns into planar G, B, R(, A) exactly
# (checked by tests/test_media.py for every entry).
_PACKED_RGB = {
    "rgb24": "gbrp", "bgr24": "gbrp",
    "rgb0": "gbrp", "bgr0": "gbrp", "0rgb": "gbrp", "0bgr": "gbrp",
    "rgba": "gbrap", "bgra": "gbrap", "argb": "gbrap", "abgr": "gbrap",
}
# Semi-planar 4:2:0: which byte of each interleaved chroma pair is U, then V.
_SEMI_PLANAR = {"nv12": (0, 1), "nv21": (1, 0)}
# Full-range aliases FFmpeg's encoders no longer take: same planes, range tag 2.
_JPEG_ALIAS = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p"}
_FULL_RANGE = 2

# Formats the y4m muxer writes and its demuxer reads back sample-exact
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
_KINDS = {".y4m": "y4m", ".mkv": "mkv", ".mp4": "mp4", ".png": "png"}


def _route_ffmpeg_errors() -> None:
    """Let FFmpeg's error-level messages reach ``av.logging.Capture``.

    PyAV discards every FFmpeg log by default, but decoders report concealed
    damage only there. Messages nobody captures go to the ``libav`` logger,
    which stays silent unless the application configures logging.
    """
    if av.logging.get_level() is None:
        av.logging.set_level(av.logging.ERROR)
    logging.getLogger("libav").addHandler(logging.NullHandler())


_route_ffmpeg_errors()


def _first_error(logs: list) -> str | None:
    """The first error-level message among captured FFmpeg logs."""
    for level, name, message in logs:
        if level <= av.logging.ERROR:
            text = message.strip()
            return f"{name}: {text}" if name else text
    return None


# --------------------------------------------------------------------------
# Planes <-> PyAV frames


def _plane_dtype(fmt: PixelFormat) -> np.dtype:
    """Dtype of a plane as stored in FFmpeg's buffer (little endian when >8 bit)."""
    return np.dtype(np.uint8) if fmt.bit_depth <= 8 else np.dtype("<u2")


def _plane_view(plane, dtype: np.dtype, row_items: int | None = None) -> np.ndarray:
    """A (height, width) view of a PyAV plane's buffer, stride padding cut off."""
    row = plane.line_size // dtype.itemsize
    rows = np.frombuffer(plane, dtype, count=plane.height * row).reshape(plane.height, row)
    return rows[:, : plane.width if row_items is None else row_items]


def _read_planes(frame: av.VideoFrame, fmt: PixelFormat) -> list[np.ndarray]:
    """Copy each plane of a natively planar frame into a native-endian array."""
    dtype = _plane_dtype(fmt)
    return [
        np.array(_plane_view(p, dtype), dtype=fmt.dtype, copy=True)
        for p in frame.planes[: fmt.planes]
    ]


def _read_semi_planar(frame: av.VideoFrame, order: tuple[int, int]) -> list[np.ndarray]:
    """nv12/nv21 -> Y, U, V planes (a reshuffle, no arithmetic)."""
    luma, chroma = frame.planes[0], frame.planes[1]
    pairs = _plane_view(chroma, np.dtype(np.uint8), 2 * chroma.width)
    pairs = pairs.reshape(chroma.height, chroma.width, 2)
    y = np.array(_plane_view(luma, np.dtype(np.uint8)), copy=True)
    return [y, pairs[..., order[0]].copy(), pairs[..., order[1]].copy()]


def _palette(frame: av.VideoFrame) -> np.ndarray:
    """The 256 palette entries of a pal8 frame as (A, R, G, B) columns."""
    argb = np.frombuffer(frame.planes[1], np.uint32, count=256)
    return np.stack([(argb >> s) & 0xFF for s in (24, 16, 8, 0)], axis=1).astype(np.uint8)


def _pal8_target(frame: av.VideoFrame) -> str:
    indices = _plane_view(frame.planes[0], np.dtype(np.uint8))
    opaque = _palette(frame)[np.unique(indices), 0].min() == 255
    return "gbrp" if opaque else "gbrap"


def _read_pal8(frame: av.VideoFrame, target: str, index: int) -> list[np.ndarray]:
    """pal8 -> G, B, R(, A) planes by palette lookup."""
    indices = _plane_view(frame.planes[0], np.dtype(np.uint8))
    lut = _palette(frame)
    if target == "gbrp" and lut[np.unique(indices), 0].min() != 255:
        raise InputError(f"frame {index} is transparent but the first frame was opaque")
    columns = (2, 3, 1) if target == "gbrp" else (2, 3, 1, 0)  # G, B, R, A
    return [lut[:, c][indices] for c in columns]


def native_format(frame: av.VideoFrame) -> str:
    """Name of the native format ``frame`` is delivered in, or InputError."""
    name = frame.format.name
    if name in _NATIVE:
        return name
    if name in _PACKED_RGB:
        return _PACKED_RGB[name]
    if name in _SEMI_PLANAR:
        return "yuv420p"
    if name == "pal8":
        return _pal8_target(frame)
    raise InputError(
        f"pixel format {name!r} is not supported; convert it first, "
        f"e.g. ffmpeg -i IN -pix_fmt yuv444p16le OUT.mkv"
    )


def planes_from_videoframe(frame: av.VideoFrame, target: str, index: int = 0) -> list[np.ndarray]:
    """The planes of a decoded frame in native format ``target`` (see native_format)."""
    name = frame.format.name
    if name == target:
        return _read_planes(frame, by_name(target))
    if name in _PACKED_RGB and _PACKED_RGB[name] == target:
        rgb = frame.reformat(format=target, threads=1)
        return _read_planes(rgb, by_name(target))
    if name in _SEMI_PLANAR and target == "yuv420p":
        return _read_semi_planar(frame, _SEMI_PLANAR[name])
    if name == "pal8" and target in ("gbrp", "gbrap"):
        return _read_pal8(frame, target, index)
    raise InputError(f"frame {index} changes pixel format from {target} to {name}")


def videoframe_from_planes(planes: list[np.ndarray], fmt: PixelFormat, width: int,
                           height: int, av_format: str | None = None) -> av.VideoFrame:
    """A new PyAV frame holding ``planes`` (in ``fmt``; PyAV name ``av_format``)."""
    frame = av.VideoFrame(width, height, av_format or fmt.name)
    dtype = _plane_dtype(fmt)
    for dst, src in zip(frame.planes, planes):
        _plane_view(dst, dtype)[...] = src
    return frame


def _pack_rgb(planes: list[np.ndarray], width: int, height: int, av_format: str,
              order: str) -> av.VideoFrame:
    """G, B, R(, A) planes -> a packed 8-bit RGB frame; ``order`` names its bytes."""
    frame = av.VideoFrame(width, height, av_format)
    plane = frame.planes[0]
    packed = _plane_view(plane, np.dtype(np.uint8), len(order) * width)
    packed = packed.reshape(height, width, len(order))
    for k, channel in enumerate(order):
        packed[..., k] = 0 if channel == "0" else planes["GBRA".index(channel)]
    return frame


# --------------------------------------------------------------------------
# Reading


def _is_sequence(path: Path) -> bool:
    """An image sequence pattern such as frames/%05d.png (FFmpeg's image2 syntax)."""
    return "%" in path.name


def _open_input(path: Path) -> av.container.InputContainer:
    sequence = _is_sequence(path)
    if sequence:
        if not path.parent.is_dir():
            raise InputError(f"{path}: directory {path.parent} does not exist")
    elif not path.exists():
        raise InputError(f"{path}: no such file")
    elif path.is_dir():
        raise InputError(f"{path}: is a directory, not a video file")
    try:
        return av.open(str(path), "r", format="image2" if sequence else None)
    except av.error.EOFError:
        raise InputError(f"{path}: file ends before any video (empty or truncated)") from None
    except av.error.InvalidDataError:
        raise InputError(f"{path}: not a media file FFmpeg can read "
                         f"(unknown format, or damaged or truncated)") from None
    except av.FFmpegError as exc:
        if sequence:
            raise InputError(f"{path}: no image matches this sequence pattern") from None
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None


def _check_complete(path: Path, stream) -> None:
    """InputError when the demuxer's index points past the end of the file."""
    if _is_sequence(path):
        return
    ends = (e.pos + e.size for e in stream.index_entries if e.pos >= 0)
    if max(ends, default=0) > path.stat().st_size:
        raise InputError(f"{path}: file is truncated (its index points past the end)")


def _decode(container, stream, path: Path, audio=None) -> Iterator[av.VideoFrame]:
    """Decoded frames of ``stream``; damage FFmpeg reports becomes InputError.

    FFmpeg's decoders conceal most damage (a bad CRC, a short file) and only
    log it, so the error log of each demux+decode step is checked too. Packets
    of ``audio`` (an ``_AudioCapture``) are demuxed in the same pass and handed
    to it untouched.
    """
    packets = container.demux(stream, audio.stream) if audio else container.demux(stream)
    index = 0
    while True:
        with av.logging.Capture() as logs:
            try:
                packet = next(packets, None)
                while audio is not None and packet is not None and packet.stream is audio.stream:
                    audio.add(packet)
                    packet = next(packets, None)
                frames = packet.decode() if packet is not None else []
            except av.FFmpegError as exc:
                detail = _first_error(logs) or exc.strerror or str(exc)
                raise InputError(f"{path}: decoding failed at frame {index}: {detail}") from None
        detail = _first_error(logs)
        if detail:
            raise InputError(f"{path}: damaged or truncated data at frame {index}: {detail}")
        if packet is None:
            return
        for frame in frames:
            if frame.is_corrupt:
                raise InputError(f"{path}: frame {index} is damaged (decoder reports corruption)")
            yield frame
            index += 1


def _frame_rate(stream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate:
            return Fraction(rate)
    return Fraction(25)


def _color(frame: av.VideoFrame) -> ColorInfo:
    return ColorInfo(color_range=int(frame.color_range), matrix=int(frame.colorspace),
                     primaries=int(frame.color_primaries), transfer=int(frame.color_trc))


def _make_info(stream, first: av.VideoFrame, pix_fmt: str) -> VideoInfo:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return VideoInfo(
        width=first.width,
        height=first.height,
        pix_fmt=pix_fmt,
        frame_rate=_frame_rate(stream),
        time_base=Fraction(stream.time_base) if stream.time_base else Fraction(1, 25),
        frame_count=stream.frames if stream.frames and stream.frames > 0 else None,
        color=_color(first),
        sample_aspect=Fraction(sar) if sar else Fraction(0),
        rotation=int(round(first.rotation or 0)),
    )


class _AudioCapture:
    """Stream-copies one audio stream's packets into a Matroska file, untouched.

    The file is written bit-exact (no random UIDs, no muxer version), so an
    encode of the same input gives the same bytes every time."""

    def __init__(self, stream, path: Path):
        self.stream = stream
        self.path = path
        self.codec = stream.codec_context.name
        self.packets = 0
        self._out = av.open(str(path), "w", format="matroska",
                            options={"fflags": "+bitexact"})
        self._copy = self._out.add_stream_from_template(stream)

    def add(self, packet) -> None:
        if packet.dts is None or packet.size == 0:
            return
        packet.stream = self._copy
        self._out.mux(packet)
        self.packets += 1

    def close(self) -> None:
        if self._out is not None:
            if self.packets == 0:
                self._out.start_encoding()
            self._out.close()
            self._out = None


class Source:
    """An open input file: ``info`` describes its video, ``frames()`` decodes it.

    Use as a context manager, or call ``close()``. The first frame is decoded
    on opening so that ``info.pix_fmt`` is the format frames are delivered in.
    With ``audio_to``, the first audio stream's packets met while decoding are
    copied, without re-encoding, into that Matroska file (``audio_codec`` names
    the codec, None when the input has no audio).
    """

    def __init__(self, path: str | os.PathLike, *, threads: int = 1,
                 audio_to: str | os.PathLike | None = None):
        self.path = Path(path)
        self._threads = threads
        self._container = None
        self._audio_to = Path(audio_to) if audio_to is not None else None
        self._audio: _AudioCapture | None = None
        first = self._start()
        if first is None:
            self.close()
            raise InputError(f"{self.path}: the video stream has no frames "
                             f"(empty or truncated file)")
        self._pending = first
        try:
            pix_fmt = native_format(first)
        except InputError as exc:
            self.close()
            raise InputError(f"{self.path}: {exc}") from None
        self.info = _make_info(self._container.streams.video[0], first, pix_fmt)

    def _start(self) -> av.VideoFrame | None:
        """(Re)open the container and decode up to its first frame."""
        self.close()
        self._container = container = _open_input(self.path)
        try:
            if not container.streams.video:
                raise InputError(f"{self.path}: has no video stream")
            stream = container.streams.video[0]
            _check_complete(self.path, stream)
            stream.codec_context.thread_count = self._threads
            if self._threads != 1:
                stream.thread_type = "AUTO"
            if self._audio_to is not None and container.streams.audio:
                self._audio = self._guard_audio(container.streams.audio[0])
            self._decoded = _decode(container, stream, self.path, self._audio)
            return next(self._decoded, None)
        except BaseException:
            self.close()
            raise

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[Frame]:
        """Frames ``start`` to ``stop`` (exclusive) in the order the decoder gives them.

        Earlier frames are decoded and dropped (no seeking, so exact for any
        codec). Frames are produced one at a time.
        """
        first = self._pending if self._pending is not None else self._start()
        self._pending = None
        decoded = self._decoded
        index = 0
        while first is not None and (stop is None or index < stop):
            if index >= start:
                yield self._convert(first, index)
            index += 1
            first = next(decoded, None)

    def _guard_audio(self, stream) -> _AudioCapture:
        try:
            return _AudioCapture(stream, self._audio_to)
        except (av.FFmpegError, OSError) as exc:
            raise InputError(f"{self.path}: cannot copy its audio "
                             f"({stream.codec_context.name}): {exc}; use --no-audio") from None

    @property
    def audio_codec(self) -> str | None:
        return self._audio.codec if self._audio is not None else None

    def finish_audio(self) -> int:
        """Close the audio copy (call after the last frame); returns its packet count."""
        if self._audio is None:
            return 0
        self._audio.close()
        return self._audio.packets

    def _convert(self, frame: av.VideoFrame, index: int) -> Frame:
        info = self.info
        if (frame.width, frame.height) != (info.width, info.height):
            raise InputError(f"{self.path}: frame {index} changes size from "
                             f"{info.width}x{info.height} to {frame.width}x{frame.height}")
        try:
            planes = planes_from_videoframe(frame, info.pix_fmt, index)
        except InputError as exc:
            raise InputError(f"{self.path}: {exc}") from None
        pts = frame.pts
        if pts is None:
            pts = round(index / (info.frame_rate * info.time_base))
        return Frame(planes, int(pts))

    def close(self) -> None:
        if self._audio is not None:
            try:
                self._audio.close()
            except (av.FFmpegError, OSError):
                pass
            self._audio = None
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_source(path: str | os.PathLike, *, threads: int = 1,
                audio_to: str | os.PathLike | None = None) -> Source:
    """Open a media file for reading its first video stream (InputError if unusable);
    with ``audio_to``, its first audio stream is copied there as Matroska."""
    return Source(path, threads=threads, audio_to=audio_to)


def probe(path: str | os.PathLike) -> VideoInfo:
    """The VideoInfo of a file's first video stream."""
    with open_source(path) as source:
        return source.info


# --------------------------------------------------------------------------
# Writing


def _kind_of(path: Path, kind: str | None) -> str:
    if kind is None:
        kind = _KINDS.get(path.suffix.lower())
        if kind is None:
            raise UsageError(f"{path}: cannot tell the output type from its extension; "
                             f"use .y4m, .mkv, .mp4 or a %05d.png sequence")
    if kind not in ("y4m", "mkv", "mp4", "png"):
        raise UsageError(f"unknown output kind {kind!r}; use y4m, mkv, mp4 or png")
    if kind == "png" and not _is_sequence(path):
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
    """How frames reach the encoder: codec, options and a Frame -> VideoFrame step."""

    def __init__(self, codec: str, pix_fmt: str, width: int, height: int,
                 convert: Callable[[Frame], av.VideoFrame], options: dict[str, str],
                 color: ColorInfo):
        self.codec, self.pix_fmt = codec, pix_fmt
        self.width, self.height = width, height
        self.convert, self.options, self.color = convert, options, color


def _direct(info: VideoInfo) -> tuple[str, Callable[[Frame], av.VideoFrame], ColorInfo]:
    """Planes passed as they are; yuvj* become yuv* tagged full range."""
    fmt = info.format
    name = _JPEG_ALIAS.get(fmt.name, fmt.name)
    color = info.color
    if name != fmt.name:
        color = ColorInfo(_FULL_RANGE, color.matrix, color.primaries, color.transfer)
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
        return _Plan("ffv1", name, w, h, lambda f: _pack_rgb(f.planes, w, h, name, order),
                     _ffv1_options(w, h), info.color)
    name, convert, color = _direct(info)
    return _Plan("ffv1", name, w, h, convert, _ffv1_options(w, h), color)


def _plan_mp4_lossless(info: VideoInfo) -> _Plan:
    w, h = info.width, info.height
    fmt = info.format
    if info.pix_fmt == "gbrp":
        return _Plan("libx264rgb", "rgb24", w, h,
                     lambda f: _pack_rgb(f.planes, w, h, "rgb24", "RGB"),
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
    if fmt.family == "rgb":
        reformat.update(dst_colorspace="ITU709", src_color_range="JPEG", dst_color_range="MPEG")
        color = ColorInfo(1, 1, color.primaries, color.transfer)
    elif fmt.family == "gray":  # swscale maps full-range gray to limited-range Y
        color = ColorInfo(1, color.matrix, color.primaries, color.transfer)

    def convert(f: Frame) -> av.VideoFrame:
        planes = _pad_planes(f.planes, fmt, w, h)
        frame = videoframe_from_planes(planes, fmt, w, h, name)
        return frame if name == "yuv420p" else frame.reformat(**reformat)

    options = {"crf": str(18 if crf is None else crf), "preset": "medium"}
    return _Plan("libx264", "yuv420p", w, h, convert, options, color)


def _plan_png(info: VideoInfo) -> _Plan:
    """RGB and gray formats exactly (deeper samples in 16-bit PNG); YUV converted to RGB."""
    fmt = info.format
    w, h = info.width, info.height
    if info.pix_fmt in _PNG_EXACT:
        name, order = _PNG_EXACT[info.pix_fmt]
        return _Plan("png", name, w, h, lambda f: _pack_rgb(f.planes, w, h, name, order), {},
                     info.color)
    if fmt.family == "gray":
        name = "gray" if fmt.bit_depth <= 8 else "gray16be"
        src = "gray" if fmt.bit_depth <= 8 else fmt.name
        return _Plan("png", name, w, h, lambda f: videoframe_from_planes(
            f.planes, fmt, w, h, src).reformat(format=name, threads=1), {}, info.color)
    alpha = fmt.planes == 4
    deep = fmt.bit_depth > 8
    name = ("rgba64be" if alpha else "rgb48be") if deep else ("rgba" if alpha else "rgb24")
    source, _, _ = _direct(info)
    return _Plan("png", name, w, h, lambda f: videoframe_from_planes(
        f.planes, fmt, w, h, source).reformat(format=name, threads=1), {}, info.color)


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
        self._time_base = 1 / info.frame_rate if kind in ("y4m", "png") else info.time_base
        self._container = self._guard(self._open, threads)

    def _guard(self, step, *args):
        """Run one PyAV step; its failure becomes a one-line UsageError."""
        with av.logging.Capture() as logs:
            try:
                return step(*args)
            except (av.FFmpegError, OSError) as exc:
                self._abandon()
                detail = _first_error(logs) or exc.strerror or str(exc)
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
        self._guard(self._mux, video)
        self._count += 1

    def _pts(self, frame: Frame) -> int:
        if self.kind in ("y4m", "png") or frame.pts is None:
            return round(self._count / (self.info.frame_rate * self._time_base))
        return frame.pts

    def _mux(self, video) -> None:
        self._container.mux(self._stream.encode(video))
        if self._audio is not None:  # audio up to a little past this frame
            self._audio.mux_until(self._container, float(video.pts * video.time_base) + 0.5)

    def _finish(self) -> None:
        if self._count == 0:  # PyAV writes the header lazily; write an empty file
            self._container.start_encoding()
        self._container.mux(self._stream.encode(None))
        if self._audio is not None:
            self._audio.finish(self._container)
        self._container.close()

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
    kind = _kind_of(out, kind)
    if audio is not None and kind in ("y4m", "png"):
        raise UsageError("y4m cannot carry audio; write .mkv or .mp4, or pass --no-audio")
    plan = _plan(kind, info, lossless, crf)
    return Writer(out, info, kind, plan, threads, audio)
