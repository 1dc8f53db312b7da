# SPDX-License-Identifier: MIT
"""Frame hashes: the MD5 that ``ffmpeg -f framemd5`` prints for a frame (FORMAT.md 2.7).

ffmpeg hashes a frame as its rawvideo encoder lays it out: every plane of
the pixel format the source decodes to, rows without padding, samples of
more than 8 bits little-endian, packed formats as their bytes. A file names
one such *hash layout* in its stream header, and each frame chunk carries
the MD5 of its frame in that layout, computed here from planes alone, so a
reader checks a decoded frame without the source. The layout is the
source's own (packed RGB, nv12, ...) wherever the planes determine its
bytes; a source decoded as pal8 (palette indices, which framecodec does not
keep) is hashed as rgb24 or rgba, which ffmpeg converts pal8 to exactly.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..pixfmt import PixelFormat

__all__ = ["LAYOUTS", "PLANAR", "layout_for", "layout_fits", "layout_size", "frame_md5",
           "FIXITY_NONE", "FIXITY_SOURCE", "FIXITY_DECODED", "MD5_SIZE"]

MD5_SIZE = 16
FIXITY_NONE, FIXITY_SOURCE, FIXITY_DECODED = 0, 1, 2  # stream header field "fixity"

PLANAR = 0
# code -> (FFmpeg pixel format, channel order of the packed bytes: G, B, R, A or 0 padding);
# PLANAR is the stream's own pixel format, plane after plane.
LAYOUTS: dict[int, tuple[str, str]] = {
    PLANAR: ("", ""),
    1: ("rgb24", "RGB"), 2: ("bgr24", "BGR"),
    3: ("rgba", "RGBA"), 4: ("bgra", "BGRA"), 5: ("argb", "ARGB"), 6: ("abgr", "ABGR"),
    7: ("rgb0", "RGB0"), 8: ("bgr0", "BGR0"), 9: ("0rgb", "0RGB"), 10: ("0bgr", "0BGR"),
    11: ("nv12", "UV"), 12: ("nv21", "VU"),
}
_BY_NAME = {name: code for code, (name, _) in LAYOUTS.items() if name}


def layout_fits(code: int, fmt: PixelFormat) -> bool:
    """Whether layout ``code`` can be made from frames of stream format ``fmt``."""
    if code == PLANAR:
        return True
    if code not in LAYOUTS:
        return False
    order = LAYOUTS[code][1]
    if order in ("UV", "VU"):
        return fmt.name == "yuv420p"
    alpha = "A" in order
    return fmt.family == "rgb" and fmt.bit_depth == 8 and fmt.planes == (4 if alpha else 3)


def layout_for(source_pix_fmt: str, fmt: PixelFormat) -> int:
    """The layout that hashes like ffmpeg for a source FFmpeg decodes to
    ``source_pix_fmt`` and framecodec codes as ``fmt``."""
    if source_pix_fmt == "pal8":
        source_pix_fmt = "rgba" if fmt.planes == 4 else "rgb24"
    code = _BY_NAME.get(source_pix_fmt, PLANAR)
    return code if layout_fits(code, fmt) else PLANAR


def name_of(code: int, fmt: PixelFormat) -> str:
    """The FFmpeg pixel format a layout hashes (the stream's own for PLANAR)."""
    return LAYOUTS[code][0] or fmt.name


def layout_size(code: int, fmt: PixelFormat, width: int, height: int) -> int:
    """Bytes of one frame in the layout: ffmpeg's rawvideo packet size."""
    order = LAYOUTS[code][1]
    if code == PLANAR:
        return fmt.samples_per_frame(width, height) * (1 if fmt.bit_depth <= 8 else 2)
    if order in ("UV", "VU"):
        return width * height + 2 * (-(-width >> 1)) * (-(-height >> 1))
    return width * height * len(order)


def _packed(planes: list[np.ndarray], order: str) -> np.ndarray:
    h, w = planes[0].shape
    out = np.zeros((h, w, len(order)), np.uint8)
    for k, channel in enumerate(order):
        if channel != "0":
            out[..., k] = planes["GBRA".index(channel)]
    return out


def frame_md5(planes: list[np.ndarray], fmt: PixelFormat, code: int) -> bytes:
    """MD5 of a frame's planes (native order, shapes of ``fmt``) in layout ``code``."""
    digest = hashlib.md5()
    order = LAYOUTS[code][1]
    if code == PLANAR:
        dtype = np.dtype(np.uint8) if fmt.bit_depth <= 8 else np.dtype("<u2")
        for plane in planes:
            digest.update(np.ascontiguousarray(plane, dtype).data)
    elif order in ("UV", "VU"):
        digest.update(np.ascontiguousarray(planes[0], np.uint8).data)
        first, second = (planes[1], planes[2]) if order == "UV" else (planes[2], planes[1])
        digest.update(np.ascontiguousarray(np.stack([first, second], axis=-1), np.uint8).data)
    else:
        digest.update(_packed(planes, order).data)
    return digest.digest()
