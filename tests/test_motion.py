# SPDX-License-Identifier: MIT
"""Motion estimation (encoder/motion.py): how a bound changes what the search prices."""

from __future__ import annotations

import numpy as np
import pytest

from framecodec.encoder import motion
from framecodec.encoder.settings import EncodeSettings
from framecodec.format.layout import Layout
from framecodec.frames import Frame
from helpers import SAMPLE, moving_pattern, read_frames


def _references_of_equal_sad(layout: Layout, picture: Frame, seed: int):
    """Frames [offset, noisy, current]: the current picture, and two references
    leaving the same SAD on plane 0, one by a constant +4 (a smooth residual), the
    other by +-4 noise; the noisy one is the nearer (its index costs less)."""
    rng = np.random.default_rng(seed)
    y = picture.planes[0].astype(np.int64)
    offset = [p.copy() for p in picture.planes]
    noisy = [p.copy() for p in picture.planes]
    offset[0] = (y + 4).astype(np.uint8)
    noisy[0] = (y + rng.choice([-4, 4], y.shape)).astype(np.uint8)
    frames = [Frame(offset, 0), Frame(noisy, 1), Frame(picture.planes, 2)]
    return [layout.flatten(f) for f in frames]


@pytest.mark.parametrize("max_error, chosen", [(0, 1), (1, 1), (2, 0), (4, 0)])
def test_lossless_search_prices_the_smooth_residual(max_error, chosen):
    """Lossless and bound 1: the reference leaving a constant offset (which the
    network predicts from the neighbours' residuals) is chosen over a nearer one
    leaving noise of the same SAD. From bound 2 the search prices the SAD alone,
    and the nearer reference wins on its index's bits."""
    info, (picture,) = moving_pattern("gray", 64, 48, count=1)
    picture.planes[0][:] = np.clip(picture.planes[0], 8, 247)  # +-4 stays in range
    settings = EncodeSettings(max_error=max_error, subpel=False)
    layout = Layout(info, settings.log2_block, 1)
    src = _references_of_equal_sad(layout, picture, seed=3)
    fields, intra = motion.estimate(layout, src, settings)
    assert not intra[2]
    assert (fields[2][:, 2] == chosen).all()
    assert (fields[2][:, :2] == 0).all()


def test_the_search_lambda_is_the_bounds_unless_set():
    assert motion.search_lambda(EncodeSettings()) == motion.LOSSLESS_LAMBDA == 3
    for bound in (1, 2, 4):
        assert motion.search_lambda(EncodeSettings(max_error=bound)) == motion.BOUNDED_LAMBDA == 4
    assert motion.search_lambda(EncodeSettings(motion_lambda=9)) == 9
    assert motion.search_lambda(EncodeSettings(max_error=2, motion_lambda=1)) == 1


@pytest.mark.parametrize("max_error", [0, 2])
def test_the_search_weighs_vectors_by_its_lambda(max_error):
    """On real footage the default search is the one at the bound's lambda, and a
    heavier weight on the vectors' bits gives other, cheaper-to-code fields."""
    info, frames = read_frames(SAMPLE, 0, 4)
    settings = EncodeSettings(max_error=max_error)
    layout = Layout(info, settings.log2_block, 1)
    src = [layout.flatten(f) for f in frames]
    by_default, _ = motion.estimate(layout, src, settings)
    explicit, _ = motion.estimate(layout, src, EncodeSettings(
        max_error=max_error, motion_lambda=motion.search_lambda(settings)))
    heavy, _ = motion.estimate(layout, src, EncodeSettings(max_error=max_error,
                                                           motion_lambda=64))
    assert all(np.array_equal(a, b) for a, b in zip(by_default, explicit))
    assert not all(np.array_equal(a, b) for a, b in zip(by_default, heavy))
    moved = sum(int(np.abs(f[:, :2]).sum()) for f in by_default)
    assert sum(int(np.abs(f[:, :2]).sum()) for f in heavy) < moved
