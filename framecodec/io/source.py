# SPDX-License-Identifier: MIT
"""Reading media: a source's first video stream as ``VideoInfo`` and ``Frame`` objects.

Every failure FFmpeg reports becomes a one-line ``InputError`` instead of a
PyAV exception, and every read frame is checked: an error FFmpeg logs while
demuxing or decoding is treated as damage (planes.py routes the log).
Decoding is single-threaded unless asked otherwise, so that results are
deterministic run to run. The first audio stream can be copied, packets
untouched, into a Matroska file as the video is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from ..errors import InputError
from ..frames import ColorInfo, Frame, VideoInfo
from ..results import InputSummary
from .outputs import is_sequence
from .planes import decoded_md5, first_error, native_format, planes_from_videoframe

__all__ = ["Source", "open_source", "probe", "audio_reserve"]


def _open_input(path: Path) -> av.container.InputContainer:
    sequence = is_sequence(path)
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
    if is_sequence(path):
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
                detail = first_error(logs) or exc.strerror or str(exc)
                raise InputError(f"{path}: decoding failed at frame {index}: {detail}") from None
        detail = first_error(logs)
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


def _make_info(container, stream, first: av.VideoFrame, pix_fmt: str) -> VideoInfo:
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
        source_format=first.format.name,
        start_time=container.start_time or 0,
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
    """An open input file: ``info`` describes its video, ``frames()`` decodes it
    (each frame with its duration and the MD5 ffmpeg's framemd5 gives it); ``codec``
    names the video codec and ``lossy_codec`` says whether it can be lossy.

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
        stream = self._container.streams.video[0]
        self.info = _make_info(self._container, stream, first, pix_fmt)
        self.codec = stream.codec_context.name
        self.lossy_codec = bool(stream.codec_context.codec.lossy)

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

    def seek_frames(self, start: int, count: int, pts: int) -> list[Frame] | None:
        """Frames ``start`` to ``start + count``, the first of which has ``pts``,
        decoded from the keyframe before it instead of from the file's start.

        None when seeking does not land there (no index, a keyframe after the
        frame, a decoder that complains without its earlier references): the
        caller then reads with ``frames()``, which is exact for any codec. The
        caller should also check what it got, since only a comparison with
        frames read from the start proves the seek exact.
        """
        self.close()
        self._pending = None  # frames() starts over after this
        try:
            self._container = container = _open_input(self.path)
            stream = container.streams.video[0]
            stream.codec_context.thread_count = self._threads
            container.seek(pts, stream=stream, backward=True, any_frame=False)
            out: list[Frame] = []
            for frame in _decode(container, stream, self.path):
                if frame.pts is None:
                    return None
                if frame.pts < pts:
                    continue
                if frame.pts != pts and not out:
                    return None  # landed after the frame
                out.append(self._convert(frame, start + len(out)))
                if len(out) == count:
                    return out
            return None
        except (InputError, av.FFmpegError, OSError):
            return None
        finally:
            self.close()

    def _guard_audio(self, stream) -> _AudioCapture:
        try:
            return _AudioCapture(stream, self._audio_to)
        except (av.FFmpegError, OSError) as exc:
            raise InputError(f"{self.path}: cannot copy its audio "
                             f"({stream.codec_context.name}): {exc}; use --no-audio") from None

    def frame_estimate(self) -> int | None:
        """How many frames the video holds: the count the container states, else its
        duration times the frame rate (for progress bars; never trusted for coding)."""
        if self.info.frame_count:
            return self.info.frame_count
        stream = self._container.streams.video[0] if self._container is not None else None
        seconds = None
        if stream is not None and stream.duration and stream.time_base:
            seconds = float(stream.duration * stream.time_base)
        elif self._container is not None and self._container.duration:
            seconds = self._container.duration / 1e6
        if not seconds or seconds <= 0:
            return None
        return max(1, round(seconds * float(self.info.frame_rate)))

    @property
    def input(self) -> InputSummary:
        """The input's codec and size (the files of a sequence, summed)."""
        if is_sequence(self.path):
            size = sum(p.stat().st_size for p in _sequence_files(self.path))
        else:
            size = self.path.stat().st_size
        return InputSummary(self.path, self.codec, size, self.lossy_codec)

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
        return Frame(planes, int(pts), max(int(frame.duration or 0), 0), decoded_md5(frame))

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


def _sequence_files(pattern: Path) -> list[Path]:
    """The files an image2 pattern such as frames/%05d.png names."""
    regex = re.compile(re.sub(r"%0?(\d*)d", lambda m: r"\d+" if not m.group(1) else
                              r"\d{%s,}" % m.group(1), re.escape(pattern.name).replace(
                                  r"\%", "%")))
    return [p for p in pattern.parent.iterdir() if regex.fullmatch(p.name)]


def open_source(path: str | os.PathLike, *, threads: int = 1,
                audio_to: str | os.PathLike | None = None) -> Source:
    """Open a media file for reading its first video stream (InputError if unusable);
    with ``audio_to``, its first audio stream is copied there as Matroska."""
    return Source(path, threads=threads, audio_to=audio_to)


def probe(path: str | os.PathLike) -> VideoInfo:
    """The VideoInfo of a file's first video stream."""
    with open_source(path) as source:
        return source.info



def audio_reserve(path: str | os.PathLike) -> int:
    """Bytes a copy of the first audio stream will take (its packets, plus Matroska framing)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return 0
        stream = container.streams.audio[0]
        total = sum(p.size for p in container.demux(stream) if p.size)
        return int(total * 1.05) + 4096
