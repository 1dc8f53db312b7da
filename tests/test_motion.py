# SPDX-License-Identifier: MIT
"""Motion estimation (encoder/motion.py): how a bound changes what the search prices."""

from __future__ import annotations

import numpy as np
import pytest

from framecodec.encoder import motion
from framecodec.encoder.settings import EncodeSettings
from framecodec.format.layout import Layout
from framecodec.frames import Frame
from helpers import moving_pattern


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
