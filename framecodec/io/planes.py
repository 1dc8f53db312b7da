# SPDX-License-Identifier: MIT
"""PyAV frames <-> native planes, exactly, and FFmpeg's error log.

Decoded planes are copied out of FFmpeg's buffers exactly as they are
(honouring stride padding and odd sizes, never through an RGB detour);
packed or semi-planar layouts are rearranged losslessly into a planar one.

FFmpeg's decoders conceal damage (a slice CRC mismatch, a file cut short)
and only log it, so this module routes FFmpeg's error-level log messages to
``av.logging.Capture`` for the readers and writers to check.
"""

from __future__ import annotations

import hashlib
import logging

import av
import numpy as np

from ..errors import InputError
from ..pixfmt import PIXEL_FORMATS, PixelFormat, by_name

__all__ = ["native_format", "planes_from_videoframe", "videoframe_from_planes", "pack_rgb",
           "first_error", "plane_view", "decoded_md5", "JPEG_ALIAS", "FULL_RANGE"]

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
JPEG_ALIAS = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p"}
FULL_RANGE = 2


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


def first_error(logs: list) -> str | None:
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


def plane_view(plane, dtype: np.dtype, row_items: int | None = None) -> np.ndarray:
    """A (height, width) view of a PyAV plane's buffer, stride padding cut off."""
    row = plane.line_size // dtype.itemsize
    rows = np.frombuffer(plane, dtype, count=plane.height * row).reshape(plane.height, row)
    return rows[:, : plane.width if row_items is None else row_items]


def _read_planes(frame: av.VideoFrame, fmt: PixelFormat) -> list[np.ndarray]:
    """Copy each plane of a natively planar frame into a native-endian array."""
    dtype = _plane_dtype(fmt)
    return [
        np.array(plane_view(p, dtype), dtype=fmt.dtype, copy=True)
        for p in frame.planes[: fmt.planes]
    ]


def _read_semi_planar(frame: av.VideoFrame, order: tuple[int, int]) -> list[np.ndarray]:
    """nv12/nv21 -> Y, U, V planes (a reshuffle, no arithmetic)."""
    luma, chroma = frame.planes[0], frame.planes[1]
    pairs = plane_view(chroma, np.dtype(np.uint8), 2 * chroma.width)
    pairs = pairs.reshape(chroma.height, chroma.width, 2)
    y = np.array(plane_view(luma, np.dtype(np.uint8)), copy=True)
    return [y, pairs[..., order[0]].copy(), pairs[..., order[1]].copy()]


def _palette(frame: av.VideoFrame) -> np.ndarray:
    """The 256 palette entries of a pal8 frame as (A, R, G, B) columns."""
    argb = np.frombuffer(frame.planes[1], np.uint32, count=256)
    return np.stack([(argb >> s) & 0xFF for s in (24, 16, 8, 0)], axis=1).astype(np.uint8)


def _pal8_target(frame: av.VideoFrame) -> str:
    indices = plane_view(frame.planes[0], np.dtype(np.uint8))
    opaque = _palette(frame)[np.unique(indices), 0].min() == 255
    return "gbrp" if opaque else "gbrap"


def _read_pal8(frame: av.VideoFrame, target: str, index: int) -> list[np.ndarray]:
    """pal8 -> G, B, R(, A) planes by palette lookup."""
    indices = plane_view(frame.planes[0], np.dtype(np.uint8))
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


def _row_bytes(name: str, width: int) -> list[int]:
    """Bytes per row of each plane of a frame of a format native_format accepts, as
    FFmpeg's rawvideo encoder writes them (no padding)."""
    if name in _NATIVE:
        fmt = by_name(name)
        size = 1 if fmt.bit_depth <= 8 else 2
        return [size * fmt.plane_shape(p, width, 1)[1] for p in range(fmt.planes)]
    if name in _PACKED_RGB:
        return [width * (3 if name.endswith("24") else 4)]
    if name in _SEMI_PLANAR:
        return [width, 2 * (-(-width >> 1))]
    return [width]  # pal8: the indices, then the palette


def decoded_md5(frame: av.VideoFrame) -> bytes:
    """MD5 of a decoded frame's bytes as ``ffmpeg -f framemd5`` hashes them: each
    plane's rows without stride padding (and a pal8 frame's 1024-byte palette)."""
    digest = hashlib.md5()
    name = frame.format.name
    for plane, row in zip(frame.planes, _row_bytes(name, frame.width)):
        digest.update(np.ascontiguousarray(plane_view(plane, np.dtype(np.uint8), row)).data)
    if name == "pal8":
        digest.update(bytes(frame.planes[1])[:1024])
    return digest.digest()


def videoframe_from_planes(planes: list[np.ndarray], fmt: PixelFormat, width: int,
                           height: int, av_format: str | None = None) -> av.VideoFrame:
    """A new PyAV frame holding ``planes`` (in ``fmt``; PyAV name ``av_format``)."""
    frame = av.VideoFrame(width, height, av_format or fmt.name)
    dtype = _plane_dtype(fmt)
    for dst, src in zip(frame.planes, planes):
        plane_view(dst, dtype)[...] = src
    return frame


def pack_rgb(planes: list[np.ndarray], width: int, height: int, av_format: str,
              order: str) -> av.VideoFrame:
    """G, B, R(, A) planes -> a packed 8-bit RGB frame; ``order`` names its bytes."""
    frame = av.VideoFrame(width, height, av_format)
    plane = frame.planes[0]
    packed = plane_view(plane, np.dtype(np.uint8), len(order) * width)
    packed = packed.reshape(height, width, len(order))
    for k, channel in enumerate(order):
        packed[..., k] = 0 if channel == "0" else planes["GBRA".index(channel)]
    return frame
