# SPDX-License-Identifier: MIT
"""Shared test helpers: corpus clips, synthetic clips, fast coding parameters."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from framecodec.io import media
from framecodec.encoder.settings import EncodeSettings
from framecodec.frames import Frame, VideoInfo
from framecodec.pixfmt import by_name

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLE = ROOT / "samples" / "carphone_176x144_30f.mkv"

# Script lines that make any later ``import torch`` fail (for subprocess tests).
BLOCK_TORCH = """import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
"""

# Small networks and short training: tests check exactness, not compression.
FAST = EncodeSettings(hidden=(8, 8), train_steps=40, train_samples=6000)


def corpus_clip(name: str) -> Path:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"corpus clip {name} not available")
    return path


def read_frames(path, start: int = 0, stop: int | None = None) -> tuple[VideoInfo, list[Frame]]:
    with media.open_source(path) as source:
        return source.info, list(source.frames(start, stop))


def write_clip(path, info: VideoInfo, frames: list[Frame]) -> Path:
    with media.open_writer(path, info) as writer:
        for frame in frames:
            writer.write(frame)
    return Path(path)


def moving_pattern(pix_fmt: str, width: int, height: int, count: int = 4,
                   seed: int = 0) -> tuple[VideoInfo, list[Frame]]:
    """A textured picture panning by a few samples per frame, plus noise.

    Codec-like content (motion, texture, noise) at full sample range, so
    prediction, motion and wrap-around are all exercised.
    """
    rng = np.random.default_rng(seed)
    fmt = by_name(pix_fmt)
    info = VideoInfo(width, height, pix_fmt, Fraction(25), Fraction(1, 25))
    peak = fmt.max_value
    base = rng.integers(0, peak + 1, size=(height + 64, width + 64))
    base = (base + np.roll(base, 1, 0) + np.roll(base, 1, 1) + np.roll(base, 3, 1)) // 4
    frames = []
    for t in range(count):
        planes = []
        for p, (h, w) in enumerate(fmt.plane_shapes(width, height)):
            dy, dx = 2 * t + p, 3 * t
            plane = base[dy:dy + h, dx:dx + w].copy()
            plane += rng.integers(-2, 3, size=plane.shape)
            plane[: max(1, h // 8)] = peak  # a saturated band: clamping and wrap
            planes.append(np.clip(plane, 0, peak).astype(fmt.dtype))
        frames.append(Frame(planes, t))
    return info, frames


def assert_frames_equal(got: list[Frame], want: list[Frame]) -> None:
    assert len(got) == len(want), f"{len(got)} frames, expected {len(want)}"
    for i, (a, b) in enumerate(zip(got, want)):
        for p, (x, y) in enumerate(zip(a.planes, b.planes)):
            assert x.shape == y.shape and x.dtype == y.dtype, f"frame {i} plane {p} shape/dtype"
            if not np.array_equal(x, y):
                where = np.argwhere(x != y)[0]
                raise AssertionError(f"frame {i} plane {p} first differs at {tuple(where)}: "
                                     f"{x[tuple(where)]} != {y[tuple(where)]}")


def max_abs_error(got: list[Frame], want: list[Frame]) -> int:
    return max(int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())
               for fa, fb in zip(got, want) for a, b in zip(fa.planes, fb.planes))


def record_pulls(monkeypatch) -> list[tuple[int, int]]:
    """From now on, the (pull, bytes) of every group coding the encoder makes
    (encoder/groupcoder.py ``_code``), in order."""
    from framecodec.encoder import groupcoder

    codings = []
    code = groupcoder._code

    def recording(a, header, threads, keep):
        coded = code(a, header, threads, keep)
        codings.append((header.pull, coded.size))
        return coded

    monkeypatch.setattr(groupcoder, "_code", recording)
    return codings
