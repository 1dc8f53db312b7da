# SPDX-License-Identifier: MIT
"""The frames every codec is measured on, and the check of what a decoder gave back.

A clip is decoded once (PyAV, one thread, its own pixel format) and handed to the coding
children as a raw file; each decoder writes a raw file back (RawSink), which evaluate()
compares sample by sample with the source.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .metrics import (
    max_abs_error,
    plane_weights,
    psnr_from_sse,
    psnr_yuv,
    psnr_yuv_db_weighted,
    ssim,
    sum_squared_error,
)

CLIP_SUFFIXES = {".mkv", ".mp4", ".mov", ".webm", ".nut", ".avi", ".y4m"}
IMAGE_SUFFIXES = {".png"}

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
            planar = PACKED_TO_PLANAR.get(frame.format.name)
            if planar is not None:  # packed RGB: the same samples as planes (exact)
                frame = frame.reformat(format=planar)
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


# Packed layouts of clips and still images, rearranged exactly into planar ones (as
# framecodec does; padding bytes, as in bgr0, are not samples).
PACKED_TO_PLANAR = {
    "rgb24": "gbrp", "bgr24": "gbrp", "bgr0": "gbrp", "rgb0": "gbrp", "0rgb": "gbrp",
    "0bgr": "gbrp", "rgba": "gbrap", "bgra": "gbrap", "pal8": "gbrap",
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


def find_clips(corpus: Path, filters: str, suffixes: set[str] = CLIP_SUFFIXES) -> list[Path]:
    """Sorted by name, so that rows, tables and plots come in the same order on every run."""
    subs = [s.strip() for s in filters.split(",") if s.strip()]
    clips = sorted(p for p in corpus.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    return [p for p in clips if not subs or any(s in p.name for s in subs)]


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
