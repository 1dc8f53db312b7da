# SPDX-License-Identifier: MIT
"""FFmpeg's encoders (FFV1, x264, x265) through PyAV, in .mkv files."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

from ..probes import MemProbe, Timer, timed_iter
from ..sources import RawSink, frame_to_planes, planes_to_frame, read_raw_frames, set_threads
from .base import Codec, Options, Point, av_version

_ENCODER_ID = re.compile(rb"x264 - core \d+(?: r\d+ [0-9a-f]+)?|x265 \(build \d+\) - [\w.+-]+")


def encoder_id(path: Path) -> str:
    """The x264/x265 version string both encoders write into their first SEI, if present."""
    m = _ENCODER_ID.search(Path(path).read_bytes()[:65536])
    return m.group().decode("ascii", "replace") if m else ""


# Planar formats an encoder cannot take, and what it codes them as instead (the same
# samples, rearranged exactly): FFV1 and x264 code 8-bit RGB only packed.
_CODED_AS = {
    ("ffv1", "gbrp"): ("ffv1", "bgr0"),
    ("libx264", "gbrp"): ("libx264rgb", "bgr0"),
}


def coded_as(encoder: str, pix_fmt: str) -> tuple[str, str]:
    """(encoder, pixel format) that codes frames of ``pix_fmt`` with ``encoder``."""
    return _CODED_AS.get((encoder, pix_fmt), (encoder, pix_fmt))


class AVCodec(Codec):
    """An FFmpeg encoder through PyAV, written to .mkv; decoded with FFmpeg's own decoder."""

    extension = "mkv"

    def __init__(self, key: str, title: str, kind: str, encoder: str, options: dict[str, str],
                 *, gop_size: int | None = None, ladder_option: str | None = None,
                 x265_params: Sequence[str] | None = None, cli: str = "") -> None:
        self.key, self.title, self.kind = key, title, kind
        self.encoder = encoder
        self.base_options = dict(options)
        self.gop_size = gop_size
        self.ladder_option = ladder_option
        self.x265_params = list(x265_params) if x265_params is not None else None
        self.cli = cli

    def points(self, opts: Options) -> list[Point]:
        if self.kind == "ladder":
            return [Point(c, None, f"crf={c}") for c in opts.crf]
        return [Point(None, 0, "lossless")]

    def next_point(self, params: Sequence[int | None]) -> Point | None:
        done = [p for p in params if p is not None]
        if self.kind != "ladder" or not done or max(done) >= 51:
            return None
        crf = min(max(done) + 4, 51)
        return Point(crf, None, f"crf={crf}")

    def options(self, point: Point, threads: str) -> dict[str, str]:
        opts = dict(self.base_options)
        if self.ladder_option:
            opts[self.ladder_option] = str(point.param)
        if self.x265_params is not None:
            params = list(self.x265_params)
            if threads == "1":
                params += ["pools=1", "frame-threads=1"]
            # log-level only silences x265's banner on stderr; it does not change the stream.
            params.append("log-level=error")
            opts["x265-params"] = ":".join(params)
        return opts

    def settings(self, point: Point, threads: str, cpu: int) -> dict:
        return {"encoder": self.encoder, "options": self.options(point, threads),
                "gop_size": self.gop_size, "threads": threads,
                "thread_count": 1 if threads == "1" else 0, "container": "mkv"}

    def version(self) -> str:
        return av_version()

    def encode(self, job: dict, point: Point, mem: MemProbe) -> dict:
        import av

        lay = job["layout"]
        threads = job["threads"]
        rate = Fraction(*lay["rate"])
        tb = Fraction(1, 1) / rate
        encoder, pix_fmt = coded_as(self.encoder, lay["pix_fmt"])
        frames = []
        # Frames are built before timing: only the encoder and the muxer are timed.
        for i, planes in enumerate(read_raw_frames(job["source_raw"], lay)):
            frame = planes_to_frame(planes, lay["pix_fmt"], lay["width"], lay["height"])
            if pix_fmt != lay["pix_fmt"]:
                frame = frame.reformat(format=pix_fmt)
            frame.pts = i
            frame.time_base = tb
            frames.append(frame)
        out = Path(job["coded"])
        enc = Timer()
        mem.start()
        with enc:
            container = av.open(str(out), "w")
            try:
                stream = container.add_stream(encoder, rate=rate,
                                              options=self.options(point, threads))
                stream.width, stream.height = lay["width"], lay["height"]
                stream.pix_fmt = pix_fmt
                stream.time_base = tb
                set_threads(stream.codec_context, threads)
                if self.gop_size is not None:
                    stream.codec_context.gop_size = self.gop_size
                for frame in frames:
                    container.mux(stream.encode(frame))
                container.mux(stream.encode(None))
            finally:
                container.close()
        mem.stop()
        return {"bytes": out.stat().st_size, "encode_seconds": enc.wall,
                "encode_cpu_seconds": enc.cpu, "encoder": encoder_id(out),
                "encode_mem": mem.result()}

    def decode(self, job: dict, point: Point, mem: MemProbe, sink: RawSink) -> dict:
        import av

        pix_fmt = job["layout"]["pix_fmt"]
        coded_fmt = coded_as(self.encoder, pix_fmt)[1]
        problems: list[str] = []

        def decoded_frames() -> Iterator:  # opening, demuxing and decoding are all timed
            with av.open(job["coded"]) as container:
                stream = container.streams.video[0]
                set_threads(stream.codec_context, job["threads"])
                yield from container.decode(stream)

        dec = Timer()
        mem.start()
        for frame in timed_iter(decoded_frames, dec):
            if frame.format.name not in (pix_fmt, coded_fmt) and not problems:
                problems.append(f"decoded as {frame.format.name}, source is {pix_fmt}")
            if frame.format.name == coded_fmt != pix_fmt:  # back to the source's planes
                frame = frame.reformat(format=pix_fmt)  # (exact, not timed)
            sink(frame_to_planes(frame))
        mem.stop()
        return {"decode_seconds": dec.wall, "decode_cpu_seconds": dec.cpu,
                "decode_mem": mem.result(), "problems": problems}
