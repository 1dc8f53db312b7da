# SPDX-License-Identifier: MIT
"""Media files through PyAV: the one door between framecodec and FFmpeg.

The rest of framecodec sees video as ``VideoInfo`` plus ``Frame`` objects
(numpy planes in a native planar format, see pixfmt.py); the modules of
``framecodec.io`` convert between those and PyAV's containers and frames:
planes.py (frames <-> planes), source.py (reading), writer.py (writing).
This module is their public surface. Adding an output format means a plan
in writer.py (``_plan``) and its extension in ``KINDS``.
"""

from __future__ import annotations

from .planes import native_format, planes_from_videoframe, videoframe_from_planes
from .source import Source, audio_reserve, open_source, probe
from .writer import KINDS, AudioTrack, Writer, open_writer, output_kind, png_is_exact

__all__ = [
    "Source", "Writer", "AudioTrack", "KINDS",
    "open_source", "open_writer", "probe", "audio_reserve", "output_kind", "png_is_exact",
    "native_format", "planes_from_videoframe", "videoframe_from_planes",
]
