# SPDX-License-Identifier: MIT
"""--shared-input's reader: seeking to a group's first frame gives the frames that
reading from the start gives, on intra-only and long-GOP sources with B-frames."""

from __future__ import annotations

import av
import numpy as np
import pytest

from framecodec.encoder.jobs import frames_digest
from framecodec.io import media
from helpers import SAMPLE, corpus_clip, moving_pattern


def _h264_with_b_frames(path, count: int = 30) -> None:
    """Keyframes every 8 frames and 3 B-frames between references."""
    info, frames = moving_pattern("yuv420p", 64, 48, count=count)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"bf": "3", "g": "8",
                                                                     "sc_threshold": "0"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for t, frame in enumerate(frames):
            video = av.VideoFrame(64, 48, "yuv420p")
            for plane, data in zip(video.planes, frame.planes):
                rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
                rows[:data.shape[0], :data.shape[1]] = data
            video.pts = t
            container.mux(stream.encode(video))
        container.mux(stream.encode(None))


@pytest.mark.parametrize("which", ["ffv1", "h264-b-frames", "corpus-mp4"])
def test_seeking_gives_the_frames_read_from_the_start(tmp_path, which):
    path = {"ffv1": lambda: SAMPLE,
            "h264-b-frames": lambda: (_h264_with_b_frames(tmp_path / "b.mp4"),
                                      tmp_path / "b.mp4")[1],
            "corpus-mp4": lambda: corpus_clip("camera_bikes_640x272.mp4")}[which]()
    with media.open_source(path) as source:
        frames = list(source.frames())
    landed = 0
    with media.open_source(path) as source:
        for start in range(0, len(frames) - 3, 3):
            got = source.seek_frames(start, 3, frames[start].pts)
            if got is not None:
                landed += 1
                assert frames_digest(got) == frames_digest(frames[start:start + 3]), start
        again = list(source.frames(5, 7))  # reading from the start still works after seeking
    assert frames_digest(again) == frames_digest(frames[5:7])
    assert landed == len(range(0, len(frames) - 3, 3))  # these files seek exactly everywhere
