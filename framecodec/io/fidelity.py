# SPDX-License-Identifier: MIT
"""What a lossy output keeps: its packets decoded back as they are written.

H.264 at a CRF and PNG of a YUV video do not hold the decoded frames
exactly. ``OutputCheck`` decodes each packet the encoder produces (before it
is muxed) with FFmpeg's decoder for that codec, converts the picture back to
the source's pixel format and measures it against the frame that went in, so
the decode summary can say how far the file is from the .fcv's frames. Only
the frames still inside the encoder (its reordering delay) are held.

swscale reads past the right edge of a picture whose chroma width is odd
when it converts YUV to RGB, so edge columns come out different run to run;
pictures are widened (edge columns repeated) before converting and cropped
after, which makes the measurement repeatable.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

import av
import numpy as np

from ..frames import Frame, VideoInfo
from ..metrics import PlaneStats
from ..pixfmt import by_name
from ..results import OutputFidelity
from .planes import planes_from_videoframe, videoframe_from_planes

__all__ = ["OutputCheck"]

# Decoded picture formats that are not planar, and the planar form they repack to exactly.
_PLANAR = {"rgb24": "gbrp", "rgba": "gbrap", "rgb48be": "gbrp16le", "gray16be": "gray16le"}
_MARGIN = 64


def _widened(picture: av.VideoFrame) -> av.VideoFrame:
    """The picture, planar, with its last column repeated to a width well past its own."""
    name = _PLANAR.get(picture.format.name, picture.format.name)
    if name != picture.format.name:
        picture = picture.reformat(format=name, threads=1)
    fmt = by_name(name)
    width, height = picture.width, picture.height
    wide = (width + 2 * _MARGIN - 1) // _MARGIN * _MARGIN
    planes = [np.pad(p, ((0, 0), (0, fmt.plane_shape(i, wide, height)[1] - p.shape[1])),
                     mode="edge")
              for i, p in enumerate(planes_from_videoframe(picture, name))]
    out = videoframe_from_planes(planes, fmt, wide, height)
    out.colorspace, out.color_range = picture.colorspace, picture.color_range
    return out


class OutputCheck:
    """Decodes an encoder's packets and compares them with the frames given to it.

    ``back`` turns a decoded picture into planes of ``info``'s format (the
    inverse of the writer's conversion); ``what`` names the output in the
    summary.
    """

    def __init__(self, codec: str, info: VideoInfo, what: str,
                 back: Callable[[av.VideoFrame], av.VideoFrame]):
        self._decoder = av.CodecContext.create(codec, "r")
        self._decoder.thread_count = 1
        self._info = info
        self._what = what
        self._back = back
        self._pending: deque[Frame] = deque()
        self._stats = PlaneStats()
        self._frames = 0
        self._opened = False

    def expect(self, frame: Frame) -> None:
        """A frame given to the encoder; its picture comes back through ``feed``."""
        self._pending.append(frame)

    def feed(self, packets: Iterable[av.Packet], extradata: bytes | None = None) -> None:
        if not self._opened:
            if extradata:
                self._decoder.extradata = extradata
            self._opened = True
        for packet in packets:
            for picture in self._decoder.decode(packet):
                self._compare(picture)

    def finish(self) -> OutputFidelity:
        if self._opened:
            for picture in self._decoder.decode(None):
                self._compare(picture)
        peak = self._info.format.max_value
        return OutputFidelity(self._what, self._stats.psnr(peak), self._stats.worst,
                              self._frames)

    def _compare(self, picture: av.VideoFrame) -> None:
        if not self._pending:
            return
        want = self._pending.popleft()
        back = self._back(_widened(picture))
        planes = planes_from_videoframe(back, back.format.name)  # yuvj* come back as yuv*
        shapes = self._info.plane_shapes()
        got = Frame([np.ascontiguousarray(p[:h, :w]) for p, (h, w) in zip(planes, shapes)])
        self._stats.add(want, got)
        self._frames += 1
