# SPDX-License-Identifier: MIT
"""framecodec: learned predictive coding of video, lossless or with a hard error bound.

    import framecodec
    framecodec.encode("clip.mp4", "clip.fcv")            # lossless
    framecodec.encode("clip.mp4", "clip.fcv", max_error=2, overwrite=True)
    framecodec.decode("clip.fcv", "clip.mkv")
    frames = list(framecodec.decode_frames("clip.fcv", frames=(0, 10)))

Importing the package loads no PyAV; encoding and decoding need nothing
beyond the core install (training runs in numba kernels; torch is used only
by the tests, as the oracle of those kernels).
"""

from .api import decode, decode_frames, encode
from .errors import CorruptError, FormatError, FramecodecError, InputError, UsageError
from .format.container import FcvReader as open  # noqa: A001 - mirrors av.open
from .frames import Frame, VideoInfo
from .results import DecodeResult, EncodeResult

__version__ = "0.1.0"

__all__ = [
    "encode",
    "decode",
    "decode_frames",
    "open",
    "EncodeResult",
    "DecodeResult",
    "Frame",
    "VideoInfo",
    "FramecodecError",
    "UsageError",
    "InputError",
    "FormatError",
    "CorruptError",
    "__version__",
]
