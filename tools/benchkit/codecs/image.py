# SPDX-License-Identifier: MIT
"""Still-image codecs (JPEG-LS, JPEG XL, PNG, JPEG) through imagecodecs, one image per frame.

Each frame is a codestream of its own and sizes carry no container, which favours these codecs
slightly against the video ones.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence

import numpy as np

from ..probes import MemProbe, Timer, timed_iter
from ..sources import Planes, RawSink, read_raw_frames
from .base import Codec, Options, Point, imagecodecs_version

JXL_EFFORT = 7


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
