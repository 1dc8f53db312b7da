#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""framecodec benchmark: size, fidelity, speed and memory against reference codecs.

For each clip of the corpus the first N frames are decoded once (PyAV, one thread, the clip's
own pixel format) and every codec is measured on those very same frames, in one run. Every
decoded frame is compared with its source frame: bit-exact for lossless points, max |error| <= N
for bounded points, and PSNR per plane, PSNR-YUV, max error and SSIM for every lossy point.

Codec keys (--codecs; video default: all but png,jpeg; --images default: png,jxl,jpegls,jpeg,
framecodec):

  ffv1        FFV1 -level 3 -coder 1 -context 1 -g 1 -slices 4 -slicecrc 1 (PyAV's FFmpeg)
  x264        libx264 lossless: -qp 0 -preset veryslow
  x265        libx265 lossless: -preset slow -x265-params lossless=1
  jxl         JPEG XL lossless, libjxl through imagecodecs, effort 7 (cjxl's default), one image
              per frame: Y/U/V planes as 3 channels when they have the same size (4:4:4, RGB),
              else each plane as a grey image
  png         PNG through imagecodecs (libpng, zlib level 9), optimised: the smallest of
              filters {none, paeth, adaptive} x strategies {default, filtered}; packed as jxl
  jpegls      JPEG-LS (CharLS through imagecodecs), each plane of each frame alone, NEAR = N
              for every --max-error N (0 = lossless)
  x264crf     libx264 -preset veryslow -tune psnr at each --crf (a ladder: no error bound)
  x265crf     libx265 -preset slow -tune psnr at each --crf (a ladder: no error bound)
  jpeg        JPEG (libjpeg-turbo through imagecodecs) at each --jpeg-quality, 4:4:4, optimised
              Huffman tables; RGB images as one colour JPEG, other planes as grey JPEGs
  framecodec  framecodec.encode / framecodec.decode_frames at each --max-error N

Speed: encode and decode fps with one thread (always) and with all cores (--threads-all: PyAV
thread_count 0 = auto, x265 default pools; per-frame image codecs code frames on a thread pool
of one worker per core; framecodec jobs=1, threads=cores). Only the coding calls are timed.
Memory: each encode and each decode runs in a child process of its own (this script with
--child); the child resets its peak RSS (/proc/self/clear_refs) once its inputs are loaded and
reports peak RSS (VmHWM) minus the RSS at that moment. --in-process skips the children (and
the memory figures).

Lossy points: PSNR per plane from the squared error summed over all frames; PSNR-YUV from the
planes' MSE weighted 6:1:1 (4:2:0) or 1:1:1 (4:4:4, RGB); SSIM (Wang et al. 2004, Gaussian
11x11); max |error|; and "size at equal PSNR": bytes / the bytes of a ladder (x264crf, x265crf,
jpeg) at the same PSNR-YUV, log(bytes) interpolated piecewise linearly, n/a outside the ladder.

Cache (--cache-dir, default .bench-cache/ in the repository, git-ignored by its own .gitignore):
one JSON file per measurement, named by the SHA-256 of: the clip file's SHA-256, the number of
frames, codec key, operating point, the codec's settings (options, threads), the codec's
version (PyAV + FFmpeg versions; imagecodecs + CharLS/libjxl/libpng/libjpeg-turbo versions;
framecodec: __version__ + SHA-256 of its package source files + torch and numba versions),
the source decoder's version and the bench's MEASURE_VERSION. A re-run measures only what
changed; --no-cache measures everything again (and refreshes the entries).

Examples::

    python tools/bench.py --codecs ffv1,x264,jpegls --frames 10
    python tools/bench.py --codecs framecodec,ffv1,x264,jpegls --max-error 0,1 --json out.json
    python tools/bench.py --report docs/bench          # docs/bench/results.{md,json}, *.png
    python tools/bench.py --images DIR --report /tmp/img-bench
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import math
import os
import pickle
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_FILE = Path(__file__).resolve()
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus"
DEFAULT_CACHE = REPO_ROOT / ".bench-cache"
CLIP_SUFFIXES = {".mkv", ".mp4", ".mov", ".webm", ".nut", ".avi", ".y4m"}
IMAGE_SUFFIXES = {".png"}

ALL_CODECS = ("ffv1", "x264", "x265", "jxl", "png", "jpegls", "x264crf", "x265crf", "jpeg",
              "framecodec")
VIDEO_CODECS = ("ffv1", "x264", "x265", "jxl", "jpegls", "x264crf", "x265crf", "framecodec")
IMAGE_CODECS = ("png", "jxl", "jpegls", "jpeg", "framecodec")
DEFAULT_CODECS = VIDEO_CODECS
LOSSLESS_ONLY = ("ffv1", "x264", "x265", "jxl", "png")  # one lossless point each

DEFAULT_CRF = (1, 4, 8, 12, 16, 20, 24, 28)
DEFAULT_JPEG_QUALITY = (70, 80, 90, 95, 98, 100)
REPORT_MAX_ERROR = (0, 1, 2, 4)
JXL_EFFORT = 7

# Bump when what a cached measurement means changes (timing scope, metrics, file layout).
MEASURE_VERSION = 3


# --------------------------------------------------------------------------
# Metrics


def bits_per_sample(nbytes: int, samples: int) -> float:
    """Compressed bits per coded sample (all planes counted, e.g. 1.5*w*h per 4:2:0 frame)."""
    if samples <= 0:
        raise ValueError("samples must be positive")
    return nbytes * 8 / samples


def max_abs_error(ref: np.ndarray, test: np.ndarray) -> int:
    """Largest |ref - test| over all samples, computed without unsigned wrap-around."""
    ref = np.asarray(ref)
    test = np.asarray(test)
    if ref.shape != test.shape:
        raise ValueError(f"shape mismatch: {ref.shape} vs {test.shape}")
    if ref.size == 0:
        return 0
    return int(np.max(np.abs(ref.astype(np.int64) - test.astype(np.int64))))


def sum_squared_error(ref: np.ndarray, test: np.ndarray) -> int:
    diff = np.asarray(ref).astype(np.int64) - np.asarray(test).astype(np.int64)
    return int(np.sum(diff * diff))


def psnr_from_sse(sse: float, samples: int, bitdepth: int = 8) -> float:
    """PSNR in dB with peak 2**bitdepth - 1; ``inf`` when there is no error."""
    if samples <= 0:
        raise ValueError("samples must be positive")
    if sse == 0:
        return math.inf
    peak = (1 << bitdepth) - 1
    return 10.0 * math.log10(peak * peak * samples / sse)


def psnr(ref: np.ndarray, test: np.ndarray, bitdepth: int = 8) -> float:
    """PSNR of one plane (or any array) in dB, peak = 2**bitdepth - 1; ``inf`` if identical."""
    ref = np.asarray(ref)
    test = np.asarray(test)
    if ref.shape != test.shape:
        raise ValueError(f"shape mismatch: {ref.shape} vs {test.shape}")
    return psnr_from_sse(sum_squared_error(ref, test), ref.size, bitdepth)


def plane_weights(plane_shapes: Sequence[Sequence[int]], family: str = "yuv") -> list[float]:
    """Weights of the planes in PSNR-YUV and SSIM-YUV.

    4:2:0 (chroma planes a quarter of the luma plane): 6:1:1, the JCT-VC/JVET convention.
    4:4:4 YUV and RGB: 1:1:1. Other subsamplings (4:2:2, 4:1:1, ...): weights proportional to
    the sample counts. A single plane: 1. A fourth (alpha) plane gets weight 0: its PSNR is
    reported per plane but it does not enter the combined figure.
    """
    shapes = [tuple(s) for s in plane_shapes]
    if not shapes:
        return []
    if len(shapes) == 1:
        return [1.0]
    colour = shapes[:3]
    area = [h * w for h, w in colour]
    if family == "yuv" and len(colour) == 3 and area[1] == area[2] and area[1] * 4 == area[0]:
        weights = [6.0, 1.0, 1.0]
    elif len(set(area)) == 1:
        weights = [1.0] * len(colour)
    else:
        weights = [a / area[0] for a in area]
    return weights + [0.0] * (len(shapes) - len(colour))


def psnr_yuv(sse: Sequence[float], samples: Sequence[int], weights: Sequence[float],
             bitdepth: int = 8) -> float:
    """Combined PSNR from the per-plane squared errors: 10*log10(peak^2 / sum(w*MSE)/sum(w)).

    The plane weights (6:1:1 for 4:2:0, 1:1:1 for 4:4:4) weight the planes' MSE rather than
    their dB values, so that a plane coded exactly (MSE 0, PSNR inf) does not make the whole
    point infinite; with equal MSE in every plane it equals the dB-weighted JCT-VC formula
    (psnr_yuv_db_weighted), and it is never above it. ``inf`` when every weighted plane is exact.
    """
    if not (len(sse) == len(samples) == len(weights)) or not sse:
        raise ValueError("need one sse, sample count and weight per plane")
    total = sum(weights)
    if total <= 0:
        raise ValueError("weights must not all be zero")
    mse = sum(w * s / n for w, s, n in zip(weights, sse, samples) if w) / total
    if mse == 0:
        return math.inf
    peak = (1 << bitdepth) - 1
    return 10.0 * math.log10(peak * peak / mse)


def psnr_yuv_db_weighted(plane_psnrs: Sequence[float], weights: Sequence[float]) -> float | None:
    """The JCT-VC formula: (6*PSNR_Y + PSNR_U + PSNR_V) / 8 for 4:2:0 (weights as given).

    ``inf`` when every weighted plane is exact, ``None`` when only some are (undefined).
    """
    used = [(w, p) for w, p in zip(weights, plane_psnrs) if w]
    if not used:
        raise ValueError("weights must not all be zero")
    if all(math.isinf(p) for _, p in used):
        return math.inf
    if any(math.isinf(p) for _, p in used):
        return None
    return sum(w * p for w, p in used) / sum(w for w, _ in used)


SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


@functools.cache
def _gaussian(n: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    x = np.arange(n, dtype=np.float64) - (n - 1) / 2
    g = np.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 2-D correlation with ``g`` in both directions, 'valid' region only."""
    n = len(g)
    h, w = img.shape
    rows = g[0] * img[0:h - n + 1, :]
    for k in range(1, n):
        rows += g[k] * img[k:h - n + 1 + k, :]
    out = g[0] * rows[:, 0:w - n + 1]
    for k in range(1, n):
        out += g[k] * rows[:, k:w - n + 1 + k]
    return out


def ssim(ref: np.ndarray, test: np.ndarray, bitdepth: int = 8) -> float:
    """Mean SSIM of one plane (Wang, Bovik, Sheikh & Simoncelli 2004).

    11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 2**bitdepth - 1, the mean of
    the SSIM map over the 'valid' window positions, no downsampling. A plane smaller than the
    window in either direction is treated as one window with uniform weights.
    """
    a = np.asarray(ref)
    b = np.asarray(test)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise ValueError("empty plane")
    if np.array_equal(a, b):
        return 1.0
    peak = (1 << bitdepth) - 1
    c1 = (0.01 * peak) ** 2
    c2 = (0.03 * peak) ** 2
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    if min(x.shape) < SSIM_WINDOW:
        mx, my = x.mean(), y.mean()
        sxx, syy = ((x - mx) ** 2).mean(), ((y - my) ** 2).mean()
        sxy = ((x - mx) * (y - my)).mean()
        return float((2 * mx * my + c1) * (2 * sxy + c2)
                     / ((mx * mx + my * my + c1) * (sxx + syy + c2)))
    g = _gaussian()
    mx = _filter_valid(x, g)
    my = _filter_valid(y, g)
    sxx = _filter_valid(x * x, g) - mx * mx
    syy = _filter_valid(y * y, g) - my * my
    sxy = _filter_valid(x * y, g) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


def rd_frontier(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (psnr, bytes) points no other point beats on both counts, by increasing PSNR.

    Non-finite PSNRs and non-positive sizes are dropped. A point that has no more PSNR than a
    smaller point is dominated and dropped, so the result increases strictly in both PSNR and
    size and a size can be interpolated at any PSNR inside it.
    """
    pts = sorted((float(p), float(b)) for p, b in points if math.isfinite(p) and b > 0)
    frontier: list[tuple[float, float]] = []
    for p, b in reversed(pts):  # highest PSNR first; going down, sizes must fall strictly
        if frontier and b >= frontier[-1][1]:
            continue
        if frontier and p == frontier[-1][0]:
            frontier[-1] = (p, b)  # same PSNR, smaller: keep the smaller
            continue
        frontier.append((p, b))
    return frontier[::-1]


def size_at_psnr(points: Iterable[tuple[float, float]], target: float) -> float | None:
    """Size of a codec's ladder at ``target`` PSNR: log(size) interpolated piecewise linearly.

    ``points`` are (PSNR dB, bytes) of the ladder (e.g. x264 at CRF 1..28); dominated points are
    dropped first (see rd_frontier). ``None`` when ``target`` is not finite or lies outside the
    ladder's PSNR range: no extrapolation.
    """
    f = rd_frontier(points)
    if not f or target is None or not math.isfinite(target):
        return None
    if target < f[0][0] or target > f[-1][0]:
        return None
    if len(f) == 1:
        return f[0][1]
    for (p0, b0), (p1, b1) in zip(f, f[1:]):
        if p0 <= target <= p1:
            t = (target - p0) / (p1 - p0)
            return math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0)))
    return None  # unreachable: target is inside [f[0], f[-1]]


def geometric_mean(values: Sequence[float]) -> float | None:
    vals = [v for v in values if v is not None and v > 0]
    if not vals:
        return None
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


# --------------------------------------------------------------------------
# Source frames

Planes = list[np.ndarray]


def plane_dtype(fmt) -> np.dtype:
    """numpy dtype of the samples of a planar PyAV VideoFormat (8 bits: uint8, else uint16 LE)."""
    bits = max(c.bits for c in fmt.components)
    return np.dtype(np.uint8) if bits <= 8 else np.dtype("<u2")


def format_bitdepth(fmt) -> int:
    return max(c.bits for c in fmt.components)


def frame_to_planes(frame) -> Planes:
    """Copy the planes of a PyAV VideoFrame out as (height, width) arrays, honouring line_size."""
    if not frame.format.is_planar and len(frame.planes) == 1 and len(frame.format.components) > 1:
        raise ValueError(f"packed pixel format {frame.format.name} is not supported")
    dtype = plane_dtype(frame.format)
    planes = []
    for plane in frame.planes:
        h, w, stride = plane.height, plane.width, plane.line_size
        if stride <= 0:
            raise ValueError("negative line_size is not supported")
        raw = np.frombuffer(plane, np.uint8, count=stride * h).reshape(h, stride)
        planes.append(np.ascontiguousarray(raw[:, : w * dtype.itemsize]).view(dtype))
    return planes


def planes_to_frame(planes: Planes, pix_fmt: str, width: int, height: int):
    """Build a PyAV VideoFrame in ``pix_fmt`` and copy ``planes`` in, honouring line_size."""
    import av

    frame = av.VideoFrame(width, height, pix_fmt)
    if len(frame.planes) != len(planes):
        raise ValueError(f"{pix_fmt} has {len(frame.planes)} planes, got {len(planes)}")
    for plane, arr in zip(frame.planes, planes):
        if (plane.height, plane.width) != arr.shape:
            raise ValueError(f"plane shape {arr.shape} != {(plane.height, plane.width)}")
        row_bytes = arr.shape[1] * arr.itemsize
        raw = np.frombuffer(plane, np.uint8, count=plane.line_size * plane.height)
        raw = raw.reshape(plane.height, plane.line_size)
        raw[:, :row_bytes] = np.ascontiguousarray(arr).view(np.uint8).reshape(arr.shape[0], -1)
    return frame


def set_threads(codec_context, threads: str) -> None:
    """"1": one thread, no frame or slice threading; "all": FFmpeg's automatic threading."""
    from av.codec.context import ThreadType

    if threads == "1":
        codec_context.thread_count = 1
        codec_context.thread_type = ThreadType.NONE
    else:
        codec_context.thread_count = 0
        codec_context.thread_type = ThreadType.AUTO


def single_thread(codec_context) -> None:
    set_threads(codec_context, "1")


def pix_fmt_family(pix_fmt: str) -> str:
    if pix_fmt.startswith("gbr"):
        return "rgb"
    if pix_fmt.startswith(("gray", "ya")):
        return "gray"
    return "yuv"


def plane_names(pix_fmt: str, count: int) -> list[str]:
    names = {"rgb": ["G", "B", "R", "A"], "gray": ["Y", "A"], "yuv": ["Y", "U", "V", "A"]}
    return names[pix_fmt_family(pix_fmt)][:count]


@dataclass
class Source:
    """The frames every codec is measured on."""

    path: Path
    name: str
    pix_fmt: str
    width: int
    height: int
    bitdepth: int
    rate: Fraction
    frames: list[Planes]
    kind: str = "video"  # or "image"

    @property
    def frame_count(self) -> int:
        return len(self.frames)

    @property
    def samples(self) -> int:
        return sum(p.size for f in self.frames for p in f)

    @property
    def family(self) -> str:
        return pix_fmt_family(self.pix_fmt)

    @property
    def plane_shapes(self) -> list[tuple[int, int]]:
        return [tuple(p.shape) for p in self.frames[0]] if self.frames else []

    @property
    def weights(self) -> list[float]:
        return plane_weights(self.plane_shapes, self.family)

    @property
    def plane_names(self) -> list[str]:
        return plane_names(self.pix_fmt, len(self.plane_shapes))

    def layout(self) -> dict:
        """What a child process needs to rebuild the frames from the raw file."""
        return {
            "pix_fmt": self.pix_fmt, "width": self.width, "height": self.height,
            "bitdepth": self.bitdepth, "rate": [self.rate.numerator, self.rate.denominator],
            "family": self.family, "frames": self.frame_count,
            "plane_shapes": [list(s) for s in self.plane_shapes],
            "dtype": self.frames[0][0].dtype.str if self.frames else "|u1",
            "path": str(self.path), "kind": self.kind,
        }

    def describe(self) -> dict:
        return {
            "name": self.name,
            "path": str(self.path),
            "kind": self.kind,
            "pix_fmt": self.pix_fmt,
            "width": self.width,
            "height": self.height,
            "bitdepth": self.bitdepth,
            "frames": self.frame_count,
            "samples": self.samples,
            "plane_shapes": [list(s) for s in self.plane_shapes],
            "plane_names": self.plane_names,
            "weights": self.weights,
        }

    def write_raw(self, path: Path) -> None:
        with open(path, "wb") as f:
            for planes in self.frames:
                for p in planes:
                    np.ascontiguousarray(p).tofile(f)


def read_raw_frames(path: str | Path, layout: dict) -> list[Planes]:
    """The frames a Source wrote with write_raw, as views into one buffer."""
    dtype = np.dtype(layout["dtype"])
    shapes = [tuple(s) for s in layout["plane_shapes"]]
    data = np.fromfile(path, dtype=dtype)
    frames, pos = [], 0
    for _ in range(layout["frames"]):
        planes = []
        for shape in shapes:
            n = shape[0] * shape[1]
            planes.append(data[pos:pos + n].reshape(shape))
            pos += n
        frames.append(planes)
    if pos != data.size:
        raise ValueError(f"raw file {path} holds {data.size} samples, expected {pos}")
    return frames


def load_source(path: Path, max_frames: int) -> Source:
    """Decode the first ``max_frames`` frames (0 = all) of the first video stream."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        single_thread(stream.codec_context)
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        frames: list[Planes] = []
        pix_fmt = None
        width = height = bitdepth = 0
        for frame in container.decode(stream):
            if pix_fmt is None:
                pix_fmt, width, height = frame.format.name, frame.width, frame.height
                bitdepth = format_bitdepth(frame.format)
            elif (frame.format.name, frame.width, frame.height) != (pix_fmt, width, height):
                raise ValueError(f"{path.name}: format changes mid-stream")
            frames.append(frame_to_planes(frame))
            if max_frames and len(frames) >= max_frames:
                break
    if not frames:
        raise ValueError(f"{path.name}: no video frames")
    return Source(path, path.stem, pix_fmt, width, height, bitdepth, Fraction(rate), frames)


# Packed layouts of still images, rearranged exactly into planar ones (as framecodec does).
PACKED_TO_PLANAR = {
    "rgb24": "gbrp", "bgr24": "gbrp", "rgba": "gbrap", "bgra": "gbrap", "pal8": "gbrap",
    "rgb48be": "gbrp16le", "rgb48le": "gbrp16le", "rgba64be": "gbrap16le",
    "rgba64le": "gbrap16le", "gray16be": "gray16le",
}


def load_image(path: Path) -> Source:
    """A still image (PNG) as a one-frame source in a planar pixel format."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        single_thread(stream.codec_context)
        frame = next(iter(container.decode(stream)), None)
    if frame is None:
        raise ValueError(f"{path.name}: no image")
    target = PACKED_TO_PLANAR.get(frame.format.name, frame.format.name)
    if target != frame.format.name:
        frame = frame.reformat(format=target)
    return Source(path, path.stem, frame.format.name, frame.width, frame.height,
                  format_bitdepth(frame.format), Fraction(1), [frame_to_planes(frame)],
                  kind="image")


# --------------------------------------------------------------------------
# Checking decoded frames against the source


@dataclass
class Check:
    """Accumulates the comparison of decoded frames with the source frames."""

    source: Source
    frames_seen: int = 0
    max_error: int = 0
    frame_max_errors: list[int] = field(default_factory=list)
    sse: list[int] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)
    problem: str | None = None  # first structural mismatch (count, shape, dtype)

    def add(self, planes: Sequence[np.ndarray]) -> bool:
        """Compare one decoded frame; True when its planes could be compared sample by sample."""
        index = self.frames_seen
        self.frames_seen += 1
        if index >= self.source.frame_count:
            self.fail(f"extra decoded frame {index}")
            return False
        ref = self.source.frames[index]
        if len(planes) != len(ref):
            self.fail(f"frame {index}: {len(planes)} planes, expected {len(ref)}")
            return False
        if not self.sse:
            self.sse = [0] * len(ref)
            self.samples = [0] * len(ref)
        frame_max = 0
        for i, (a, b) in enumerate(zip(ref, planes)):
            b = np.asarray(b)
            if a.shape != b.shape:
                self.fail(f"frame {index} plane {i}: shape {b.shape}, expected {a.shape}")
                return False
            if b.dtype != a.dtype:
                self.fail(f"frame {index} plane {i}: dtype {b.dtype}, expected {a.dtype}")
            frame_max = max(frame_max, max_abs_error(a, b))
            self.sse[i] += sum_squared_error(a, b)
            self.samples[i] += a.size
        self.frame_max_errors.append(frame_max)
        self.max_error = max(self.max_error, frame_max)
        return True

    def fail(self, msg: str) -> None:
        if self.problem is None:
            self.problem = msg

    def finish(self) -> None:
        if self.frames_seen < self.source.frame_count:
            self.fail(f"decoded {self.frames_seen} frames, expected {self.source.frame_count}")

    def ok(self, bound: int | None) -> bool:
        if bound is None:  # no bound promised: only the structure must match
            return self.problem is None
        return self.problem is None and self.max_error <= bound

    def describe_failure(self, bound: int | None) -> str:
        if bound is None:
            return ""
        bad = [i for i, e in enumerate(self.frame_max_errors) if e > bound]
        if not bad:
            return ""
        return (f"max |error| {self.max_error} > {bound} in {len(bad)} of "
                f"{len(self.frame_max_errors)} frames (first: frame {bad[0]})")

    def psnr_planes(self) -> list[float]:
        return [psnr_from_sse(s, n, self.source.bitdepth) for s, n in zip(self.sse, self.samples)]

    def psnr_yuv(self) -> float | None:
        if not self.sse:
            return None
        return psnr_yuv(self.sse, self.samples, self.source.weights, self.source.bitdepth)


def _finite(x: float | None, digits: int = 4) -> float | None:
    """JSON-safe: ``None`` stands for +inf (identical), as in the per-plane PSNR lists."""
    return None if x is None or math.isinf(x) else round(x, digits)


def evaluate(src: Source, decoded_path: Path, manifest: Sequence, problems: Sequence[str],
             bound: int | None, want_ssim: bool) -> dict:
    """Compare the frames a decoder wrote (raw file + manifest of plane shapes) with the source."""
    check = Check(src)
    for p in problems:
        check.fail(p)
    nplanes = len(src.plane_shapes)
    ssim_sum = [0.0] * nplanes
    ssim_frames = 0
    with open(decoded_path, "rb") as f:
        for shapes in manifest:
            planes = []
            for shape, dt in shapes:
                count = int(np.prod(shape))
                planes.append(np.fromfile(f, dtype=np.dtype(dt), count=count).reshape(shape))
            index = check.frames_seen
            if check.add(planes) and want_ssim:
                ref = src.frames[index]
                for i in range(nplanes):
                    ssim_sum[i] += ssim(ref[i], planes[i], src.bitdepth)
                ssim_frames += 1
    check.finish()
    plane_psnr = check.psnr_planes()
    exact = bool(check.sse) and check.problem is None and check.max_error == 0
    result = {
        "ok": check.ok(bound),
        "problem": check.problem,
        "failure": check.describe_failure(bound),
        "frames_decoded": check.frames_seen,
        "measured_max_error": check.max_error,
        "frame_max_errors": check.frame_max_errors,
        "sse": check.sse,
        "plane_samples": check.samples,
        "psnr_db": [_finite(p) for p in plane_psnr],
        "psnr_yuv_db": _finite(check.psnr_yuv()) if check.sse else None,
        "psnr_yuv_db_weighted": None,
        "exact": exact,
        "ssim": None,
        "ssim_yuv": None,
    }
    if check.sse:
        w = psnr_yuv_db_weighted(plane_psnr, src.weights)
        result["psnr_yuv_db_weighted"] = _finite(w) if w is not None else None
    if exact:
        result["ssim"] = [1.0] * nplanes
        result["ssim_yuv"] = 1.0
    elif want_ssim and ssim_frames and ssim_frames == src.frame_count:
        per_plane = [s / ssim_frames for s in ssim_sum]
        w = src.weights
        result["ssim"] = [round(s, 6) for s in per_plane]
        result["ssim_yuv"] = round(sum(a * b for a, b in zip(w, per_plane)) / sum(w), 6)
    return result


# --------------------------------------------------------------------------
# Timing and memory


class Timer:
    """Accumulates wall-clock and process CPU time over several ``with`` blocks."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> Timer:
        self._w = time.perf_counter()
        self._c = time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


def timed_iter(make: Callable[[], Iterable], timer: Timer) -> Iterator:
    """Yield the items of ``make()``, timing the call and the production of each item only.

    Whatever the caller does with an item (copying planes out, comparing) is not timed.
    """
    with timer:
        it = iter(make())
    while True:
        with timer:
            try:
                item = next(it)
            except StopIteration:
                return
        yield item


def _proc_status_kb(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def release_free_memory() -> None:
    """Collect garbage and hand malloc's free pages back (glibc), so that RSS is the floor."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class MemProbe:
    """Peak memory of the coding call in this (child) process.

    ``start`` collects garbage and trims malloc's free pages (so that memory a warm-up freed
    does not hide in the baseline), resets the kernel's peak-RSS mark to the current RSS
    (writing 5 to /proc/self/clear_refs, Linux >= 4.0) and records that RSS as the baseline;
    ``stop`` reads the peak (VmHWM). ru_maxrss is not used: on Linux it carries the parent's
    peak over fork+exec, so a 10 MB child of a 500 MB parent reports 500 MB.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.platform.startswith("linux")
        self.base_kb: int | None = None
        self.peak_kb: int | None = None
        self.reset = False

    def start(self) -> None:
        if not self.enabled:
            return
        release_free_memory()
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.reset = True
        except OSError:
            self.reset = False
        self.base_kb = _proc_status_kb("VmRSS")

    def stop(self) -> None:
        if self.enabled:
            self.peak_kb = _proc_status_kb("VmHWM")

    def result(self) -> dict | None:
        if not self.enabled or self.base_kb is None or self.peak_kb is None:
            return None
        return {"base_mb": round(self.base_kb / 1024, 2), "peak_mb": round(self.peak_kb / 1024, 2),
                "delta_mb": round(max(self.peak_kb - self.base_kb, 0) / 1024, 2),
                "peak_reset": self.reset}


class RawSink:
    """Writes decoded planes to a raw file, recording each frame's plane shapes and dtypes."""

    def __init__(self, path: str | Path) -> None:
        self.f = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.manifest: list[list[tuple[list[int], str]]] = []

    def __call__(self, planes: Sequence[np.ndarray]) -> None:
        shapes = []
        for p in planes:
            a = np.ascontiguousarray(p)
            a.tofile(self.f)
            shapes.append((list(a.shape), a.dtype.str))
        self.manifest.append(shapes)

    def close(self) -> None:
        self.f.close()


# --------------------------------------------------------------------------
# Codecs


@dataclass(frozen=True)
class Point:
    """One operating point of a codec."""

    param: int | None  # NEAR, max_error, CRF or JPEG quality; None for fixed lossless codecs
    bound: int | None  # the promised max |error|: 0 lossless, N bounded, None no promise
    label: str


@dataclass
class Options:
    bounds: Sequence[int] = (0,)
    crf: Sequence[int] = DEFAULT_CRF
    jpeg_quality: Sequence[int] = DEFAULT_JPEG_QUALITY
    extend_ladders: bool = True


def _pkg_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


class Codec:
    key = ""
    title = ""
    kind = "lossless"  # "lossless" (one exact point), "bounded" (max |error| <= N), "ladder"
    extension = "bin"

    def points(self, opts: Options) -> list[Point]:
        return [Point(None, 0, "lossless")]

    def next_point(self, params: Sequence[int | None]) -> Point | None:
        """A ladder's next point below the lowest fidelity of ``params``, or None at its end."""
        return None

    def settings(self, point: Point, threads: str, cpu: int) -> dict:
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError

    def encode(self, job: dict, point: Point, mem: MemProbe) -> dict:
        raise NotImplementedError

    def decode(self, job: dict, point: Point, mem: MemProbe, sink: RawSink) -> dict:
        raise NotImplementedError


@functools.cache
def av_version() -> str:
    import av

    libs = av.library_versions
    lavc = ".".join(map(str, libs.get("libavcodec", ())))
    return f"PyAV {av.__version__}, FFmpeg {getattr(av, 'ffmpeg_version_info', '?')}, " \
           f"libavcodec {lavc}"


@functools.cache
def imagecodecs_version(lib: str) -> str:
    import imagecodecs

    return f"imagecodecs {imagecodecs.__version__}, {lib} {imagecodecs.version(dict).get(lib)}"


_ENCODER_ID = re.compile(rb"x264 - core \d+(?: r\d+ [0-9a-f]+)?|x265 \(build \d+\) - [\w.+-]+")


def encoder_id(path: Path) -> str:
    """The x264/x265 version string both encoders write into their first SEI, if present."""
    m = _ENCODER_ID.search(Path(path).read_bytes()[:65536])
    return m.group().decode("ascii", "replace") if m else ""


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
        frames = []
        # Frames are built before timing: only the encoder and the muxer are timed.
        for i, planes in enumerate(read_raw_frames(job["source_raw"], lay)):
            frame = planes_to_frame(planes, lay["pix_fmt"], lay["width"], lay["height"])
            frame.pts = i
            frame.time_base = tb
            frames.append(frame)
        out = Path(job["coded"])
        enc = Timer()
        mem.start()
        with enc:
            container = av.open(str(out), "w")
            try:
                stream = container.add_stream(self.encoder, rate=rate,
                                              options=self.options(point, threads))
                stream.width, stream.height = lay["width"], lay["height"]
                stream.pix_fmt = lay["pix_fmt"]
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
        problems: list[str] = []

        def decoded_frames() -> Iterator:  # opening, demuxing and decoding are all timed
            with av.open(job["coded"]) as container:
                stream = container.streams.video[0]
                set_threads(stream.codec_context, job["threads"])
                yield from container.decode(stream)

        dec = Timer()
        mem.start()
        for frame in timed_iter(decoded_frames, dec):
            if frame.format.name != pix_fmt and not problems:
                problems.append(f"decoded as {frame.format.name}, source is {pix_fmt}")
            sink(frame_to_planes(frame))
        mem.stop()
        return {"decode_seconds": dec.wall, "decode_cpu_seconds": dec.cpu,
                "decode_mem": mem.result(), "problems": problems}


def _pack_order(family: str, nplanes: int) -> list[int] | None:
    """Plane indices of the channels of a packed image (R,G,B(,A) or Y,U,V), or None."""
    if family == "rgb" and nplanes in (3, 4):
        return [2, 0, 1, 3][:nplanes]
    if family == "yuv" and nplanes == 3:
        return [0, 1, 2]
    return None


def packable(layout: dict) -> bool:
    shapes = [tuple(s) for s in layout["plane_shapes"]]
    return (_pack_order(layout["family"], len(shapes)) is not None
            and len(set(shapes)) == 1)


def pack_planes(planes: Sequence[np.ndarray], layout: dict) -> np.ndarray:
    order = _pack_order(layout["family"], len(planes))
    return np.stack([planes[i] for i in order], axis=-1)


def unpack_planes(image: np.ndarray, layout: dict) -> Planes:
    order = _pack_order(layout["family"], len(layout["plane_shapes"]))
    planes: list = [None] * len(order)
    for channel, index in enumerate(order):
        planes[index] = np.ascontiguousarray(image[..., channel])
    return planes


class ImageCodec(Codec):
    """An image codec applied to every frame on its own (through imagecodecs)."""

    library = ""

    def encode_frame(self, planes: Planes, layout: dict, point: Point) -> list[bytes]:
        raise NotImplementedError

    def decode_frame(self, blobs: list[bytes], layout: dict, point: Point) -> Planes:
        raise NotImplementedError

    def version(self) -> str:
        return imagecodecs_version(self.library)

    def mode(self, layout: dict) -> str:
        return "packed" if packable(layout) else "planes"

    def settings(self, point: Point, threads: str, cpu: int) -> dict:
        return {"param": point.param, "threads": threads,
                "workers": 1 if threads == "1" else cpu}

    def encode(self, job: dict, point: Point, mem: MemProbe) -> dict:
        from concurrent.futures import ThreadPoolExecutor

        lay = job["layout"]
        frames = read_raw_frames(job["source_raw"], lay)
        enc = Timer()
        mem.start()
        with enc:
            if job["threads"] == "1":
                coded = [self.encode_frame(f, lay, point) for f in frames]
            else:
                with ThreadPoolExecutor(job["cpu_count"]) as pool:
                    coded = list(pool.map(lambda f: self.encode_frame(f, lay, point), frames))
        mem.stop()
        with open(job["coded"], "wb") as f:
            pickle.dump([[bytes(b) for b in c] for c in coded], f)
        return {"bytes": sum(len(b) for c in coded for b in c), "encode_seconds": enc.wall,
                "encode_cpu_seconds": enc.cpu, "encode_mem": mem.result(),
                "encoder": self.version()}

    def decode(self, job: dict, point: Point, mem: MemProbe, sink: RawSink) -> dict:
        from concurrent.futures import ThreadPoolExecutor

        lay = job["layout"]
        with open(job["coded"], "rb") as f:
            coded = pickle.load(f)

        def produce() -> Iterator[Planes]:
            if job["threads"] == "1":
                for c in coded:
                    yield self.decode_frame(c, lay, point)
            else:
                with ThreadPoolExecutor(job["cpu_count"]) as pool:
                    yield from pool.map(lambda c: self.decode_frame(c, lay, point), coded)

        dec = Timer()
        mem.start()
        for planes in timed_iter(produce, dec):
            sink(planes)
        mem.stop()
        return {"decode_seconds": dec.wall, "decode_cpu_seconds": dec.cpu,
                "decode_mem": mem.result(), "problems": []}


class JpeglsCodec(ImageCodec):
    key = "jpegls"
    title = "JPEG-LS (CharLS)"
    kind = "bounded"
    library = "charls"

    def points(self, opts: Options) -> list[Point]:
        return [Point(n, n, f"NEAR={n}") for n in opts.bounds]

    def settings(self, point: Point, threads: str, cpu: int) -> dict:
        return {**super().settings(point, threads, cpu), "near": point.param, "layout": "planes"}

    def encode_frame(self, planes: Planes, layout: dict, point: Point) -> list[bytes]:
        import imagecodecs

        return [imagecodecs.jpegls_encode(p, level=point.param) for p in planes]

    def decode_frame(self, blobs: list[bytes], layout: dict, point: Point) -> Planes:
        import imagecodecs

        return [imagecodecs.jpegls_decode(b) for b in blobs]


class JxlCodec(ImageCodec):
    key = "jxl"
    title = "JPEG XL lossless (libjxl)"
    kind = "lossless"
    library = "libjxl"

    def settings(self, point: Point, threads: str, cpu: int) -> dict:
        return {**super().settings(point, threads, cpu), "lossless": True, "effort": JXL_EFFORT,
                "numthreads": 1}

    def encode_frame(self, planes: Planes, layout: dict, point: Point) -> list[bytes]:
        import imagecodecs

        images = [pack_planes(planes, layout)] if packable(layout) else list(planes)
        return [imagecodecs.jpegxl_encode(im, lossless=True, effort=JXL_EFFORT, numthreads=1)
                for im in images]

    def decode_frame(self, blobs: list[bytes], layout: dict, point: Point) -> Planes:
        import imagecodecs

        images = [imagecodecs.jpegxl_decode(b, numthreads=1) for b in blobs]
        return unpack_planes(images[0], layout) if packable(layout) else images


PNG_TRIALS = ((8, 0), (128, 0), (248, 0), (8, 1), (128, 1), (248, 1))  # (filter, strategy)


class PngCodec(ImageCodec):
    key = "png"
    title = "PNG (libpng, optimised)"
    kind = "lossless"
    library = "libpng"

    def settings(self, point: Point, threads: str, cpu: int) -> dict:
        return {**super().settings(point, threads, cpu), "level": 9,
                "trials_filter_strategy": [list(t) for t in PNG_TRIALS]}

    def encode_frame(self, planes: Planes, layout: dict, point: Point) -> list[bytes]:
        import imagecodecs

        images = [pack_planes(planes, layout)] if packable(layout) else list(planes)
        out = []
        for im in images:
            trials = [imagecodecs.png_encode(im, level=9, filter=f, strategy=s)
                      for f, s in PNG_TRIALS]
            out.append(min(trials, key=len))
        return out

    def decode_frame(self, blobs: list[bytes], layout: dict, point: Point) -> Planes:
        import imagecodecs

        images = [imagecodecs.png_decode(b) for b in blobs]
        return unpack_planes(images[0], layout) if packable(layout) else images


class JpegCodec(ImageCodec):
    key = "jpeg"
    title = "JPEG (libjpeg-turbo), 4:4:4"
    kind = "ladder"
    library = "libjpeg_turbo"

    def points(self, opts: Options) -> list[Point]:
        return [Point(q, None, f"q={q}") for q in opts.jpeg_quality]

    def next_point(self, params: Sequence[int | None]) -> Point | None:
        done = [p for p in params if p is not None]
        if not done or min(done) <= 10:
            return None
        q = max(min(done) - 10, 10)
        return Point(q, None, f"q={q}")

    def colour(self, layout: dict) -> bool:
        return layout["family"] == "rgb" and len(layout["plane_shapes"]) == 3

    def settings(self, point: Point, threads: str, cpu: int) -> dict:
        return {**super().settings(point, threads, cpu), "quality": point.param,
                "subsampling": "444", "optimize": True}

    def encode_frame(self, planes: Planes, layout: dict, point: Point) -> list[bytes]:
        import imagecodecs

        if layout["bitdepth"] > 8:
            raise ValueError("JPEG (8-bit) cannot code more than 8 bits per sample")
        images = [pack_planes(planes, layout)] if self.colour(layout) else list(planes)
        return [imagecodecs.jpeg8_encode(im, level=point.param, subsampling="444",
                                         optimize=True) for im in images]

    def decode_frame(self, blobs: list[bytes], layout: dict, point: Point) -> Planes:
        import imagecodecs

        images = [imagecodecs.jpeg8_decode(b) for b in blobs]
        return unpack_planes(images[0], layout) if self.colour(layout) else images


@functools.cache
def framecodec_fingerprint() -> dict:
    """framecodec's version and a hash of its package source files, found without importing it."""
    spec = importlib.util.find_spec("framecodec")
    if spec is None or spec.origin is None:
        return {"version": None, "source_sha256": None}
    pkg = Path(spec.origin).parent
    h = hashlib.sha256()
    files = sorted(p for p in pkg.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix in {".py", ".pyx", ".pxd", ".c", ".h", ".json", ".toml"})
    for p in files:
        h.update(p.relative_to(pkg).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    m = re.search(r'^__version__\s*=\s*["\']([^"\']+)', (pkg / "__init__.py").read_text(), re.M)
    return {"version": m.group(1) if m else _pkg_version("framecodec"),
            "source_sha256": h.hexdigest(), "source_files": len(files), "package": str(pkg),
            "torch": _pkg_version("torch"), "numba": _pkg_version("numba")}


class FramecodecCodec(Codec):
    key = "framecodec"
    title = "framecodec"
    kind = "bounded"
    extension = "fcv"

    def points(self, opts: Options) -> list[Point]:
        return [Point(n, n, f"max_error={n}") for n in opts.bounds]

    def settings(self, point: Point, threads: str, cpu: int) -> dict:
        n = 1 if threads == "1" else cpu
        return {"max_error": point.param, "jobs": 1, "threads": n}

    def version(self) -> str:
        fp = framecodec_fingerprint()
        return (f"framecodec {fp['version']}, source {str(fp['source_sha256'])[:16]}, "
                f"torch {fp.get('torch')}, numba {fp.get('numba')}")

    def encode(self, job: dict, point: Point, mem: MemProbe) -> dict:
        import framecodec as fc

        try:  # loaded before the baseline, as the other codecs' libraries are
            import torch  # noqa: F401
        except ImportError:
            pass
        threads = 1 if job["threads"] == "1" else job["cpu_count"]
        out = Path(job["coded"])
        enc = Timer()
        mem.start()
        with enc:
            # video only: the other codecs are given no audio either
            result = fc.encode(job["layout"]["path"], str(out), max_error=point.param,
                               frames=(0, job["layout"]["frames"]), overwrite=True, jobs=1,
                               threads=threads, progress=False, audio=False)
        mem.stop()
        size = out.stat().st_size
        note = ""
        reported = getattr(result, "bytes", None)
        if reported is not None and reported != size:
            note = f"encode() reported {reported} bytes, file has {size}"
        train = getattr(result, "train_seconds", None)
        return {"bytes": size, "encode_seconds": enc.wall, "encode_cpu_seconds": enc.cpu,
                "encode_mem": mem.result(), "encoder": self.version(), "note": note,
                "train_seconds": float(train) if train is not None else None}

    def decode(self, job: dict, point: Point, mem: MemProbe, sink: RawSink) -> dict:
        import framecodec as fc

        threads = 1 if job["threads"] == "1" else job["cpu_count"]
        # Warm-up, not timed: numba loads its cached kernels on their first call in a process.
        warm = fc.decode_frames(job["coded"], threads=threads)
        for _ in zip(range(2), warm):
            pass
        warm.close()
        dec = Timer()
        mem.start()
        for frame in timed_iter(lambda: fc.decode_frames(job["coded"], threads=threads), dec):
            sink(list(frame.planes))
        mem.stop()
        return {"decode_seconds": dec.wall, "decode_cpu_seconds": dec.cpu,
                "decode_mem": mem.result(), "problems": []}


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


# --------------------------------------------------------------------------
# Child processes


def child_run(job: dict, kind: str, isolated: bool) -> dict:
    """Encode or decode one point (in a child process when ``isolated``)."""
    codec = CODECS[job["codec"]]
    point = Point(**job["point"])
    mem = MemProbe(isolated)
    if kind == "encode":
        return codec.encode(job, point, mem)
    sink = RawSink(job["decoded"])
    try:
        result = codec.decode(job, point, mem, sink)
    finally:
        sink.close()
    result["manifest"] = sink.manifest
    return result


def child_main(job_path: str, result_path: str) -> int:
    with open(job_path, "rb") as f:
        job, kind = pickle.load(f)
    try:
        result = {"status": "ok", **child_run(job, kind, isolated=True)}
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()}
    with open(result_path, "wb") as f:
        pickle.dump(result, f)
    return 0


class MeasureError(Exception):
    pass


def run_job(job: dict, kind: str, isolated: bool, workdir: Path) -> dict:
    if not isolated:
        return child_run(job, kind, isolated=False)
    stem = workdir / f"job-{os.getpid()}-{time.monotonic_ns()}"
    job_path, result_path = stem.with_suffix(".job"), stem.with_suffix(".result")
    try:
        with open(job_path, "wb") as f:
            pickle.dump((job, kind), f)
        proc = subprocess.run([sys.executable, str(BENCH_FILE), "--child", str(job_path),
                               str(result_path)], check=False)
        if not result_path.exists():
            raise MeasureError(f"{kind} child exited with status {proc.returncode} "
                               "and no result")
        with open(result_path, "rb") as f:
            result = pickle.load(f)
    finally:
        job_path.unlink(missing_ok=True)
        result_path.unlink(missing_ok=True)
    if result.get("status") != "ok":
        log(result.get("traceback", ""))
        raise MeasureError(result.get("error", "child failed"))
    result.pop("status", None)
    return result


# --------------------------------------------------------------------------
# Cache


def file_sha256(path: Path) -> str:
    return _file_sha256(str(path), path.stat().st_size, path.stat().st_mtime_ns)


@functools.cache
def _file_sha256(path: str, size: int, mtime: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Cache:
    """One JSON file per measurement, named by the SHA-256 of its key material."""

    def __init__(self, root: Path | None, read: bool = True) -> None:
        self.root = root
        self.read = read
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(material: dict) -> str:
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, material: dict, need_memory: bool) -> dict | None:
        if self.root is None or not self.read:
            return None
        path = self._path(self.key(material))
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        m = entry.get("measurement")
        if not m or entry.get("material") != material:
            return None
        if need_memory and (m.get("encode_mem") is None or m.get("decode_mem") is None):
            return None  # cached from an --in-process run: measure again for the memory
        self.hits += 1
        return m

    def put(self, material: dict, measurement: dict) -> None:
        if self.root is None:
            return
        if not self.root.exists():
            self.root.mkdir(parents=True)
            (self.root / ".gitignore").write_text("*\n")  # keep the cache out of git
        path = self._path(self.key(material))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"material": material, "measurement": measurement},
                                  indent=1) + "\n")
        tmp.replace(path)


# --------------------------------------------------------------------------
# Measurements


@dataclass
class Row:
    """One codec at one operating point on one clip."""

    clip: str
    codec: str
    max_error: int | None  # the promised bound: 0 lossless, N bounded, None (ladders) no bound
    frames: int
    samples: int
    status: str = "ok"  # "ok", "n/a" (codec unavailable) or "error"
    bytes: int | None = None
    encode_seconds: float | None = None
    decode_seconds: float | None = None
    encode_cpu_seconds: float | None = None
    decode_cpu_seconds: float | None = None
    ok: bool | None = None  # bit-exact (max_error 0), within the bound, or decoded whole
    measured_max_error: int | None = None
    psnr_db: list[float | None] | None = None  # per plane, None = identical
    encoder: str = ""  # encoder identification found in the output, if any
    note: str = ""
    param: int | None = None  # NEAR, max_error, CRF or quality
    setting: str = ""  # "lossless", "NEAR=2", "max_error=1", "crf=12", "q=95"
    kind: str = ""  # the codec's kind: lossless, bounded, ladder
    psnr_yuv_db: float | None = None  # None = identical (or not measured)
    psnr_yuv_db_weighted: float | None = None
    exact: bool | None = None
    ssim: list[float] | None = None
    ssim_yuv: float | None = None
    frame_max_errors: list[int] | None = None
    encode_mem: dict | None = None  # {base_mb, peak_mb, delta_mb, peak_reset}
    decode_mem: dict | None = None
    train_seconds: float | None = None
    settings: dict | None = None
    version: str = ""
    cached: bool = False
    measured_at: str = ""
    threads_all: dict | None = None  # the --threads-all measurement

    @property
    def measured(self) -> bool:
        return self.status == "ok" and self.bytes is not None

    @property
    def lossy(self) -> bool:
        return self.measured and not self.exact and self.psnr_yuv_db is not None

    @property
    def bits_per_sample(self) -> float | None:
        return bits_per_sample(self.bytes, self.samples) if self.measured else None

    @property
    def encode_fps(self) -> float | None:
        return _fps(self.frames, self.encode_seconds)

    @property
    def decode_fps(self) -> float | None:
        return _fps(self.frames, self.decode_seconds)

    def to_json(self) -> dict:
        d = asdict(self)
        d.update(
            bits_per_sample=self.bits_per_sample,
            encode_fps=self.encode_fps,
            decode_fps=self.decode_fps,
        )
        return d


def _fps(frames: int, seconds: float | None) -> float | None:
    return frames / seconds if seconds else None


def _join(a: str, b: str) -> str:
    if not b:
        return a
    return f"{a}; {b}" if a else b


@dataclass
class Context:
    workdir: Path
    cache: Cache
    isolated: bool = True
    keep_files: bool = False
    cpu: int = 1
    warmed: set = field(default_factory=set)  # framecodec warm-ups done (lossy: True)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def measure(codec: Codec, point: Point, src: Source, raw: Path, threads: str, ctx: Context,
            clip_hash: str) -> dict:
    """Encode, decode and compare one point (cached); raises on failure."""
    settings = codec.settings(point, threads, ctx.cpu)
    material = {
        "measure_version": MEASURE_VERSION,
        "clip_sha256": clip_hash,
        "clip_kind": src.kind,
        "frames": src.frame_count,
        "source_decoder": av_version(),
        "codec": codec.key,
        "point": asdict(point),
        "settings": settings,
        "codec_version": codec.version(),
        "threads": threads,
        "cpu_count": ctx.cpu if threads != "1" else 1,
        "ssim": threads == "1",
    }
    cached = ctx.cache.get(material, need_memory=ctx.isolated)
    if cached is not None:
        return {**cached, "cached": True}
    ctx.cache.misses += 1
    if codec.key == "framecodec":
        warm_up_framecodec(codec, point, src, raw, ctx)

    tag = f"{src.name}.{codec.key}.{point.label.replace('=', '')}.t{threads}"
    coded = ctx.workdir / f"{tag}.{codec.extension}"
    decoded = ctx.workdir / f"{tag}.decoded.raw"
    job = {"codec": codec.key, "point": asdict(point), "threads": threads,
           "cpu_count": ctx.cpu, "layout": src.layout(), "source_raw": str(raw),
           "coded": str(coded), "decoded": str(decoded)}
    try:
        enc = run_job(job, "encode", ctx.isolated, ctx.workdir)
        dec = run_job(job, "decode", ctx.isolated, ctx.workdir)
        want_ssim = threads == "1"
        metrics = evaluate(src, decoded, dec.pop("manifest"), dec.pop("problems", []),
                           point.bound, want_ssim)
    finally:
        decoded.unlink(missing_ok=True)
        if not ctx.keep_files:
            coded.unlink(missing_ok=True)
    m = {**enc, **dec, **metrics, "settings": settings, "version": codec.version(),
         "threads": threads, "isolated": ctx.isolated,
         "measured_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    m.setdefault("note", "")
    ctx.cache.put(material, m)
    return {**m, "cached": False}


def warm_up_framecodec(codec: Codec, point: Point, src: Source, raw: Path, ctx: Context) -> None:
    """Encode and decode two frames once per run and kind of point, untimed.

    numba compiles a kernel on its first call after framecodec's source changed and keeps it
    in its on-disk cache; without this the first timed encode of a run would include the
    compilation. Loading the cached kernels (well under a second) stays in the timings.
    """
    kind = (point.param or 0) > 0
    if kind in ctx.warmed:
        return
    ctx.warmed.add(kind)
    layout = {**src.layout(), "frames": min(2, src.frame_count)}
    tag = f"warm-up.{src.name}.{point.param}"
    job = {"codec": codec.key, "point": asdict(point), "threads": "1", "cpu_count": ctx.cpu,
           "layout": layout, "source_raw": str(raw), "coded": str(ctx.workdir / f"{tag}.fcv"),
           "decoded": str(ctx.workdir / f"{tag}.raw")}
    log(f"  framecodec warm-up ({'lossy' if kind else 'lossless'} kernels, 2 frames, untimed)")
    try:
        run_job(job, "encode", ctx.isolated, ctx.workdir)
        run_job(job, "decode", ctx.isolated, ctx.workdir)
    except Exception as exc:  # noqa: BLE001 - the real measurement will report it
        log(f"  framecodec warm-up failed: {exc}")
    finally:
        for key in ("coded", "decoded"):
            Path(job[key]).unlink(missing_ok=True)


def apply_measurement(row: Row, m: dict) -> None:
    for name in ("bytes", "encode_seconds", "decode_seconds", "encode_cpu_seconds",
                 "decode_cpu_seconds", "ok", "measured_max_error", "psnr_db", "psnr_yuv_db",
                 "psnr_yuv_db_weighted", "exact", "ssim", "ssim_yuv", "frame_max_errors",
                 "encode_mem", "decode_mem", "train_seconds", "settings", "version",
                 "cached", "measured_at"):
        if name in m:
            setattr(row, name, m[name])
    row.encoder = m.get("encoder", "") or ""
    row.note = _join(row.note, m.get("note", ""))
    row.note = _join(row.note, m.get("problem") or "")
    row.note = _join(row.note, m.get("failure") or "")
    # Only over half a second: the process CPU clock of short calls is too coarse on some VMs.
    if row.encode_cpu_seconds and row.encode_seconds and row.encode_seconds > 0.5 and \
            row.encode_cpu_seconds > 1.3 * row.encode_seconds:
        row.note = _join(row.note, "encode used more than one core")


def measure_row(codec: Codec, point: Point, src: Source, raw: Path, ctx: Context,
                clip_hash: str, threads_all: bool) -> Row:
    row = Row(src.name, codec.key, point.bound, src.frame_count, src.samples,
              param=point.param, setting=point.label, kind=codec.kind)
    try:
        m = measure(codec, point, src, raw, "1", ctx, clip_hash)
    except Exception as exc:  # noqa: BLE001 - one failing codec must not stop the run
        if not isinstance(exc, MeasureError):
            traceback.print_exc(file=sys.stderr)
        row.status = "error"
        row.note = f"{type(exc).__name__}: {exc}" if not isinstance(exc, MeasureError) \
            else str(exc)
        return row
    apply_measurement(row, m)
    if threads_all:
        try:
            mt = measure(codec, point, src, raw, "all", ctx, clip_hash)
            row.threads_all = {
                "threads": ctx.cpu, "bytes": mt["bytes"],
                "encode_seconds": mt["encode_seconds"], "decode_seconds": mt["decode_seconds"],
                "encode_fps": _fps(row.frames, mt["encode_seconds"]),
                "decode_fps": _fps(row.frames, mt["decode_seconds"]),
                "encode_cpu_seconds": mt.get("encode_cpu_seconds"),
                "decode_cpu_seconds": mt.get("decode_cpu_seconds"),
                "encode_mem": mt.get("encode_mem"), "decode_mem": mt.get("decode_mem"),
                "ok": mt["ok"], "measured_max_error": mt["measured_max_error"],
                "psnr_yuv_db": mt.get("psnr_yuv_db"), "train_seconds": mt.get("train_seconds"),
                "settings": mt.get("settings"), "cached": mt.get("cached", False),
                "note": _join(mt.get("problem") or "", mt.get("failure") or ""),
            }
            if not mt["ok"]:
                row.ok = False
                row.note = _join(row.note, f"all-cores run: {row.threads_all['note']}")
        except Exception as exc:  # noqa: BLE001
            if not isinstance(exc, MeasureError):
                traceback.print_exc(file=sys.stderr)
            row.threads_all = {"threads": ctx.cpu, "error": f"{exc}"}
            row.note = _join(row.note, f"all-cores run failed: {exc}")
    return row


def measure_in_process(codec_key: str, src: Source, point: Point | None, workdir: Path,
                       keep_files: bool = True) -> Row:
    """Measure one point without children or cache (used by the tests)."""
    codec = CODECS[codec_key]
    point = point or codec.points(Options())[0]
    raw = workdir / f"{src.name}.src.raw"
    src.write_raw(raw)
    ctx = Context(workdir, Cache(None), isolated=False, keep_files=keep_files, cpu=cpu_count())
    try:
        return measure_row(codec, point, src, raw, ctx, "test", threads_all=False)
    finally:
        raw.unlink(missing_ok=True)


def run_jpegls(src: Source, near: int) -> Row:
    with tempfile.TemporaryDirectory(prefix="fc-bench-") as tmp:
        return measure_in_process("jpegls", src, Point(near, near, f"NEAR={near}"), Path(tmp))


# --------------------------------------------------------------------------
# framecodec availability


def load_framecodec() -> tuple[object | None, str]:
    """Return (module, "") or (None, reason) when the encode/decode API is unavailable."""
    try:
        fc = importlib.import_module("framecodec")
    except Exception as exc:  # noqa: BLE001 - any import failure means "n/a"
        return None, f"import framecodec failed: {type(exc).__name__}: {exc}"
    missing = [n for n in ("encode", "decode_frames") if not callable(getattr(fc, n, None))]
    if missing:
        return None, f"framecodec has no {', '.join(missing)}"
    return fc, ""


# --------------------------------------------------------------------------
# Tables


def ratio(a: int | None, b: int | float | None) -> float | None:
    return a / b if a is not None and b else None


def _f(x: float | None, digits: int) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _check_cell(row: Row) -> str:
    if row.ok is None:
        return "–"
    if row.max_error is None:
        return "decoded" if row.ok else "**NO**"
    if row.max_error == 0:
        return "yes" if row.ok else "**NO**"
    return f"{'yes' if row.ok else '**NO**'} (max {row.measured_max_error})"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ) + " |"

    sep = "| " + " | ".join(("-" * (w - 1) + ":") if i in right else "-" * w
                            for i, w in enumerate(widths)) + " |"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


VIDEO_REFS = (("ffv1", "FFV1"), ("x264", "x264"))
IMAGE_REFS = (("png", "PNG"), ("jxl", "JXL"))


def header_for(refs: Sequence[tuple[str, str]]) -> list[str]:
    return (["clip", "codec", "max_error", "bytes", "bits/sample"]
            + [f"÷{label}" for _, label in refs]
            + ["÷JPEG-LS(N)", "enc fps", "dec fps", "exact/bound ok"])


HEADER = header_for(VIDEO_REFS)
RIGHT = {2, 3, 4, 5, 6, 7, 8, 9}


def _bounded(rows: Iterable[Row]) -> list[Row]:
    return [r for r in rows if r.max_error is not None]


def _by_key(rows: Iterable[Row]) -> dict[tuple[str, str, int], Row]:
    return {(r.clip, r.codec, r.max_error): r for r in _bounded(rows) if r.measured}


def clip_table(rows: Sequence[Row], refs: Sequence[tuple[str, str]] = VIDEO_REFS) -> str:
    """Lossless and bounded-error points (ladders are in rd_table)."""
    idx = _by_key(rows)
    header = header_for(refs)
    out = []
    for r in _bounded(rows):
        if r.status != "ok":
            out.append([r.clip, r.codec, str(r.max_error), r.status]
                       + ["–"] * (len(header) - 5) + [r.status])
            continue

        def ref(codec: str, n: int = 0) -> str:
            other = idx.get((r.clip, codec, n))
            return _f(ratio(r.bytes, other.bytes if other else None), 3)

        out.append([
            r.clip, r.codec, str(r.max_error), str(r.bytes), _f(r.bits_per_sample, 3),
            *[ref(k) for k, _ in refs], ref("jpegls", r.max_error),
            _f(r.encode_fps, 1), _f(r.decode_fps, 1), _check_cell(r),
        ])
    return markdown_table(header, out, set(range(2, len(header) - 1)))


@dataclass
class Total:
    codec: str
    max_error: int
    clips: int
    frames: int
    samples: int
    bytes: int
    encode_seconds: float
    decode_seconds: float
    ok: bool
    ratio_ffv1: float | None
    ratio_x264: float | None
    ratio_jpegls: float | None
    note: str = ""
    ratios: dict[str, float | None] = field(default_factory=dict)

    @property
    def bits_per_sample(self) -> float:
        return bits_per_sample(self.bytes, self.samples)

    @property
    def encode_fps(self) -> float | None:
        return _fps(self.frames, self.encode_seconds)

    @property
    def decode_fps(self) -> float | None:
        return _fps(self.frames, self.decode_seconds)

    def to_json(self) -> dict:
        d = asdict(self)
        d.update(bits_per_sample=self.bits_per_sample, encode_fps=self.encode_fps,
                 decode_fps=self.decode_fps)
        return d


def totals(rows: Sequence[Row], clip_names: Sequence[str],
           refs: Sequence[tuple[str, str]] = VIDEO_REFS) -> list[Total]:
    """Sum over clips per (codec, max_error); ratios of totals over the clips both have."""
    idx = _by_key(rows)
    keys = list(dict.fromkeys((r.codec, r.max_error) for r in _bounded(rows) if r.measured))
    result = []
    for codec, n in keys:
        mine = [idx[(c, codec, n)] for c in clip_names if (c, codec, n) in idx]

        def ratio_of_totals(ref_codec: str, ref_n: int) -> float | None:
            pairs = [(r.bytes, idx[(r.clip, ref_codec, ref_n)].bytes)
                     for r in mine if (r.clip, ref_codec, ref_n) in idx]
            if not pairs:
                return None
            return sum(a for a, _ in pairs) / sum(b for _, b in pairs)

        note = "" if len(mine) == len(clip_names) else f"{len(mine)}/{len(clip_names)} clips"
        result.append(Total(
            codec, n, len(mine),
            frames=sum(r.frames for r in mine),
            samples=sum(r.samples for r in mine),
            bytes=sum(r.bytes for r in mine),
            encode_seconds=sum(r.encode_seconds for r in mine),
            decode_seconds=sum(r.decode_seconds for r in mine),
            ok=all(r.ok for r in mine),
            ratio_ffv1=ratio_of_totals("ffv1", 0),
            ratio_x264=ratio_of_totals("x264", 0),
            ratio_jpegls=ratio_of_totals("jpegls", n),
            note=note,
            ratios={k: ratio_of_totals(k, 0) for k, _ in refs},
        ))
    return result


def totals_table(tots: Sequence[Total], rows: Sequence[Row],
                 refs: Sequence[tuple[str, str]] = VIDEO_REFS) -> str:
    header = header_for(refs)
    out = []
    for t in tots:
        out.append([
            "TOTAL" + (f" ({t.note})" if t.note else ""), t.codec, str(t.max_error), str(t.bytes),
            _f(t.bits_per_sample, 3), *[_f(t.ratios.get(k), 3) for k, _ in refs],
            _f(t.ratio_jpegls, 3), _f(t.encode_fps, 1), _f(t.decode_fps, 1),
            "yes" if t.ok else "**NO**",
        ])
    # Codecs that produced nothing on any clip (framecodec missing, or failing everywhere).
    done = {(t.codec, t.max_error) for t in tots}
    for codec, n in dict.fromkeys((r.codec, r.max_error) for r in _bounded(rows)):
        if (codec, n) not in done:
            status = "n/a" if all(r.status == "n/a" for r in rows
                                  if (r.codec, r.max_error) == (codec, n)) else "error"
            out.append(["TOTAL", codec, str(n), status] + ["–"] * (len(header) - 5) + [status])
    return markdown_table(header, out, set(range(2, len(header) - 1)))


def ladder_points(rows: Iterable[Row], clip: str, codec: str) -> list[tuple[float, float]]:
    return [(r.psnr_yuv_db, r.bytes) for r in rows
            if r.clip == clip and r.codec == codec and r.lossy]


def equal_psnr(rows: Sequence[Row], row: Row, ladder: str) -> dict:
    """``row``'s size against ``ladder``'s size interpolated at ``row``'s PSNR-YUV."""
    pts = ladder_points(rows, row.clip, ladder)
    out = {"ladder": ladder, "target_psnr_db": row.psnr_yuv_db, "ladder_bytes": None,
           "ratio": None, "reason": ""}
    if not row.lossy:
        out["reason"] = "lossless point" if row.measured else "not measured"
        return out
    if not pts:
        out["reason"] = "no ladder points"
        return out
    size = size_at_psnr(pts, row.psnr_yuv_db)
    if size is None:
        f = rd_frontier(pts)
        out["reason"] = (f"target {row.psnr_yuv_db:.2f} dB outside the ladder's "
                         f"{f[0][0]:.2f}–{f[-1][0]:.2f} dB")
        return out
    out["ladder_bytes"] = size
    out["ratio"] = row.bytes / size
    return out


def _ladders_in(rows: Sequence[Row]) -> list[str]:
    return [k for k in LADDER_CODECS if any(r.codec == k and r.lossy for r in rows)]


def _plane_cell(values: Sequence[float | None] | None, digits: int) -> str:
    if not values:
        return "–"
    return "/".join("∞" if v is None else f"{v:.{digits}f}" for v in values)


def rd_table(rows: Sequence[Row], psnr_name: str = "PSNR-YUV") -> str:
    """Every lossy point: fidelity, and size against each ladder at the same PSNR."""
    ladders = _ladders_in(rows)
    header = (["clip", "codec", "setting", "bytes", "bits/sample", "PSNR planes",
               psnr_name, "SSIM", "max err"] + [f"÷{k}@=PSNR" for k in ladders])
    out = []
    for r in rows:
        if not r.lossy:
            continue
        cells = [r.clip, r.codec, r.setting, str(r.bytes), _f(r.bits_per_sample, 4),
                 _plane_cell(r.psnr_db, 2), _f(r.psnr_yuv_db, 2), _f(r.ssim_yuv, 5),
                 ("–" if r.measured_max_error is None else str(r.measured_max_error))
                 + (f" (≤{r.max_error})" if r.max_error else "")]
        for k in ladders:
            if k == r.codec:
                cells.append("")
                continue
            e = equal_psnr(rows, r, k)
            cells.append(_f(e["ratio"], 3) if e["ratio"] is not None else "n/a")
        out.append(cells)
    if not out:
        return "(no lossy points)"
    return markdown_table(header, out, set(range(3, len(header))) - {5})


def equal_psnr_summary(rows: Sequence[Row], clip_names: Sequence[str]) -> list[dict]:
    """Per bounded lossy point: geometric mean over clips of size ÷ ladder size at equal PSNR."""
    ladders = _ladders_in(rows)
    keys = list(dict.fromkeys((r.codec, r.max_error, r.setting) for r in rows
                              if r.lossy and r.max_error))
    result = []
    for codec, n, setting in keys:
        mine = [r for r in rows if (r.codec, r.max_error) == (codec, n) and r.lossy]
        entry = {"codec": codec, "max_error": n, "setting": setting, "clips": len(mine),
                 "bits_per_sample": bits_per_sample(sum(r.bytes for r in mine),
                                                    sum(r.samples for r in mine)),
                 "mean_psnr_yuv_db": sum(r.psnr_yuv_db for r in mine) / len(mine),
                 "ladders": {}}
        for k in ladders:
            per_clip = [{"clip": r.clip, **equal_psnr(rows, r, k)} for r in mine]
            ratios = [e["ratio"] for e in per_clip if e["ratio"] is not None]
            entry["ladders"][k] = {"geomean_ratio": geometric_mean(ratios),
                                   "clips": len(ratios), "per_clip": per_clip}
        result.append(entry)
    return result


def equal_psnr_table(summary: Sequence[dict], n_clips: int, psnr_name: str = "PSNR-YUV") -> str:
    if not summary:
        return "(no bounded lossy points)"
    ladders = list(summary[0]["ladders"])
    header = (["codec", "setting", "clips", "bits/sample", f"mean {psnr_name}"]
              + [f"÷{k}@=PSNR (geomean, clips)" for k in ladders])
    out = []
    for e in summary:
        cells = [e["codec"], e["setting"], str(e["clips"]), _f(e["bits_per_sample"], 4),
                 _f(e["mean_psnr_yuv_db"], 2)]
        for k in ladders:
            ld = e["ladders"][k]
            g = ld["geomean_ratio"]
            cells.append(f"{_f(g, 3)} ({ld['clips']}/{e['clips']})" if g is not None else
                         f"n/a (0/{e['clips']})")
        out.append(cells)
    return markdown_table(header, out, set(range(2, len(header))))


def _mem(m: dict | None) -> float | None:
    return m.get("delta_mb") if m else None


def speed_summary(rows: Sequence[Row]) -> list[dict]:
    """Per codec point over all clips: fps = frames / seconds; memory = the largest clip's."""
    keys = list(dict.fromkeys((r.codec, r.setting) for r in rows if r.measured))
    result = []
    for codec, setting in keys:
        mine = [r for r in rows if (r.codec, r.setting) == (codec, setting) and r.measured]
        frames = sum(r.frames for r in mine)
        mt = [r.threads_all for r in mine if r.threads_all and "error" not in r.threads_all]
        train = [r.train_seconds for r in mine if r.train_seconds is not None]

        def mx(values):
            values = [v for v in values if v is not None]
            return max(values) if values else None

        entry = {
            "codec": codec, "setting": setting, "clips": len(mine), "frames": frames,
            "encode_fps": _fps(frames, sum(r.encode_seconds for r in mine)),
            "decode_fps": _fps(frames, sum(r.decode_seconds for r in mine)),
            "encode_mem_mb": mx(_mem(r.encode_mem) for r in mine),
            "decode_mem_mb": mx(_mem(r.decode_mem) for r in mine),
            "train_seconds": sum(train) if train and len(train) == len(mine) else None,
            "threads_all": None,
        }
        if mt and len(mt) == len(mine):
            entry["threads_all"] = {
                "threads": mt[0]["threads"],
                "encode_fps": _fps(frames, sum(m["encode_seconds"] for m in mt)),
                "decode_fps": _fps(frames, sum(m["decode_seconds"] for m in mt)),
                "encode_mem_mb": mx(_mem(m.get("encode_mem")) for m in mt),
                "decode_mem_mb": mx(_mem(m.get("decode_mem")) for m in mt),
            }
        if entry["train_seconds"] is not None:
            coding = sum(r.encode_seconds for r in mine) - entry["train_seconds"]
            entry["encode_fps_without_training"] = _fps(frames, coding)
        result.append(entry)
    return result


def speed_table(summary: Sequence[dict]) -> str:
    any_mt = any(e["threads_all"] for e in summary)
    n = next((e["threads_all"]["threads"] for e in summary if e["threads_all"]), None)
    header = ["codec", "setting", "frames", "enc fps", "dec fps"]
    if any_mt:
        header += [f"enc fps ({n}T)", f"dec fps ({n}T)"]
    header += ["enc MB", "dec MB"]
    if any_mt:
        header += [f"enc MB ({n}T)", f"dec MB ({n}T)"]
    header += ["train s"]
    out = []
    for e in summary:
        mt = e["threads_all"] or {}
        cells = [e["codec"], e["setting"], str(e["frames"]), _f(e["encode_fps"], 2),
                 _f(e["decode_fps"], 2)]
        if any_mt:
            cells += [_f(mt.get("encode_fps"), 2), _f(mt.get("decode_fps"), 2)]
        cells += [_f(e["encode_mem_mb"], 1), _f(e["decode_mem_mb"], 1)]
        if any_mt:
            cells += [_f(mt.get("encode_mem_mb"), 1), _f(mt.get("decode_mem_mb"), 1)]
        cells.append(_f(e["train_seconds"], 1))
        out.append(cells)
    return markdown_table(header, out, set(range(2, len(header))))


# --------------------------------------------------------------------------
# Environment


def environment() -> dict:
    import av

    env = {
        "python": sys.version,
        "numpy": np.__version__,
        "av": av.__version__,
        "ffmpeg": getattr(av, "ffmpeg_version_info", None),
        "ffmpeg_libraries": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()},
        "imagecodecs": _pkg_version("imagecodecs"),
        "matplotlib": _pkg_version("matplotlib"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": cpu_count(),
    }
    try:
        import imagecodecs

        libs = imagecodecs.version(dict)
        for lib in ("charls", "libjxl", "libpng", "libjpeg_turbo", "zlib"):
            env[lib] = libs.get(lib)
    except Exception:  # noqa: BLE001
        pass
    fp = _safe(framecodec_fingerprint) or {}
    env["framecodec"] = fp.get("version")
    env["framecodec_source"] = fp
    return env


def _safe(fn: Callable):
    try:
        return fn()
    except Exception:  # noqa: BLE001
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# --------------------------------------------------------------------------
# Main


def parse_int_list(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected integers like 0,1,2,4: {exc}") from exc
    if not values or values[0] < 0:
        raise argparse.ArgumentTypeError("expected non-negative integers like 0,1,2,4")
    return values


def parse_codecs(text: str) -> list[str]:
    codecs = [c.strip().lower() for c in text.split(",") if c.strip()]
    unknown = [c for c in codecs if c not in ALL_CODECS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown codec(s) {unknown}; choose from {ALL_CODECS}")
    return [c for c in ALL_CODECS if c in codecs]


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                epilog="\n\n".join(doc.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                   help=f"directory of clips (default {DEFAULT_CORPUS})")
    p.add_argument("--images", type=Path, metavar="DIR",
                   help="benchmark the PNG images of DIR instead (each a one-frame clip)")
    p.add_argument("--clips", default="",
                   help="comma-separated substrings; keep clips whose name contains any")
    p.add_argument("--frames", "--max-frames", dest="frames", type=int, default=60,
                   help="first N frames of each clip (default 60; 0 = all)")
    p.add_argument("--max-error", type=parse_int_list, default=None,
                   help="max |error| bounds for framecodec and JPEG-LS NEAR, e.g. 0,1,2,4 "
                        "(default 0; with --report 0,1,2,4)")
    p.add_argument("--crf", type=parse_int_list, default=list(DEFAULT_CRF),
                   help="CRF ladder of x264crf and x265crf "
                        f"(default {','.join(map(str, DEFAULT_CRF))})")
    p.add_argument("--jpeg-quality", type=parse_int_list, default=list(DEFAULT_JPEG_QUALITY),
                   help="quality ladder of jpeg "
                        f"(default {','.join(map(str, DEFAULT_JPEG_QUALITY))})")
    p.add_argument("--no-ladder-extension", action="store_true",
                   help="measure the ladders only at --crf/--jpeg-quality; by default a ladder "
                        "whose lowest PSNR is still above a bounded point's PSNR on the clip is "
                        "extended (CRF +4 up to 51, quality -10 down to 10) until it is not")
    p.add_argument("--codecs", type=parse_codecs, default=None,
                   help=f"comma-separated subset of {','.join(ALL_CODECS)} (default: "
                        f"{','.join(VIDEO_CODECS)}; with --images {','.join(IMAGE_CODECS)})")
    p.add_argument("--threads-all", action="store_true",
                   help="also measure every point with all cores (speed and memory only)")
    p.add_argument("--in-process", action="store_true",
                   help="measure in this process: quicker, but no memory figures")
    p.add_argument("--json", type=Path, help="write all measurements and versions to this file")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="write DIR/results.md, results.json, rd.png and lossless.png")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                   help=f"measurement cache (default {DEFAULT_CACHE})")
    p.add_argument("--no-cache", action="store_true",
                   help="measure everything again (fresh results still refresh the cache)")
    p.add_argument("--workdir", type=Path,
                   help="keep the encoded files here (default: a temporary directory)")
    return p


def find_clips(corpus: Path, filters: str, suffixes: set[str] = CLIP_SUFFIXES) -> list[Path]:
    subs = [s.strip() for s in filters.split(",") if s.strip()]
    clips = sorted(p for p in corpus.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    return [p for p in clips if not subs or any(s in p.name for s in subs)]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def measure_clip(src: Source, codecs: Sequence[str], opts: Options, ctx: Context,
                 fc_reason: str, threads_all: bool) -> list[Row]:
    raw = ctx.workdir / f"{src.name}.src.raw"
    src.write_raw(raw)
    clip_hash = file_sha256(src.path)
    by_codec: dict[str, list[Row]] = {}
    # Ladders last: they are extended to reach the PSNR of the bounded points.
    order = sorted(codecs, key=lambda c: CODECS[c].kind == "ladder")
    try:
        for name in order:
            codec = CODECS[name]
            mine = by_codec.setdefault(name, [])
            for point in codec.points(opts):
                if name == "framecodec" and fc_reason:
                    mine.append(Row(src.name, name, point.bound, src.frame_count, src.samples,
                                    status="n/a", note=fc_reason, param=point.param,
                                    setting=point.label, kind=codec.kind))
                    continue
                mine.append(measure_logged(codec, point, src, raw, ctx, clip_hash, threads_all))
            if codec.kind == "ladder" and opts.extend_ladders:
                targets = [r.psnr_yuv_db for rs in by_codec.values() for r in rs
                           if r.lossy and r.max_error]
                while targets and mine and mine[-1].measured:
                    reached = [r.psnr_yuv_db for r in mine if r.lossy]
                    point = codec.next_point([r.param for r in mine])
                    if not reached or min(reached) <= min(targets) or point is None:
                        break
                    log(f"  {name}: extending the ladder to reach {min(targets):.2f} dB")
                    mine.append(measure_logged(codec, point, src, raw, ctx, clip_hash,
                                               threads_all))
    finally:
        raw.unlink(missing_ok=True)
    for name in codecs:  # extensions were appended: show each ladder in order
        if CODECS[name].kind == "ladder":
            by_codec.get(name, []).sort(key=lambda r: (r.param is None, r.param))
    return [r for name in codecs for r in by_codec.get(name, [])]


def measure_logged(codec: Codec, point: Point, src: Source, raw: Path, ctx: Context,
                   clip_hash: str, threads_all: bool) -> Row:
    log(f"  {codec.key} {point.label} ...")
    row = measure_row(codec, point, src, raw, ctx, clip_hash, threads_all)
    report_row(row)
    return row


def report_row(row: Row) -> None:
    if row.status != "ok":
        log(f"    {row.status}: {row.note}")
        return
    fid = "exact" if row.exact else (f"PSNR-YUV {_f(row.psnr_yuv_db, 2)} dB, "
                                     f"max |error| {row.measured_max_error}")
    mem = f", mem +{_f(_mem(row.encode_mem), 1)}/+{_f(_mem(row.decode_mem), 1)} MB" \
        if row.encode_mem else ""
    log(f"    {row.bytes} bytes, {row.bits_per_sample:.3f} bits/sample, {fid}, "
        f"enc {_f(row.encode_fps, 1)} fps, dec {_f(row.decode_fps, 1)} fps{mem}"
        f"{' (cached)' if row.cached else ''}, ok={row.ok}")
    if row.ok is False:
        what = "bit-exact" if row.max_error == 0 else (
            "within the bound" if row.max_error else "decoded whole")
        log(f"!!! WARNING: {row.codec} {row.setting} on {row.clip} is NOT {what}: "
            f"max |error| {row.measured_max_error}. {row.note}")


def methods_notes(mode: str, args, clips: Sequence[dict], rows: Sequence[Row],
                  fc_reason: str, cache: Cache, ctx: Context) -> list[str]:
    names = "G/B/R" if mode == "images" else "Y/U/V"
    lines = [
        "Ratios are bytes / reference bytes on the same clip (TOTAL: sum over clips / sum of the "
        "reference over the same clips); ÷JPEG-LS(N) compares with JPEG-LS at NEAR = max_error. "
        "bits/sample = bytes*8 / samples of all planes. fps = frames / seconds spent in the encode "
        "or decode calls only, one thread (ffv1/x264/x265 through PyAV's bundled FFmpeg, .mkv "
        "files; jxl/png/jpegls/jpeg through imagecodecs, one codestream per frame or plane, "
        "sizes without any container).",
        f"PSNR per plane ({names}, '∞' = exact) from the plane's squared error summed over all "
        "frames (peak 2^bitdepth-1). PSNR-YUV = 10·log10(peak² / weighted MSE) with plane "
        "weights 6:1:1 for 4:2:0 and 1:1:1 for 4:4:4 and RGB; weighting the MSE rather than the "
        "dB keeps a point whose chroma happens to be exact finite; the dB-weighted JCT-VC value "
        "(never below it) is in the JSON as psnr_yuv_db_weighted. SSIM: Wang et al. 2004, 11x11 "
        "Gaussian window (σ 1.5), K1 0.01, K2 0.03, mean over the valid window positions of each "
        "frame and plane, averaged over frames, planes combined with the PSNR weights.",
        "÷ladder@=PSNR: the point's bytes / the ladder's bytes at the same PSNR-YUV, log(bytes) "
        "interpolated piecewise linearly in PSNR between the ladder's points (dominated points "
        "dropped); n/a when the PSNR lies outside the ladder's range (no extrapolation). "
        "Ladders: " + "; ".join(
            [f"{k} {CODECS[k].cli.replace(' -crf C', '')} at CRF {','.join(map(str, args.crf))}"
             for k in ("x264crf", "x265crf") if k in args.codecs]
            + ([f"jpeg (4:4:4, optimised Huffman) at quality "
                f"{','.join(map(str, args.jpeg_quality))}"] if "jpeg" in args.codecs else [])
            or ["none measured"])
        + ("" if args.no_ladder_extension else
           "; a ladder whose lowest PSNR on a clip is still above a bounded point's is extended "
           "(CRF +4 up to 51, quality -10 down to 10) until it reaches it") + ".",
    ]
    if ctx.isolated:
        lines.append(
            "enc/dec MB: memory added by the coding call: peak RSS (VmHWM) of a child process "
            "that does only that encode or decode, minus its RSS just before the call (codec "
            "library imported, input frames or file loaded), the peak mark being reset at that "
            "moment. Totals show the largest clip's figure.")
    else:
        lines.append("Memory: not measured (--in-process).")
    if args.threads_all:
        lines.append(
            f"nT columns: the same points with all {ctx.cpu} cores: PyAV thread_count 0 (auto, "
            "frame+slice threads), x265 default thread pools; jxl/png/jpegls/jpeg code the "
            "frames on a pool of one thread per core; framecodec jobs=1, threads=cores. x264 and "
            "x265 streams can differ slightly with threads; their sizes are in the JSON.")
    lines.append("train s: framecodec's training time, when its EncodeResult reports "
                 "train_seconds ('–' otherwise); encode fps includes it. framecodec is "
                 "measured like the others, through framecodec.encode (which decodes the clip "
                 "itself, inside the timing) and framecodec.decode_frames; once per run, two "
                 "frames are encoded and decoded untimed first so that numba's on-disk kernel "
                 "cache is filled, and every decode child decodes two frames untimed before "
                 "the timed decode (loading the cached kernels).")
    lines.append("Frames: " + ", ".join(
        f"{c['name']} {c['frames']} ({c['width']}x{c['height']} {c['pix_fmt']})" for c in clips)
        + ".")
    encoders = sorted({r.encoder for r in rows if r.encoder and r.codec != "framecodec"})
    if encoders:
        lines.append("Encoders: " + "; ".join(encoders) + ".")
    if cache.root is not None:
        lines.append(f"Cache: {cache.hits} measurements read from {cache.root} (timings from "
                     f"the run that made them), {cache.misses} measured now.")
    if fc_reason and "framecodec" in args.codecs:
        lines.append(f"framecodec: n/a ({fc_reason}).")
    for r in rows:
        what = f"{r.clip} {r.codec} {r.setting}"
        if r.status == "error":
            lines.append(f"**ERROR** {what}: {r.note}")
        elif r.measured and not r.ok:
            kind = ("NOT BIT-EXACT" if r.max_error == 0 else "ERROR BOUND VIOLATED"
                    if r.max_error else "INCOMPLETE DECODE")
            lines.append(f"**{kind}** {what}: {r.note}")
        elif r.measured and r.note:
            lines.append(f"Note {what}: {r.note}")
    return lines


def render(mode: str, command: str, rows: Sequence[Row], tots: Sequence[Total],
           eq: Sequence[dict], speed: Sequence[dict], notes: Sequence[str],
           refs: Sequence[tuple[str, str]], n_clips: int, plots: Sequence[str] = ()) -> str:
    """The text printed on stdout, which is also the body of results.md."""
    psnr_name = "PSNR" if mode == "images" else "PSNR-YUV"
    parts = [f"Command: cd {shlex.quote(os.getcwd())} && {command}", "",
             clip_table(rows, refs), "", totals_table(tots, rows, refs), ""]
    if any(r.lossy for r in rows):
        parts += ["Lossy points: fidelity, and size ÷ each ladder's size at the same "
                  f"{psnr_name}:", "", rd_table(rows, psnr_name), ""]
    if eq:
        parts += ["Bounded-error points against the ladders at equal PSNR (geometric mean "
                  "over the clips where the PSNR lies inside the ladder):", "",
                  equal_psnr_table(eq, n_clips, psnr_name), ""]
    parts += ["Speed and memory (all clips):", "", speed_table(speed), ""]
    for p in plots:
        parts += [f"![{Path(p).stem}]({Path(p).name})", ""]
    parts.append("\n".join(f"- {line}" for line in notes))
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    script_argv = sys.argv if argv is None else ["tools/bench.py", *argv]
    command = shlex.join([sys.executable, *script_argv])
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")

    mode = "images" if args.images else "video"
    if args.codecs is None:
        args.codecs = list(IMAGE_CODECS if mode == "images" else VIDEO_CODECS)
    if args.max_error is None:
        args.max_error = list(REPORT_MAX_ERROR) if args.report else [0]
    opts = Options(args.max_error, args.crf, args.jpeg_quality,
                   extend_ladders=not args.no_ladder_extension)
    refs = IMAGE_REFS if mode == "images" else VIDEO_REFS

    base = args.images if mode == "images" else args.corpus
    paths = find_clips(base, args.clips, IMAGE_SUFFIXES if mode == "images" else CLIP_SUFFIXES)
    if not paths:
        log(f"no {'images' if mode == 'images' else 'clips'} in {base} matching {args.clips!r}")
        return 2

    fc_reason = ""
    if "framecodec" in args.codecs:
        fc, fc_reason = load_framecodec()
        if fc is None:
            log(f"framecodec rows will be n/a: {fc_reason}")

    cache = Cache(args.cache_dir, read=not args.no_cache)
    clips: list[dict] = []
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fc-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        ctx = Context(workdir, cache, isolated=not args.in_process,
                      keep_files=args.workdir is not None, cpu=cpu_count())
        for path in paths:
            src = load_image(path) if mode == "images" else load_source(path, args.frames)
            clips.append(src.describe())
            log(f"{src.name}: {src.frame_count} frames {src.width}x{src.height} {src.pix_fmt}")
            rows.extend(measure_clip(src, args.codecs, opts, ctx, fc_reason, args.threads_all))
            del src

    names = [c["name"] for c in clips]
    tots = totals(rows, names, refs)
    eq = equal_psnr_summary(rows, names)
    speed = speed_summary(rows)
    notes = methods_notes(mode, args, clips, rows, fc_reason, cache, ctx)
    print(render(mode, command, rows, tots, eq, speed, notes, refs, len(names)))

    report = {
        "command": command,
        "cwd": os.getcwd(),
        "started": started,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": mode,
        "settings": {
            "frames": args.frames,
            "max_error": args.max_error,
            "crf": args.crf,
            "jpeg_quality": args.jpeg_quality,
            "codecs": args.codecs,
            "corpus": str(base),
            "threads": 1,
            "threads_all": ctx.cpu if args.threads_all else None,
            "isolated": ctx.isolated,
            "cache_dir": str(args.cache_dir),
            "no_cache": args.no_cache,
            "measure_version": MEASURE_VERSION,
            "reference_codecs": {k: {"encoder": c.encoder, "options": c.options(p, "1"),
                                     "gop_size": c.gop_size, "cli": c.cli}
                                 for k, c in CODECS.items() if isinstance(c, AVCodec)
                                 and k in args.codecs for p in c.points(opts)[:1]},
        },
        "codecs": {k: {"title": CODECS[k].title, "kind": CODECS[k].kind,
                       "version": _safe(CODECS[k].version),
                       "cli": getattr(CODECS[k], "cli", ""),
                       "points": [asdict(p) for p in CODECS[k].points(opts)]}
                   for k in args.codecs},
        "environment": environment(),
        "clips": clips,
        "rows": [r.to_json() for r in rows],
        "totals": [t.to_json() for t in tots],
        "equal_psnr": eq,
        "speed": speed,
        "notes": notes,
    }
    if args.json:
        write_json(args.json, report)
    if args.report:
        write_report(args.report, report, mode, command, rows, tots, eq, speed, notes, refs)

    failed = [r for r in rows if r.status == "error" or (r.measured and not r.ok)]
    return 1 if failed else 0


def json_safe(value):
    """Non-finite floats become None (strict JSON has no inf or NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_safe(report), indent=2, allow_nan=False) + "\n")
    log(f"wrote {path}")


def load_plot_module():
    spec = importlib.util.spec_from_file_location("framecodec_bench_plot",
                                                  BENCH_FILE.parent / "bench_plot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_report(outdir: Path, report: dict, mode: str, command: str, rows, tots, eq, speed,
                 notes, refs) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    write_json(outdir / "results.json", report)
    plots = []
    try:
        plot = load_plot_module()
        plots = plot.write_plots(report, outdir)
        for p in plots:
            log(f"wrote {p}")
    except ImportError as exc:
        log(f"no plots: {exc} (pip install 'framecodec[bench]' for matplotlib)")
    except Exception:  # noqa: BLE001 - a plotting bug must not lose the tables
        traceback.print_exc(file=sys.stderr)
        log("no plots: plotting failed (tables and JSON are written)")
    title = "# framecodec benchmark" + (" (still images)" if mode == "images" else "")
    env = report["environment"]
    fc = env.get("framecodec_source") or {}
    head = [title, "",
            f"Generated {report['finished']} on {env['cpu']} ({env['cpu_affinity']} cores "
            f"usable), Python {platform.python_version()}, PyAV {env['av']} (FFmpeg "
            f"{env['ffmpeg']}), imagecodecs {env.get('imagecodecs')} (CharLS {env.get('charls')}, "
            f"libjxl {env.get('libjxl')}, libpng {env.get('libpng')}, libjpeg-turbo "
            f"{env.get('libjpeg_turbo')}), framecodec {fc.get('version')} (source "
            f"{str(fc.get('source_sha256'))[:12]}). All numbers: results.json.", ""]
    body = render(mode, command, rows, tots, eq, speed, notes, refs, len(report["clips"]),
                  [str(p) for p in plots])
    (outdir / "results.md").write_text("\n".join(head) + "\n" + body + "\n")
    log(f"wrote {outdir / 'results.md'}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        sys.exit(child_main(sys.argv[2], sys.argv[3]))
    sys.exit(main())
