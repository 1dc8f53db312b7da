# SPDX-License-Identifier: MIT
"""The codecs the benchmark knows, by the keys of --codecs."""

from __future__ import annotations

from .base import DEFAULT_CRF, DEFAULT_JPEG_QUALITY, Codec, Options, Point
from .ffmpeg import AVCodec
from .framecodec_adapter import FramecodecCodec
from .image import JpegCodec, JpeglsCodec, JxlCodec, PngCodec

__all__ = ["ALL_CODECS", "AVCodec", "CODECS", "Codec", "DEFAULT_CRF", "DEFAULT_JPEG_QUALITY",
           "IMAGE_CODECS", "LADDER_CODECS", "Options", "Point", "VIDEO_CODECS"]

ALL_CODECS = ("ffv1", "x264", "x265", "jxl", "png", "jpegls", "x264crf", "x265crf", "jpeg",
              "framecodec")
VIDEO_CODECS = ("ffv1", "x264", "x265", "jxl", "jpegls", "x264crf", "x265crf", "framecodec")
IMAGE_CODECS = ("png", "jxl", "jpegls", "jpeg", "framecodec")

CODECS: dict[str, Codec] = {
    "ffv1": AVCodec(
        "ffv1", "FFV1", "lossless", "ffv1",
        {"level": "3", "coder": "1", "context": "1", "slices": "4", "slicecrc": "1"},
        gop_size=1,
        cli="-c:v ffv1 -level 3 -coder 1 -context 1 -g 1 -slices 4 -slicecrc 1"),
    "x264": AVCodec(
        "x264", "x264 lossless", "lossless", "libx264", {"qp": "0", "preset": "veryslow"},
        cli="-c:v libx264 -qp 0 -preset veryslow"),
    "x265": AVCodec(
        "x265", "x265 lossless", "lossless", "libx265", {"preset": "slow"},
        x265_params=["lossless=1"], cli="-c:v libx265 -preset slow -x265-params lossless=1"),
    "jxl": JxlCodec(),
    "png": PngCodec(),
    "jpegls": JpeglsCodec(),
    "x264crf": AVCodec(
        "x264crf", "x264 CRF", "ladder", "libx264", {"preset": "veryslow", "tune": "psnr"},
        ladder_option="crf", cli="-c:v libx264 -preset veryslow -tune psnr -crf C"),
    "x265crf": AVCodec(
        "x265crf", "x265 CRF", "ladder", "libx265", {"preset": "slow", "tune": "psnr"},
        ladder_option="crf", x265_params=[],
        cli="-c:v libx265 -preset slow -tune psnr -crf C"),
    "jpeg": JpegCodec(),
    "framecodec": FramecodecCodec(),
}
assert tuple(CODECS) == ALL_CODECS
LADDER_CODECS = tuple(k for k, c in CODECS.items() if c.kind == "ladder")
