# SPDX-License-Identifier: MIT
"""Pixel formats framecodec codes natively, and their plane geometry.

A format is described by what the codec needs: how many planes, their
subsampling and their bit depth. Codes are stable: they are written in .fcv
stream headers (docs/FORMAT.md lists them), so a code is never reused.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError

__all__ = ["PixelFormat", "PIXEL_FORMATS", "by_name", "by_code"]


@dataclass(frozen=True)
class PixelFormat:
    """A planar pixel format.

    ``log2_chroma_w``/``log2_chroma_h`` apply to planes 1 and 2 of YUV formats;
    an alpha plane (4th) is never subsampled. ``family`` is ``"yuv"``, ``"rgb"``
    (planes stored G, B, R as FFmpeg's gbrp) or ``"gray"``.
    """

    code: int
    name: str
    family: str
    planes: int
    bit_depth: int
    log2_chroma_w: int = 0
    log2_chroma_h: int = 0

    @property
    def max_value(self) -> int:
        return (1 << self.bit_depth) - 1

    @property
    def dtype(self) -> str:
        return "uint8" if self.bit_depth <= 8 else "uint16"

    def plane_shape(self, index: int, width: int, height: int) -> tuple[int, int]:
        """(rows, columns) of plane ``index``; chroma sizes round up as FFmpeg's do."""
        if self.family == "yuv" and index in (1, 2):
            sx, sy = self.log2_chroma_w, self.log2_chroma_h
            return (-(-height >> sy), -(-width >> sx))
        return (height, width)

    def plane_shapes(self, width: int, height: int) -> list[tuple[int, int]]:
        return [self.plane_shape(i, width, height) for i in range(self.planes)]

    def samples_per_frame(self, width: int, height: int) -> int:
        return sum(h * w for h, w in self.plane_shapes(width, height))


def _yuv(code: int, name: str, depth: int, sx: int, sy: int, planes: int = 3) -> PixelFormat:
    return PixelFormat(code, name, "yuv", planes, depth, sx, sy)


PIXEL_FORMATS: tuple[PixelFormat, ...] = (
    PixelFormat(1, "gray", "gray", 1, 8),
    _yuv(2, "yuv420p", 8, 1, 1),
    _yuv(3, "yuv422p", 8, 1, 0),
    _yuv(4, "yuv444p", 8, 0, 0),
    PixelFormat(5, "gbrp", "rgb", 3, 8),
    _yuv(6, "yuvj420p", 8, 1, 1),
    _yuv(7, "yuvj422p", 8, 1, 0),
    _yuv(8, "yuvj444p", 8, 0, 0),
    _yuv(9, "yuv440p", 8, 0, 1),
    _yuv(10, "yuv410p", 8, 2, 2),
    _yuv(11, "yuv411p", 8, 2, 0),
    _yuv(12, "yuva420p", 8, 1, 1, planes=4),
    _yuv(13, "yuva444p", 8, 0, 0, planes=4),
    PixelFormat(14, "gbrap", "rgb", 4, 8),
    PixelFormat(20, "gray10le", "gray", 1, 10),
    PixelFormat(21, "gray12le", "gray", 1, 12),
    PixelFormat(22, "gray16le", "gray", 1, 16),
    _yuv(23, "yuv420p10le", 10, 1, 1),
    _yuv(24, "yuv422p10le", 10, 1, 0),
    _yuv(25, "yuv444p10le", 10, 0, 0),
    _yuv(26, "yuv420p12le", 12, 1, 1),
    _yuv(27, "yuv422p12le", 12, 1, 0),
    _yuv(28, "yuv444p12le", 12, 0, 0),
    _yuv(29, "yuv420p16le", 16, 1, 1),
    _yuv(30, "yuv444p16le", 16, 0, 0),
    PixelFormat(31, "gbrp10le", "rgb", 3, 10),
    PixelFormat(32, "gbrp12le", "rgb", 3, 12),
    PixelFormat(33, "gbrp16le", "rgb", 3, 16),
)

_BY_NAME = {f.name: f for f in PIXEL_FORMATS}
_BY_CODE = {f.code: f for f in PIXEL_FORMATS}


def by_name(name: str) -> PixelFormat:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InputError(f"pixel format {name!r} is not one framecodec codes natively") from None


def by_code(code: int) -> PixelFormat | None:
    """The format with this stream-header code, or None (the caller reports it)."""
    return _BY_CODE.get(code)
