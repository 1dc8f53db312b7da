# SPDX-License-Identifier: MIT
"""What the runner needs of a codec, and the version strings that enter the cache key."""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..probes import MemProbe
    from ..sources import RawSink

DEFAULT_CRF = (1, 4, 8, 12, 16, 20, 24, 28)
DEFAULT_JPEG_QUALITY = (70, 80, 90, 95, 98, 100)


@dataclass(frozen=True)
class Point:
    """One operating point of a codec."""

    param: int | None  # NEAR, max_error, CRF or JPEG quality; None for fixed lossless codecs
    bound: int | None  # the promised max |error|: 0 lossless, N bounded, None no promise
    label: str


@dataclass
class Options:
    """The operating points the command line asks for."""

    bounds: Sequence[int] = (0,)
    crf: Sequence[int] = DEFAULT_CRF
    jpeg_quality: Sequence[int] = DEFAULT_JPEG_QUALITY
    extend_ladders: bool = True


def pkg_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


class Codec:
    """One codec as the runner drives it.

    settings() and version() enter the cache key; encode() and decode() run in a child process
    and time only the coding call, the inputs being loaded before the timer and memory probe start.
    """

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
