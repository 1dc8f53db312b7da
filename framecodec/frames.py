# SPDX-License-Identifier: MIT
"""Frames and stream descriptions as the codec sees them: planes of integers.

No PyAV here: io/ converts between PyAV objects and these, so the codec,
the container and the tests work on plain numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .pixfmt import PixelFormat, by_name

__all__ = ["VideoInfo", "Frame", "ColorInfo"]


@dataclass(frozen=True)
class ColorInfo:
    """Colour metadata as FFmpeg's enum values (AVColorRange, AVColorSpace, ...).

    Stored so that outputs can be tagged as the source was; 2 means
    "unspecified" for the last three, 0 for the range.
    """

    color_range: int = 0
    matrix: int = 2
    primaries: int = 2
    transfer: int = 2


@dataclass(frozen=True)
class VideoInfo:
    """What a decoder needs to know about a video stream before its frames.

    ``frame_count`` is None while unknown (a source being demuxed); ``time_base``
    is the unit of each frame's ``pts``. ``source_format`` names the FFmpeg pixel
    format the source decoded to (e.g. bgr0 for a source coded as ``gbrp``; empty
    when unknown) and ``start_time`` the source container's start time in
    microseconds, the origin FFmpeg counts timestamps from: both only serve
    frame hashes and their listing (format/fixity.py).
    """

    width: int
    height: int
    pix_fmt: str
    frame_rate: Fraction = Fraction(25)
    time_base: Fraction = Fraction(1, 25)
    frame_count: int | None = None
    color: ColorInfo = field(default_factory=ColorInfo)
    sample_aspect: Fraction = Fraction(0)
    rotation: int = 0
    source_format: str = ""
    start_time: int = 0

    @property
    def format(self) -> PixelFormat:
        return by_name(self.pix_fmt)

    def plane_shapes(self) -> list[tuple[int, int]]:
        return self.format.plane_shapes(self.width, self.height)

    @property
    def samples_per_frame(self) -> int:
        return self.format.samples_per_frame(self.width, self.height)


@dataclass
class Frame:
    """One picture: its planes (uint8 for 8-bit formats, uint16 otherwise) and pts.

    ``planes[i]`` has shape ``VideoInfo.plane_shapes()[i]``; for RGB formats the
    planes are G, B, R (FFmpeg's gbrp order). ``duration`` is in ``time_base``
    units (0: unknown); a frame read from media carries in ``md5`` the MD5 of
    its bytes as FFmpeg decoded them (what ``ffmpeg -f framemd5`` prints).
    """

    planes: list[np.ndarray]
    pts: int | None = None
    duration: int = 0
    md5: bytes | None = None

    def equals(self, other: Frame) -> bool:
        return len(self.planes) == len(other.planes) and all(
            a.shape == b.shape and np.array_equal(a, b) for a, b in zip(self.planes, other.planes)
        )
